package device_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

func TestVerifyRefusalsArePlainFalse(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	plain := h.create(device.CreateInput{Name: "plain"})
	disabled := h.create(device.CreateInput{Name: "disabled"})
	smtpOnly := h.create(device.CreateInput{Name: "smtp only", Scopes: []string{"smtp"}})
	fenced := h.create(device.CreateInput{Name: "fenced", AllowIPs: []string{"198.51.100.0/24", "2001:db8::/32"}})
	temp := h.create(device.CreateInput{Name: "temp", ValidFor: "1h"})
	revoked := h.create(device.CreateInput{Name: "revoked"})
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, disabled.Device.ID, device.Patch{Status: ptr("disabled")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, revoked.Device.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.RegisterMailbox(ctx, h.admin(), "bob@example.com", "bob"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		mailbox  string
		password string
		protocol string
		ip       string
		advance  time.Duration
		want     bool
	}{
		{"valid", mailbox, plain.Password, "imap", "192.0.2.10", 0, true},
		{"valid without client address", mailbox, plain.Password, "pop", "", 0, true},
		{"wrong password", mailbox, plain.Password + "x", "imap", "192.0.2.10", 0, false},
		{"another device's password is its own", mailbox, temp.Password, "imap", "", 0, true},
		{"disabled", mailbox, disabled.Password, "imap", "192.0.2.10", 0, false},
		{"revoked", mailbox, revoked.Password, "imap", "192.0.2.10", 0, false},
		{"scope not granted", mailbox, smtpOnly.Password, "imap", "192.0.2.10", 0, false},
		{"scope granted", mailbox, smtpOnly.Password, "smtp", "192.0.2.10", 0, true},
		{"outside the allow-list", mailbox, fenced.Password, "imap", "192.0.2.10", 0, false},
		{"inside the allow-list", mailbox, fenced.Password, "imap", "198.51.100.7", 0, true},
		{"inside the allow-list (IPv6)", mailbox, fenced.Password, "imap", "2001:db8::5", 0, true},
		{"inside the allow-list (IPv4-mapped)", mailbox, fenced.Password, "imap", "::ffff:198.51.100.7", 0, true},
		{"allow-list without client address", mailbox, fenced.Password, "imap", "", 0, false},
		{"another mailbox", "bob@example.com", plain.Password, "imap", "192.0.2.10", 0, false},
		{"unknown mailbox", "nobody@example.com", plain.Password, "imap", "192.0.2.10", 0, false},
		{"expired", mailbox, temp.Password, "imap", "192.0.2.10", time.Hour, false},
		{"still valid after expiry of another", mailbox, plain.Password, "imap", "192.0.2.10", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Advance(tc.advance)
			ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: tc.mailbox, Password: tc.password, Protocol: tc.protocol, ClientIP: tc.ip})
			if err != nil {
				t.Fatalf("verify: %v (refusals must be a plain false)", err)
			}
			if ok != tc.want {
				t.Fatalf("verify = %v, want %v", ok, tc.want)
			}
		})
	}
}

