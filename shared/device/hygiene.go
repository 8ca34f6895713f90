package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// Hygiene is what the sweep does for domain policies: it warns the owner
// of a device unused for long, revokes it warnBefore after the warning,
// and reminds the owner once ahead of a device's expiry. Every notice
// comes from one conditional write on the device item (its stream record
// becomes the event and the notice), so however often the sweep runs, and
// however often a record is delivered, each notice is sent once.

// The reasons an ended device records.
const (
	ReasonInactive          = "inactive"
	ReasonCredentialChanged = "credential-changed"
)

type reasonKey struct{}

// WithEndReason records why the devices ended with ctx end; the store
// writes it on the device item, so the event and audit entry carry it.
func WithEndReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, reasonKey{}, reason)
}

// EndReasonFrom returns the reason recorded in ctx, or "".
func EndReasonFrom(ctx context.Context) string {
	r, _ := ctx.Value(reasonKey{}).(string)
	return r
}

// HygieneStore is what Hygiene reads and writes.
type HygieneStore interface {
	endStore
	PolicyReader
	// PolicyDomains and DomainDevices are PolicyStore's.
	PolicyDomains(ctx context.Context) ([]string, error)
	DomainDevices(ctx context.Context, domain, cursor string, limit int) ([]Device, string, error)

	// MarkInactivityWarning records, on a live device, that its owner is
	// warned now of the inactivity that began at activity and that the
	// device is revoked at revokeAt unless used. Conflict if the device is
	// not live or was warned of this inactivity already.
	MarkInactivityWarning(ctx context.Context, mailbox, id string, activity, revokeAt, now time.Time) error
	// MarkExpiryReminder records, on a live device expiring at expiresAt,
	// that its owner is reminded now. Conflict if it is not live or was
	// reminded already.
	MarkExpiryReminder(ctx context.Context, mailbox, id string, expiresAt, now time.Time) error
	// SetPolicyExpiry gives a live device without expiry the expiry
	// expiresAt, marked as set by the policy at now. Conflict if the
	// device is not live or has an expiry.
	SetPolicyExpiry(ctx context.Context, mailbox, id string, expiresAt, now time.Time) error
}

// Hygiene is the policy sweep's use case.
type Hygiene struct {
	base
	store   HygieneStore
	secrets SecretDeleter
}

// HygieneDeps are the collaborators of Hygiene.
type HygieneDeps struct {
	Store   HygieneStore
	Secrets SecretDeleter
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
}

