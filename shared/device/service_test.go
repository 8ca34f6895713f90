package device_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/password"
)

func TestRegisterMailbox(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	m, created, err := h.svc.RegisterMailbox(ctx, h.admin(), "Bob@EXAMPLE.com", "bob-sub")
	if err != nil || !created || m.Address != "bob@example.com" || m.Owner != "bob-sub" || m.CreatedBy != "admin-sub" {
		t.Fatalf("register = %+v, %v, %v", m, created, err)
	}
	m, created, err = h.svc.RegisterMailbox(ctx, h.admin(), "Bob@example.com", "carol-sub")
	if err != nil || created || m.Owner != "carol-sub" {
		t.Fatalf("change owner = %+v, %v, %v", m, created, err)
	}
	tests := []struct {
		name   string
		caller device.Caller
		addr   string
		owner  string
		want   apperr.Code
	}{
		{"owner is not admin", h.owner(), mailbox, "x", apperr.Forbidden},
		{"admin of another domain", device.Caller{Subject: "a", Groups: []string{"domain-admin:example.org"}}, mailbox, "x", apperr.Forbidden},
		{"anonymous", device.Caller{}, mailbox, "x", apperr.Unauthenticated},
		{"no owner", h.admin(), mailbox, "", apperr.Invalid},
		{"owner with a space", h.admin(), mailbox, "a b", apperr.Invalid},
		{"bad address", h.admin(), "not-an-address", "x", apperr.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.svc.RegisterMailbox(ctx, tc.caller, tc.addr, tc.owner)
			wantCode(t, err, tc.want)
		})
	}
	if got, _ := h.svc.GetMailbox(ctx, h.admin(), mailbox); got.Owner != ownerID {
		t.Fatalf("a refused registration changed the owner to %q", got.Owner)
	}
}

func TestCreateDevice(t *testing.T) {
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{Name: "  Laptop  ", Note: "the work one", Scopes: []string{"smtp", "imap"}})
	d := c.Device
	if d.Name != "Laptop" || d.Note != "the work one" || d.Status != device.StatusActive || d.CreatedBy != ownerID || d.Mailbox != mailbox {
		t.Fatalf("created device = %+v", d)
	}
	if len(c.Password) != password.DefaultLength {
		t.Fatalf("password length = %d, want %d", len(c.Password), password.DefaultLength)
	}
	name := device.SecretName(prefix, mailbox, d.ID)
	v, version, ok := h.secrets.CurrentValue(name)
	if !ok || v.Password != c.Password || v.Username != mailbox || v.Device != d.ID {
		t.Fatalf("AWSCURRENT = %+v, want the returned password for %s", v, d.ID)
	}
	st, _ := h.secrets.State(name)
	if d.SecretARN != st.ARN || d.Current == nil || d.Current.Version != version {
		t.Fatalf("device secret %s / %+v, want %s / %s", d.SecretARN, d.Current, st.ARN, version)
	}
	for k, want := range map[string]string{"mailbox": mailbox, "device-id": d.ID, "managed-by": "devicepass"} {
		if st.Tags[k] != want {
			t.Fatalf("tag %s = %q, want %q", k, st.Tags[k], want)
		}
	}
	stored := h.device(d.ID)
	if stored.Current == nil || stored.Current.Hash != h.keyed.Password(c.Password) {
		t.Fatalf("stored verifier does not match the password")
	}
	if !h.verify(c.Password) {
		t.Fatal("the new password does not verify")
	}
	if m, _ := h.svc.GetMailbox(context.Background(), h.owner(), mailbox); m.Live != 1 {
		t.Fatalf("live = %d, want 1", m.Live)
	}
	h.checkConsistent()
}

