package device_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// TestRotationFailuresRecordOnce: a failure is recorded on the device its
// secret names (ARN or name), once per failure id; foreign secrets and
// unknown kinds are no error and change nothing; a rotation that succeeds
// clears the error, and NextRotationAt follows the policy.
func TestRotationFailuresRecordOnce(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "Phone", Rotation: &device.RotationInput{EveryDays: 30}})
	rf, err := device.NewRotationFailures(device.Config{}, h.store)
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:secretsmanager:eu-west-1:111122223333:secret:" + device.SecretName("devicepass", mailbox, c.Device.ID) + "-Ab3xYz"
	f := device.RotationFailure{ID: "ev-1", Kind: device.FailureTestRotationFailed, SecretID: arn,
		Message: "bad\nline " + strings.Repeat("x", 400), At: t0.Add(time.Hour)}
	if out, err := rf.Record(ctx, f); err != nil || out != device.FailureRecorded {
		t.Fatalf("Record = %q, %v", out, err)
	}
	d := h.device(c.Device.ID)
	if d.RotationErrorKind != device.FailureTestRotationFailed || d.RotationErrorID != "ev-1" || len(d.RotationError) != device.MaxRotationErrorLen || strings.ContainsRune(d.RotationError, '\n') {
		t.Fatalf("recorded kind %q id %q message %q", d.RotationErrorKind, d.RotationErrorID, d.RotationError)
	}
	if out, err := rf.Record(ctx, f); err != nil || out != device.FailureDuplicate {
		t.Fatalf("Record of a redelivery = %q, %v; want duplicate", out, err)
	}
	for name, g := range map[string]device.RotationFailure{
		"another prefix": {ID: "ev-2", Kind: device.FailureRotationFailed, SecretID: "other/" + mailbox + "/" + c.Device.ID},
		"not a device":   {ID: "ev-3", Kind: device.FailureRotationFailed, SecretID: "devicepass/verifier-key"},
	} {
		if out, err := rf.Record(ctx, g); err != nil || out != device.FailureForeign {
			t.Errorf("%s: Record = %q, %v; want not-a-device", name, out, err)
		}
	}
	if out, err := rf.Record(ctx, device.RotationFailure{ID: "ev-4", Kind: "RotationSucceeded", SecretID: arn}); err != nil || out != device.FailureInvalid {
		t.Errorf("Record of another kind = %q, %v", out, err)
	}
	if out, err := rf.Record(ctx, device.RotationFailure{ID: strings.Repeat("i", 129), Kind: device.FailureRotationFailed, SecretID: arn}); err != nil || out != device.FailureInvalid {
		t.Errorf("Record with an overlong id = %q, %v", out, err)
	}
	if h.device(c.Device.ID).RotationErrorID != "ev-1" {
		t.Fatal("a refused failure changed the device")
	}

	want := h.device(c.Device.ID).RotatedAt.Add(30 * 24 * time.Hour)
	if got := device.NextRotationAt(h.device(c.Device.ID)); !got.Equal(want) {
		t.Fatalf("NextRotationAt = %v, want %v", got, want)
	}
	h.clock.Advance(time.Hour)
	if _, _, err := h.svc.Engine().RotateNow(ctx, c.Device.SecretARN); err != nil {
		t.Fatal(err)
	}
	d = h.device(c.Device.ID)
	if d.RotationError != "" || d.RotationErrorID != "" {
		t.Fatalf("a rotation that succeeded left the error %q", d.RotationError)
	}
	if got := device.NextRotationAt(d); !got.Equal(d.RotatedAt.Add(30 * 24 * time.Hour)) {
		t.Fatalf("NextRotationAt after the rotation = %v", got)
	}
}

func TestNextRotationAt(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := device.Device{Status: device.StatusActive, RotatedAt: at}
	cases := []struct {
		p    *device.RotationPolicy
		want time.Time
	}{
		{nil, time.Time{}},
		{&device.RotationPolicy{EveryDays: 7}, at.Add(7 * 24 * time.Hour)},
		{&device.RotationPolicy{Schedule: "rate(4 hours)"}, at.Add(4 * time.Hour)},
		{&device.RotationPolicy{Schedule: "rate(1 day)"}, at.Add(24 * time.Hour)},
		{&device.RotationPolicy{Schedule: "cron(0 3 * * ? *)"}, time.Time{}},
	}
	for _, tc := range cases {
		d.Rotation = tc.p
		if got := device.NextRotationAt(d); !got.Equal(tc.want) {
			t.Errorf("NextRotationAt(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	d.Rotation, d.Status = &device.RotationPolicy{EveryDays: 7}, device.StatusDisabled
	if got := device.NextRotationAt(d); !got.IsZero() {
		t.Errorf("NextRotationAt of a disabled device = %v, want none", got)
	}
}
