package devicetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/verifier"
)

// rotationStoreTests cover device.RotationStore: the conditional writes of
// a rotation, a regenerate's single write, and the guards that refuse
// them.
var rotationStoreTests = []storeTest{
	{"RotationWithDeviceGrace", testRotationGrace},
	{"RotationWithFixedUntil", testRotationFixedUntil},
	{"RotationTakeover", testRotationTakeover},
	{"ScheduledRotationYieldsToRegenerate", testRegenerateHold},
	{"BeginRotationRefusals", testBeginRefusals},
	{"RotationOnMissingDevice", testRotationMissing},
	{"SetPendingRefusesCurrentHash", testSetPendingCurrentHash},
	{"ReplaceSupersedesRotation", testReplace},
	{"ReplaceRefusals", testReplaceRefusals},
	{"ReplaceOnMissingDevice", testReplaceMissing},
}

// --- rotation ---

func testRotationGrace(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx)) // grace 90m
	v1, h1 := d.Current.Version, d.Current.Hash
	v2 := NewVersion(t)
	now := baseTime.Add(time.Minute)

	got, err := s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin")
	wantVerifier(t, "pending after begin", got.Pending, v2, "")
	wantVerifier(t, "current after begin", got.Current, v1, h1)
	if got.PendingBase != v1 {
		t.Fatalf("pending base = %q, want %q", got.PendingBase, v1)
	}

	got, err = s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin rerun")
	wantVerifier(t, "pending after rerun", got.Pending, v2, "")

	got, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set pending")
	wantVerifier(t, "pending after set", got.Pending, v2, "h2")

	// A late rerun of begin answers the stored device and keeps the hash.
	got, err = s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin rerun after set")
	wantVerifier(t, "pending after late rerun", got.Pending, v2, "h2")
	wantVerifier(t, "stored pending after late rerun", getDevice(t, s, mbx, d.ID).Pending, v2, "h2")

	// Steps of another version conflict and answer the device as it is.
	other := NewVersion(t)
	got, err = s.SetPending(ctx, mbx, d.ID, other, "hx")
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "pending answered with the conflict", got.Pending, v2, "h2")
	got, err = s.Promote(ctx, mbx, d.ID, other, now, time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "pending answered with the promote conflict", got.Pending, v2, "h2")

	before, err := s.Promote(ctx, mbx, d.ID, v2, now, time.Time{})
	mustOK(t, err, "promote")
	wantVerifier(t, "promote answers the old current", before.Current, v1, h1)
	wantVerifier(t, "promote answers the old pending", before.Pending, v2, "h2")
	if before.PendingBase != v1 {
		t.Fatalf("promote answered pending base %q, want %q", before.PendingBase, v1)
	}

	after := getDevice(t, s, mbx, d.ID)
	wantVerifier(t, "current after promote", after.Current, v2, "h2")
	wantVerifier(t, "previous after promote", after.Previous, v1, h1)
	wantVerifier(t, "pending after promote", after.Pending, "", "")
	if after.PendingBase != "" {
		t.Fatalf("pending base = %q after promote, want none", after.PendingBase)
	}
	wantTime(t, "previous until (now + device grace)", after.PreviousUntil, now.Add(90*time.Minute))
	wantTime(t, "rotatedAt", after.RotatedAt, now)

	// A promote rerun conflicts and answers the promoted device.
	got, err = s.Promote(ctx, mbx, d.ID, v2, now.Add(time.Minute), time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "current answered with the rerun's conflict", got.Current, v2, "h2")
	wantTime(t, "previous until after rerun", getDevice(t, s, mbx, d.ID).PreviousUntil, now.Add(90*time.Minute))

	// Versions used before cannot begin again.
	for _, v := range []string{v1, v2} {
		_, err = s.BeginRotation(ctx, mbx, d.ID, v, v2, false, now)
		WantCode(t, err, apperr.Conflict)
	}
	wantVerifier(t, "pending after refused begins", getDevice(t, s, mbx, d.ID).Pending, "", "")
}

