package devicetest

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// verifyStoreTests cover device.VerifyStore: the verify path's read, the
// failure counter and the coalesced last-use write.
var verifyStoreTests = []storeTest{
	{"Candidates", testCandidates},
	{"RecordFailureWindows", testRecordFailure},
	{"RecordFailureConcurrent", testRecordFailureConcurrent},
	{"TouchLastUsed", testTouchLastUsed},
}

// --- the verify path ---

func testCandidates(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	c, err := s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates of an empty mailbox")
	if len(c.Devices) != 0 || c.Failures != 0 || !c.WindowStart.IsZero() {
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
	window := baseTime.Truncate(10 * time.Minute)
	for range 2 {
		_, err = s.RecordFailure(ctx, mbx, window, window.Add(11*time.Minute))
		mustOK(t, err, "record failure")
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
	if c.Failures != 2 {
		t.Fatalf("failures = %d, want 2", c.Failures)
	}
	wantTime(t, "window start", c.WindowStart, window)
}

func testRecordFailure(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	w1 := baseTime.Truncate(10 * time.Minute)
	w2 := w1.Add(10 * time.Minute)
	steps := []struct {
		name       string
		window     time.Time
		want       int // the count RecordFailure answers
		wantRead   int // the failures Candidates reads: the newest window's
		wantWindow time.Time
	}{
		{"first failure opens the window", w1, 1, 1, w1},
		{"second counts in it", w1, 2, 2, w1},
		{"third counts in it", w1, 3, 3, w1},
		{"a new window starts over", w2, 1, 1, w2},
		{"and counts on", w2, 2, 2, w2},
		{"a late caller counts in its own, older window", w1, 4, 2, w2},
	}
	for _, st := range steps {
		n, err := s.RecordFailure(ctx, mbx, st.window, st.window.Add(11*time.Minute))
		mustOK(t, err, st.name)
		if n != st.want {
			t.Fatalf("%s: count = %d, want %d", st.name, n, st.want)
		}
		c, err := s.Candidates(ctx, mbx)
		mustOK(t, err, "candidates")
		if c.Failures != st.wantRead {
			t.Fatalf("%s: candidates' failures = %d, want %d", st.name, c.Failures, st.wantRead)
		}
		wantTime(t, st.name+": window", c.WindowStart, st.wantWindow)
	}
	other := seedMailbox(t, s, "owner")
	c, err := s.Candidates(ctx, other)
	mustOK(t, err, "candidates of another mailbox")
	if c.Failures != 0 {
		t.Fatalf("another mailbox has %d failures", c.Failures)
	}
}

func testRecordFailureConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	w := baseTime.Truncate(10 * time.Minute)
	const n = 10
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = s.RecordFailure(ctx, mbx, w, w.Add(11*time.Minute))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		mustOK(t, err, "record failure")
	}
	sort.Ints(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("concurrent counts = %v, want 1..%d each once", counts, n)
		}
	}
	c, err := s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates")
	if c.Failures != n {
		t.Fatalf("failures = %d, want %d", c.Failures, n)
	}
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
