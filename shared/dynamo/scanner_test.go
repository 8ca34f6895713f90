package dynamo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/verifier"
)

// TestScanRotating: only active devices with a rotation policy are
// visited, with the fields a scheduler needs and without a verifier.
func TestScanRotating(t *testing.T) {
	ctx := context.Background()
	s, client, table := newTableWithClient(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	mbx := "scan-" + devicetest.NewID(t)[:8] + "@example.com"
	if _, _, err := s.SaveMailbox(ctx, mbx, "owner", "admin", at); err != nil {
		t.Fatal(err)
	}
	mk := func(rot *device.RotationPolicy, expires time.Time) device.Device {
		id := devicetest.NewID(t)
		d := device.Device{
			Mailbox: mbx, ID: id, Name: "d " + id[:4], Scopes: device.DefaultScopes(), Status: device.StatusActive,
			CreatedAt: at, CreatedBy: "c", UpdatedAt: at, RotatedAt: at, ExpiresAt: expires,
			SecretARN: devicetest.ARNPrefix + "scan/" + mbx + "/" + id,
			Current:   &device.Verifier{Version: devicetest.NewVersion(t), Hash: verifier.Hash("h-" + id)},
			Grace:     time.Hour, Version: 1, Rotation: rot,
		}
		if err := s.CreateDevice(ctx, d, "owner", 50, nil); err != nil {
			t.Fatal(err)
		}
		return d
	}
	every := mk(&device.RotationPolicy{EveryDays: 30}, time.Time{})
	// An expiry in the future: DynamoDB Local's own TTL job may delete an
	// item whose expiry (and so its ttl) has passed.
	cron := mk(&device.RotationPolicy{Schedule: "cron(0 4 ? * MON *)"}, time.Now().Add(30*24*time.Hour).Truncate(time.Second))
	mk(nil, time.Time{}) // no policy
	disabled := mk(&device.RotationPolicy{EveryDays: 7}, time.Time{})
	disabled.Status = device.StatusDisabled
	if _, err := s.UpdateDevice(ctx, disabled); err != nil {
		t.Fatal(err)
	}

	sc, err := dynamo.NewScanner(client, table)
	if err != nil {
		t.Fatal(err)
	}
	var got []device.Device
	if err := sc.ScanRotating(ctx, func(d device.Device) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b device.Device) int {
		return slices.Index([]string{every.ID, cron.ID}, a.ID) - slices.Index([]string{every.ID, cron.ID}, b.ID)
	})
	if len(got) != 2 || got[0].ID != every.ID || got[1].ID != cron.ID {
		t.Fatalf("visited %d devices (%+v), want the two active ones with a policy", len(got), got)
	}
	for i, want := range []device.Device{every, cron} {
		d := got[i]
		if d.Mailbox != mbx || d.SecretARN != want.SecretARN || !d.RotatedAt.Equal(at) || !d.ExpiresAt.Equal(want.ExpiresAt) ||
			d.Rotation == nil || d.Rotation.EveryDays != want.Rotation.EveryDays || d.Rotation.Schedule != want.Rotation.Schedule {
			t.Errorf("device %d: %+v (rotation %+v), want the fields of %+v", i, d, d.Rotation, want)
		}
		if d.Current != nil || d.Previous != nil || d.Pending != nil {
			t.Errorf("device %d carries a verifier", i)
		}
	}
}
