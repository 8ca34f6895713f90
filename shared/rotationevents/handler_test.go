package rotationevents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/rotationevents"
)

// recorder is a hand-written Recorder: it keeps what it was given.
type recorder struct {
	got []device.RotationFailure
	err error
}

func (r *recorder) Record(_ context.Context, f device.RotationFailure) (device.Outcome, error) {
	r.got = append(r.got, f)
	return device.FailureRecorded, r.err
}

// fixture reads testdata/rotation-failed.json, a RotationFailed event as
// EventBridge delivers it, with edit applied to its generic form.
func fixture(t *testing.T, edit func(m map[string]any)) events.CloudWatchEvent {
	t.Helper()
	b, err := os.ReadFile("testdata/rotation-failed.json")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func detail(m map[string]any) map[string]any { return m["detail"].(map[string]any) }

func TestHandleRecordsTheFixture(t *testing.T) {
	rec := &recorder{}
	var logs bytes.Buffer
	h, err := rotationevents.New(rec, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(context.Background(), fixture(t, nil)); err != nil {
		t.Fatal(err)
	}
	want := device.RotationFailure{
		ID:       "e3b69cfe-b70e-4c94-baa9-9decc3c150b9",
		Kind:     device.FailureRotationFailed,
		SecretID: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:devicepass/alice@example.com/aaaaaaaaaaaaaaaaaaaaaaaaaa-Ab3xYz",
		Message:  "Error when executing lambda arn:aws:lambda:eu-west-1:111122223333:function:devicepass-rotation during createSecret step",
		At:       time.Date(2026, 11, 30, 3, 12, 40, 0, time.UTC),
	}
	if len(rec.got) != 1 || rec.got[0] != want {
		t.Fatalf("recorded %+v\nwant %+v", rec.got, want)
	}
	// The secret named in the fixture is a device's under the default prefix.
	mbx, id, err := device.ParseSecretID("devicepass", rec.got[0].SecretID)
	if err != nil || mbx != "alice@example.com" || id != strings.Repeat("a", 26) {
		t.Fatalf("ParseSecretID = %q, %q, %v", mbx, id, err)
	}
}

func TestHandleEachFailureKind(t *testing.T) {
	for _, name := range rotationevents.EventNames {
		rec := &recorder{}
		h, _ := rotationevents.New(rec, slog.New(slog.DiscardHandler))
		ev := fixture(t, func(m map[string]any) { detail(m)["eventName"] = name })
		if err := h.Handle(context.Background(), ev); err != nil || len(rec.got) != 1 || rec.got[0].Kind != name {
			t.Errorf("%s: recorded %+v, err %v", name, rec.got, err)
		}
	}
}

// TestHandleDropsWhatIsNotAFailure: events of another shape are dropped
// without an error (a retry would not help) and never recorded.
func TestHandleDropsWhatIsNotAFailure(t *testing.T) {
	cases := map[string]func(m map[string]any){
		"another event name":     func(m map[string]any) { detail(m)["eventName"] = "RotationSucceeded" },
		"another source":         func(m map[string]any) { m["source"] = "aws.lambda" },
		"an API call":            func(m map[string]any) { m["detail-type"] = "AWS API Call via CloudTrail" },
		"another event source":   func(m map[string]any) { detail(m)["eventSource"] = "lambda.amazonaws.com" },
		"no event id":            func(m map[string]any) { delete(detail(m), "eventID") },
		"no secret":              func(m map[string]any) { delete(detail(m), "additionalEventData") },
		"detail of a wrong type": func(m map[string]any) { m["detail"] = "x" },
	}
	for name, edit := range cases {
		rec := &recorder{}
		var logs bytes.Buffer
		h, _ := rotationevents.New(rec, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err := h.Handle(context.Background(), fixture(t, edit)); err != nil || len(rec.got) != 0 {
			t.Errorf("%s: err %v, recorded %+v; want dropped", name, err, rec.got)
		}
		if !strings.Contains(logs.String(), "event dropped") {
			t.Errorf("%s: not logged as dropped: %s", name, logs.String())
		}
	}
}

// TestHandleReportsAFailedRecord: a store failure is the invocation's
// error, so Lambda retries the event.
func TestHandleReportsAFailedRecord(t *testing.T) {
	rec := &recorder{err: errors.New("table unavailable")}
	h, _ := rotationevents.New(rec, slog.New(slog.DiscardHandler))
	if err := h.Handle(context.Background(), fixture(t, nil)); err == nil {
		t.Fatal("Handle succeeded although the failure was not recorded")
	}
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	if _, err := rotationevents.New(nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New without a recorder succeeded")
	}
}
