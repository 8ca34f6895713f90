package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// recordingReconcile records the budget it was given and answers rep.
type recordingReconcile struct {
	until time.Time
	rep   device.SlicedReport
}

func (r *recordingReconcile) ReconcileSliced(_ context.Context, _ device.SecretLister, _ device.DeviceScanner, _ device.Checkpoint, _ time.Duration, until time.Time, _ func() time.Time) (device.SlicedReport, error) {
	r.until = until
	return r.rep, nil
}

type nopLister struct{}

func (nopLister) ListSecrets(context.Context, string) ([]device.SecretSummary, error) {
	return nil, nil
}

type nopScanner struct{}

func (nopScanner) ScanDevices(context.Context, func(device.Device) error) error { return nil }

type nopCheckpoint struct{}

func (nopCheckpoint) LoadCursor(context.Context) (int, error) { return 0, nil }
func (nopCheckpoint) SaveCursor(context.Context, int) error   { return nil }

// TestReconcilerBudgetAndProgress: a run stops starting slices the margin
// before its deadline (none without a deadline), and its metrics line
// says how far it got.
func TestReconcilerBudgetAndProgress(t *testing.T) {
	svc := &recordingReconcile{rep: device.SlicedReport{FirstSlice: 3, SlicesDone: 5, NextSlice: 8, Stopped: true}}
	var metrics bytes.Buffer
	r, err := lifecycle.NewReconciler(svc, nopLister{}, nopScanner{}, nopCheckpoint{}, &metrics, 0, 2*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := r.Handle(ctx); err != nil {
		t.Fatal(err)
	}
	if want := deadline.Add(-2 * time.Minute); !svc.until.Equal(want) {
		t.Errorf("until %s, want the deadline less the margin %s", svc.until, want)
	}
	var line map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &line); err != nil {
		t.Fatalf("metrics line: %v: %s", err, metrics.String())
	}
	if line["SlicesReconciled"] != 5.0 || line["NextSlice"] != 8.0 {
		t.Errorf("metrics %v, want SlicesReconciled 5 and NextSlice 8", line)
	}
	if _, err := r.Handle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !svc.until.IsZero() {
		t.Errorf("without a deadline until is %s, want none (a whole pass)", svc.until)
	}
	if _, err := lifecycle.NewReconciler(svc, nopLister{}, nopScanner{}, nil, &metrics, 0, time.Minute, nil); err == nil {
		t.Error("NewReconciler accepted no checkpoint")
	}
}