func TestCreateDeviceRefusesBadInput(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	tests := []struct {
		name  string
		addr  string
		in    device.CreateInput
		key   string
		field string
	}{
		{"no name", mailbox, device.CreateInput{Name: " "}, "", "name"},
		{"unknown scope", mailbox, device.CreateInput{Name: "a", Scopes: []string{"imap", "ftp"}}, "", "scopes[1]"},
		{"bad CIDR", mailbox, device.CreateInput{Name: "a", AllowIPs: []string{"10.0.0.1/8"}}, "", "allowIps[0]"},
		{"past expiry", mailbox, device.CreateInput{Name: "a", ExpiresAt: "2020-01-01T00:00:00Z"}, "", "expiresAt"},
		{"long validity", mailbox, device.CreateInput{Name: "a", ValidFor: "9000h"}, "", "validFor"},
		{"rotation", mailbox, device.CreateInput{Name: "a", Rotation: &device.RotationInput{EveryDays: 400}}, "", "rotation.everyDays"},
		{"bad address", "alice", device.CreateInput{Name: "a"}, "", "address"},
		{"short idempotency key", mailbox, device.CreateInput{Name: "a"}, "short", "Idempotency-Key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.CreateDevice(ctx, h.owner(), tc.addr, tc.in, tc.key)
			wantCode(t, err, apperr.Invalid)
			if e, _ := apperr.As(err); e.Field != tc.field {
				t.Fatalf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
	if n := h.secrets.Count("Create"); n != 0 {
		t.Fatalf("%d secrets created for refused requests", n)
	}
}

func TestCreateDeviceIdempotency(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	in := device.CreateInput{Name: "website", Scopes: []string{"smtp"}, ValidFor: "168h"}
	const key = "3f1c6a2e-key-0001"
	first, err := h.svc.CreateDevice(ctx, h.owner(), mailbox, in, key)
	if err != nil {
		t.Fatal(err)
	}
	h.remember(first.Password)
	h.clock.Advance(time.Minute) // a retry a minute later computes another expiry
	again, err := h.svc.CreateDevice(ctx, h.owner(), mailbox, in, key)
	if err != nil {
		t.Fatal(err)
	}
	if again.Device.ID != first.Device.ID || again.Password != first.Password || !again.Replayed || first.Replayed {
		t.Fatalf("replay = %s %v, want device %s with the same password", again.Device.ID, again.Replayed, first.Device.ID)
	}
	if n := len(h.store.Devices(mailbox)); n != 1 {
		t.Fatalf("%d devices after a replay, want 1", n)
	}
	if n := h.secrets.Count("Create"); n != 1 {
		t.Fatalf("%d secrets created, want 1", n)
	}

	other := in
	other.Name = "another website"
	_, err = h.svc.CreateDevice(ctx, h.owner(), mailbox, other, key)
	wantCode(t, err, apperr.Conflict)

	// The key is the caller's: the same key from someone else is new.
	admins, err := h.svc.CreateDevice(ctx, h.admin(), mailbox, in, key)
	if err != nil {
		t.Fatal(err)
	}
	h.remember(admins.Password)
	if admins.Device.ID == first.Device.ID || admins.Replayed {
		t.Fatal("another caller's key replayed the owner's request")
	}

	// Once the password changed, a replay cannot show it.
	if _, err := h.svc.Regenerate(ctx, h.owner(), mailbox, first.Device.ID, 0); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.CreateDevice(ctx, h.owner(), mailbox, in, key)
	wantCode(t, err, apperr.Conflict)
	if n := len(h.store.Devices(mailbox)); n != 2 {
		t.Fatalf("%d devices, want 2", n)
	}
	h.checkConsistent()
}

func TestCreateDeviceCap(t *testing.T) {
	h := newHarness(t, device.Config{MaxLiveDevices: 2})
	ctx := context.Background()
	a := h.create(device.CreateInput{Name: "a"})
	h.create(device.CreateInput{Name: "b"})
	_, err := h.svc.CreateDevice(ctx, h.owner(), mailbox, device.CreateInput{Name: "c"}, "")
	wantCode(t, err, apperr.LimitReached)
	if n := h.secrets.Count("Create"); n != 2 {
		t.Fatalf("%d secrets created, want 2 (none for the refused device)", n)
	}
	if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, a.Device.ID); err != nil {
		t.Fatal(err)
	}
	h.create(device.CreateInput{Name: "c"})
	h.checkConsistent()
}

func TestCreateDeviceStepUp(t *testing.T) {
	h := newHarness(t, device.Config{})
	c := h.owner()
	c.AuthTime = h.clock.Now().Add(-6 * time.Minute)
	_, err := h.svc.CreateDevice(context.Background(), c, mailbox, device.CreateInput{Name: "x"}, "")
	wantCode(t, err, apperr.StepUpRequired)
	if n := h.secrets.Count("Create"); n != 0 {
		t.Fatalf("%d secrets created for a stale login", n)
	}
}

func TestPermissionsDoNotRevealMailboxes(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	d := h.create(device.CreateInput{Name: "x"}).Device
	stranger := device.Caller{Subject: "mallory", AuthTime: h.clock.Now()}
	otherAdmin := device.Caller{Subject: "eve", Groups: []string{"domain-admin:example.org"}, AuthTime: h.clock.Now()}
	const missing = "nobody@example.com"
	ops := []struct {
		name string
		call func(c device.Caller, addr string) error
	}{
		{"get mailbox", func(c device.Caller, addr string) error { _, err := h.svc.GetMailbox(ctx, c, addr); return err }},
		{"list", func(c device.Caller, addr string) error { _, err := h.svc.ListDevices(ctx, c, addr, "", 0); return err }},
		{"create", func(c device.Caller, addr string) error {
			_, err := h.svc.CreateDevice(ctx, c, addr, device.CreateInput{Name: "x"}, "")
			return err
		}},
		{"get device", func(c device.Caller, addr string) error { _, err := h.svc.GetDevice(ctx, c, addr, d.ID); return err }},
		{"get bad id", func(c device.Caller, addr string) error { _, err := h.svc.GetDevice(ctx, c, addr, "x"); return err }},
		{"update", func(c device.Caller, addr string) error {
			_, err := h.svc.UpdateDevice(ctx, c, addr, d.ID, device.Patch{Name: ptr("y")})
			return err
		}},
		{"regenerate", func(c device.Caller, addr string) error {
			_, err := h.svc.Regenerate(ctx, c, addr, d.ID, 0)
			return err
		}},
		{"revoke", func(c device.Caller, addr string) error { _, err := h.svc.Revoke(ctx, c, addr, d.ID); return err }},
		{"revoke all", func(c device.Caller, addr string) error { _, err := h.svc.RevokeAll(ctx, c, addr); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			for _, c := range []device.Caller{stranger, otherAdmin} {
				onExisting, onMissing := op.call(c, mailbox), op.call(c, missing)
				wantCode(t, onExisting, apperr.Forbidden)
				wantCode(t, onMissing, apperr.Forbidden)
				if onExisting.Error() != onMissing.Error() {
					t.Fatalf("answers differ: %q and %q", onExisting, onMissing)
				}
				if !strings.Contains(onExisting.Error(), "enrollment link") {
					t.Fatalf("answer %q does not say how to proceed", onExisting)
				}
			}
			wantCode(t, op.call(device.Caller{}, mailbox), apperr.Unauthenticated)
		})
	}
	// Administrators of the domain learn that a mailbox does not exist.
	_, err := h.svc.GetMailbox(ctx, h.admin(), missing)
	wantCode(t, err, apperr.NotFound)
	if got := h.device(d.ID); got.Status != device.StatusActive || got.Name != "x" {
		t.Fatalf("a refused caller changed the device: %+v", got)
	}
	if n := h.secrets.Count("Create"); n != 1 {
		t.Fatalf("%d secrets created, want 1", n)
	}
}

func TestRegenerate(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "phone"})
	h.secrets.ResetCounts()
	h.clock.Advance(time.Minute)
	r, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.remember(r.Password)
	if r.Password == c.Password || len(r.Password) != password.DefaultLength {
		t.Fatal("regenerate returned the old password or a short one")
	}
	if !h.verify(r.Password) {
		t.Fatal("the new password does not verify")
	}
	if h.verify(c.Password) {
		t.Fatal("the old password still verifies after a regenerate without grace")
	}
	if pw, _ := h.currentPassword(c.Device); pw != r.Password {
		t.Fatal("AWSCURRENT is not the regenerated password")
	}
	st, _ := h.secrets.State(c.Device.SecretARN)
	if st.InProgress() != "" || st.Pending() != st.Current() {
		t.Fatalf("AWSPENDING on %s, AWSCURRENT on %s: want both on the new version (a finished rotation)", st.Pending(), st.Current())
	}
	d := h.device(c.Device.ID)
	if !d.RotatedAt.Equal(h.clock.Now()) || r.Device.Current.Version != d.Current.Version {
		t.Fatalf("rotatedAt %s current %s; want now and %s", d.RotatedAt, d.Current.Version, r.Device.Current.Version)
	}
	// A regenerate holds the password in memory and knows the current
	// version from the device: no reads, two writes (the floor: the new
	// version, then AWSCURRENT).
	if n := h.secrets.Count("Read") + h.secrets.Count("Describe"); n != 0 {
		t.Fatalf("regenerate read the secret %d times", n)
	}
	if n := h.secrets.Writes(); n != 2 {
		t.Fatalf("regenerate made %d Secrets Manager writes, want 2 (%v)", n, h.secrets.Counts())
	}
	h.checkConsistent()

	stale := h.owner()
	stale.AuthTime = h.clock.Now().Add(-time.Hour)
	_, err = h.svc.Regenerate(ctx, stale, mailbox, c.Device.ID, 0)
	wantCode(t, err, apperr.StepUpRequired)
}

