package devicetest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// verifyStoreTests cover device.VerifyStore: the verify path's read, the
// per-network failure counters and the coalesced last-use write.
var verifyStoreTests = []storeTest{
	{"Candidates", testCandidates},
	{"AttemptWindows", testAttemptWindows},
	{"AttemptStaleRead", testAttemptStaleRead},
	{"AttemptConcurrent", testAttemptConcurrent},
	{"AttemptCeiling", testAttemptCeiling},
	{"TouchLastUsed", testTouchLastUsed},
}

// --- the verify path ---

const suiteWindow = 10 * time.Minute

// attempt is a counted failure (or, failed false, an admission) from
// network at at, with the suite's limit of 3.
func attempt(network string, at time.Time, failed bool) device.Attempt {
	return device.Attempt{Network: network, Failed: failed, Now: at, Window: suiteWindow, Limit: 3}
}

// tryAttempt reads the counters as the verify path does, then attempts.
func tryAttempt(t *testing.T, s Store, mbx string, a device.Attempt) error {
	t.Helper()
	c, err := s.Candidates(context.Background(), mbx)
	mustOK(t, err, "candidates")
	return s.Attempt(context.Background(), mbx, a, c.Network(a.Network))
}

func testCandidates(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	c, err := s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates of an empty mailbox")
	if len(c.Devices) != 0 || len(c.Networks) != 0 {
		t.Fatalf("empty mailbox candidates = %+v", c)
	}
	c, err = s.Candidates(ctx, uniqueMailbox(t))
	mustOK(t, err, "candidates of an unknown mailbox")
	if len(c.Devices) != 0 {
		t.Fatalf("unknown mailbox has %d candidates", len(c.Devices))
	}

	a := createDevice(t, s, newDevice(t, mbx))
	b := newDevice(t, mbx)
	b.AllowIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	createDevice(t, s, b)
	createDevice(t, s, newDevice(t, seedMailbox(t, s, "owner")))
	for range 2 {
		mustOK(t, tryAttempt(t, s, mbx, attempt("192.0.2.0/24", baseTime, true)), "count failure")
	}

	c, err = s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates")
	if len(c.Devices) != 2 {
		t.Fatalf("%d candidates, want 2", len(c.Devices))
	}
	byID := map[string]device.Device{}
	for _, d := range c.Devices {
		byID[d.ID] = d
	}
	wantVerifier(t, "candidate a's current", byID[a.ID].Current, a.Current.Version, a.Current.Hash)
	if got := byID[b.ID]; !slices.Equal(got.AllowIPs, b.AllowIPs) || got.Status != device.StatusActive {
		t.Fatalf("candidate b = %+v, want its allow-list and status", got)
	}
	n := c.Network("192.0.2.0/24")
	if len(c.Networks) != 1 || n == nil || n.Recent(device.WindowIndex(baseTime, suiteWindow)) != 2 {
		t.Fatalf("networks = %+v, want one with 2 failures", c.Networks)
	}
	wantTime(t, "first failure", n.First, baseTime)
}

// testAttemptWindows counts failures across window boundaries: the limit
// holds over the current and the previous window together, so a burst
// straddling a boundary is not given twice the limit.
func testAttemptWindows(t *testing.T, s Store) {
	mbx := seedMailbox(t, s, "owner")
	const net = "198.51.100.0/24"
	w0 := baseTime.Truncate(suiteWindow)
	end := w0.Add(suiteWindow - time.Second) // just before a boundary
	next := w0.Add(suiteWindow + time.Second)
	steps := []struct {
		name   string
		at     time.Time
		failed bool
		want   apperr.Code // "" for admitted
	}{
		{"first failure", end, true, ""},
		{"second", end, true, ""},
		{"third reaches the limit", end, true, ""},
		{"fourth is refused", end, true, apperr.RateLimited},
		{"the right password is refused too", end, false, apperr.RateLimited},
		{"after the boundary the last window still counts", next, true, apperr.RateLimited},
		{"and the right password waits as well", next, false, apperr.RateLimited},
		{"two windows later the network starts over", w0.Add(2 * suiteWindow), true, ""},
		{"and is admitted with the right password", w0.Add(2 * suiteWindow), false, ""},
	}
	for _, st := range steps {
		err := tryAttempt(t, s, mbx, attempt(net, st.at, st.failed))
		if st.want == "" {
			mustOK(t, err, st.name)
			continue
		}
		WantCode(t, err, st.want)
		wait, ok := device.RetryAfter(err, st.at)
		if !ok || wait <= 0 || wait > 2*suiteWindow {
			t.Fatalf("%s: retry after %v (%v), want a wait within two windows", st.name, wait, ok)
		}
	}
	// Another network, and no network at all, were never throttled.
	mustOK(t, tryAttempt(t, s, mbx, attempt("203.0.113.0/24", end, false)), "another network's right password")
	mustOK(t, tryAttempt(t, s, mbx, attempt(device.NoNetwork, end, true)), "a request without an address")

	// A failure late in one window and two early in the next make three
	// in the span: the fourth is refused although the new window holds two.
	mbx2 := seedMailbox(t, s, "owner")
	mustOK(t, tryAttempt(t, s, mbx2, attempt(net, end, true)), "late failure")
	for i := range 2 {
		mustOK(t, tryAttempt(t, s, mbx2, attempt(net, next, true)), fmt.Sprintf("early failure %d", i))
	}
	WantCode(t, tryAttempt(t, s, mbx2, attempt(net, next, true)), apperr.RateLimited)
}

