package apigw_test

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// TestDeviceShowsRotationState: a device with a rotation policy shows
// when it last rotated, when it is next due, and its last failed rotation
// until a rotation succeeds.
func TestDeviceShowsRotationState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	r := e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"r","rotation":{"everyDays":5}}`}).want(t, 201)
	id, _ := r.device()["id"].(string)
	rot := func() map[string]any {
		t.Helper()
		got := e.do(call{method: "GET", path: devicesPath + "/" + id, as: owner}).want(t, 200)
		m, _ := got.json["rotation"].(map[string]any)
		if m == nil {
			t.Fatalf("no rotation in %s", got.body)
		}
		return m
	}
	m := rot()
	last, err := time.Parse(time.RFC3339Nano, m["lastRotatedAt"].(string))
	if err != nil {
		t.Fatalf("lastRotatedAt %v: %v", m["lastRotatedAt"], err)
	}
	next, err := time.Parse(time.RFC3339Nano, m["nextRotationAt"].(string))
	if err != nil || !next.Equal(last.Add(5*24*time.Hour)) {
		t.Fatalf("nextRotationAt = %v, want lastRotatedAt + 5 days (%v)", m["nextRotationAt"], last)
	}
	if v, ok := m["lastError"]; !ok || v != nil {
		t.Fatalf("lastError = %v (present %v), want null", v, ok)
	}

	d, err := e.store.GetDevice(context.Background(), mailbox, id)
	if err != nil {
		t.Fatal(err)
	}
	f := device.RotationFailure{ID: "ev-1", Kind: device.FailureRotationFailed, Message: "during setSecret step", At: t0.Add(time.Hour)}
	if err := e.store.RecordRotationFailure(context.Background(), mailbox, id, f); err != nil {
		t.Fatal(err)
	}
	le, _ := rot()["lastError"].(map[string]any)
	if le["kind"] != "RotationFailed" || le["message"] != "during setSecret step" || le["at"] != t0.Add(time.Hour).UTC().Format(time.RFC3339Nano) {
		t.Fatalf("lastError = %v", le)
	}

	e.clock.Advance(time.Hour)
	if _, _, err := e.svc.Engine().RotateNow(context.Background(), d.SecretARN); err != nil {
		t.Fatal(err)
	}
	if v := rot()["lastError"]; v != nil {
		t.Fatalf("lastError after a rotation that succeeded = %v, want null", v)
	}
}