func testRotationFixedUntil(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	v2 := NewVersion(t)
	now := baseTime.Add(time.Hour)
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, d.Current.Version, true, now)
	mustOK(t, err, "begin")

	// Promote needs the pending hash.
	got, err := s.Promote(ctx, mbx, d.ID, v2, now, time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "pending answered", got.Pending, v2, "")
	wantVerifier(t, "current unchanged", getDevice(t, s, mbx, d.ID).Current, d.Current.Version, d.Current.Hash)

	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set pending")
	until := now.Add(7 * time.Second)
	_, err = s.Promote(ctx, mbx, d.ID, v2, now, until)
	mustOK(t, err, "promote")
	after := getDevice(t, s, mbx, d.ID)
	wantVerifier(t, "current", after.Current, v2, "h2")
	wantVerifier(t, "previous", after.Previous, d.Current.Version, d.Current.Hash)
	wantTime(t, "previous until (fixed)", after.PreviousUntil, until)
}

func testRotationTakeover(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	v1, v2, v3 := d.Current.Version, NewVersion(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, baseTime)
	mustOK(t, err, "begin v2")
	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set v2")

	got, err := s.BeginRotation(ctx, mbx, d.ID, v3, v1, true, baseTime)
	mustOK(t, err, "begin v3 (takeover)")
	wantVerifier(t, "pending after takeover", got.Pending, v3, "")

	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	WantCode(t, err, apperr.Conflict)
	_, err = s.Promote(ctx, mbx, d.ID, v2, baseTime, time.Time{})
	WantCode(t, err, apperr.Conflict)
	g := getDevice(t, s, mbx, d.ID)
	wantVerifier(t, "pending after the old rotation's steps", g.Pending, v3, "")
	wantVerifier(t, "current after the old rotation's steps", g.Current, v1, d.Current.Hash)
}

func testRegenerateHold(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	now := baseTime.Add(time.Hour)
	manual, scheduled := NewVersion(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, d.ID, manual, d.Current.Version, true, now)
	mustOK(t, err, "begin regenerate")

	// While the regenerate's hold lasts, a scheduled rotation refuses.
	for _, at := range []time.Time{now, now.Add(time.Minute), now.Add(device.RegenerateHold)} {
		got, err := s.BeginRotation(ctx, mbx, d.ID, scheduled, d.Current.Version, false, at)
		WantCode(t, err, apperr.Conflict)
		wantReason(t, err, "a manual regenerate is in progress")
		wantVerifier(t, "pending answered with the refusal", got.Pending, manual, "")
	}
	wantVerifier(t, "pending during the hold", getDevice(t, s, mbx, d.ID).Pending, manual, "")

	// A rerun of the regenerate's own begin is no refusal, even unmanual.
	got, err := s.BeginRotation(ctx, mbx, d.ID, manual, d.Current.Version, false, now.Add(time.Minute))
	mustOK(t, err, "rerun of the regenerate's begin")
	wantVerifier(t, "pending after rerun", got.Pending, manual, "")

	// Another regenerate is not held back.
	manual2 := NewVersion(t)
	_, err = s.BeginRotation(ctx, mbx, d.ID, manual2, d.Current.Version, true, now.Add(time.Minute))
	mustOK(t, err, "second regenerate")

	// After the hold (a crashed regenerate), the schedule takes over, and
	// then yields to nothing: a later scheduled rotation may take over it.
	later := now.Add(time.Minute + device.RegenerateHold + time.Millisecond)
	got, err = s.BeginRotation(ctx, mbx, d.ID, scheduled, d.Current.Version, false, later)
	mustOK(t, err, "scheduled begin after the hold")
	wantVerifier(t, "pending after the hold", got.Pending, scheduled, "")
	scheduled2 := NewVersion(t)
	_, err = s.BeginRotation(ctx, mbx, d.ID, scheduled2, d.Current.Version, false, later)
	mustOK(t, err, "scheduled begin over a scheduled one")

	// Promote ends the hold: the next scheduled rotation starts at once.
	m3 := NewVersion(t)
	_, err = s.BeginRotation(ctx, mbx, d.ID, m3, d.Current.Version, true, later)
	mustOK(t, err, "third regenerate")
	_, err = s.SetPending(ctx, mbx, d.ID, m3, "h3")
	mustOK(t, err, "set pending")
	_, err = s.Promote(ctx, mbx, d.ID, m3, later, later)
	mustOK(t, err, "promote")
	_, err = s.BeginRotation(ctx, mbx, d.ID, NewVersion(t), m3, false, later)
	mustOK(t, err, "scheduled begin right after a promoted regenerate")
}

