package device

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// SecretSummary is one secret as a listing shows it.
type SecretSummary struct {
	ARN      string
	Name     string
	Created  time.Time
	Deleted  bool
	Versions map[string][]string // version id to stages
	Schedule SecretSchedule      // its rotation schedule
	// Description is the secret's Description (SecretDescription).
	Description string
}

// SecretLister lists the secrets under a name prefix, including those
// scheduled for deletion.
type SecretLister interface {
	ListSecrets(ctx context.Context, prefix string) ([]SecretSummary, error)
}

// DeviceScanner visits every device item of the table.
type DeviceScanner interface {
	ScanDevices(ctx context.Context, visit func(Device) error) error
}

// ReconcileReport counts what a reconciliation found and repaired.
type ReconcileReport struct {
	Secrets              int // secrets under the prefix
	Devices              int // device items
	OrphanSecretsDeleted int // secrets without a device (a create that stopped after CreateSecret)
	EndedSecretsDeleted  int // secrets of revoked or expired devices not yet scheduled for deletion
	RotationsFinished    int // AWSCURRENT moved where the table already had it (finishSecret stopped half-way)
	PendingCleared       int // AWSPENDING left on an abandoned version
	DevicesWithoutSecret int // live devices whose secret is gone: ended as revoked
	SchedulesRepaired    int // rotation schedules re-applied or cancelled to match the device's policy
	DescriptionsRepaired int // secret Descriptions that did not name the device as it is named now
	Failures             int // repairs that failed; the next run tries again
}

// Reconcile repairs what crashes between two AWS calls can leave behind
// (invariant 2): secrets without a device and devices without a secret,
// both older than minAge so that operations in flight are left alone, plus
// rotations stopped between the table and Secrets Manager, and rotation
// schedules that differ from the devices' policies. It is
// idempotent; each repair is logged.
func (s *Repair) Reconcile(ctx context.Context, lister SecretLister, scanner DeviceScanner, minAge time.Duration) (ReconcileReport, error) {
	return s.reconcileSlice(ctx, lister, scanner, minAge, "")
}