// NewHygiene returns the policy sweep's use case.
func NewHygiene(cfg Config, d HygieneDeps) (*Hygiene, error) {
	if missing(d.Store, d.Secrets) {
		return nil, errors.New("device: NewHygiene needs a store and secrets")
	}
	b, err := newBase("NewHygiene", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	return &Hygiene{base: b, store: d.Store, secrets: d.Secrets}, nil
}

// HygieneReport is what one policy sweep did.
type HygieneReport struct {
	Domains   int `json:"domains"`   // domains with a policy
	Warned    int `json:"warned"`    // inactivity warnings recorded
	Revoked   int `json:"revoked"`   // devices revoked for inactivity
	Reminded  int `json:"reminded"`  // expiry reminders recorded
	Aligned   int `json:"aligned"`   // devices given an expiry by requireExpiry
	Unchanged int `json:"unchanged"` // devices looked at that needed nothing
}

// hygienePage is how many devices one DomainDevices call reads.
const hygienePage = 100

// LastActivity is when a device was last used, or created if never.
func (d Device) LastActivity() time.Time {
	if d.LastUsedAt.After(d.CreatedAt) {
		return d.LastUsedAt
	}
	return d.CreatedAt
}

// Run sweeps every domain that has a policy with inactivity or reminder
// rules. It goes on past a failing device or domain and returns the first
// error, so one bad item does not stop the others; the next sweep retries.
func (s *Hygiene) Run(ctx context.Context) (HygieneReport, error) {
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Subject: "sweep"})
	var rep HygieneReport
	domains, err := s.store.PolicyDomains(ctx)
	if err != nil {
		return rep, fmt.Errorf("list policy domains: %w", err)
	}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, dom := range domains {
		if ctx.Err() != nil {
			keep(ctx.Err())
			break
		}
		pol, err := effectivePolicy(ctx, s.store, dom)
		if err != nil {
			keep(err)
			continue
		}
		if pol.InactivityRevokeAfter == 0 && pol.ExpiryReminderBefore == 0 && !pol.RequireExpiry {
			continue
		}
		rep.Domains++
		for cursor := ""; ; {
			ds, next, err := s.store.DomainDevices(ctx, dom, cursor, hygienePage)
			if err != nil {
				keep(fmt.Errorf("list devices of %s: %w", dom, err))
				break
			}
			for _, d := range ds {
				keep(s.device(ctx, pol, d, &rep))
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return rep, firstErr
}

// device applies the policy's hygiene to one live device.
func (s *Hygiene) device(ctx context.Context, pol DomainPolicy, d Device, rep *HygieneReport) error {
	now := s.clock()
	if d.Expired(now) || !d.Status.Live() {
		return nil // the expiry sweep's
	}
	acted := false
	if pol.RequireExpiry && d.ExpiresAt.IsZero() {
		// Brought into line where that is safe: the device keeps working
		// for the policy's longest lifetime, and its owner is told (and,
		// with reminders, reminded before the end).
		exp := now.Add(pol.MaxLifetime)
		err := s.store.SetPolicyExpiry(ctx, d.Mailbox, d.ID, exp, now)
		switch {
		case err == nil:
			rep.Aligned++
			acted = true
			d.ExpiresAt = exp
			s.log.InfoContext(ctx, "device given an expiry by its domain's policy", "mailbox", d.Mailbox, "device", d.ID, "expires_at", exp)
		case !apperr.Is(err, apperr.Conflict):
			return fmt.Errorf("set the policy's expiry: %w", err)
		}
	}
	if pol.ExpiryReminderBefore > 0 && !d.ExpiresAt.IsZero() && d.ExpiryRemindedAt.IsZero() && !now.Before(d.ExpiresAt.Add(-pol.ExpiryReminderBefore)) {
		err := s.store.MarkExpiryReminder(ctx, d.Mailbox, d.ID, d.ExpiresAt, now)
		switch {
		case err == nil:
			rep.Reminded++
			acted = true
			s.log.InfoContext(ctx, "expiry reminder recorded", "mailbox", d.Mailbox, "device", d.ID)
		case !apperr.Is(err, apperr.Conflict): // Conflict: reminded already
			return fmt.Errorf("record expiry reminder: %w", err)
		}
	}
	if pol.InactivityRevokeAfter > 0 {
		did, err := s.inactivity(ctx, pol, d, now, rep)
		if err != nil {
			return err
		}
		acted = acted || did
	}
	if !acted {
		rep.Unchanged++
	}
	return nil
}

// inactivity warns of, or revokes for, inactivity: the warning when the
// device has been unused for revokeAfter - warnBefore; the revocation once
// unused for revokeAfter and warned at least warnBefore earlier, so a
// device is never revoked without its owner having had that long to act.
func (s *Hygiene) inactivity(ctx context.Context, pol DomainPolicy, d Device, now time.Time, rep *HygieneReport) (bool, error) {
	act := d.LastActivity()
	warnAt := act.Add(pol.InactivityRevokeAfter - pol.InactivityWarnBefore)
	if now.Before(warnAt) {
		return false, nil
	}
	warned := !d.InactivityWarnedFor.IsZero() && !d.InactivityWarnedFor.Before(act.Truncate(time.Millisecond))
	if !warned {
		revokeAt := act.Add(pol.InactivityRevokeAfter)
		if earliest := now.Add(pol.InactivityWarnBefore); revokeAt.Before(earliest) {
			revokeAt = earliest
		}
		err := s.store.MarkInactivityWarning(ctx, d.Mailbox, d.ID, act, revokeAt, now)
		switch {
		case err == nil:
			rep.Warned++
			s.log.InfoContext(ctx, "inactivity warning recorded", "mailbox", d.Mailbox, "device", d.ID, "revoke_at", revokeAt)
			return true, nil
		case apperr.Is(err, apperr.Conflict):
			return false, nil // warned by a concurrent sweep
		default:
			return false, fmt.Errorf("record inactivity warning: %w", err)
		}
	}
	if d.InactivityRevokeAt.IsZero() || now.Before(d.InactivityRevokeAt) {
		return false, nil
	}
	rctx := WithEndReason(ctx, ReasonInactive)
	if _, err := endDevice(rctx, s.store, s.secrets, s.cfg.RecoveryWindowDays, d, StatusRevoked, "sweep", now); err != nil {
		return false, fmt.Errorf("revoke inactive device: %w", err)
	}
	rep.Revoked++
	s.log.InfoContext(ctx, "device revoked for inactivity", "mailbox", d.Mailbox, "device", d.ID)
	return true, nil
}