func TestVerifyRefusesBadRequests(t *testing.T) {
	h := newHarness(t, device.Config{})
	pw := h.create(device.CreateInput{Name: "x"}).Password
	tests := []struct {
		name  string
		req   device.VerifyRequest
		field string
	}{
		{"bad mailbox", device.VerifyRequest{Mailbox: "alice", Password: pw, Protocol: "imap"}, "mailbox"},
		{"bad protocol", device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "ftp"}, "protocol"},
		{"bad address", device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: "300.1.1.1"}, "clientIp"},
		{"zoned address", device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: "fe80::1%eth0"}, "clientIp"},
		{"no password", device.VerifyRequest{Mailbox: mailbox, Protocol: "imap"}, "password"},
		{"long password", device.VerifyRequest{Mailbox: mailbox, Password: strings.Repeat("a", device.MaxPasswordLen+1), Protocol: "imap"}, "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.Verify(context.Background(), tc.req)
			wantCode(t, err, apperr.Invalid)
			if e, _ := apperr.As(err); e.Field != tc.field {
				t.Fatalf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
	if n := h.store.Count("Candidates"); n != 0 {
		t.Fatalf("bad requests read the store %d times", n)
	}
}

func TestVerifyRateLimit(t *testing.T) {
	h := newHarness(t, device.Config{Verify: device.VerifyConfig{MaxFailures: 3, Window: 10 * time.Minute}})
	ctx := context.Background()
	pw := h.create(device.CreateInput{Name: "x"}).Password
	// Start at the beginning of a window so the clock stays inside it.
	h.clock.Set(t0.Truncate(10 * time.Minute).Add(10 * time.Minute))
	for i := range 3 {
		if h.verify("wrong password " + string(rune('a'+i))) {
			t.Fatal("a wrong password verified")
		}
	}
	for _, try := range []string{"wrong again", pw} {
		ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: try, Protocol: "imap", ClientIP: "192.0.2.99"})
		wantCode(t, err, apperr.RateLimited)
		if wait, found := device.RetryAfter(err, h.clock.Now()); !found || wait != 20*time.Minute {
			t.Fatalf("retry after %v, want until the failures' window has passed (20m)", wait)
		}
		if ok {
			t.Fatal("a rate-limited request verified")
		}
	}
	// The limit is per network: the owner elsewhere, and a request without
	// an address, are not limited.
	for _, ip := range []string{"198.51.100.7", "2001:db8::1", ""} {
		if ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: ip}); !ok || err != nil {
			t.Fatalf("the owner's password from %q = %v, %v while another network is throttled", ip, ok, err)
		}
	}
	// The limit is per mailbox.
	if _, _, err := h.svc.RegisterMailbox(ctx, h.admin(), "bob@example.com", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: "bob@example.com", Password: "x", Protocol: "imap", ClientIP: "192.0.2.10"}); err != nil {
		t.Fatalf("another mailbox is rate limited: %v", err)
	}
	// The next window still counts the last one's failures; the one after
	// starts over.
	h.clock.Advance(10 * time.Minute)
	_, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: "192.0.2.10"})
	wantCode(t, err, apperr.RateLimited)
	h.clock.Advance(10 * time.Minute)
	if !h.verify(pw) {
		t.Fatal("the password does not verify two windows later")
	}

	// Unknown mailboxes are limited too: the same cost as a wrong password.
	for range 3 {
		if ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: "ghost@example.com", Password: "x", Protocol: "imap"}); ok || err != nil {
			t.Fatalf("unknown mailbox = %v, %v", ok, err)
		}
	}
	_, err = h.svc.Verify(ctx, device.VerifyRequest{Mailbox: "ghost@example.com", Password: "x", Protocol: "imap"})
	wantCode(t, err, apperr.RateLimited)
}

// TestVerifyNetworks: the networks a client address counts in.
func TestVerifyNetworks(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.77":           "192.0.2.0/24",
		"::ffff:192.0.2.77":    "192.0.2.0/24",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::":  "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"":                     device.NoNetwork,
	} {
		var a netip.Addr
		if ip != "" {
			a = netip.MustParseAddr(ip)
		}
		if got := device.NetworkOf(a); got != want {
			t.Errorf("NetworkOf(%q) = %q, want %q", ip, got, want)
		}
	}
}

// TestVerifyOwnerDuringAttack: a thousand failures from one network, then
// the owner's password from another network verifies.
func TestVerifyOwnerDuringAttack(t *testing.T) {
	h := newHarness(t, device.Config{Verify: device.VerifyConfig{MaxFailures: 20, Window: 10 * time.Minute}})
	ctx := context.Background()
	pw := h.create(device.CreateInput{Name: "x"}).Password
	refused := 0
	for i := range 1000 {
		ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: fmt.Sprintf("guess-%d", i), Protocol: "imap", ClientIP: "203.0.113.5"})
		if ok {
			t.Fatal("a guess verified")
		}
		if apperr.Is(err, apperr.RateLimited) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 980 {
		t.Fatalf("%d of 1000 guesses refused, want 980 (all but the limit)", refused)
	}
	if ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: "198.51.100.20"}); !ok || err != nil {
		t.Fatalf("the owner's password from another network = %v, %v", ok, err)
	}
}

// TestVerifyMailboxCeiling: guesses from many networks push the mailbox
// over its ceiling; a network that has failed then waits a window after
// its first failure, and one that never failed is not refused.
func TestVerifyMailboxCeiling(t *testing.T) {
	h := newHarness(t, device.Config{Verify: device.VerifyConfig{MaxFailures: 5, MailboxCeiling: 20, Window: 10 * time.Minute}})
	ctx := context.Background()
	pw := h.create(device.CreateInput{Name: "x"}).Password
	h.clock.Set(t0.Truncate(10 * time.Minute).Add(10 * time.Minute))
	guess := func(net int) error {
		_, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: "guess", Protocol: "imap", ClientIP: fmt.Sprintf("10.0.%d.1", net)})
		return err
	}
	for n := range 5 { // 5 networks x 4 failures: the ceiling
		for range 4 {
			if err := guess(n); err != nil {
				t.Fatalf("network %d: %v", n, err)
			}
		}
	}
	// Network 0 is under its own limit but has failed recently: it waits.
	wantCode(t, guess(0), apperr.RateLimited)
	// A new network gets one failure, then waits a window.
	if err := guess(100); err != nil {
		t.Fatalf("a new network's first failure: %v", err)
	}
	err := guess(100)
	wantCode(t, err, apperr.RateLimited)
	if wait, _ := device.RetryAfter(err, h.clock.Now()); wait != 10*time.Minute {
		t.Fatalf("retry after %v, want a window after the network's first failure", wait)
	}
	// The owner's network never failed: admitted.
	if ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: "198.51.100.20"}); !ok || err != nil {
		t.Fatalf("the owner's password from a network that never failed = %v, %v", ok, err)
	}
}

