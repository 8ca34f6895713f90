package stream_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/rotationevents"
)

// TestRotationFailedOnce: Secrets Manager's CloudTrail RotationFailed
// event (the fixture, naming this device's secret), handed to the
// rotation-events handler twice as EventBridge may redeliver it, makes
// exactly one rotation.failed event in the audit trail, on the bus and in
// the sink, and one notice addressed to the domain's administrators, with
// no secret in any; the device shows the error until the next rotation
// succeeds, which clears it and announces nothing more.
func TestRotationFailedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	addr := "rf@" + e.domain
	if _, _, err := e.app.Service.RegisterMailbox(ctx, e.admin(), addr, "alice"); err != nil {
		t.Fatal(err)
	}
	c, err := e.app.Service.CreateDevice(ctx, user("alice"), addr, device.CreateInput{Name: "Phone", Rotation: &device.RotationInput{EveryDays: 30}}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.flush(t)
	e.sqs.receiveAll(t, e.noticeQ) // the device.created notice
	e.sqs.receiveAll(t, e.busQueue)

	raw, err := os.ReadFile("../rotationevents/testdata/rotation-failed.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	// The fixture's secret and time, made this device's: a failure from
	// before the device's last password change is not news.
	detail := m["detail"].(map[string]any)
	detail["additionalEventData"] = map[string]any{"SecretId": c.Device.SecretARN}
	detail["eventTime"] = time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	h, err := rotationevents.New(e.app.RotationFailures, e.app.Logger)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
		e.flush(t)
	}

	failed := func(evs []lifecycle.Event) (out []lifecycle.Event) {
		for _, x := range evs {
			if x.Type == lifecycle.RotationFailed {
				out = append(out, x)
			}
		}
		return out
	}
	sink := failed(e.sinkEvents(t))
	if len(sink) != 1 {
		t.Fatalf("rotation.failed in the sink: %d, want 1", len(sink))
	}
	got := sink[0]
	if got.DeviceID != c.Device.ID || got.Mailbox != addr || got.Failure == nil || got.Failure.Kind != device.FailureRotationFailed ||
		got.Failure.Source != "e3b69cfe-b70e-4c94-baa9-9decc3c150b9" || !strings.Contains(got.Failure.Message, "during createSecret step") ||
		got.Actor.Kind != device.ActorRotation {
		t.Fatalf("event = %+v, failure %+v", got, got.Failure)
	}
	if a := failed(e.audit(t, addr)); len(a) != 1 || a[0].ID != got.ID {
		t.Fatalf("audit trail holds %d rotation.failed entries, want the sink's one", len(a))
	}
	var onBus int
	for _, b := range e.sqs.receiveAll(t, e.busQueue) {
		if strings.Contains(b, `"rotation.failed"`) {
			onBus++
		}
	}
	if onBus != 1 {
		t.Fatalf("rotation.failed on the bus: %d, want 1", onBus)
	}
	var notices int
	for _, b := range e.sqs.receiveAll(t, e.noticeQ) {
		var n struct {
			Subject, Message  string
			MessageAttributes map[string]struct{ Value string }
		}
		if err := json.Unmarshal([]byte(b), &n); err != nil {
			t.Fatal(err)
		}
		if n.MessageAttributes["type"].Value != lifecycle.RotationFailed {
			t.Errorf("unexpected notice %s", n.Subject)
			continue
		}
		notices++
		if n.MessageAttributes["audience"].Value != lifecycle.AudienceAdmins || n.MessageAttributes["domain"].Value != e.domain {
			t.Errorf("notice attributes %+v; want the administrators of %s", n.MessageAttributes, e.domain)
		}
		if strings.Contains(n.Message, c.Password) {
			t.Error("the notice holds the password")
		}
	}
	if notices != 1 {
		t.Fatalf("administrators' notices: %d, want 1", notices)
	}
	d, err := e.app.Store.GetDevice(ctx, addr, c.Device.ID)
	if err != nil || d.RotationErrorID == "" || d.RotationErrorKind != device.FailureRotationFailed {
		t.Fatalf("device after the failure: %+v, %v", d, err)
	}

	// The next rotation succeeds: the error goes, and no event says so.
	if _, _, err := e.app.Service.Engine().RotateNow(ctx, c.Device.SecretARN); err != nil {
		t.Fatal(err)
	}
	e.flush(t)
	if d, _ = e.app.Store.GetDevice(ctx, addr, c.Device.ID); d.RotationError != "" || d.RotationErrorID != "" {
		t.Fatalf("the rotation that succeeded left the error %q", d.RotationError)
	}
	if n := len(failed(e.sinkEvents(t))); n != 1 {
		t.Fatalf("rotation.failed events after the rotation: %d, want still 1", n)
	}
}