// reconcileSlice reconciles the devices whose mailbox starts with slice
// and the secrets named after them; "" is the whole fleet.
func (s *Repair) reconcileSlice(ctx context.Context, lister SecretLister, scanner DeviceScanner, minAge time.Duration, slice string) (ReconcileReport, error) {
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Subject: "reconciler"})
	var rep ReconcileReport
	now := s.clock()
	secrets, err := lister.ListSecrets(ctx, s.cfg.SecretPrefix+"/"+slice)
	if err != nil {
		return rep, fmt.Errorf("list secrets: %w", err)
	}
	rep.Secrets = len(secrets)
	devices := map[string]Device{}
	keep := func(d Device) error {
		if strings.HasPrefix(d.Mailbox, slice) {
			devices[SecretName(s.cfg.SecretPrefix, d.Mailbox, d.ID)] = d
		}
		return nil
	}
	if ps, ok := scanner.(PrefixScanner); ok && slice != "" {
		err = ps.ScanMailboxPrefix(ctx, slice, keep)
	} else {
		err = scanner.ScanDevices(ctx, keep)
	}
	if err != nil {
		return rep, fmt.Errorf("scan devices: %w", err)
	}
	rep.Devices = len(devices)
	fail := func(what string, d Device, err error) {
		rep.Failures++
		s.log.ErrorContext(ctx, "reconciler could not "+what, "mailbox", d.Mailbox, "device", d.ID, "error", err)
	}
	seen := map[string]bool{}
	for _, sec := range secrets {
		mailbox, id, err := ParseSecretID(s.cfg.SecretPrefix, sec.Name)
		if err != nil {
			continue // not a device secret (someone else's under our prefix)
		}
		if sec.Deleted {
			// Not the device's secret any more: a live device whose secret
			// is scheduled for deletion (deleted behind our back) is a
			// device without a secret, ended below.
			continue
		}
		seen[sec.Name] = true
		d, ok := devices[sec.Name]
		old := now.Sub(sec.Created) >= minAge
		switch {
		case !ok && old:
			ref := Device{Mailbox: mailbox, ID: id}
			if slice != "" {
				// A slice is read from an index, eventually consistent and
				// blind to items written before it existed: a secret is an
				// orphan only if the table itself has no device for it.
				_, err := s.store.GetDevice(ctx, mailbox, id)
				if err == nil {
					continue
				}
				if !apperr.Is(err, apperr.NotFound) {
					fail("confirm an orphan secret", ref, err)
					continue
				}
			}
			if err := s.secrets.ForceDelete(ctx, sec.Name); err != nil {
				fail("delete orphan secret", ref, err)
				continue
			}
			rep.OrphanSecretsDeleted++
			s.log.WarnContext(ctx, "deleted a secret without a device", "mailbox", mailbox, "device", id)
		case ok && !d.Status.Live():
			err := s.secrets.ScheduleDeletion(ctx, sec.Name, s.cfg.RecoveryWindowDays)
			if apperr.Is(err, apperr.NotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				fail("schedule deletion of an ended device's secret", d, err)
				continue
			}
			rep.EndedSecretsDeleted++
			s.log.WarnContext(ctx, "scheduled deletion of an ended device's secret", "mailbox", mailbox, "device", id)
		case ok:
			s.reconcileVersions(ctx, d, sec, now, &rep, fail)
			s.reconcileSchedule(ctx, d, sec, now, minAge, &rep, fail)
			s.reconcileDescription(ctx, d, sec, now, minAge, &rep, fail)
		}
	}
	for name, d := range devices {
		if seen[name] || !d.Status.Live() || now.Sub(d.CreatedAt) < minAge {
			continue
		}
		_, err := s.store.EndDevice(ctx, d, StatusRevoked, "reconciler", now)
		if apperr.Is(err, apperr.Conflict) {
			continue // ended since it was scanned
		}
		if err != nil {
			fail("end a device without a secret", d, err)
			continue
		}
		rep.DevicesWithoutSecret++
		s.log.WarnContext(ctx, "ended a device whose secret is gone", "mailbox", d.Mailbox, "device", d.ID)
	}
	return rep, nil
}

// reconcileVersions finishes a rotation that promoted in the table but
// never moved AWSCURRENT, and clears AWSPENDING that no rotation will use.
func (s *Repair) reconcileVersions(ctx context.Context, d Device, sec SecretSummary, now time.Time, rep *ReconcileReport, fail func(string, Device, error)) {
	st := SecretState{Versions: sec.Versions}
	cur, pend := st.Current(), st.Pending()
	if d.Current != nil && d.Current.Version != cur && d.Previous != nil && d.Previous.Version == cur {
		if _, ok := sec.Versions[d.Current.Version]; ok {
			err := s.secrets.MoveCurrent(ctx, sec.ARN, d.Current.Version, cur)
			if apperr.Is(err, apperr.Conflict) {
				// AWSCURRENT moved since the listing (the rotation's own
				// finishSecret, most likely): the next run looks again.
				return
			}
			if err != nil {
				fail("finish a half-done rotation", d, err)
				return
			}
			rep.RotationsFinished++
			s.log.WarnContext(ctx, "finished a rotation that stopped before moving AWSCURRENT", "mailbox", d.Mailbox, "device", d.ID, "version", d.Current.Version)
			cur = d.Current.Version
		}
	}
	if pend == "" || pend == cur {
		return // AWSPENDING on AWSCURRENT: a finished rotation (SecretState.InProgress)
	}
	inFlight := d.Pending != nil && d.Pending.Version == pend && now.Sub(d.PendingAt) < RegenerateHold
	if inFlight {
		return
	}
	err := s.secrets.RemovePending(ctx, sec.ARN, pend)
	if apperr.Is(err, apperr.Conflict) {
		return // the label moved since the listing
	}
	if err != nil {
		fail("clear an abandoned AWSPENDING", d, err)
		return
	}
	rep.PendingCleared++
	s.log.WarnContext(ctx, "cleared AWSPENDING of an abandoned rotation", "mailbox", d.Mailbox, "device", d.ID, "version", pend)
}
