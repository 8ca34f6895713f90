package capacity

import (
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestReconcileSlicingMatchesTheCode: the model's slicing is the code's.
func TestReconcileSlicingMatchesTheCode(t *testing.T) {
	if ReconcileSlices != len(device.ReconcileSlices) {
		t.Errorf("model has %d slices, shared/device %d", ReconcileSlices, len(device.ReconcileSlices))
	}
	if time.Duration(ReconcileMarginSec*float64(time.Second)) != lifecycle.ReconcileMargin {
		t.Errorf("model margin %vs, shared/lifecycle %s", ReconcileMarginSec, lifecycle.ReconcileMargin)
	}
}

// TestReconcilerRunStaysWithinItsBudget: however large the fleet, a run
// lasts at most its budget; what must fit is one slice, so the limit is
// the fleet whose pass takes ReconcileSlices budgets, not one.
func TestReconcilerRunStaysWithinItsBudget(t *testing.T) {
	m := fixtureModel()
	budget := m.Stack.ReconcilerTimeoutSec - ReconcileMarginSec
	for _, n := range []float64{1e3, 1e6, 1e8} {
		if d := m.reconcileRun(n).DurationMs / 1000; d > budget+1e-9 {
			t.Errorf("%.0f devices: a run lasts %.1f s, over its %.0f s budget", n, d, budget)
		}
	}
	q := quota(t, m.Fleet(1e6), "Reconciler slice time")
	if q.Limit != budget {
		t.Errorf("reconciler limit %.0f s, want the budget %.0f s", q.Limit, budget)
	}
	// The pass at the saturation point takes ReconcileSlices budgets.
	if got := m.reconcileSeconds(q.SaturatesAt) / budget; got < ReconcileSlices*0.99 || got > ReconcileSlices*1.01 {
		t.Errorf("at saturation (%.0f devices) a pass takes %.2f budgets, want %d", q.SaturatesAt, got, ReconcileSlices)
	}
}
