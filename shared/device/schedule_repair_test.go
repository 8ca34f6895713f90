package device_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

// TestReconcileSetsScheduleAfterRotateSecretFailed: RotateSecret failing
// while a device with a rotation policy is created leaves the device
// without a schedule; the next reconciler run sets it, and the run after
// that finds nothing to repair.
func TestReconcileSetsScheduleAfterRotateSecretFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	policy := &device.RotationInput{EveryDays: 30}

	// Find the create's SetSchedule call, then fail it in a second create.
	h.faults.Clear()
	h.create(device.CreateInput{Name: "probe", Rotation: policy})
	at := slices.Index(h.faults.Calls(), "Secrets.SetSchedule") + 1
	if at == 0 {
		t.Fatalf("create made no SetSchedule call: %v", h.faults.Calls())
	}
	h.faults.FailCall(at, devicetest.FailBefore, nil)
	c := h.create(device.CreateInput{Name: "phone", Rotation: policy})
	h.faults.Clear()
	name := device.SecretName(prefix, mailbox, c.Device.ID)
	if p := h.secrets.Schedule(name); p != nil {
		t.Fatalf("the failed RotateSecret left schedule %+v", p)
	}

	if rep := h.reconcile(5 * time.Minute); rep.SchedulesRepaired != 0 {
		t.Fatalf("a device created just now was repaired: %+v", rep)
	}
	h.clock.Advance(6 * time.Minute)
	rep := h.reconcile(5 * time.Minute)
	if rep.SchedulesRepaired != 1 || rep.Failures != 0 {
		t.Fatalf("report %+v, want one schedule repaired", rep)
	}
	if p := h.secrets.Schedule(name); p == nil || p.EveryDays != 30 {
		t.Fatalf("schedule after the reconciler = %+v, want every 30 days", p)
	}
	if rep := h.reconcile(5 * time.Minute); rep.SchedulesRepaired != 0 || rep.Failures != 0 {
		t.Fatalf("second run %+v, want nothing repaired", rep)
	}

	// A schedule the policy does not have (removed behind the device's
	// back, or left on a disabled device) is cancelled.
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Status: ptr("disabled")}); err != nil {
		t.Fatal(err)
	}
	if err := h.secrets.SetSchedule(ctx, name, &device.RotationPolicy{EveryDays: 30}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(6 * time.Minute)
	if rep := h.reconcile(5 * time.Minute); rep.SchedulesRepaired != 1 {
		t.Fatalf("report %+v, want the disabled device's schedule cancelled", rep)
	}
	if p := h.secrets.Schedule(name); p != nil {
		t.Fatalf("a disabled device kept schedule %+v", p)
	}
}

func TestScheduleMatches(t *testing.T) {
	every := &device.RotationPolicy{EveryDays: 30}
	cron := &device.RotationPolicy{Schedule: "cron(0 4 ? * MON *)", Window: "3h"}
	tests := []struct {
		name string
		p    *device.RotationPolicy
		st   device.SecretSchedule
		want bool
	}{
		{"none, none", nil, device.SecretSchedule{}, true},
		{"none, enabled", nil, device.SecretSchedule{Enabled: true, EveryDays: 30}, false},
		{"days, same", every, device.SecretSchedule{Enabled: true, EveryDays: 30}, true},
		{"days, with the expression AWS computes", every, device.SecretSchedule{Enabled: true, EveryDays: 30, Schedule: "rate(30 days)"}, true},
		{"days, other", every, device.SecretSchedule{Enabled: true, EveryDays: 7}, false},
		{"days, disabled", every, device.SecretSchedule{EveryDays: 30}, false},
		{"days, other function", every, device.SecretSchedule{Enabled: true, EveryDays: 30, Function: "arn:other"}, false},
		{"cron, same with the days AWS computes", cron, device.SecretSchedule{Enabled: true, EveryDays: 7, Schedule: "cron(0 4 ? * MON *)", Window: "3h"}, true},
		{"cron, other window", cron, device.SecretSchedule{Enabled: true, Schedule: "cron(0 4 ? * MON *)", Window: "2h"}, false},
		{"cron, other expression", cron, device.SecretSchedule{Enabled: true, Schedule: "rate(7 days)", Window: "3h"}, false},
	}
	for _, tc := range tests {
		if got := device.ScheduleMatches(tc.p, tc.st, "arn:rotation"); got != tc.want {
			t.Errorf("%s: matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}