func testBeginRefusals(t *testing.T, s Store) {
	ctx := context.Background()
	now := baseTime.Add(24 * time.Hour)
	tests := []struct {
		name          string
		mod           func(d *device.Device)
		allowDisabled bool
		want          apperr.Code // "" for success
		why           string      // what the refusal says: device.CheckBeginRotation's reason
	}{
		{"active", func(d *device.Device) {}, false, "", ""},
		{"disabled", func(d *device.Device) { d.Status = device.StatusDisabled }, false, apperr.Conflict, "the device is disabled"},
		{"disabled, allowed", func(d *device.Device) { d.Status = device.StatusDisabled }, true, "", ""},
		{"expired", func(d *device.Device) { d.ExpiresAt = now.Add(-time.Millisecond) }, true, apperr.Conflict, "the device expired"},
		{"expires now", func(d *device.Device) { d.ExpiresAt = now }, true, apperr.Conflict, "the device expired"},
		{"expires later", func(d *device.Device) { d.ExpiresAt = now.Add(time.Second) }, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mbx := seedMailbox(t, s, "owner")
			d := newDevice(t, mbx)
			tc.mod(&d)
			createDevice(t, s, d)
			v := NewVersion(t)
			got, err := s.BeginRotation(ctx, mbx, d.ID, v, d.Current.Version, tc.allowDisabled, now)
			if tc.want == "" {
				mustOK(t, err, "begin")
				wantVerifier(t, "pending", got.Pending, v, "")
				return
			}
			WantCode(t, err, tc.want)
			wantReason(t, err, tc.why)
			if got.ID != d.ID {
				t.Fatalf("refusal answered device %q, want the stored one", got.ID)
			}
			wantVerifier(t, "stored pending after refusal", getDevice(t, s, mbx, d.ID).Pending, "", "")
		})
	}
	t.Run("revoked", func(t *testing.T) {
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		_, err := s.EndDevice(ctx, d, device.StatusRevoked, "admin", now)
		mustOK(t, err, "end")
		for _, allow := range []bool{false, true} {
			_, err = s.BeginRotation(ctx, mbx, d.ID, NewVersion(t), d.Current.Version, allow, now)
			WantCode(t, err, apperr.Conflict)
			wantReason(t, err, "the device is revoked")
		}
	})
	t.Run("version used before", func(t *testing.T) {
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		_, err := s.BeginRotation(ctx, mbx, d.ID, d.Current.Version, d.Current.Version, true, now)
		WantCode(t, err, apperr.Conflict)
		wantReason(t, err, "was used before")
	})
	t.Run("base is not the current version", func(t *testing.T) {
		// A regenerate replaced v1 in the table and has not moved
		// AWSCURRENT yet: a rotation starting from v1 refuses.
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		v1, v2 := d.Current.Version, NewVersion(t)
		_, err := s.Replace(ctx, mbx, d.ID, v2, "h2", v1, now, now)
		mustOK(t, err, "replace")
		_, err = s.BeginRotation(ctx, mbx, d.ID, NewVersion(t), v1, false, now)
		WantCode(t, err, apperr.Conflict)
		wantReason(t, err, "the secret's AWSCURRENT")
		wantVerifier(t, "stored pending after refusal", getDevice(t, s, mbx, d.ID).Pending, "", "")
	})
}

