package device

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/verifier"
)

// Verification answers mail servers: is this password valid for this
// mailbox, protocol and client?
type Verification struct {
	base
	store VerifyStore
	keyed *verifier.Keyed
}

// VerificationDeps are the collaborators of Verification.
type VerificationDeps struct {
	Store  VerifyStore
	Keyed  *verifier.Keyed
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// NewVerification returns the verify use case, or an error if a
// dependency is missing or the configuration is invalid.
func NewVerification(cfg Config, d VerificationDeps) (*Verification, error) {
	if missing(d.Store, d.Keyed) {
		return nil, errors.New("device: NewVerification needs a store and a keyed hasher")
	}
	b, err := newBase("NewVerification", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	return &Verification{base: b, store: d.Store, keyed: d.Keyed}, nil
}

// VerifyRequest is a mail server's question: is this password valid for
// this mailbox, protocol and client?
type VerifyRequest struct {
	Mailbox  string
	Password string
	Protocol string
	ClientIP string // optional; a device with an allow-list needs it
}

// MaxPasswordLen bounds what verification hashes.
const MaxPasswordLen = 1024

// Verify answers a mail server. It returns false for every reason to
// refuse, without saying which; RateLimited (see RetryAfter) while the
// client's network is over its limit (see ratelimit.go). Every device of
// the mailbox is compared in constant time, and an unknown mailbox costs
// the same read and write as a wrong password.
func (s *Verification) Verify(ctx context.Context, req VerifyRequest) (bool, error) {
	addr, err := NormalizeAddress("mailbox", req.Mailbox)
	if err != nil {
		return false, err
	}
	scope, err := ParseScope("protocol", req.Protocol)
	if err != nil {
		return false, err
	}
	var ip netip.Addr
	if req.ClientIP != "" {
		if ip, err = netip.ParseAddr(req.ClientIP); err != nil || ip.Zone() != "" {
			return false, apperr.Field("clientIp", "is not an IP address")
		}
	}
	if req.Password == "" {
		return false, apperr.Field("password", "is required")
	}
	if len(req.Password) > MaxPasswordLen {
		return false, apperr.Field("password", "is longer than %d bytes", MaxPasswordLen)
	}
	now := s.clock()
	cfg := s.cfg.Verify

	c, err := s.store.Candidates(ctx, addr)
	if err != nil {
		return false, fmt.Errorf("read candidates: %w", err)
	}
	a := Attempt{Network: NetworkOf(ip), Now: now, Window: cfg.Window, Limit: cfg.MaxFailures}
	if MailboxFailures(c.Networks, a.Index()) >= cfg.MailboxCeiling {
		a.AdmitBefore = now.Add(-cfg.Window)
	}
	seen := c.Network(a.Network)
	if err := CheckAttempt(seen, a); err != nil {
		return false, err // refused without a write: the counter says so already
	}
	i := match(c.Devices, s.keyed.Password(req.Password), now, admit{scope: scope, ip: ip, checkIP: true})
	a.Failed = i < 0
	// The answer waits for the counter's conditional write, whichever it
	// is: without it, concurrent guesses would all be checked.
	if err := s.store.Attempt(ctx, addr, a, seen); err != nil {
		if !apperr.Is(err, apperr.RateLimited) {
			err = fmt.Errorf("count verification: %w", err)
		}
		return false, err
	}
	if i < 0 {
		return false, nil
	}
	d := c.Devices[i]
	if d.LastUsedAt.IsZero() || now.Sub(d.LastUsedAt) >= cfg.LastUsedEvery {
		if err := s.store.TouchLastUsed(ctx, addr, d.ID, now, scope, ipString(ip), now.Add(-cfg.LastUsedEvery)); err != nil && !apperr.Is(err, apperr.Conflict) {
			s.log.WarnContext(ctx, "could not record last use", "mailbox", addr, "device", d.ID, "error", err)
		}
	}
	s.noteNetwork(ctx, d, ip, now)
	return true, nil
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.Unmap().String()
}

// admit says which candidates a match may accept.
type admit struct {
	scope   Scope
	ip      netip.Addr
	checkIP bool
	// pending admits one device's pending version (testSecret) instead of
	// the usual current and in-grace previous ones.
	pendingDevice  string
	pendingVersion string
}

// match returns the index of the device whose admitted verifier equals h,
// or -1. It compares h with every candidate verifier of every device, and
// decides eligibility without branching on the comparison, so its time does
// not depend on which device or verifier matched, or whether one did.
func match(ds []Device, h verifier.Hash, now time.Time, a admit) int {
	found := -1
	hb := []byte(h)
	for i := range ds {
		d := &ds[i]
		var hit int
		if a.pendingDevice != "" {
			if d.ID == a.pendingDevice && d.Pending != nil && d.Pending.Version == a.pendingVersion {
				hit = subtle.ConstantTimeCompare(hb, []byte(d.Pending.Hash))
			}
		} else {
			eligible := d.Status == StatusActive && !d.Expired(now) && d.HasScope(a.scope) && (!a.checkIP || ipAllowed(*d, a.ip))
			cur, prev := 0, 0
			if d.Current != nil {
				cur = subtle.ConstantTimeCompare(hb, []byte(d.Current.Hash))
			}
			if d.Previous != nil {
				prev = subtle.ConstantTimeCompare(hb, []byte(d.Previous.Hash))
				if !now.Before(d.PreviousUntil) {
					prev = 0
				}
			}
			if eligible {
				hit = cur | prev
			}
		}
		if hit == 1 && found < 0 {
			found = i
		}
	}
	return found
}

func ipAllowed(d Device, ip netip.Addr) bool {
	if len(d.AllowIPs) == 0 {
		return true
	}
	return ip.IsValid() && d.AllowsIP(ip)
}
