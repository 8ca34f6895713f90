package devicetest

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// repairStoreTests cover device.RepairStore's own methods: the sweep's
// query of due devices and the TTL backstop's restore. (EndDevice and
// GetDevice are covered with DeviceStore.)
var repairStoreTests = []storeTest{
	{"ExpiringDevices", testExpiringDevices},
	{"RestoreExpired", testRestoreExpired},
}

// longAgo is an instant before every expiry the other subtests use: the
// query of due devices spans all mailboxes, so this test's devices are the
// only ones due at longAgo plus a few hours.
var longAgo = time.Date(2001, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

func testExpiringDevices(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	expiring := func(at time.Time) device.Device {
		d := newDevice(t, mbx)
		d.ExpiresAt = at
		return createDevice(t, s, d)
	}
	third := expiring(longAgo.Add(3 * time.Hour))
	first := expiring(longAgo.Add(time.Hour))
	second := expiring(longAgo.Add(2 * time.Hour))
	later := expiring(longAgo.Add(5 * time.Hour))
	ended := expiring(longAgo.Add(30 * time.Minute))
	_, err := s.EndDevice(ctx, ended, device.StatusRevoked, "admin", baseTime)
	mustOK(t, err, "end")
	createDevice(t, s, newDevice(t, mbx)) // no expiry: never due

	ids := func(ds []device.Device) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.ID
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		now   time.Time
		limit int
		want  []device.Device
	}{
		{"before any expiry", longAgo, 10, nil},
		{"at the first expiry", first.ExpiresAt, 10, []device.Device{first}},
		{"three due", third.ExpiresAt.Add(time.Minute), 10, []device.Device{first, second, third}},
		{"three due, limit two", third.ExpiresAt, 2, []device.Device{first, second}},
		{"all due", later.ExpiresAt, 10, []device.Device{first, second, third, later}},
	} {
		ds, err := s.ExpiringDevices(ctx, tc.now, tc.limit)
		mustOK(t, err, tc.name)
		got, want := ids(ds), ids(tc.want)
		if len(got) != len(want) {
			t.Fatalf("%s: due = %v, want %v (soonest first, live only)", tc.name, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: due = %v, want %v (soonest first, live only)", tc.name, got, want)
			}
		}
		for i, d := range ds {
			if d.Mailbox != mbx || !d.Status.Live() {
				t.Fatalf("%s: due device %+v is not this mailbox's live device", tc.name, d)
			}
			wantTime(t, tc.name+": expiry", d.ExpiresAt, tc.want[i].ExpiresAt)
			wantVerifier(t, tc.name+": current", d.Current, tc.want[i].Current.Version, tc.want[i].Current.Hash)
		}
	}
}

func testRestoreExpired(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	// The mailbox still counts a device that DynamoDB's TTL removed: it is
	// modelled by a live device that was counted and is not stored.
	counted := createDevice(t, s, newDevice(t, mbx))
	gone := newDevice(t, mbx)
	gone.ExpiresAt = baseTime.Add(time.Hour)
	gone.Previous = &device.Verifier{Version: NewVersion(t), Hash: "h-prev"}
	now := baseTime.Add(2 * time.Hour)

	mustOK(t, s.RestoreExpired(ctx, gone, now), "restore")
	got := getDevice(t, s, mbx, gone.ID)
	if got.Status != device.StatusExpired || got.Name != gone.Name || got.SecretARN != gone.SecretARN {
		t.Fatalf("restored device = %+v, want it expired with its metadata", got)
	}
	wantVerifier(t, "current", got.Current, "", "")
	wantVerifier(t, "previous", got.Previous, "", "")
	wantVerifier(t, "pending", got.Pending, "", "")
	wantTime(t, "updatedAt", got.UpdatedAt, now)
	if want := (device.Actor{Kind: device.ActorSystem, Subject: "ttl"}); got.LastActor != want {
		t.Fatalf("restored device's last actor = %+v, want %+v", got.LastActor, want)
	}
	if n := liveCount(t, s, mbx); n != 0 {
		t.Fatalf("live = %d after the restore, want 0", n)
	}
	// The sweep no longer sees it: it is no longer live.
	ds, err := s.ExpiringDevices(ctx, now, 100)
	mustOK(t, err, "expiring devices")
	for _, d := range ds {
		if d.ID == gone.ID {
			t.Fatalf("the restored device is still due for the sweep")
		}
	}

	// A second delivery of the same removal changes nothing.
	mustOK(t, s.RestoreExpired(ctx, gone, now.Add(time.Minute)), "restore again")
	if g := getDevice(t, s, mbx, gone.ID); g.Version != got.Version || !g.UpdatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("a second restore changed the device: %+v", g)
	}
	if n := liveCount(t, s, mbx); n != 0 {
		t.Fatalf("live = %d after a second restore, want 0", n)
	}

	// A device that is still stored is left as it is.
	mustOK(t, s.RestoreExpired(ctx, counted, now), "restore of a stored device")
	if g := getDevice(t, s, mbx, counted.ID); g.Status != device.StatusActive || g.Current == nil {
		t.Fatalf("restore changed a stored device: %+v", g)
	}
}