// wantReason fails the test unless err's message contains why (when why
// is set): a store explains a refused write with the write's guard, so
// every store gives the same reason.
func wantReason(t *testing.T, err error, why string) {
	t.Helper()
	if why == "" {
		return
	}
	e, ok := apperr.As(err)
	if !ok || !strings.Contains(e.Message, why) {
		t.Fatalf("refusal %v does not say %q", err, why)
	}
}

func testRotationMissing(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	id, v := NewID(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, id, v, "base", true, baseTime)
	WantCode(t, err, apperr.NotFound)
	_, err = s.SetPending(ctx, mbx, id, v, "h")
	WantCode(t, err, apperr.NotFound)
	_, err = s.Promote(ctx, mbx, id, v, baseTime, time.Time{})
	WantCode(t, err, apperr.NotFound)
	WantCode(t, s.TouchLastUsed(ctx, mbx, id, baseTime, device.ScopeIMAP, "", baseTime), apperr.Conflict)
	if _, err := s.GetDevice(ctx, mbx, id); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("a write to a missing device created it (%v)", err)
	}
}

// testSetPendingCurrentHash: a pending verifier equal to the current one
// is a copy of the current password (Secrets Manager's rotation
// configuration test makes one), never a rotation's new password, so the
// store refuses it and keeps the pending version without a hash.
func testSetPendingCurrentHash(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	v2 := NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, d.Current.Version, false, baseTime)
	mustOK(t, err, "begin")
	got, err := s.SetPending(ctx, mbx, d.ID, v2, d.Current.Hash)
	WantCode(t, err, apperr.Conflict)
	if got.Current == nil || got.Current.Hash != d.Current.Hash {
		t.Fatalf("refused SetPending answered current %s, want the stored one", verString(got.Current))
	}
	if g := getDevice(t, s, mbx, d.ID); g.Pending == nil || g.Pending.Version != v2 || g.Pending.Hash != "" {
		t.Fatalf("pending after the refusal = %s, want %s without a hash", verString(g.Pending), v2)
	}
	_, err = s.Promote(ctx, mbx, d.ID, v2, baseTime, time.Time{})
	WantCode(t, err, apperr.Conflict)
	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set pending with a new hash")
}

// testReplace: a regenerate's one write makes its version current with
// the replaced one as previous until the given instant, clears a
// scheduled rotation's pending version (whose later steps then refuse),
// and refuses a base that is no longer current, answering the device as
// it is so that the caller can take over the newer version.
func testReplace(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	v1, h1 := d.Current.Version, d.Current.Hash
	v2, v3, v4 := NewVersion(t), NewVersion(t), NewVersion(t)
	now := baseTime.Add(time.Hour)

	// A scheduled rotation is between setSecret and finishSecret.
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin v2")
	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set v2")

	until := now.Add(90 * time.Second)
	got, err := s.Replace(ctx, mbx, d.ID, v3, "h3", v1, now, until)
	mustOK(t, err, "replace v1 by v3")
	for what, g := range map[string]device.Device{"answered": got, "stored": getDevice(t, s, mbx, d.ID)} {
		wantVerifier(t, what+" current", g.Current, v3, "h3")
		wantVerifier(t, what+" previous", g.Previous, v1, h1)
		wantVerifier(t, what+" pending", g.Pending, "", "")
		wantTime(t, what+" previous until", g.PreviousUntil, until)
		wantTime(t, what+" rotated at", g.RotatedAt, now)
		if g.PendingBase != "" || g.PendingManual || !g.PendingAt.IsZero() {
			t.Fatalf("%s pending bookkeeping left: base %q manual %v at %s", what, g.PendingBase, g.PendingManual, g.PendingAt)
		}
	}

	// The superseded rotation's later steps refuse and change nothing.
	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	WantCode(t, err, apperr.Conflict)
	_, err = s.Promote(ctx, mbx, d.ID, v2, now, time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "current after the old rotation's steps", getDevice(t, s, mbx, d.ID).Current, v3, "h3")

	// A second write from the same base (a racing regenerate) refuses
	// and answers the device as it is.
	got, err = s.Replace(ctx, mbx, d.ID, v4, "h4", v1, now, until)
	WantCode(t, err, apperr.Conflict)
	wantReason(t, err, "current version is no longer")
	wantVerifier(t, "answered current after a stale base", got.Current, v3, "h3")

	// Taking the newer version as base succeeds; an until at now ends the
	// replaced password at once.
	later := now.Add(time.Minute)
	got, err = s.Replace(ctx, mbx, d.ID, v4, "h4", v3, later, later)
	mustOK(t, err, "replace v3 by v4")
	wantVerifier(t, "current", got.Current, v4, "h4")
	wantVerifier(t, "previous", got.Previous, v3, "h3")
	wantTime(t, "previous until (at once)", getDevice(t, s, mbx, d.ID).PreviousUntil, later)
}