func TestRegenerateGrace(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Second, 60 * time.Second, 5 * time.Minute, 10 * time.Minute, 26 * time.Hour} {
		t.Run(grace.String(), func(t *testing.T) {
			h := newHarness(t, device.Config{})
			c := h.create(device.CreateInput{Name: "phone"})
			g, err := device.ParseGraceSeconds("grace", int64(grace/time.Second))
			if err != nil {
				t.Fatal(err)
			}
			start := h.clock.Now()
			r, err := h.svc.Regenerate(context.Background(), h.owner(), mailbox, c.Device.ID, g)
			if err != nil {
				t.Fatal(err)
			}
			h.remember(r.Password)
			if grace > 0 {
				h.clock.Set(start.Add(grace - time.Millisecond))
				if !h.verify(c.Password) {
					t.Fatalf("the old password stopped before its grace of %s ended", grace)
				}
			}
			h.clock.Set(start.Add(grace))
			if h.verify(c.Password) {
				t.Fatalf("the old password still verifies when its grace of %s ends", grace)
			}
			if !h.verify(r.Password) {
				t.Fatal("the new password does not verify")
			}
			h.checkConsistent()
		})
	}
}

func TestRegenerateDisabledAndEnded(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "phone"})
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Status: ptr("disabled")}); err != nil {
		t.Fatal(err)
	}
	r, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
	if err != nil {
		t.Fatalf("regenerate a disabled device: %v", err)
	}
	h.remember(r.Password)
	if h.verify(r.Password) {
		t.Fatal("a disabled device's new password verifies")
	}
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Status: ptr("active")}); err != nil {
		t.Fatal(err)
	}
	if !h.verify(r.Password) || h.verify(c.Password) {
		t.Fatal("after enabling: want the new password only")
	}
	if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, c.Device.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
	wantCode(t, err, apperr.Conflict)

	exp := h.create(device.CreateInput{Name: "temp", ValidFor: "1h"})
	h.clock.Advance(time.Hour)
	_, err = h.svc.Regenerate(ctx, h.owner(), mailbox, exp.Device.ID, 0)
	wantCode(t, err, apperr.Conflict)
}

