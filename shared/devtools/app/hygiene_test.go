package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// TestPolicySweep drives the policy sweep on the stand-ins with a
// controllable clock: a device unused for revokeAfter - warnBefore is
// warned once, however many sweeps run; it is revoked (reason inactive,
// secret scheduled for deletion) no sooner than warnBefore after the
// warning; a use after the warning starts over; an expiring device is
// reminded once.
func TestPolicySweep(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	e := r.policyDomain(t)
	if _, err := r.app.Management.Policies.PutPolicy(ctx, e.admin, e.domain, device.PolicyInput{
		InactivityRevokeAfter: ptr("10s"), InactivityWarnBefore: ptr("3s"), ExpiryReminderBefore: ptr("5s"),
	}); err != nil {
		t.Fatal(err)
	}
	mk := func(in device.CreateInput) device.Device {
		t.Helper()
		c, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, in, "")
		if err != nil {
			t.Fatal(err)
		}
		return c.Device
	}
	idle := mk(device.CreateInput{Name: "idle"})
	used := mk(device.CreateInput{Name: "used"})
	temp := mk(device.CreateInput{Name: "temporary", ValidFor: "60s"})
	start := r.clock.Now()
	get := func(d device.Device) device.Device {
		t.Helper()
		got, err := r.app.Store.GetDevice(ctx, d.Mailbox, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	sweep := func(at time.Duration) device.HygieneReport {
		t.Helper()
		r.clock.Advance(start.Add(at).Sub(r.clock.Now()))
		rep, err := r.app.Hygiene.Run(ctx)
		if err != nil {
			t.Fatalf("sweep at +%s: %v", at, err)
		}
		return rep
	}

	if rep := sweep(6 * time.Second); rep.Warned != 0 || rep.Revoked != 0 {
		t.Fatalf("+6s: %+v, want nothing before revokeAfter - warnBefore", rep)
	}
	rep := sweep(7 * time.Second)
	if rep.Warned != 3 || rep.Revoked != 0 {
		t.Fatalf("+7s: %+v, want the three unused devices warned", rep)
	}
	for i := 0; i < 3; i++ {
		if rep := sweep(8 * time.Second); rep.Warned != 0 || rep.Revoked != 0 {
			t.Fatalf("sweep %d at +8s: %+v, want nothing more", i, rep)
		}
	}
	w := get(idle)
	if !w.InactivityWarnedAt.Equal(start.Add(7*time.Second).Truncate(time.Millisecond)) || !w.InactivityRevokeAt.Equal(start.Add(10*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("idle device's warning at %v revoking at %v", w.InactivityWarnedAt, w.InactivityRevokeAt)
	}
	// The owner uses one device after the warning: no revocation.
	if err := r.app.Store.TouchLastUsed(ctx, used.Mailbox, used.ID, start.Add(9*time.Second), device.ScopeIMAP, "192.0.2.1", start.Add(9*time.Second)); err != nil {
		t.Fatal(err)
	}
	if rep := sweep(9500 * time.Millisecond); rep.Revoked != 0 {
		t.Fatalf("+9.5s: %+v, want no revocation before revokeAt", rep)
	}
	rep = sweep(10 * time.Second)
	if rep.Revoked != 2 {
		t.Fatalf("+10s: %+v, want the idle and the temporary devices revoked", rep)
	}
	gone := get(idle)
	if gone.Status != device.StatusRevoked || gone.EndReason != device.ReasonInactive {
		t.Fatalf("idle device: %s, reason %q", gone.Status, gone.EndReason)
	}
	if st, ok := r.secretState(t, gone.SecretARN); ok && !st.Deleted {
		t.Error("the revoked device's secret is not scheduled for deletion")
	}
	if d := get(used); d.Status != device.StatusActive {
		t.Fatalf("the used device is %s", d.Status)
	}
	// Unused again since +9s: warned at +16s, revoked at +19s.
	if rep := sweep(16 * time.Second); rep.Warned != 1 {
		t.Fatalf("+16s: %+v, want the used device warned again", rep)
	}
	if rep := sweep(19 * time.Second); rep.Revoked != 1 {
		t.Fatalf("+19s: %+v, want the used device revoked", rep)
	}
	_ = temp
}

// TestExpiryReminderOnce: a device is reminded expiryReminderBefore ahead
// of its expiry, once, whatever the number of sweeps.
func TestExpiryReminderOnce(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	e := r.policyDomain(t)
	if _, err := r.app.Management.Policies.PutPolicy(ctx, e.admin, e.domain, device.PolicyInput{ExpiryReminderBefore: ptr("5s")}); err != nil {
		t.Fatal(err)
	}
	c, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "temp", ValidFor: "20s"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "forever"}, ""); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < 25; i++ {
		rep, err := r.app.Hygiene.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Reminded > 0 && r.clock.Now().Before(c.Device.ExpiresAt.Add(-5*time.Second)) {
			t.Fatalf("reminded at %v, before expiry - 5s", r.clock.Now())
		}
		total += rep.Reminded
		r.clock.Advance(time.Second)
	}
	if total != 1 {
		t.Fatalf("%d reminders over 25 sweeps, want 1", total)
	}
}

