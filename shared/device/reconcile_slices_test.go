package device_test

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// memCheckpoint is a Checkpoint in memory.
type memCheckpoint struct {
	next  int
	saves int
}

func (c *memCheckpoint) LoadCursor(context.Context) (int, error) { return c.next, nil }
func (c *memCheckpoint) SaveCursor(_ context.Context, next int) error {
	c.next = next
	c.saves++
	return nil
}

// stepClock advances by step each time it is read, so that a run's budget
// is a number of slices.
type stepClock struct {
	at   time.Time
	step time.Duration
}

func (c *stepClock) now() time.Time {
	c.at = c.at.Add(c.step)
	return c.at
}

// TestReconcileSlicedOverSeveralRuns: a fleet whose repairs sit in slices
// far apart is fully repaired by runs each of which has budget for a few
// slices only; each run leaves a checkpoint the next resumes from, and a
// pass over a clean fleet repairs nothing.
func TestReconcileSlicedOverSeveralRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	gone := h.create(device.CreateInput{Name: "gone"}) // slice "a": its secret is deleted
	if err := h.secrets.ForceDelete(ctx, gone.Device.SecretARN); err != nil {
		t.Fatal(err)
	}
	keep := h.create(device.CreateInput{Name: "kept"})
	orphans := []string{"zed@example.com", "0ne@example.com", "bob@example.com", "_x@example.com"}
	for _, mb := range orphans {
		if _, err := h.secrets.Create(ctx, device.SecretInput{Name: device.SecretName(prefix, mb, keep.Device.ID), Token: "t-" + mb}); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Advance(time.Hour)

	cp := &memCheckpoint{}
	var total device.ReconcileReport
	runs, passes := 0, 0
	for passes == 0 {
		runs++
		if runs > 2*len(device.ReconcileSlices) {
			t.Fatalf("no whole pass after %d runs", runs)
		}
		clk := &stepClock{at: t0, step: time.Second}
		// Budget: the clock is read once per slice; until admits 5 reads.
		rep, err := h.svc.ReconcileSliced(ctx, memLister{h.secrets}, memScanner{h.store}, cp, 5*time.Minute, t0.Add(5*time.Second), clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.SlicesDone != 5 || !rep.Stopped {
			t.Fatalf("run %d: %+v, want 5 slices then a stop at the budget", runs, rep)
		}
		if cp.next != rep.NextSlice || rep.NextSlice != (rep.FirstSlice+5)%len(device.ReconcileSlices) {
			t.Fatalf("run %d: checkpoint %d, report %+v", runs, cp.next, rep)
		}
		total.OrphanSecretsDeleted += rep.OrphanSecretsDeleted
		total.DevicesWithoutSecret += rep.DevicesWithoutSecret
		total.Failures += rep.Failures
		passes += rep.PassesEnded
	}
	if runs < 2 {
		t.Fatalf("one run covered the fleet; the test needs several")
	}
	if total.OrphanSecretsDeleted != len(orphans) || total.DevicesWithoutSecret != 1 || total.Failures != 0 {
		t.Errorf("over %d runs: %+v, want %d orphans deleted and one device ended", runs, total, len(orphans))
	}
	for _, mb := range orphans {
		if st, ok := h.secrets.State(device.SecretName(prefix, mb, keep.Device.ID)); ok && !st.Deleted {
			t.Errorf("orphan secret of %s is left", mb)
		}
	}
	if d := h.device(gone.Device.ID); d.Status != device.StatusRevoked {
		t.Errorf("device without a secret is %s, want revoked", d.Status)
	}
	if d := h.device(keep.Device.ID); d.Status != device.StatusActive {
		t.Errorf("healthy device is %s", d.Status)
	}
	// A run without a budget covers every slice once and, over the now
	// clean fleet, repairs nothing.
	rep, err := h.svc.ReconcileSliced(ctx, memLister{h.secrets}, memScanner{h.store}, cp, 5*time.Minute, time.Time{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SlicesDone != len(device.ReconcileSlices) || rep.Stopped || rep.NextSlice != rep.FirstSlice ||
		rep.ReconcileReport != (device.ReconcileReport{Secrets: 1, Devices: 2}) {
		t.Errorf("clean pass %+v, want every slice, nothing repaired", rep)
	}
}

// blindScanner is a PrefixScanner whose slices miss every device, as an
// index that lags the table or predates the device would.
type blindScanner struct{ memScanner }

func (blindScanner) ScanMailboxPrefix(context.Context, string, func(device.Device) error) error {
	return nil
}

// TestReconcileSlicedConfirmsOrphans: a secret whose device the slice did
// not return is deleted only if the table itself has no such device.
func TestReconcileSlicedConfirmsOrphans(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{})
	h.clock.Advance(time.Hour)
	rep, err := h.svc.ReconcileSliced(context.Background(), memLister{h.secrets}, blindScanner{memScanner{h.store}}, &memCheckpoint{}, 5*time.Minute, time.Time{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanSecretsDeleted != 0 || rep.Failures != 0 {
		t.Errorf("report %+v, want the device's secret left alone", rep)
	}
	if st, ok := h.secrets.State(c.Device.SecretARN); !ok || st.Deleted {
		t.Error("the secret of a device the slice missed was deleted")
	}
}