// TestVerifyConcurrentGuesses: of 40 concurrent guesses from one fresh
// network, exactly the limit get an answer; the rest are refused.
func TestVerifyConcurrentGuesses(t *testing.T) {
	h := newHarness(t, device.Config{Verify: device.VerifyConfig{MaxFailures: 20, Window: 10 * time.Minute}})
	h.create(device.CreateInput{Name: "x"})
	answered := concurrentGuesses(t, h.svc, mailbox, 40)
	if answered != 20 {
		t.Fatalf("%d of 40 concurrent guesses checked, want exactly the limit 20", answered)
	}
}

func concurrentGuesses(t *testing.T, v interface {
	Verify(context.Context, device.VerifyRequest) (bool, error)
}, mbx string, n int) int {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = v.Verify(context.Background(), device.VerifyRequest{Mailbox: mbx, Password: fmt.Sprintf("guess-%d", i), Protocol: "imap", ClientIP: "203.0.113.9"})
		}()
	}
	wg.Wait()
	answered := 0
	for _, err := range errs {
		switch {
		case err == nil:
			answered++
		case !apperr.Is(err, apperr.RateLimited):
			t.Fatalf("verify: %v", err)
		}
	}
	return answered
}

func TestVerifyLastUseIsCoalesced(t *testing.T) {
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{Name: "x"})
	first := h.clock.Now()
	for range 3 {
		if !h.verify(c.Password) {
			t.Fatal("password does not verify")
		}
		h.clock.Advance(time.Minute)
	}
	if n := h.store.Count("TouchLastUsed"); n != 1 {
		t.Fatalf("%d last-use writes for three logins in three minutes, want 1", n)
	}
	d := h.device(c.Device.ID)
	if !d.LastUsedAt.Equal(first) || d.LastUsedProtocol != device.ScopeIMAP || d.LastUsedIP != "192.0.2.10" {
		t.Fatalf("last use = %s %s %s", d.LastUsedAt, d.LastUsedProtocol, d.LastUsedIP)
	}
	h.clock.Advance(3 * time.Minute) // six minutes after the first
	if !h.verify(c.Password) {
		t.Fatal("password does not verify")
	}
	if n := h.store.Count("TouchLastUsed"); n != 2 {
		t.Fatalf("%d last-use writes, want 2", n)
	}
	if d := h.device(c.Device.ID); !d.LastUsedAt.Equal(h.clock.Now()) {
		t.Fatalf("last use = %s, want %s", d.LastUsedAt, h.clock.Now())
	}
}

// TestVerifyUnknownMailboxCostsTheSame: an unknown mailbox and a wrong
// password make the same store calls (one read of the mailbox's partition
// and one failure count), so the answer's cost does not tell them apart.
func TestVerifyUnknownMailboxCostsTheSame(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	for range 3 {
		h.create(device.CreateInput{Name: "x"})
	}
	calls := func(mbx string) map[string]int {
		h.store.ResetCounts()
		h.secrets.ResetCounts()
		if ok, err := h.svc.Verify(ctx, device.VerifyRequest{Mailbox: mbx, Password: "not-the-password", Protocol: "imap"}); ok || err != nil {
			t.Fatalf("verify %s = %v, %v", mbx, ok, err)
		}
		for m, n := range h.secrets.Counts() {
			if n > 0 {
				t.Errorf("verifying %s called Secrets.%s", mbx, m)
			}
		}
		return h.store.Counts()
	}
	wrong, unknown := calls(mailbox), calls("nobody@example.com")
	if len(wrong) == 0 || !reflect.DeepEqual(wrong, unknown) {
		t.Errorf("store calls: wrong password %v, unknown mailbox %v; want the same", wrong, unknown)
	}
}