func TestRevoke(t *testing.T) {
	h := newHarness(t, device.Config{RecoveryWindowDays: 10})
	ctx := context.Background()
	a := h.create(device.CreateInput{Name: "a"})
	b := h.create(device.CreateInput{Name: "b"})
	d, err := h.svc.Revoke(ctx, h.owner(), mailbox, a.Device.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != device.StatusRevoked || h.device(a.Device.ID).Status != device.StatusRevoked {
		t.Fatalf("status = %s, want revoked", d.Status)
	}
	if h.verify(a.Password) {
		t.Fatal("a revoked device's password verifies")
	}
	if !h.verify(b.Password) {
		t.Fatal("revoking one device stopped another")
	}
	name := device.SecretName(prefix, mailbox, a.Device.ID)
	if st, _ := h.secrets.State(name); !st.Deleted || h.secrets.RecoveryDays(name) != 10 {
		t.Fatalf("secret deleted %v with a %d-day window, want scheduled for 10 days", st.Deleted, h.secrets.RecoveryDays(name))
	}
	if m, _ := h.svc.GetMailbox(ctx, h.owner(), mailbox); m.Live != 1 {
		t.Fatalf("live = %d, want 1", m.Live)
	}

	again, err := h.svc.Revoke(ctx, h.owner(), mailbox, a.Device.ID)
	if err != nil || again.Status != device.StatusRevoked {
		t.Fatalf("second revoke = %s, %v; want revoked, no error", again.Status, err)
	}
	if m, _ := h.svc.GetMailbox(ctx, h.owner(), mailbox); m.Live != 1 {
		t.Fatalf("live = %d after a second revoke, want 1", m.Live)
	}
	_, err = h.svc.Revoke(ctx, h.owner(), mailbox, devicetest.NewID(t))
	wantCode(t, err, apperr.NotFound)
	h.checkConsistent()
}

func TestRevokeAll(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	var pws []string
	for _, n := range []string{"a", "b", "c", "d"} {
		pws = append(pws, h.create(device.CreateInput{Name: n}).Password)
	}
	first := h.store.Devices(mailbox)[0]
	if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, first.ID); err != nil {
		t.Fatal(err)
	}
	stale := h.owner()
	stale.AuthTime = h.clock.Now().Add(-time.Hour)
	_, err := h.svc.RevokeAll(ctx, stale, mailbox)
	wantCode(t, err, apperr.StepUpRequired)

	n, err := h.svc.RevokeAll(ctx, h.owner(), mailbox)
	if err != nil || n != 3 {
		t.Fatalf("revoke all = %d, %v; want 3", n, err)
	}
	for _, pw := range pws {
		if h.verify(pw) {
			t.Fatal("a password verifies after revoke all")
		}
	}
	if live := h.secrets.Live(); len(live) != 0 {
		t.Fatalf("secrets not scheduled for deletion: %v", live)
	}
	if m, _ := h.svc.GetMailbox(ctx, h.owner(), mailbox); m.Live != 0 {
		t.Fatalf("live = %d, want 0", m.Live)
	}
	if n, err := h.svc.RevokeAll(ctx, h.owner(), mailbox); err != nil || n != 0 {
		t.Fatalf("second revoke all = %d, %v; want 0", n, err)
	}
	h.checkConsistent()
}

