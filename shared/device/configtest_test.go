package device_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// configTestVersion does what Secrets Manager does before it tests a
// rotation configuration: a version of its own, under a token the function
// never saw, holding value, labelled AWSPENDING.
func (h *harness) configTestVersion(d device.Device, value device.SecretValue) string {
	h.t.Helper()
	token := device.NewToken()
	if err := h.secrets.PutPending(context.Background(), d.SecretARN, token, value); err != nil {
		h.t.Fatal(err)
	}
	return token
}

func TestConfigTestPassesOnTheCurrentPasswordAndChangesNothing(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "phone", Rotation: &device.RotationInput{EveryDays: 30}})
	e := h.svc.Engine()
	cur, _, _ := h.secrets.CurrentValue(device.SecretName(prefix, mailbox, c.Device.ID))
	token := h.configTestVersion(c.Device, cur)

	before := h.snapshot(c.Device.ID)
	h.secrets.ResetCounts()
	if err := e.Run(ctx, device.StepTest, c.Device.SecretARN, token); err != nil {
		t.Fatalf("testSecret of the configuration test's version: %v", err)
	}
	h.wantUnchanged("the configuration test", before)
	if w := h.secrets.Writes(); w != 0 {
		t.Fatalf("the configuration test made %d Secrets Manager writes", w)
	}

	// No other step takes the copy for a new password, whatever the order.
	for _, step := range []device.Step{device.StepCreate, device.StepSet, device.StepFinish, device.StepSet} {
		err := e.Run(ctx, step, c.Device.SecretARN, token)
		wantCode(t, err, apperr.Conflict)
		d := h.device(c.Device.ID)
		if d.Current.Version != c.Device.Current.Version || d.Previous != nil || (d.Pending != nil && d.Pending.Hash != "") {
			t.Fatalf("%s of the configuration test's version changed the verifiers: %+v", step, d)
		}
		if st, _ := h.secrets.State(c.Device.SecretARN); st.Current() != c.Device.Current.Version {
			t.Fatalf("%s of the configuration test's version moved AWSCURRENT to %s", step, st.Current())
		}
	}
	if !h.verify(c.Password) {
		t.Fatal("the device's password stopped verifying")
	}
	// Still passes after the refused steps, as Secrets Manager may retry.
	if err := e.Run(ctx, device.StepTest, c.Device.SecretARN, token); err != nil {
		t.Fatalf("testSecret again: %v", err)
	}

	// Secrets Manager removes the label; the next rotation then runs and
	// changes the password.
	if err := h.secrets.RemovePending(ctx, c.Device.SecretARN, token); err != nil {
		t.Fatal(err)
	}
	if _, step, err := e.RotateNow(ctx, c.Device.SecretARN); err != nil {
		t.Fatalf("the rotation after the configuration test failed at %s: %v", step, err)
	}
	if pw, _ := h.currentPassword(h.device(c.Device.ID)); pw == c.Password {
		t.Fatal("the rotation kept the password")
	}
	h.checkConsistent()
}

func TestConfigTestFailsOnAnotherPassword(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "phone"})
	other := h.create(device.CreateInput{Name: "laptop"})
	e := h.svc.Engine()
	// A copy of another device's password, relabelled as this device's.
	token := h.configTestVersion(c.Device, device.SecretValue{Username: mailbox, Device: c.Device.ID, Password: other.Password})
	before := h.snapshot(c.Device.ID)
	err := e.Run(ctx, device.StepTest, c.Device.SecretARN, token)
	wantCode(t, err, apperr.Conflict)
	if !strings.Contains(err.Error(), "neither the device's pending password nor its current one") {
		t.Fatalf("testSecret's refusal does not say why: %v", err)
	}
	// The table and AWSCURRENT are untouched; the version loses
	// AWSPENDING, as Secrets Manager removes it after its test anyway.
	after := h.snapshot(c.Device.ID)
	if !reflect.DeepEqual(before.Device, after.Device) || before.Current != after.Current || before.State.Current() != after.State.Current() {
		t.Fatalf("a failed configuration test changed the device or AWSCURRENT:\nbefore %+v\nafter  %+v", before, after)
	}
	if p := after.State.Pending(); p != "" {
		t.Fatalf("AWSPENDING still on %s after a failed configuration test", p)
	}

	// A revoked device has no current password: the test fails.
	cur, _, _ := h.secrets.CurrentValue(device.SecretName(prefix, mailbox, other.Device.ID))
	token = h.configTestVersion(other.Device, cur)
	if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, other.Device.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.Run(ctx, device.StepTest, other.Device.SecretARN, token), apperr.Conflict)
}

// A rotation's own testSecret still compares with the pending verifier, not
// the current one.
func TestRotationTestSecretNeedsThePendingPassword(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "phone"})
	e := h.svc.Engine()
	token := device.NewToken()
	for _, step := range device.Steps[:3] {
		if err := e.Run(ctx, step, c.Device.SecretARN, token); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	// Make the pending version's value differ from its verifier.
	d := h.device(c.Device.ID)
	if d.Pending == nil || d.Pending.Hash == "" {
		t.Fatalf("no pending verifier after setSecret: %+v", d)
	}
	if _, err := h.store.SetPending(ctx, mailbox, c.Device.ID, token, h.keyed.Password("something-else-entirely")); err != nil {
		t.Fatal(err)
	}
	err := e.Run(ctx, device.StepTest, c.Device.SecretARN, token)
	wantCode(t, err, apperr.Conflict)
	if !strings.Contains(err.Error(), "pending password does not verify") {
		t.Fatalf("refusal = %v", err)
	}
}
