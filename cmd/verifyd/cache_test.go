package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
)

// clockVerifier answers like fakeVerifier and lets time pass while it is
// asked, as a request to the endpoint does.
type clockVerifier struct {
	fakeVerifier
	mu    sync.Mutex
	now   time.Time
	takes time.Duration
	valid bool
}

func (c *clockVerifier) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clockVerifier) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clockVerifier) Verify(ctx context.Context, in mailverify.Request) (bool, error) {
	_, _ = c.fakeVerifier.Verify(ctx, in)
	c.advance(c.takes)
	return c.valid, nil
}

func (c *clockVerifier) count() int {
	c.fakeVerifier.mu.Lock()
	defer c.fakeVerifier.mu.Unlock()
	return len(c.fakeVerifier.asked)
}

func cachedServer(v *clockVerifier, ttl time.Duration) *server {
	return &server{client: v, fallback: "imap", logf: func(string, ...any) {}, now: v.Now, cache: newAcceptCache(ttl, v.Now)}
}

func fields(user, pw, service, ip string) [maxFields]string {
	return [maxFields]string{user, pw, service, ip}
}

// TestAcceptanceReusedForLessThanItsTTL: the bound on revocation is the
// cache's ttl counted from when the acceptance was asked for, not from
// when it came back.
func TestAcceptanceReusedForLessThanItsTTL(t *testing.T) {
	v := &clockVerifier{now: time.Unix(1_800_000_000, 0), takes: 500 * time.Millisecond, valid: true}
	s := cachedServer(v, 2*time.Second)
	ctx := context.Background()
	login := fields("alice@example.com", "right-password", "imap", "192.0.2.7")
	if got := s.answer(ctx, login); got != "OK" || v.count() != 1 {
		t.Fatalf("first login: %q after %d requests", got, v.count())
	}
	v.valid = false // revoked right after the endpoint answered
	v.advance(1499 * time.Millisecond)
	if got := s.answer(ctx, login); got != "OK" || v.count() != 1 {
		t.Fatalf("within the ttl: %q after %d requests, want the reused acceptance", got, v.count())
	}
	v.advance(time.Millisecond) // 2 s after the request was sent
	if got := s.answer(ctx, login); got != "NO" || v.count() != 2 {
		t.Fatalf("at the ttl: %q after %d requests, want the endpoint's refusal", got, v.count())
	}
	// The refusal is not reused either way: the next login asks again.
	v.valid = true
	if got := s.answer(ctx, login); got != "OK" || v.count() != 3 {
		t.Fatalf("after a refusal: %q after %d requests", got, v.count())
	}
}

// TestOnlyTheSameLoginIsReused: another password, protocol or client
// address asks the endpoint, so scopes and allow-lists keep applying.
func TestOnlyTheSameLoginIsReused(t *testing.T) {
	v := &clockVerifier{now: time.Unix(1_800_000_000, 0), valid: true}
	s := cachedServer(v, 4*time.Second)
	ctx := context.Background()
	logins := [][maxFields]string{
		fields("alice@example.com", "right-password", "imap", "192.0.2.7"),
		fields("alice@example.com", "right-passwore", "imap", "192.0.2.7"),
		fields("alice@example.com", "right-password", "submission", "192.0.2.7"),
		fields("alice@example.com", "right-password", "imap", "192.0.2.8"),
		fields("bob@example.com", "right-password", "imap", "192.0.2.7"),
		// Length-prefixed fields: moving a byte between fields is another login.
		fields("alice@example.co", "mright-password", "imap", "192.0.2.7"),
	}
	for i, l := range logins {
		if got := s.answer(ctx, l); got != "OK" || v.count() != i+1 {
			t.Errorf("login %d: %q after %d requests, want a request of its own", i, got, v.count())
		}
	}
	if got := s.answer(ctx, logins[0]); got != "OK" || v.count() != len(logins) {
		t.Errorf("the first login again: %q after %d requests, want the reused acceptance", got, v.count())
	}
}

func TestRefusalsAreNeverReused(t *testing.T) {
	v := &clockVerifier{now: time.Unix(1_800_000_000, 0)}
	s := cachedServer(v, 4*time.Second)
	for i := range 3 {
		if got := s.answer(context.Background(), fields("alice@example.com", "wrong", "imap", "")); got != "NO" || v.count() != i+1 {
			t.Fatalf("refusal %d: %q after %d requests", i, got, v.count())
		}
	}
}

// TestCacheHoldsNoPassword: the cache keeps keyed hashes only.
func TestCacheHoldsNoPassword(t *testing.T) {
	v := &clockVerifier{now: time.Unix(1_800_000_000, 0), valid: true}
	s := cachedServer(v, 4*time.Second)
	s.answer(context.Background(), fields("alice@example.com", "right-password", "imap", ""))
	for k := range s.cache.expires {
		if strings.Contains(string(k[:]), "right-password") {
			t.Error("a cache key holds the password")
		}
	}
	if len(s.cache.expires) != 1 {
		t.Errorf("%d entries, want 1", len(s.cache.expires))
	}
}
