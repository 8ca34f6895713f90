package device_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

// The fault tests make each port call of an operation fail in turn, once
// before it takes effect (a refused request) and once after (a lost
// answer, the outcome unknown to the caller), then retry the operation
// and check invariants 1 and 2: one device with one secret or none of
// either, and the AWSCURRENT password of an active device verifies.

var modes = []devicetest.FaultMode{devicetest.FailBefore, devicetest.FailAfter}

// callsOf runs op on a fresh harness after setup and returns the port
// calls it makes.
func callsOf(t *testing.T, setup func(h *harness), op func(h *harness) error) []string {
	t.Helper()
	h := newHarness(t, device.Config{})
	setup(h)
	h.faults.Clear()
	if err := op(h); err != nil {
		t.Fatalf("the operation fails without faults: %v", err)
	}
	return h.faults.Calls()
}

// eachFault runs check for every call of op and both modes, on a fresh
// harness each time.
func eachFault(t *testing.T, setup func(h *harness), op func(h *harness) error, check func(t *testing.T, h *harness, err error)) {
	t.Helper()
	calls := callsOf(t, setup, op)
	if len(calls) < 2 {
		t.Fatalf("the operation makes only %d port calls: %v", len(calls), calls)
	}
	for i, call := range calls {
		for _, mode := range modes {
			t.Run(fmt.Sprintf("%d_%s_%s", i+1, call, mode), func(t *testing.T) {
				h := newHarness(t, device.Config{})
				setup(h)
				h.faults.FailCall(i+1, mode, nil)
				err := op(h)
				if got := h.faults.Calls(); len(got) < i+1 || got[i] != call {
					t.Fatalf("call %d is %v, want %s: the operation is not deterministic", i+1, got, call)
				}
				h.faults.Clear()
				check(t, h, err)
			})
		}
	}
}

func TestFaultsCreate(t *testing.T) {
	ctx := context.Background()
	in := device.CreateInput{Name: "phone", Rotation: &device.RotationInput{EveryDays: 30}}
	const key = "b3c1d8e4-retry-key"
	create := func(h *harness) (device.Created, error) {
		c, err := h.svc.CreateDevice(ctx, h.owner(), mailbox, in, key)
		h.remember(c.Password)
		return c, err
	}
	eachFault(t, func(*harness) {}, func(h *harness) error { _, err := create(h); return err },
		func(t *testing.T, h *harness, first error) {
			c, err := create(h)
			if err != nil {
				t.Fatalf("retry after %v: %v", first, err)
			}
			ds := h.store.Devices(mailbox)
			if len(ds) != 1 || ds[0].ID != c.Device.ID {
				t.Fatalf("%d devices after the retry, want exactly the one answered", len(ds))
			}
			if live := h.secrets.Live(); !slices.Equal(live, []string{device.SecretName(prefix, mailbox, c.Device.ID)}) {
				t.Fatalf("secrets %v, want exactly the device's", live)
			}
			if pw, _ := h.currentPassword(c.Device); pw != c.Password {
				t.Fatal("the password answered is not AWSCURRENT")
			}
			if !h.verify(c.Password) {
				t.Fatal("the password answered does not verify")
			}
			if m, _ := h.svc.GetMailbox(ctx, h.owner(), mailbox); m.Live != 1 {
				t.Fatalf("live = %d, want 1", m.Live)
			}
			h.checkConsistent()
			again, err := create(h)
			if err != nil || again.Device.ID != c.Device.ID || again.Password != c.Password {
				t.Fatalf("a further retry = %s, %v; want the same device and password", again.Device.ID, err)
			}
		})
}

func TestFaultsRegenerate(t *testing.T) {
	ctx := context.Background()
	var c device.Created
	setup := func(h *harness) { c = h.create(device.CreateInput{Name: "phone"}) }
	regen := func(h *harness) (device.Created, error) {
		r, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
		h.remember(r.Password)
		return r, err
	}
	eachFault(t, setup, func(h *harness) error { _, err := regen(h); return err },
		func(t *testing.T, h *harness, first error) {
			// Before any retry, whatever the fault: AWSCURRENT verifies.
			if pw, _ := h.currentPassword(c.Device); !h.verify(pw) {
				t.Fatalf("after %v the AWSCURRENT password does not verify", first)
			}
			h.clock.Advance(time.Second)
			r, err := regen(h)
			if err != nil {
				t.Fatalf("retry after %v: %v", first, err)
			}
			if pw, _ := h.currentPassword(c.Device); pw != r.Password {
				t.Fatal("the regenerated password is not AWSCURRENT")
			}
			if !h.verify(r.Password) {
				t.Fatal("the regenerated password does not verify")
			}
			if h.verify(c.Password) {
				t.Fatal("the replaced password still verifies")
			}
			st, _ := h.secrets.State(c.Device.SecretARN)
			if st.InProgress() != "" {
				t.Fatalf("AWSPENDING left on %s, which is not AWSCURRENT", st.InProgress())
			}
			if len(h.store.Devices(mailbox)) != 1 || len(h.secrets.Live()) != 1 {
				t.Fatal("a regenerate changed the number of devices or secrets")
			}
			h.checkConsistent()
			// A scheduled rotation runs normally afterwards.
			if _, step, err := h.svc.Engine().RotateNow(ctx, c.Device.SecretARN); err != nil {
				t.Fatalf("a rotation after the retry failed at %s: %v", step, err)
			}
			h.checkConsistent()
		})
}

