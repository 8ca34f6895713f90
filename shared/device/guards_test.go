package device_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// TestCheckBeginRotation is the table of the rule both stores apply when
// a rotation begins (the stores' shared suite checks that each applies
// it).
func TestCheckBeginRotation(t *testing.T) {
	now := t0.Add(time.Hour)
	base := device.Device{ID: "d", Status: device.StatusActive, Current: &device.Verifier{Version: "v1"}}
	with := func(mod func(d *device.Device)) device.Device {
		d := base
		mod(&d)
		return d
	}
	heldManual := func(d *device.Device) {
		d.Pending, d.PendingManual, d.PendingAt = &device.Verifier{Version: "vm"}, true, now.Add(-time.Minute)
	}
	tests := []struct {
		name   string
		d      device.Device
		manual bool
		want   string // "" allowed, "pending" ErrAlreadyPending, else the reason
		base   string // the secret's AWSCURRENT; "" for v1
	}{
		{"active, scheduled", base, false, "", ""},
		{"active, manual", base, true, "", ""},
		{"disabled, scheduled", with(func(d *device.Device) { d.Status = device.StatusDisabled }), false, "the device is disabled", ""},
		{"disabled, manual", with(func(d *device.Device) { d.Status = device.StatusDisabled }), true, "", ""},
		{"revoked, manual", with(func(d *device.Device) { d.Status = device.StatusRevoked }), true, "the device is revoked", ""},
		{"expired one millisecond ago", with(func(d *device.Device) { d.ExpiresAt = now.Add(-time.Millisecond) }), true, "the device expired", ""},
		{"expires now", with(func(d *device.Device) { d.ExpiresAt = now }), true, "the device expired", ""},
		{"expires within the same millisecond", with(func(d *device.Device) { d.ExpiresAt = now.Add(500 * time.Microsecond) }), true, "the device expired", ""},
		{"expires a millisecond later", with(func(d *device.Device) { d.ExpiresAt = now.Add(time.Millisecond) }), false, "", ""},
		{"version pending already", with(func(d *device.Device) { d.Pending = &device.Verifier{Version: "v2"} }), false, "pending", ""},
		{"version pending already, device disabled since", with(func(d *device.Device) {
			d.Pending, d.Status = &device.Verifier{Version: "v2"}, device.StatusDisabled
		}), false, "pending", ""},
		{"regenerate held", with(heldManual), false, "a manual regenerate is in progress", ""},
		{"regenerate held, at the hold's last millisecond", with(func(d *device.Device) {
			heldManual(d)
			d.PendingAt = now.Add(-device.RegenerateHold)
		}), false, "a manual regenerate is in progress", ""},
		{"regenerate hold over", with(func(d *device.Device) {
			heldManual(d)
			d.PendingAt = now.Add(-device.RegenerateHold - time.Millisecond)
		}), false, "", ""},
		{"regenerate takes over a regenerate", with(heldManual), true, "", ""},
		{"scheduled takes over a scheduled", with(func(d *device.Device) { d.Pending = &device.Verifier{Version: "vs"} }), false, "", ""},
		{"no current version", with(func(d *device.Device) { d.Current = nil }), true, "no current version", ""},
		{"version is current", with(func(d *device.Device) { d.Current = &device.Verifier{Version: "v2"} }), true, "was used before", "v2"},
		{"AWSCURRENT is not the current version", with(func(d *device.Device) {
			d.Current, d.Previous = &device.Verifier{Version: "v3"}, &device.Verifier{Version: "v1"}
		}), false, "is not v1, the secret's AWSCURRENT", ""},
		{"version is previous", with(func(d *device.Device) { d.Previous = &device.Verifier{Version: "v2"} }), true, "was used before", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.base
			if b == "" {
				b = "v1"
			}
			err := device.CheckBeginRotation(tc.d, "v2", b, tc.manual, now)
			switch tc.want {
			case "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case "pending":
				if !errors.Is(err, device.ErrAlreadyPending) {
					t.Fatalf("err = %v, want ErrAlreadyPending", err)
				}
			default:
				wantReason(t, err, tc.want)
			}
		})
	}
}

