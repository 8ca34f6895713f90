package device_test

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

// memLister lists MemSecrets as ListSecrets would; every secret counts as
// created at the epoch, so any minAge admits it.
type memLister struct{ m *devicetest.MemSecrets }

func (l memLister) ListSecrets(_ context.Context, prefix string) ([]device.SecretSummary, error) {
	var out []device.SecretSummary
	for _, name := range l.m.Names() {
		st, ok := l.m.State(name)
		if !ok || len(name) < len(prefix) || name[:len(prefix)] != prefix {
			continue
		}
		sum := device.SecretSummary{ARN: st.ARN, Name: name, Deleted: st.Deleted, Versions: st.Versions, Description: l.m.Description(name)}
		if p := l.m.Schedule(name); p != nil {
			sum.Schedule = device.SecretSchedule{Enabled: true, EveryDays: p.EveryDays, Schedule: p.Schedule, Window: p.Window}
		}
		out = append(out, sum)
	}
	return out, nil
}

// memScanner visits MemStore's devices as a Scan would.
type memScanner struct{ s *devicetest.MemStore }

func (sc memScanner) ScanDevices(_ context.Context, visit func(device.Device) error) error {
	for _, d := range sc.s.AllDevices() {
		if err := visit(d); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) reconcile(minAge time.Duration) device.ReconcileReport {
	h.t.Helper()
	rep, err := h.svc.Reconcile(context.Background(), memLister{h.secrets}, memScanner{h.store}, minAge)
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return rep
}

// TestReconcileSecretDeletedBehindOurBack: a live device whose secret was
// scheduled for deletion outside devicepass has no usable secret (consumers
// cannot read it, rotations refuse it); the reconciler ends it as revoked.
func TestReconcileSecretDeletedBehindOurBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{})
	if err := h.secrets.ScheduleDeletion(context.Background(), c.Device.SecretARN, 7); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	rep := h.reconcile(5 * time.Minute)
	if rep.DevicesWithoutSecret != 1 || rep.Failures != 0 {
		t.Errorf("report %+v, want one device without a secret", rep)
	}
	if d := h.device(c.Device.ID); d.Status != device.StatusRevoked {
		t.Errorf("device is %s, want revoked", d.Status)
	}
	if h.verify(c.Password) {
		t.Error("the device's password still verifies")
	}
	if rep := h.reconcile(5 * time.Minute); rep != (device.ReconcileReport{Secrets: 1, Devices: 1}) {
		t.Errorf("second run %+v, want nothing repaired", rep)
	}
	h.checkConsistent()
}

// TestReconcileLeavesYoungThingsAlone: secrets and devices younger than
// minAge may belong to operations in flight.
func TestReconcileLeavesYoungThingsAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{})
	if err := h.secrets.ForceDelete(context.Background(), c.Device.SecretARN); err != nil {
		t.Fatal(err)
	}
	if rep := h.reconcile(5 * time.Minute); rep.DevicesWithoutSecret != 0 {
		t.Errorf("a device created just now was ended: %+v", rep)
	}
	h.clock.Advance(6 * time.Minute)
	if rep := h.reconcile(5 * time.Minute); rep.DevicesWithoutSecret != 1 {
		t.Errorf("an old device without a secret was left: %+v", rep)
	}
}
