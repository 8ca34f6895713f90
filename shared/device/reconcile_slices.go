package device

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReconcileSlices are the slices one reconciliation pass walks through, in
// order: every character a canonical mailbox can start with (NormalizeAddress
// lower-cases the local part, which holds only letters, digits and _ + = -).
// A slice is a mailbox prefix, so that both sides of a slice can be read
// without reading the rest of the fleet: ListSecrets filters on the secret
// name prefix <SecretPrefix>/<slice>, the table on the mailbox prefix.
var ReconcileSlices = []string{
	"+", "-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "=", "_",
	"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
	"n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
}

// PrefixScanner is a DeviceScanner that can visit only the devices whose
// mailbox starts with a prefix, reading no other items. A sliced run uses
// it when the scanner offers it; otherwise it filters a full scan.
type PrefixScanner interface {
	ScanMailboxPrefix(ctx context.Context, prefix string, visit func(Device) error) error
}

// Checkpoint keeps, between reconciler runs, the index in ReconcileSlices
// of the next slice to reconcile. A run that stopped before its deadline
// resumes there; a new item starts at 0.
type Checkpoint interface {
	LoadCursor(ctx context.Context) (int, error)
	SaveCursor(ctx context.Context, next int) error
}

// SlicedReport is a ReconcileReport for the slices one run got through,
// with how far it got.
type SlicedReport struct {
	ReconcileReport
	FirstSlice  int  // index of the first slice this run reconciled
	SlicesDone  int  // slices this run reconciled
	NextSlice   int  // index the checkpoint holds for the next run
	PassesEnded int  // passes over the whole fleet this run completed
	Stopped     bool // the run stopped at its budget before covering every slice once
}

// ReconcileSliced reconciles slice after slice, starting where the
// checkpoint says, until every slice was done once or the clock now passes
// until, the latest instant a slice may start (the caller's deadline less
// the time one slice and the checkpoint write may take; zero runs a whole
// pass).
// Each finished slice advances the checkpoint, so a run killed at its
// timeout loses at most one slice's work and the next run resumes there.
// The guarantees are those of Reconcile, slice by slice: a pass over all
// the slices repairs what one Reconcile over the whole fleet repairs, and
// a device and its secret always fall in the same slice.
func (s *Repair) ReconcileSliced(ctx context.Context, lister SecretLister, scanner DeviceScanner, cp Checkpoint, minAge time.Duration, until time.Time, now func() time.Time) (SlicedReport, error) {
	var rep SlicedReport
	if cp == nil || now == nil {
		return rep, errors.New("device: ReconcileSliced needs a checkpoint and a clock")
	}
	next, err := cp.LoadCursor(ctx)
	if err != nil {
		return rep, fmt.Errorf("load reconciler checkpoint: %w", err)
	}
	if next < 0 || next >= len(ReconcileSlices) {
		next = 0 // a checkpoint from a different slicing starts over
	}
	rep.FirstSlice, rep.NextSlice = next, next
	for rep.SlicesDone < len(ReconcileSlices) {
		if !until.IsZero() && now().After(until) {
			rep.Stopped = true
			break
		}
		one, err := s.reconcileSlice(ctx, lister, scanner, minAge, ReconcileSlices[next])
		add(&rep.ReconcileReport, one)
		if err != nil {
			return rep, fmt.Errorf("slice %q: %w", ReconcileSlices[next], err)
		}
		next = (next + 1) % len(ReconcileSlices)
		if next == 0 {
			rep.PassesEnded++
		}
		if err := cp.SaveCursor(ctx, next); err != nil {
			return rep, fmt.Errorf("save reconciler checkpoint: %w", err)
		}
		rep.SlicesDone++
		rep.NextSlice = next
	}
	return rep, nil
}

// add sums b's counts into a.
func add(a *ReconcileReport, b ReconcileReport) {
	a.Secrets += b.Secrets
	a.Devices += b.Devices
	a.OrphanSecretsDeleted += b.OrphanSecretsDeleted
	a.EndedSecretsDeleted += b.EndedSecretsDeleted
	a.RotationsFinished += b.RotationsFinished
	a.PendingCleared += b.PendingCleared
	a.DevicesWithoutSecret += b.DevicesWithoutSecret
	a.SchedulesRepaired += b.SchedulesRepaired
	a.DescriptionsRepaired += b.DescriptionsRepaired
	a.Failures += b.Failures
}
