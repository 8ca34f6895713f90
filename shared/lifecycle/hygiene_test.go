package lifecycle_test

import (
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestPolicySweepEvents: the sweep's marks become one event each, with a
// notice; a later change of the same item (a last use) makes none; a
// revocation for inactivity carries its reason and notifies the owner.
func TestPolicySweepEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	base := device.Device{Mailbox: "a@example.com", ID: "mfrggzdfmztwq2lknnwg23tpob", Name: "phone", Status: device.StatusActive, CreatedAt: t0}
	warned := base
	warned.InactivityWarnedAt, warned.InactivityWarnedFor, warned.InactivityRevokeAt = t0.Add(time.Hour), t0, t0.Add(2*time.Hour)
	used := warned
	used.LastUsedAt = t0.Add(90 * time.Minute)
	reminded := base
	reminded.ExpiresAt, reminded.ExpiryRemindedAt = t0.Add(3*time.Hour), t0.Add(time.Hour)
	revoked := warned
	revoked.Status, revoked.EndReason = device.StatusRevoked, device.ReasonInactive

	for _, tc := range []struct {
		name     string
		old, new device.Device
		typ      string
		notify   bool
	}{
		{"warning", base, warned, lifecycle.DeviceInactivityWarning, true},
		{"a use after the warning", warned, used, "", false},
		{"reminder", base, reminded, lifecycle.DeviceExpiryReminder, true},
		{"revoked for inactivity", warned, revoked, lifecycle.DeviceRevoked, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := tc.old, tc.new
			evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "rec-1", Time: t0, Old: &old, New: &cur})
			if tc.typ == "" {
				if len(evs) != 0 {
					t.Fatalf("events %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Type != tc.typ {
				t.Fatalf("events %+v, want one %s", evs, tc.typ)
			}
			ev := evs[0]
			if lifecycle.Notifies(ev) != tc.notify {
				t.Errorf("Notifies = %v", !tc.notify)
			}
			switch tc.typ {
			case lifecycle.DeviceInactivityWarning:
				if ev.RevokeAt == nil || !ev.RevokeAt.Equal(t0.Add(2*time.Hour)) || !ev.Time.Equal(t0.Add(time.Hour)) {
					t.Errorf("warning at %v revoking at %v", ev.Time, ev.RevokeAt)
				}
			case lifecycle.DeviceRevoked:
				if ev.Reason != device.ReasonInactive {
					t.Errorf("reason %q", ev.Reason)
				}
			}
		})
	}
	plain := base
	plain.Status = device.StatusRevoked
	evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "rec-2", Time: t0, Old: &base, New: &plain})
	if len(evs) != 1 || evs[0].Reason != "" || lifecycle.Notifies(evs[0]) {
		t.Errorf("a revoke by a person: %+v, want no reason and no notice", evs)
	}
}