// TestCredentialChanged: with revokeOnCredentialChange (the default) a
// change of the main password revokes every live device with reason
// credential-changed, and a retry revokes nothing more; with the rule off
// nothing is revoked, on the stand-ins.
func TestCredentialChanged(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	on, off := r.policyDomain(t), r.policyDomain(t)
	if _, err := r.app.Management.Policies.PutPolicy(ctx, off.admin, off.domain, device.PolicyInput{RevokeOnCredentialChange: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range []policyDomain{on, on, off} {
		c, err := r.app.Service.CreateDevice(ctx, d.owner, d.mailbox, device.CreateInput{Name: "phone"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.Device.ID)
	}
	n, applied, err := r.app.Service.CredentialChanged(ctx, on.mailbox)
	if err != nil || !applied || n != 2 {
		t.Fatalf("CredentialChanged = %d, %v, %v; want 2 revoked", n, applied, err)
	}
	for _, id := range ids[:2] {
		d, err := r.app.Store.GetDevice(ctx, on.mailbox, id)
		if err != nil || d.Status != device.StatusRevoked || d.EndReason != device.ReasonCredentialChanged {
			t.Fatalf("device %s: %s reason %q, %v", id, d.Status, d.EndReason, err)
		}
		if st, ok := r.secretState(t, d.SecretARN); ok && !st.Deleted {
			t.Errorf("device %s's secret is not scheduled for deletion", id)
		}
	}
	if n, _, err := r.app.Service.CredentialChanged(ctx, on.mailbox); err != nil || n != 0 {
		t.Fatalf("retry = %d, %v; want nothing more", n, err)
	}
	if n, applied, err := r.app.Service.CredentialChanged(ctx, off.mailbox); err != nil || applied || n != 0 {
		t.Fatalf("with the rule off = %d, %v, %v; want nothing", n, applied, err)
	}
	if d, _ := r.app.Store.GetDevice(ctx, off.mailbox, ids[2]); d.Status != device.StatusActive {
		t.Fatalf("the device of the domain without the rule is %s", d.Status)
	}
	if _, _, err := r.app.Service.CredentialChanged(ctx, "not an address"); err == nil {
		t.Error("a bad address was accepted")
	}
}

// TestPolicyExpiryApplied: under requireExpiry, the sweep gives a device
// made before the rule the policy's longest lifetime, once, and the device
// keeps working until then; devices with an expiry are left alone.
func TestPolicyExpiryApplied(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	e := r.policyDomain(t)
	old, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "old"}, "")
	if err != nil {
		t.Fatal(err)
	}
	temp, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "temp", ValidFor: "2h"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Management.Policies.PutPolicy(ctx, e.admin, e.domain, device.PolicyInput{RequireExpiry: ptr(true), MaxLifetime: ptr("720h")}); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < 3; i++ {
		rep, err := r.app.Hygiene.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += rep.Aligned
	}
	if total != 1 {
		t.Fatalf("%d devices given an expiry over 3 sweeps, want 1", total)
	}
	d, err := r.app.Store.GetDevice(ctx, e.mailbox, old.Device.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := r.clock.Now().Add(720 * time.Hour); !d.ExpiresAt.Equal(want) || d.PolicyExpirySetAt.IsZero() || d.Status != device.StatusActive {
		t.Fatalf("old device: expires %v (want %v), marked %v, %s", d.ExpiresAt, want, d.PolicyExpirySetAt, d.Status)
	}
	if !r.verifies(t, e.mailbox, old.Password) {
		t.Error("the device given an expiry stopped verifying")
	}
	if d, _ := r.app.Store.GetDevice(ctx, e.mailbox, temp.Device.ID); !d.ExpiresAt.Equal(temp.Device.ExpiresAt) {
		t.Errorf("a device with an expiry was changed: %v", d.ExpiresAt)
	}
	// It is now in the expiring index: the expiry sweep ends it in time.
	r.clock.Advance(721 * time.Hour)
	if n, err := r.app.Service.ExpireDue(ctx, 10); err != nil || n != 2 {
		t.Fatalf("ExpireDue after the lifetime = %d, %v; want both devices", n, err)
	}
}

// TestNetworksRemembered: a device keeps at most MaxNetworks networks, a
// network unused for 90 days is new again, and a known one costs no write
// within a day, on the stand-ins with a controllable clock.
func TestNetworksRemembered(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	e := r.policyDomain(t)
	c, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "phone"}, "")
	if err != nil {
		t.Fatal(err)
	}
	verify := func(ip string) device.Device {
		t.Helper()
		if ok, err := r.app.Service.Verify(ctx, device.VerifyRequest{Mailbox: e.mailbox, Password: c.Password, Protocol: "imap", ClientIP: ip}); err != nil || !ok {
			t.Fatalf("verify from %s: %v, %v", ip, ok, err)
		}
		d, err := r.app.Store.GetDevice(ctx, e.mailbox, c.Device.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := verify("10.0.0.1")
	if len(d.Networks) != 1 || d.NewNetwork != "" {
		t.Fatalf("after the first use: networks %v, new %q; want the baseline only", d.Networks, d.NewNetwork)
	}
	for i := 1; i <= 12; i++ {
		r.clock.Advance(time.Minute)
		d = verify(fmt.Sprintf("10.0.%d.1", i))
		if d.NewNetwork != fmt.Sprintf("10.0.%d.0/24", i) {
			t.Fatalf("use %d: new network %q", i, d.NewNetwork)
		}
	}
	if len(d.Networks) != device.MaxNetworks {
		t.Fatalf("%d networks kept, want at most %d", len(d.Networks), device.MaxNetworks)
	}
	seen := d.Networks["10.0.12.0/24"]
	r.clock.Advance(time.Hour)
	if d = verify("10.0.12.200"); !d.Networks["10.0.12.0/24"].Equal(seen) {
		t.Errorf("a use from a known network within a day rewrote its sighting (%v, was %v)", d.Networks["10.0.12.0/24"], seen)
	}
	r.clock.Advance(25 * time.Hour)
	if d = verify("10.0.12.201"); !d.Networks["10.0.12.0/24"].After(seen) || d.NewNetwork != "10.0.12.0/24" || !d.NewNetworkAt.Before(seen.Add(time.Second)) {
		t.Errorf("a day later the sighting is refreshed, not news: seen %v, new %q at %v", d.Networks["10.0.12.0/24"], d.NewNetwork, d.NewNetworkAt)
	}
	at := d.NewNetworkAt
	r.clock.Advance(91 * 24 * time.Hour)
	d = verify("10.0.12.201")
	if d.NewNetwork != "10.0.12.0/24" || !d.NewNetworkAt.After(at) {
		t.Fatalf("a network unused for 91 days: new %q at %v, want new again", d.NewNetwork, d.NewNetworkAt)
	}
}
