package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// dueDevices is a fake DueExpirer with n devices due.
type dueDevices struct {
	n     int
	calls int
	err   error // returned by the call numbered fail
	fail  int
}

func (f *dueDevices) ExpireDue(_ context.Context, limit int) (int, error) {
	f.calls++
	if f.fail == f.calls {
		return 0, f.err
	}
	k := min(limit, f.n)
	f.n -= k
	return k, nil
}

func TestSweep(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	cases := []struct {
		name        string
		due         *dueDevices
		wantExpired int
		wantBatches int
		wantErr     error
	}{
		{"nothing due", &dueDevices{}, 0, 1, nil},
		{"one short batch", &dueDevices{n: 7}, 7, 1, nil},
		{"several batches", &dueDevices{n: 2*lifecycle.SweepBatch + 3}, 2*lifecycle.SweepBatch + 3, 3, nil},
		{"exactly full then empty", &dueDevices{n: lifecycle.SweepBatch}, lifecycle.SweepBatch, 2, nil},
		{"a failing batch stops", &dueDevices{n: 3 * lifecycle.SweepBatch, fail: 2, err: boom}, lifecycle.SweepBatch, 2, boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			rep, err := lifecycle.Sweep(context.Background(), tc.due, slog.New(slog.NewJSONHandler(&logs, nil)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Sweep error = %v, want %v", err, tc.wantErr)
			}
			if rep.Expired != tc.wantExpired || rep.Batches != tc.wantBatches || rep.Failed != (tc.wantErr != nil) {
				t.Errorf("report %+v, want %d expired in %d batches", rep, tc.wantExpired, tc.wantBatches)
			}
			if tc.wantExpired > 0 && !strings.Contains(logs.String(), `"expired":`) {
				t.Errorf("no summary logged: %s", logs.String())
			}
		})
	}
}

func TestSweepStopsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	// Always a full batch: only the deadline ends the sweep. The first
	// batch runs even with little time left.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	due := &dueDevices{n: 1 << 30}
	rep, err := lifecycle.Sweep(ctx, due, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Truncated || rep.Batches != 1 {
		t.Errorf("report %+v, want one batch then a stop for the deadline", rep)
	}
}

func TestSweepRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	if _, err := lifecycle.Sweep(context.Background(), nil, slog.Default()); err == nil {
		t.Error("Sweep without an expirer succeeded")
	}
}
