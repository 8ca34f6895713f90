package devicetest

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// rotationFailureStoreTests are the contract of
// device.RotationFailureStore: a failure is recorded once per id, a newer
// one replaces it and an older one does not, an ended or missing device
// refuses, and a promotion (the next rotation that succeeds) clears it and
// keeps out failures from before it.
var rotationFailureStoreTests = []storeTest{
	{"RotationFailureStore/recorded once, replaced by a newer one, cleared by a rotation", func(t *testing.T, s Store) {
		ctx := device.WithActor(context.Background(), device.Actor{Kind: device.ActorRotation, Subject: "secretsmanager"})
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		at := baseTime.Add(time.Minute)
		f := device.RotationFailure{ID: "ev-1", Kind: device.FailureRotationFailed, Message: "during createSecret step", At: at}
		mustOK(t, s.RecordRotationFailure(ctx, mbx, d.ID, f), "record")
		got := getDevice(t, s, mbx, d.ID)
		if got.RotationError != f.Message || got.RotationErrorKind != f.Kind || got.RotationErrorID != "ev-1" || !got.RotationErrorAt.Equal(at) {
			t.Fatalf("after record: error %q kind %q id %q at %v", got.RotationError, got.RotationErrorKind, got.RotationErrorID, got.RotationErrorAt)
		}
		if got.LastActor.Kind != device.ActorRotation {
			t.Fatalf("actor = %+v, want the rotation", got.LastActor)
		}
		if err := s.RecordRotationFailure(ctx, mbx, d.ID, f); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("recording the same failure again = %v, want conflict", err)
		}
		g := device.RotationFailure{ID: "ev-2", Kind: device.FailureRotationAbandoned, Message: "abandoned", At: at.Add(time.Minute)}
		mustOK(t, s.RecordRotationFailure(ctx, mbx, d.ID, g), "record a newer failure")
		if got := getDevice(t, s, mbx, d.ID); got.RotationErrorID != "ev-2" || got.RotationErrorKind != device.FailureRotationAbandoned {
			t.Fatalf("after a newer failure: id %q kind %q", got.RotationErrorID, got.RotationErrorKind)
		}

		// A late redelivery of the older failure is not news.
		if err := s.RecordRotationFailure(ctx, mbx, d.ID, f); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("recording an older failure after a newer one = %v, want conflict", err)
		}

		v2 := NewVersion(t)
		_, err := s.BeginRotation(ctx, mbx, d.ID, v2, d.Current.Version, false, at.Add(2*time.Minute))
		mustOK(t, err, "begin")
		_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
		mustOK(t, err, "set pending")
		_, err = s.Promote(ctx, mbx, d.ID, v2, at.Add(3*time.Minute), time.Time{})
		mustOK(t, err, "promote")
		if got := getDevice(t, s, mbx, d.ID); got.RotationError != "" || got.RotationErrorID != "" || !got.RotationErrorAt.IsZero() || got.RotationErrorKind != "" {
			t.Fatalf("after a rotation that succeeded the error is still there: %q %q", got.RotationError, got.RotationErrorID)
		}
		// A failure from before that rotation, delivered late, stays out;
		// one after it is recorded.
		late := device.RotationFailure{ID: "ev-3", Kind: device.FailureRotationFailed, At: at.Add(2 * time.Minute)}
		if err := s.RecordRotationFailure(ctx, mbx, d.ID, late); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("recording a failure older than the last rotation = %v, want conflict", err)
		}
		next := device.RotationFailure{ID: "ev-4", Kind: device.FailureRotationFailed, At: at.Add(5 * time.Minute)}
		mustOK(t, s.RecordRotationFailure(ctx, mbx, d.ID, next), "record a failure after the rotation")
		if got := getDevice(t, s, mbx, d.ID); got.RotationErrorID != "ev-4" {
			t.Fatalf("after a later failure: id %q", got.RotationErrorID)
		}
	}},
	{"RotationFailureStore/missing device refuses", func(t *testing.T, s Store) {
		mbx := seedMailbox(t, s, "owner")
		id := NewID(t)
		err := s.RecordRotationFailure(context.Background(), mbx, id, device.RotationFailure{ID: "ev", Kind: device.FailureRotationFailed, At: baseTime})
		if !apperr.Is(err, apperr.Conflict) && !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("record on a missing device = %v, want conflict or not found", err)
		}
		if _, err := s.GetDevice(context.Background(), mbx, id); !apperr.Is(err, apperr.NotFound) {
			t.Fatal("a failure on a missing device created an item")
		}
	}},
}