// testAttemptStaleRead: a write based on an outdated read still counts
// exactly, whichever window the read saw.
func testAttemptStaleRead(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	const net = "2001:db8:1:2::/64"
	at := baseTime.Truncate(suiteWindow).Add(time.Minute)
	// Read nothing, then count three failures as if nothing were there.
	for i := range 3 {
		mustOK(t, s.Attempt(ctx, mbx, attempt(net, at, true), nil), fmt.Sprintf("failure %d on a stale read", i))
	}
	WantCode(t, s.Attempt(ctx, mbx, attempt(net, at, true), nil), apperr.RateLimited)
	old := &device.NetworkFailures{Network: net, Window: device.WindowIndex(at, suiteWindow) - 1, Count: 0}
	WantCode(t, s.Attempt(ctx, mbx, attempt(net, at, true), old), apperr.RateLimited)
	c, err := s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates")
	if n := c.Network(net); n == nil || n.Recent(device.WindowIndex(at, suiteWindow)) != 3 {
		t.Fatalf("counter = %+v, want 3 failures", n)
	}
}

// testAttemptConcurrent: of many concurrent failures from one fresh
// network, exactly the limit are counted and the rest refused.
func testAttemptConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := attempt("192.0.2.0/24", baseTime, true)
			a.Limit = 20
			errs[i] = s.Attempt(ctx, mbx, a, nil)
		}()
	}
	wg.Wait()
	counted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			counted++
		case !apperr.Is(err, apperr.RateLimited):
			t.Fatalf("attempt: %v", err)
		}
	}
	if counted != 20 {
		t.Fatalf("%d of %d concurrent failures counted, want exactly the limit 20", counted, n)
	}
}

// testAttemptCeiling: above the mailbox ceiling, a network that failed
// waits until its first failure is old, and one that never failed does
// not wait.
func testAttemptCeiling(t *testing.T, s Store) {
	mbx := seedMailbox(t, s, "owner")
	at := baseTime.Truncate(suiteWindow).Add(time.Minute)
	slow := func(network string, at time.Time, failed bool) device.Attempt {
		a := attempt(network, at, failed)
		a.AdmitBefore = at.Add(-suiteWindow)
		return a
	}
	mustOK(t, tryAttempt(t, s, mbx, slow("192.0.2.0/24", at, true)), "a fresh network's first failure")
	err := tryAttempt(t, s, mbx, slow("192.0.2.0/24", at.Add(time.Second), true))
	WantCode(t, err, apperr.RateLimited)
	if wait, _ := device.RetryAfter(err, at.Add(time.Second)); wait < suiteWindow-2*time.Second {
		t.Fatalf("retry after %v, want until the first failure is a window old", wait)
	}
	WantCode(t, tryAttempt(t, s, mbx, slow("192.0.2.0/24", at.Add(time.Second), false)), apperr.RateLimited)
	mustOK(t, tryAttempt(t, s, mbx, slow("203.0.113.0/24", at, false)), "a network that never failed")
	later := at.Add(suiteWindow + time.Second)
	mustOK(t, tryAttempt(t, s, mbx, slow("192.0.2.0/24", later, true)), "once the first failure is a window old")
}

func testTouchLastUsed(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	every := 5 * time.Minute
	at1 := baseTime.Add(time.Hour)
	mustOK(t, s.TouchLastUsed(ctx, mbx, d.ID, at1, device.ScopeIMAP, "192.0.2.7", at1.Add(-every)), "first touch")
	g := getDevice(t, s, mbx, d.ID)
	if g.LastUsedProtocol != device.ScopeIMAP || g.LastUsedIP != "192.0.2.7" {
		t.Fatalf("last use = %s from %q, want imap from 192.0.2.7", g.LastUsedProtocol, g.LastUsedIP)
	}
	wantTime(t, "last used", g.LastUsedAt, at1)

	// A login a minute later is coalesced: the stored use is recent.
	at2 := at1.Add(time.Minute)
	WantCode(t, s.TouchLastUsed(ctx, mbx, d.ID, at2, device.ScopeSMTP, "192.0.2.8", at2.Add(-every)), apperr.Conflict)
	g = getDevice(t, s, mbx, d.ID)
	wantTime(t, "last used after a coalesced touch", g.LastUsedAt, at1)
	if g.LastUsedProtocol != device.ScopeIMAP {
		t.Fatalf("coalesced touch changed the protocol to %s", g.LastUsedProtocol)
	}

	at3 := at1.Add(every + time.Second)
	mustOK(t, s.TouchLastUsed(ctx, mbx, d.ID, at3, device.ScopePOP, "", at3.Add(-every)), "later touch")
	g = getDevice(t, s, mbx, d.ID)
	wantTime(t, "last used after a later touch", g.LastUsedAt, at3)
	if g.LastUsedProtocol != device.ScopePOP || g.LastUsedIP != "" {
		t.Fatalf("later touch = %s from %q, want pop from no address", g.LastUsedProtocol, g.LastUsedIP)
	}

	dis := newDevice(t, mbx)
	dis.Status = device.StatusDisabled
	createDevice(t, s, dis)
	WantCode(t, s.TouchLastUsed(ctx, mbx, dis.ID, at1, device.ScopeIMAP, "", at1), apperr.Conflict)
	if g := getDevice(t, s, mbx, dis.ID); !g.LastUsedAt.IsZero() {
		t.Fatalf("a disabled device's use was recorded")
	}
}
