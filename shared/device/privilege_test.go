package device_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// TestRaises pins the decision of which device changes demand a fresh
// login: every widening names its field, every narrowing names none.
func TestRaises(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	base := device.Device{
		Status:    device.StatusActive,
		Scopes:    []device.Scope{device.ScopeIMAP, device.ScopeSMTP},
		AllowIPs:  pfx("192.0.2.0/24"),
		ExpiresAt: t0,
		Rotation:  &device.RotationPolicy{EveryDays: 30, Grace: 2 * time.Hour},
		User:      "bob",
		Name:      "phone",
	}
	tests := []struct {
		name   string
		change func(*device.Device)
		before func(*device.Device)
		want   []string
	}{
		{"nothing", func(*device.Device) {}, nil, nil},
		{"rename and note", func(d *device.Device) { d.Name, d.Note = "laptop", "x" }, nil, nil},
		{"disable", func(d *device.Device) { d.Status = device.StatusDisabled }, nil, nil},
		{"re-enable", func(d *device.Device) { d.Status = device.StatusActive }, func(d *device.Device) { d.Status = device.StatusDisabled }, []string{"status"}},
		{"keep disabled", func(*device.Device) {}, func(d *device.Device) { d.Status = device.StatusDisabled }, nil},
		{"narrow scopes", func(d *device.Device) { d.Scopes = []device.Scope{device.ScopeIMAP} }, nil, nil},
		{"widen scopes", func(d *device.Device) { d.Scopes = append(d.Scopes, device.ScopePOP) }, nil, []string{"scopes"}},
		{"swap scopes", func(d *device.Device) { d.Scopes = []device.Scope{device.ScopeIMAP, device.ScopeCalDAV} }, nil, []string{"scopes"}},
		{"narrow allow-list", func(d *device.Device) { d.AllowIPs = pfx("192.0.2.128/25", "192.0.2.7/32") }, nil, nil},
		{"widen allow-list", func(d *device.Device) { d.AllowIPs = pfx("192.0.0.0/16") }, nil, []string{"allowIps"}},
		{"add a block", func(d *device.Device) { d.AllowIPs = pfx("192.0.2.0/24", "198.51.100.0/24") }, nil, []string{"allowIps"}},
		{"clear allow-list", func(d *device.Device) { d.AllowIPs = nil }, nil, []string{"allowIps"}},
		{"first allow-list", func(d *device.Device) { d.AllowIPs = pfx("10.0.0.0/8") }, func(d *device.Device) { d.AllowIPs = nil }, nil},
		{"IPv6 block for an IPv4 list", func(d *device.Device) { d.AllowIPs = pfx("::/0") }, nil, []string{"allowIps"}},
		{"earlier expiry", func(d *device.Device) { d.ExpiresAt = t0.Add(-time.Hour) }, nil, nil},
		{"later expiry", func(d *device.Device) { d.ExpiresAt = t0.Add(time.Hour) }, nil, []string{"expiresAt"}},
		{"remove expiry", func(d *device.Device) { d.ExpiresAt = time.Time{} }, nil, []string{"expiresAt"}},
		{"first expiry", func(d *device.Device) { d.ExpiresAt = t0 }, func(d *device.Device) { d.ExpiresAt = time.Time{} }, nil},
		{"change rotation", func(d *device.Device) { d.Rotation = &device.RotationPolicy{EveryDays: 7} }, nil, nil},
		{"remove rotation", func(d *device.Device) { d.Rotation = nil }, nil, []string{"rotation"}},
		{"first rotation", func(d *device.Device) { d.Rotation = &device.RotationPolicy{EveryDays: 7} }, func(d *device.Device) { d.Rotation = nil }, nil},
		{"rebind user", func(d *device.Device) { d.User = "mallory" }, nil, []string{"user"}},
		{"everything", func(d *device.Device) {
			d.Status, d.Scopes, d.AllowIPs, d.ExpiresAt, d.Rotation = device.StatusActive, device.AllScopes, nil, time.Time{}, nil
		}, func(d *device.Device) { d.Status = device.StatusDisabled }, []string{"status", "scopes", "allowIps", "expiresAt", "rotation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := base
			before.Scopes = slices.Clone(base.Scopes)
			before.AllowIPs = slices.Clone(base.AllowIPs)
			if tc.before != nil {
				tc.before(&before)
			}
			after := before
			after.Scopes = slices.Clone(before.Scopes)
			after.AllowIPs = slices.Clone(before.AllowIPs)
			tc.change(&after)
			if got := device.Raises(before, after); !slices.Equal(got, tc.want) {
				t.Fatalf("Raises = %v, want %v", got, tc.want)
			}
		})
	}
}
