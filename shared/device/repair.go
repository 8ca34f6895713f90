package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// Repair is the use cases that finish what others leave behind: the
// expiry sweep and the TTL backstop (ExpireDue, ExpireRemoved) and the
// reconciler (Reconcile).
type Repair struct {
	base
	store     RepairStore
	secrets   RepairSecrets
	scheduler Scheduler // nil where schedules are not Secrets Manager's
}

// RepairDeps are the collaborators of Repair.
type RepairDeps struct {
	Store   RepairStore
	Secrets RepairSecrets
	// Scheduler, when rotation runs through a rotation function, lets the
	// reconciler repair schedules that drifted from the devices' policies.
	Scheduler Scheduler        // optional
	Clock     func() time.Time // default time.Now
	Logger    *slog.Logger     // default slog.Default()
}

// NewRepair returns the repair use cases, or an error if a dependency is
// missing or the configuration is invalid.
func NewRepair(cfg Config, d RepairDeps) (*Repair, error) {
	if missing(d.Store, d.Secrets) {
		return nil, errors.New("device: NewRepair needs a store and secrets")
	}
	b, err := newBase("NewRepair", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	return &Repair{base: b, store: d.Store, secrets: d.Secrets, scheduler: d.Scheduler}, nil
}

// endStore is what ending a device reads and writes.
type endStore interface {
	DeviceEnder
	GetDevice(ctx context.Context, mailbox, id string) (Device, error)
}

// endDevice revokes or expires d (a revoke, the sweep): the item first, so
// the password stops at once, then the secret's deletion with a recovery
// window of days. A device ended already has its secret's part finished.
func endDevice(ctx context.Context, store endStore, secrets SecretDeleter, days int, d Device, status Status, by string, now time.Time) (Device, error) {
	if d.Status.Live() {
		ended, err := store.EndDevice(ctx, d, status, by, now)
		switch {
		case err == nil:
			d = ended
		case apperr.Is(err, apperr.Conflict):
			// Ended meanwhile by someone else: finish the secret's part.
			if d, err = store.GetDevice(ctx, d.Mailbox, d.ID); err != nil {
				return Device{}, fmt.Errorf("read device: %w", err)
			}
		default:
			return Device{}, fmt.Errorf("end device: %w", err)
		}
	}
	if err := secrets.ScheduleDeletion(ctx, d.SecretARN, days); err != nil && !apperr.Is(err, apperr.NotFound) {
		return Device{}, fmt.Errorf("schedule secret deletion: %w", err)
	}
	return d, nil
}

// ExpireDue ends up to limit devices whose expiry has passed (the
// sweep): the same steps as a revoke, recorded as expired. Verification
// refuses them from the expiry instant on, whether or not the sweep ran.
func (s *Repair) ExpireDue(ctx context.Context, limit int) (int, error) {
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Subject: "sweep"})
	ds, err := s.store.ExpiringDevices(ctx, s.clock(), limit)
	if err != nil {
		return 0, fmt.Errorf("find expiring devices: %w", err)
	}
	n := 0
	var firstErr error
	for _, d := range ds {
		if _, err := endDevice(ctx, s.store, s.secrets, s.cfg.RecoveryWindowDays, d, StatusExpired, "sweep", s.clock()); err != nil {
			s.log.ErrorContext(ctx, "could not expire device", "mailbox", d.Mailbox, "device", d.ID, "error", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		s.log.InfoContext(ctx, "device expired", "mailbox", d.Mailbox, "device", d.ID)
		n++
	}
	return n, firstErr
}

// ExpireRemoved handles a device that DynamoDB's TTL removed: it records
// the device as expired and schedules its secret's deletion. Idempotent,
// for the stream handler, which may see the removal more than once.
func (s *Repair) ExpireRemoved(ctx context.Context, d Device) error {
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Subject: "ttl"})
	if !d.Status.Live() {
		return nil // ended before TTL removed it: nothing was live
	}
	if err := s.store.RestoreExpired(ctx, d, s.clock()); err != nil {
		return fmt.Errorf("record expired device: %w", err)
	}
	if err := s.secrets.ScheduleDeletion(ctx, d.SecretARN, s.cfg.RecoveryWindowDays); err != nil && !apperr.Is(err, apperr.NotFound) {
		return fmt.Errorf("schedule secret deletion: %w", err)
	}
	return nil
}