func TestFaultsRevoke(t *testing.T) {
	ctx := context.Background()
	var c device.Created
	setup := func(h *harness) { c = h.create(device.CreateInput{Name: "phone"}) }
	revoke := func(h *harness) error { _, err := h.svc.Revoke(ctx, h.owner(), mailbox, c.Device.ID); return err }
	eachFault(t, setup, revoke, func(t *testing.T, h *harness, first error) {
		if first != nil && h.device(c.Device.ID).Status == device.StatusRevoked && h.verify(c.Password) {
			t.Fatal("a revoked device's password verifies")
		}
		if err := revoke(h); err != nil {
			t.Fatalf("retry after %v: %v", first, err)
		}
		if d := h.device(c.Device.ID); d.Status != device.StatusRevoked {
			t.Fatalf("status = %s, want revoked", d.Status)
		}
		if st, ok := h.secrets.State(c.Device.SecretARN); !ok || !st.Deleted {
			t.Fatal("the secret is not scheduled for deletion")
		}
		if h.verify(c.Password) {
			t.Fatal("the password verifies after revoke")
		}
		if m, _ := h.svc.GetMailbox(ctx, h.owner(), mailbox); m.Live != 0 {
			t.Fatalf("live = %d, want 0", m.Live)
		}
		h.checkConsistent()
	})
}

func TestFaultsRevokeAll(t *testing.T) {
	ctx := context.Background()
	var pws []string
	setup := func(h *harness) {
		pws = nil
		for _, n := range []string{"a", "b", "c"} {
			pws = append(pws, h.create(device.CreateInput{Name: n}).Password)
		}
	}
	revokeAll := func(h *harness) error { _, err := h.svc.RevokeAll(ctx, h.owner(), mailbox); return err }
	// RevokeAll ends devices concurrently, so the call order varies: fail
	// each of the first calls in turn without asserting which one it is.
	for i := 1; i <= 8; i++ {
		for _, mode := range modes {
			t.Run(fmt.Sprintf("%d_%s", i, mode), func(t *testing.T) {
				h := newHarness(t, device.Config{})
				setup(h)
				h.faults.FailCall(i, mode, nil)
				first := revokeAll(h)
				h.faults.Clear()
				if err := revokeAll(h); err != nil {
					t.Fatalf("retry after %v: %v", first, err)
				}
				for _, pw := range pws {
					if h.verify(pw) {
						t.Fatal("a password verifies after revoke all")
					}
				}
				if live := h.secrets.Live(); len(live) != 0 {
					t.Fatalf("live secrets after revoke all: %v", live)
				}
				h.checkConsistent()
			})
		}
	}
}

// TestCrashedRegenerateHoldsRotation: a regenerate that stops right after
// storing its new version (AWSPENDING on a version that is not AWSCURRENT)
// keeps scheduled rotations off without changing anything, as Secrets
// Manager's RotateSecret does, until the reconciler clears the abandoned
// label; the current password keeps working throughout.
func TestCrashedRegenerateHoldsRotation(t *testing.T) {
	ctx := context.Background()
	var c device.Created
	setup := func(h *harness) { c = h.create(device.CreateInput{Name: "phone"}) }
	calls := callsOf(t, setup, func(h *harness) error {
		_, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
		return err
	})
	put := slices.Index(calls, "Secrets.PutPending")
	if put < 0 {
		t.Fatalf("regenerate makes no PutPending: %v", calls)
	}
	h := newHarness(t, device.Config{})
	setup(h)
	h.faults.FailCall(put+1, devicetest.FailAfter, nil)
	if _, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0); err == nil {
		t.Fatal("regenerate succeeded despite the fault")
	}
	h.faults.Clear()
	st, _ := h.secrets.State(c.Device.SecretARN)
	abandoned := st.InProgress()
	if abandoned == "" {
		t.Fatalf("the stored version does not hold AWSPENDING apart from AWSCURRENT: %v", st.Versions)
	}
	h.clock.Advance(time.Minute)
	before := h.snapshot(c.Device.ID)
	_, step, err := h.svc.Engine().RotateNow(ctx, c.Device.SecretARN)
	if step != device.StepCreate || !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("rotation while the regenerate's version is pending = %s, %v; want createSecret to refuse", step, err)
	}
	h.wantUnchanged("a rotation while a regenerate's version is pending", before)
	if !h.verify(c.Password) {
		t.Fatal("the current password stopped")
	}
	h.checkConsistent()
	if rep := h.reconcile(0); rep.PendingCleared != 1 {
		t.Fatalf("reconciler cleared %d AWSPENDING labels, want the abandoned one", rep.PendingCleared)
	}
	if _, step, err := h.svc.Engine().RotateNow(ctx, c.Device.SecretARN); err != nil {
		t.Fatalf("rotation after the reconciler failed at %s: %v", step, err)
	}
	h.checkConsistent()
}
