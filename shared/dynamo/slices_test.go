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

// TestScanMailboxPrefix: one slice holds every device, live or ended, of
// the mailboxes starting with its character, and nothing else.
func TestScanMailboxPrefix(t *testing.T) {
	ctx := context.Background()
	s, client, table := newTableWithClient(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tag := devicetest.NewID(t)[:6]
	mk := func(mbx string) device.Device {
		if _, _, err := s.SaveMailbox(ctx, mbx, "owner", "admin", at); err != nil {
			t.Fatal(err)
		}
		id := devicetest.NewID(t)
		d := device.Device{
			Mailbox: mbx, ID: id, Name: "d " + id[:4], Scopes: device.DefaultScopes(), Status: device.StatusActive,
			CreatedAt: at, CreatedBy: "c", UpdatedAt: at, RotatedAt: at,
			SecretARN: devicetest.ARNPrefix + "slice/" + mbx + "/" + id,
			Current:   &device.Verifier{Version: devicetest.NewVersion(t), Hash: verifier.Hash("h-" + id)},
			Grace:     time.Hour, Version: 1,
		}
		if err := s.CreateDevice(ctx, d, "owner", 50, nil); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// 'k' and 'q': characters no other test's mailbox starts with.
	live := mk("k" + tag + "@example.com")
	ended := mk("k" + tag + "-2@example.com")
	if _, err := s.EndDevice(ctx, ended, device.StatusRevoked, "test", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	other := mk("q" + tag + "@example.com")

	sc, err := dynamo.NewSliceScanner(client, table)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(prefix string) []string {
		var got []string
		if err := sc.ScanMailboxPrefix(ctx, prefix, func(d device.Device) error { got = append(got, d.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	want := []string{live.ID, ended.ID}
	slices.Sort(want)
	if got := ids("k"); !slices.Equal(got, want) {
		t.Errorf("slice k: %v, want %v (live and ended)", got, want)
	}
	if got := ids("q"); !slices.Equal(got, []string{other.ID}) {
		t.Errorf("slice q: %v, want %v", got, []string{other.ID})
	}
	if got := ids("z"); len(got) != 0 {
		t.Errorf("slice z: %v, want none", got)
	}
}
