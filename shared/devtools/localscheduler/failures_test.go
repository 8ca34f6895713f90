package localscheduler_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/localscheduler"
	"github.com/devicepass/devicepass/shared/rotationevents"
)

// failingRotator fails at a given step.
type failingRotator struct{ step device.Step }

func (f failingRotator) RotateNow(context.Context, string) (string, device.Step, error) {
	if f.step == "" {
		return "v2", "", nil
	}
	return "v2", f.step, errors.New("refused: device is disabled")
}

// recorder keeps the failures the rotation-events handler records.
type recorder struct{ got []device.RotationFailure }

func (r *recorder) Record(_ context.Context, f device.RotationFailure) (device.Outcome, error) {
	r.got = append(r.got, f)
	return device.FailureRecorded, nil
}

// TestReportingRotatorFeedsTheRotationEventsHandler: a failed step is
// reported through the rotation-events handler, in the shape it accepts
// from EventBridge, naming the secret and the step and not the function's
// own error; a rotation that succeeds reports nothing.
func TestReportingRotatorFeedsTheRotationEventsHandler(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h, err := rotationevents.New(rec, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	at := utc("2026-12-01T10:00:00Z")
	secret := "arn:aws:secretsmanager:us-east-1:123456789012:secret:devicepass/a@example.com/aaaaaaaaaaaaaaaaaaaaaaaaaa-AbCdEf"
	r := localscheduler.ReportingRotator{Rotator: failingRotator{step: device.StepTest}, Failures: h,
		Account: "123456789012", Region: "us-east-1", Clock: func() time.Time { return at }}
	if _, step, err := r.RotateNow(context.Background(), secret); err == nil || step != device.StepTest {
		t.Fatalf("RotateNow = step %q, err %v; want the rotator's failure", step, err)
	}
	if len(rec.got) != 1 {
		t.Fatalf("recorded %d failures, want 1", len(rec.got))
	}
	f := rec.got[0]
	if f.Kind != device.FailureRotationFailed || f.SecretID != secret || !f.At.Equal(at) || f.ID == "" ||
		f.Message != "Error when executing lambda devicepass-rotation (local) during testSecret step" {
		t.Fatalf("recorded %+v", f)
	}
	// Each failure is its own report.
	if _, _, err := r.RotateNow(context.Background(), secret); err == nil || len(rec.got) != 2 || rec.got[1].ID == f.ID {
		t.Fatalf("second failure: err %v, recorded %+v", err, rec.got)
	}
	r.Rotator = failingRotator{}
	if _, _, err := r.RotateNow(context.Background(), secret); err != nil || len(rec.got) != 2 {
		t.Fatalf("a rotation that succeeded: err %v, recorded %d", err, len(rec.got))
	}
}
