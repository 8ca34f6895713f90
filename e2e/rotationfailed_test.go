package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestRotationFailureLocally: a scheduled rotation that fails (a version
// left holding AWSPENDING, as a crashed regenerate leaves it, holds the
// rotation off at createSecret) is reported as Secrets Manager reports it
// in AWS, through the rotation-events handler: the device shows
// rotation.lastError, one rotation.failed event lands in the event file
// and the audit trail however many times the report is seen, a failed
// /local/rotate is reported the same way, and a regenerate clears the
// error.
func TestRotationFailureLocally(t *testing.T) {
	ctx := context.Background()
	sm := consumerSecrets(t)
	admin := adminToken(t)
	addr := newMailbox(t, admin, unique("owner"))
	dev := newDevice(t, admin, addr, map[string]any{"rotation": map[string]any{"everyDays": 1}})
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	rotation := func() map[string]any {
		t.Helper()
		a := do(t, "GET", base, admin, nil)
		if a.status != 200 {
			t.Fatalf("GET device: %s", a)
		}
		r, _ := a.json(t)["rotation"].(map[string]any)
		if r == nil {
			t.Fatalf("device without rotation: %s", a)
		}
		return r
	}
	if r := rotation(); r["lastError"] != nil || r["nextRotationAt"] == nil || r["lastRotatedAt"] == nil {
		t.Fatalf("rotation before any failure: %v", r)
	}

	// The forced failure: AWSPENDING on a version the table does not know.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(dev.arn), ClientRequestToken: aws.String("3f0c8a9e-1b2d-4c5e-8f70-0a1b2c3d4e5f"),
		SecretString: aws.String(`{"username":"x","password":"not-a-device-password","device":"x"}`), VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := runner.Scheduler().Tick(ctx, time.Now().Add(2*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var failed bool
	for _, r := range res.Rotations {
		if r.DeviceID == dev.id {
			failed = r.Err != nil && r.Failed == "createSecret"
		}
	}
	if !failed {
		t.Fatalf("the scheduled rotation of %s did not fail at createSecret: %+v", dev.id, res.Rotations)
	}
	le, _ := rotation()["lastError"].(map[string]any)
	if le["kind"] != "RotationFailed" || !strings.Contains(le["message"].(string), "during createSecret step") {
		t.Fatalf("lastError after the failed rotation = %v", le)
	}
	// A failed rotation asked for on /local/rotate is reported too.
	if a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn}); a.status < 400 {
		t.Fatalf("POST /local/rotate with AWSPENDING held: %s, want a failure", a)
	}
	flushStream(t)
	if n := eventsOf(sinkEvents(t), addr)[lifecycle.RotationFailed+"/"+dev.id]; n != 2 {
		t.Fatalf("rotation.failed events: %d, want 2 (the scheduler's and /local/rotate's)", n)
	}
	for _, ev := range sinkEvents(t) {
		if ev.Type == lifecycle.RotationFailed && ev.DeviceID == dev.id && (ev.Failure == nil || ev.Failure.Kind != "RotationFailed") {
			t.Errorf("rotation.failed without its failure: %+v", ev)
		}
	}
	audit := do(t, "GET", "/v1/mailboxes/"+addr+"/audit", admin, nil)
	if audit.status != 200 || strings.Count(string(audit.body), `"rotation.failed"`) != 2 {
		t.Fatalf("audit trail: %s; want two rotation.failed entries", audit)
	}
	assertNoSecretFields(t, "audit trail", audit, dev.password)

	// A regenerate takes the pending version over and succeeds: the error
	// goes.
	regen := do(t, "POST", base+"/password", admin, map[string]any{})
	if regen.status != 200 {
		t.Fatalf("regenerate: %s", regen)
	}
	handedOut.Add("password", decodeCreated(t, regen).password)
	if r := rotation(); r["lastError"] != nil {
		t.Fatalf("lastError after a regenerate = %v, want null", r["lastError"])
	}
	flushStream(t)
	if n := eventsOf(sinkEvents(t), addr)[lifecycle.RotationFailed+"/"+dev.id]; n != 2 {
		t.Fatalf("rotation.failed events after the regenerate: %d, want still 2", n)
	}
}

// TestConfigurationTestFailureLocally: when the configuration test that
// Secrets Manager runs on setting a rotation policy fails (here: the
// secret's AWSCURRENT was changed behind devicepass's back, so the copy
// under test is not the device's password), the failure is reported as
// AWS reports it, TestRotationFailed, and the device shows it.
func TestConfigurationTestFailureLocally(t *testing.T) {
	ctx := context.Background()
	sm := consumerSecrets(t)
	admin := adminToken(t)
	addr := newMailbox(t, admin, unique("owner"))
	dev := newDevice(t, admin, addr, nil)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(dev.arn), ClientRequestToken: aws.String("6e2a4c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f"),
		SecretString: aws.String(`{"username":"x","password":"changed-behind-its-back","device":"x"}`),
	}); err != nil {
		t.Fatal(err)
	}
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	seen := len(runner.RotationInvocations())
	if a := do(t, "PATCH", base, admin, map[string]any{"rotation": map[string]any{"everyDays": 30}}); a.status != 200 {
		t.Fatalf("set a rotation policy: %s", a)
	}
	if tests := runner.RotationInvocations()[seen:]; len(tests) != 1 || tests[0].Step != "testSecret" || tests[0].Err == "" {
		t.Fatalf("invocations = %+v, want one failing testSecret", tests)
	}
	a := do(t, "GET", base, admin, nil)
	r, _ := a.json(t)["rotation"].(map[string]any)
	le, _ := r["lastError"].(map[string]any)
	if le["kind"] != "TestRotationFailed" || !strings.Contains(le["message"].(string), "during testSecret step") {
		t.Fatalf("lastError = %v, want TestRotationFailed at testSecret", r["lastError"])
	}
	flushStream(t)
	if n := eventsOf(sinkEvents(t), addr)[lifecycle.RotationFailed+"/"+dev.id]; n != 1 {
		t.Fatalf("rotation.failed events: %d, want 1", n)
	}
}