func wantReason(t *testing.T, err error, why string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Conflict || !strings.Contains(e.Message, why) {
		t.Fatalf("err = %v, want a Conflict saying %q", err, why)
	}
}

// TestOtherGuards covers the remaining write guards.
func TestOtherGuards(t *testing.T) {
	now := t0
	pending := device.Device{ID: "d", Status: device.StatusActive, Version: 3,
		Current: &device.Verifier{Version: "v1", Hash: "h1"}, Pending: &device.Verifier{Version: "v2", Hash: "h2"},
		Previous: &device.Verifier{Version: "v0", Hash: "h0"}}
	unhashed := pending
	unhashed.Pending = &device.Verifier{Version: "v2"}
	noCurrent := pending
	noCurrent.Current = nil
	revoked := pending
	revoked.Status = device.StatusRevoked
	disabled := pending
	disabled.Status = device.StatusDisabled
	used := pending
	used.LastUsedAt = now
	tests := []struct {
		name string
		err  error
		why  string // "" allowed
	}{
		{"set pending of the pending version", device.CheckSetPending(pending, "v2", "h-new"), ""},
		{"set pending with the current hash", device.CheckSetPending(pending, "v2", pending.Current.Hash), "current version's"},
		{"set pending of another version", device.CheckSetPending(pending, "v9", "h-new"), "not pending"},
		{"set pending with nothing pending", device.CheckSetPending(noCurrent, "v1", "h-new"), "not pending"},
		{"promote", device.CheckPromote(pending, "v2"), ""},
		{"promote another version", device.CheckPromote(pending, "v9"), "not pending"},
		{"promote before setSecret", device.CheckPromote(unhashed, "v2"), "no verifier yet"},
		{"promote without a current version", device.CheckPromote(noCurrent, "v2"), "no current version"},
		{"replace the current version, superseding a pending one", device.CheckReplace(pending, "v3", "h3", "v1", now), ""},
		{"replace on a disabled device", device.CheckReplace(disabled, "v3", "h3", "v1", now), ""},
		{"replace a version no longer current", device.CheckReplace(pending, "v3", "h3", "v0", now), "no longer v0"},
		{"replace on a revoked device", device.CheckReplace(revoked, "v3", "h3", "v1", now), "the device is revoked"},
		{"replace without a current version", device.CheckReplace(noCurrent, "v3", "h3", "v1", now), "no longer v1"},
		{"replace by the previous version", device.CheckReplace(pending, "v0", "h3", "v1", now), "was used before"},
		{"replace by the pending version", device.CheckReplace(pending, "v2", "h3", "v1", now), "was used before"},
		{"replace by the current version", device.CheckReplace(pending, "v1", "h3", "v1", now), "was used before"},
		{"replace with the current hash", device.CheckReplace(pending, "v3", "h1", "v1", now), "current version's"},
		{"update at the stored version", device.CheckUpdate(pending, 3), ""},
		{"update a disabled device", device.CheckUpdate(disabled, 3), ""},
		{"update from a stale read", device.CheckUpdate(pending, 2), "changed meanwhile"},
		{"update an ended device", device.CheckUpdate(revoked, 3), "changed meanwhile"},
		{"end a live device", device.CheckEnd(disabled), ""},
		{"end an ended device", device.CheckEnd(revoked), "no longer live"},
		{"touch an unused device", device.CheckTouchLastUsed(pending, now), ""},
		{"touch a device used before notAfter", device.CheckTouchLastUsed(used, now.Add(time.Millisecond)), ""},
		{"touch a device used recently", device.CheckTouchLastUsed(used, now), "used recently"},
		{"touch a disabled device", device.CheckTouchLastUsed(disabled, now), "not active"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.why == "" {
				if tc.err != nil {
					t.Fatalf("refused: %v", tc.err)
				}
				return
			}
			wantReason(t, tc.err, tc.why)
		})
	}
}