func TestUpdateDevice(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "phone", Rotation: &device.RotationInput{EveryDays: 30}})
	id, name := c.Device.ID, device.SecretName(prefix, mailbox, c.Device.ID)
	if p := h.secrets.Schedule(name); p == nil || p.EveryDays != 30 {
		t.Fatalf("schedule after create = %+v, want every 30 days", p)
	}
	update := func(p device.Patch) device.Device {
		t.Helper()
		d, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, id, p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	d := update(device.Patch{Status: ptr("disabled")})
	if d.Status != device.StatusDisabled || h.verify(c.Password) {
		t.Fatal("a disabled device's password verifies")
	}
	if h.secrets.Schedule(name) != nil {
		t.Fatal("a disabled device keeps its rotation schedule")
	}
	update(device.Patch{Status: ptr("active")})
	if !h.verify(c.Password) {
		t.Fatal("an enabled device's password does not verify")
	}
	if p := h.secrets.Schedule(name); p == nil || p.EveryDays != 30 {
		t.Fatalf("schedule after enabling = %+v", p)
	}

	d = update(device.Patch{Name: ptr(" renamed "), Note: ptr("n"), Rotation: &device.RotationInput{EveryDays: 7, Grace: "30m"}})
	if d.Name != "renamed" || d.Note != "n" || d.Rotation == nil || d.Rotation.EveryDays != 7 || d.Grace != 30*time.Minute {
		t.Fatalf("updated = %+v", d)
	}
	if p := h.secrets.Schedule(name); p == nil || p.EveryDays != 7 {
		t.Fatalf("schedule after a policy change = %+v", p)
	}
	d = update(device.Patch{RemoveRotation: true})
	if d.Rotation != nil || h.secrets.Schedule(name) != nil || d.Grace != 2*time.Hour {
		t.Fatalf("after removing the policy: %+v, schedule %+v", d, h.secrets.Schedule(name))
	}

	update(device.Patch{Scopes: &[]string{"smtp"}})
	if h.verify(c.Password) {
		t.Fatal("the password verifies over IMAP after limiting it to SMTP")
	}
	update(device.Patch{Scopes: &[]string{"imap"}, AllowIPs: &[]string{"198.51.100.0/24"}})
	if h.verify(c.Password) {
		t.Fatal("the password verifies from outside its allow-list")
	}
	update(device.Patch{AllowIPs: &[]string{}})
	if !h.verify(c.Password) {
		t.Fatal("the password does not verify after clearing the allow-list")
	}

	refusals := []struct {
		name string
		p    device.Patch
		want apperr.Code
	}{
		{"status revoked", device.Patch{Status: ptr("revoked")}, apperr.Invalid},
		{"set and remove rotation", device.Patch{Rotation: &device.RotationInput{EveryDays: 1}, RemoveRotation: true}, apperr.Invalid},
		{"bad name", device.Patch{Name: ptr("")}, apperr.Invalid},
		{"null scopes", device.Patch{Scopes: new([]string)}, apperr.Invalid},
	}
	for _, tc := range refusals {
		_, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, id, tc.p)
		if !apperr.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, id); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, id, device.Patch{Status: ptr("active")})
	wantCode(t, err, apperr.Conflict)
	if h.verify(c.Password) {
		t.Fatal("a revoked device came back")
	}
}

func TestListDevices(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	for range 5 {
		h.create(device.CreateInput{Name: "d"})
	}
	seen := map[string]bool{}
	var sizes []int
	cursor := ""
	for {
		p, err := h.svc.ListDevices(ctx, h.owner(), mailbox, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Devices))
		for _, d := range p.Devices {
			if seen[d.ID] {
				t.Fatalf("device %s listed twice", d.ID)
			}
			seen[d.ID] = true
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(seen) != 5 || len(sizes) != 3 || sizes[2] != 1 {
		t.Fatalf("pages %v covering %d devices, want [2 2 1] covering 5", sizes, len(seen))
	}
	for _, limit := range []int{-1, device.MaxPageSize + 1} {
		_, err := h.svc.ListDevices(ctx, h.owner(), mailbox, "", limit)
		wantCode(t, err, apperr.Invalid)
	}
	_, err := h.svc.ListDevices(ctx, h.owner(), mailbox, "bogus", 2)
	wantCode(t, err, apperr.Invalid)
}
