package device

import (
	"errors"
	"net/netip"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// Verification's rate limit. Failures are counted per mailbox and client
// network (IPv4 /24, IPv6 /64; a request without a client address is its
// own bucket), so a guesser throttles only the network it guesses from and
// never the owner's phones elsewhere. A network may have at most Limit
// failures in the current window and the one before it together: any span
// of one window length lies inside two consecutive windows, so no burst
// straddling a window boundary gets twice the limit.
//
// Every verification passes one conditional write on its network's counter
// (Attempt): a wrong password is counted and a right one admitted only if
// the network is under its limit at that write. A right password is gated
// too because otherwise a burst of concurrent guesses, all read before any
// was counted, would each learn whether it was right: the 429s that refuse
// the wrong ones would not hide the one that was answered valid.
//
// A per-mailbox ceiling (MailboxCeiling failures over all networks in the
// same two windows) slows a distributed attack: above it, a network that
// has failed is admitted again only once its first failure is older than
// one window, while a network that has never failed is admitted at once.

// NoNetwork is the bucket of requests without a client address.
const NoNetwork = "none"

// NetworkOf returns the rate-limit bucket of a client address: its IPv4
// /24 or IPv6 /64 (an IPv4-mapped IPv6 address counts as IPv4), or
// NoNetwork for no address.
func NetworkOf(ip netip.Addr) string {
	if !ip.IsValid() {
		return NoNetwork
	}
	ip = ip.Unmap().WithZone("")
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return NoNetwork
	}
	return p.String()
}

// NetworkFailures is one network's failure counter for a mailbox.
type NetworkFailures struct {
	Network string
	Window  int64     // the window Count counts in: Unix milliseconds / window length
	Count   int       // failures in Window
	Prev    int       // failures in the window before Window
	First   time.Time // the first failure since the network was last quiet for a whole window
}

// Recent returns the failures that count in window idx: those of idx and
// of the window before it.
func (n NetworkFailures) Recent(idx int64) int {
	switch n.Window {
	case idx:
		return n.Count + n.Prev
	case idx - 1:
		return n.Count
	}
	return 0
}

// fresh reports whether the counter is of an episode that ended: no
// failure in window idx or the one before.
func (n NetworkFailures) fresh(idx int64) bool { return n.Window < idx-1 }

// Attempt is one verification to count (Failed) or admit against its
// network's counter.
type Attempt struct {
	Network string
	Failed  bool
	Now     time.Time
	Window  time.Duration
	Limit   int // failures per network in two windows
	// AdmitBefore, when set (the mailbox is above its ceiling), admits a
	// network that has failed only if its first failure is before it.
	AdmitBefore time.Time
}

// Index returns the window that a.Now falls in.
func (a Attempt) Index() int64 { return WindowIndex(a.Now, a.Window) }

// WindowIndex returns the index of the rate-limit window of length w that
// t falls in; windows start at multiples of w since the Unix epoch.
func WindowIndex(t time.Time, w time.Duration) int64 { return t.UnixMilli() / w.Milliseconds() }

// Expires is when a counter written by a at can be deleted: it no longer
// counts once two windows have passed.
func (a Attempt) Expires() time.Time {
	return time.UnixMilli((a.Index() + 2) * a.Window.Milliseconds()).Add(time.Minute)
}

// ErrThrottled is the cause of every rate-limit refusal; RetryAfter reads
// when to come back from the error.
var ErrThrottled = errors.New("rate limited")

// throttled is a refusal with the time it ends.
type throttled struct{ until time.Time }

func (t *throttled) Error() string { return ErrThrottled.Error() }
func (t *throttled) Unwrap() error { return ErrThrottled }

// RetryAfter returns how long a rate-limited caller should wait, if err is
// a rate-limit refusal.
func RetryAfter(err error, now time.Time) (time.Duration, bool) {
	var t *throttled
	if !errors.As(err, &t) {
		return 0, false
	}
	return max(time.Second, t.until.Sub(now)), true
}

// CheckAttempt is the guard of the counter's conditional write: nil if a
// may be counted or admitted given the stored counter n (nil if there is
// none), else a RateLimited error saying until when. Both stores apply it;
// the DynamoDB adapter writes it as the condition expression.
func CheckAttempt(n *NetworkFailures, a Attempt) error {
	if n == nil {
		return nil
	}
	idx := a.Index()
	if n.fresh(idx) {
		return nil
	}
	var until time.Time
	if n.Recent(idx) >= a.Limit {
		// The window after next drops Count from the sum; the next drops Prev.
		next := idx + 1
		if n.Window == idx && n.Count >= a.Limit {
			next = idx + 2
		}
		until = time.UnixMilli(next * a.Window.Milliseconds())
	}
	if !a.AdmitBefore.IsZero() && !n.First.IsZero() && !n.First.Before(a.AdmitBefore) {
		if u := n.First.Add(a.Now.Sub(a.AdmitBefore)); u.After(until) {
			until = u
		}
	}
	if until.IsZero() {
		return nil
	}
	return apperr.Wrap(&throttled{until: until}, apperr.RateLimited,
		"too many failed attempts for this mailbox from this network; retry after %s", until.UTC().Format(time.RFC3339))
}

// Apply returns the counter after a counted failure a (n nil: none yet).
func (a Attempt) Apply(n *NetworkFailures) NetworkFailures {
	idx := a.Index()
	out := NetworkFailures{Network: a.Network, Window: idx, Count: 1, First: a.Now}
	if n == nil || n.fresh(idx) || n.Window > idx {
		return out
	}
	out.First = n.First
	if out.First.IsZero() {
		out.First = a.Now
	}
	if n.Window == idx {
		out.Count, out.Prev = n.Count+1, n.Prev
	} else { // idx-1: its count becomes the previous window's
		out.Prev = n.Count
	}
	return out
}

// MailboxFailures returns the failures of every network that count in
// window idx, for the mailbox ceiling.
func MailboxFailures(ns []NetworkFailures, idx int64) int {
	t := 0
	for _, n := range ns {
		t += n.Recent(idx)
	}
	return t
}
