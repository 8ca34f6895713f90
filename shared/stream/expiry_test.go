package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestTemporaryDeviceExpires: a device made to last two seconds stops
// verifying at its expiry (the service's clock steps past it), before any
// sweep ran;
// the sweep then records it expired and schedules its secret's deletion,
// and the stream announces it once.
func TestTemporaryDeviceExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	svc := e.app.Service
	addr := "temp@" + e.domain
	owner := user("owner-" + e.domain)
	if _, _, err := svc.RegisterMailbox(ctx, e.admin(), addr, owner.Subject); err != nil {
		t.Fatal(err)
	}
	temp, err := svc.CreateDevice(ctx, owner, addr, device.CreateInput{Name: "Hotel PC", ValidFor: "2s"}, "")
	if err != nil {
		t.Fatal(err)
	}
	verify := func() bool {
		t.Helper()
		ok, err := svc.Verify(ctx, device.VerifyRequest{Mailbox: addr, Password: temp.Password, Protocol: "imap"})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !verify() {
		t.Fatal("the temporary device does not verify before its expiry")
	}
	if rep, err := e.sweep(ctx); err != nil || rep.Expired != 0 {
		t.Fatalf("a sweep before the expiry: %+v, %v; want nothing expired", rep, err)
	}

	e.clock.AdvancePast(temp.Device.ExpiresAt)
	if verify() {
		t.Fatal("the temporary device still verifies after its expiry (no sweep has run)")
	}
	if e.secretDeleted(t, temp.Device.SecretARN) {
		t.Fatal("the secret was deleted before the sweep")
	}
	rep, err := e.sweep(ctx)
	if err != nil || rep.Expired != 1 {
		t.Fatalf("sweep: %+v, %v; want one device expired", rep, err)
	}
	if !e.secretDeleted(t, temp.Device.SecretARN) {
		t.Error("after the sweep the secret has no DeletedDate")
	}
	page, err := svc.ListDevices(ctx, owner, addr, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Devices) != 1 || page.Devices[0].Status != device.StatusExpired {
		t.Errorf("listing %+v, want the one device, expired", page.Devices)
	}
	if verify() {
		t.Error("the expired device verifies after the sweep")
	}
	if rep, err := e.sweep(ctx); err != nil || rep.Expired != 0 {
		t.Errorf("a second sweep: %+v, %v; want nothing more", rep, err)
	}

	e.flush(t)
	evs := e.sinkEvents(t)
	assertEvents(t, "sink", evs, []want{{lifecycle.MailboxRegistered, ""}, {lifecycle.DeviceCreated, temp.Device.ID}, {lifecycle.DeviceExpired, temp.Device.ID}})
	if ev := findType(evs, lifecycle.DeviceExpired); ev.Actor.Subject != "sweep" || ev.Device == nil || ev.Device.Status != "expired" {
		t.Errorf("device.expired %+v (device %+v): want the sweep as actor and the expired status", ev, ev.Device)
	}
}

func (e *env) sweep(ctx context.Context) (lifecycle.SweepReport, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return lifecycle.Sweep(ctx, e.app.Service, e.app.Logger)
}