func testReplaceRefusals(t *testing.T, s Store) {
	ctx := context.Background()
	now := baseTime.Add(24 * time.Hour)
	tests := []struct {
		name string
		mod  func(d *device.Device)
		why  string // device.CheckReplace's reason; "" for success
	}{
		{"active", func(d *device.Device) {}, ""},
		{"disabled", func(d *device.Device) { d.Status = device.StatusDisabled }, ""},
		{"expired", func(d *device.Device) { d.ExpiresAt = now.Add(-time.Millisecond) }, "the device expired"},
		{"expires now", func(d *device.Device) { d.ExpiresAt = now }, "the device expired"},
		{"expires later", func(d *device.Device) { d.ExpiresAt = now.Add(time.Second) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mbx := seedMailbox(t, s, "owner")
			d := newDevice(t, mbx)
			tc.mod(&d)
			createDevice(t, s, d)
			v := NewVersion(t)
			got, err := s.Replace(ctx, mbx, d.ID, v, "h-new", d.Current.Version, now, now)
			if tc.why == "" {
				mustOK(t, err, "replace")
				wantVerifier(t, "current", got.Current, v, "h-new")
				return
			}
			WantCode(t, err, apperr.Conflict)
			wantReason(t, err, tc.why)
			wantVerifier(t, "stored current after refusal", getDevice(t, s, mbx, d.ID).Current, d.Current.Version, d.Current.Hash)
		})
	}
	t.Run("revoked", func(t *testing.T) {
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		_, err := s.EndDevice(ctx, d, device.StatusRevoked, "admin", now)
		mustOK(t, err, "end")
		_, err = s.Replace(ctx, mbx, d.ID, NewVersion(t), "h-new", d.Current.Version, now, now)
		WantCode(t, err, apperr.Conflict)
		wantReason(t, err, "the device is revoked")
	})
	t.Run("versions and hashes used before", func(t *testing.T) {
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		v1, v2 := d.Current.Version, NewVersion(t)
		_, err := s.Replace(ctx, mbx, d.ID, v2, "h2", v1, now, now)
		mustOK(t, err, "replace")
		for _, tc := range []struct {
			name, version string
			hash          verifier.Hash
			why           string
		}{
			{"the current version", v2, "h-other", "was used before"},
			{"the previous version", v1, "h-other", "was used before"},
			{"the current hash", NewVersion(t), "h2", "current version's"},
		} {
			_, err := s.Replace(ctx, mbx, d.ID, tc.version, tc.hash, v2, now, now)
			WantCode(t, err, apperr.Conflict)
			wantReason(t, err, tc.why)
		}
		wantVerifier(t, "stored current after the refusals", getDevice(t, s, mbx, d.ID).Current, v2, "h2")
	})
}

func testReplaceMissing(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	id := NewID(t)
	_, err := s.Replace(ctx, mbx, id, NewVersion(t), "h", "base", baseTime, baseTime)
	WantCode(t, err, apperr.NotFound)
	if _, err := s.GetDevice(ctx, mbx, id); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("a replace of a missing device created it (%v)", err)
	}
}
