package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
)

func TestLocalRotate(t *testing.T) {
	sm := consumerSecrets(t)
	admin := adminToken(t)
	mx := mailServerToken(t)
	ownerSub := unique("owner")
	addr := newMailbox(t, admin, ownerSub)
	dev := newDevice(t, admin, addr, map[string]any{"rotation": map[string]any{"everyDays": 30}})

	a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn})
	if a.status != 200 {
		t.Fatalf("POST /local/rotate: %s", a)
	}
	version, _ := a.json(t)["versionId"].(string)
	cur := currentSecret(t, sm, dev.arn)
	handedOut.Add("password", cur.password)
	if cur.version != version {
		t.Errorf("AWSCURRENT is version %s, want the rotation's %s", cur.version, version)
	}
	if cur.password == dev.password {
		t.Fatal("the rotation did not change the password")
	}
	if !verify(t, mx, addr, cur.password) {
		t.Error("the rotated password does not verify")
	}
	if !verify(t, mx, addr, dev.password) {
		t.Error("the previous password does not verify during the grace period (2 h)")
	}

	// By name too; and the rotatedAt the API shows moved.
	name := "devicepass/" + addr + "/" + dev.id
	if a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": name}); a.status != 200 {
		t.Fatalf("POST /local/rotate by name: %s", a)
	}
	handedOut.Add("password", currentSecret(t, sm, dev.arn).password)

	// A disabled device refuses, naming the step.
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	if a := do(t, "PATCH", base, admin, map[string]any{"status": "disabled"}); a.status != 200 {
		t.Fatalf("disable: %s", a)
	}
	a = do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn})
	if a.status != 409 || a.json(t)["failedStep"] != "createSecret" {
		t.Errorf("rotating a disabled device: %s, want 409 with failedStep createSecret", a)
	}
	// Something that is not a device secret.
	a = do(t, "POST", "/local/rotate", "", map[string]string{"secretId": localrun.VerifierKeySecretID})
	if a.status != 400 || a.json(t)["field"] != "secretId" {
		t.Errorf("rotating the verifier key: %s, want 400 naming secretId", a)
	}
}

func TestScheduler(t *testing.T) {
	ctx := context.Background()
	sm := consumerSecrets(t)
	admin := adminToken(t)
	addr := newMailbox(t, admin, unique("owner"))
	policy := map[string]any{"rotation": map[string]any{"everyDays": 30}}
	due := newDevice(t, admin, addr, policy)
	off := newDevice(t, admin, addr, policy)
	plain := newDevice(t, admin, addr, nil)
	if a := do(t, "PATCH", "/v1/mailboxes/"+addr+"/devices/"+off.id, admin, map[string]any{"status": "disabled"}); a.status != 200 {
		t.Fatalf("disable: %s", a)
	}
	before := map[string]string{}
	for _, d := range []created{due, off, plain} {
		before[d.id] = currentSecret(t, sm, d.arn).version
	}

	// Not due yet.
	res, err := runner.Scheduler().Tick(ctx, time.Now().Add(29*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rotations {
		if r.Mailbox == addr {
			t.Errorf("after 29 days the scheduler rotated %s", r.DeviceID)
		}
	}

	// 31 days later: the active device rotates, the disabled one and the
	// one without a policy do not.
	res, err = runner.Scheduler().Tick(ctx, time.Now().Add(31*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var rotated []string
	for _, r := range res.Rotations {
		if r.Mailbox != addr {
			continue
		}
		if r.Err != nil {
			t.Errorf("scheduled rotation of %s failed at %s: %v", r.DeviceID, r.Failed, r.Err)
		}
		rotated = append(rotated, r.DeviceID)
	}
	if len(rotated) != 1 || rotated[0] != due.id {
		t.Fatalf("the scheduler rotated %v, want only %s", rotated, due.id)
	}
	after := currentSecret(t, sm, due.arn)
	handedOut.Add("password", after.password)
	if after.version == before[due.id] || after.password == due.password {
		t.Error("the due device's AWSCURRENT did not change")
	}
	for _, d := range []created{off, plain} {
		if v := currentSecret(t, sm, d.arn).version; v != before[d.id] {
			t.Errorf("device %s rotated (version %s, was %s)", d.id, v, before[d.id])
		}
	}
	if !strings.Contains(logs.String(), `"msg":"scheduled rotation done"`) || !strings.Contains(logs.String(), due.id) {
		t.Error("the scheduled rotation was not logged")
	}
}

func TestSecondStartFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := localrun.Start(ctx, localrun.Options{StateDir: stateDir})
	if err == nil {
		r.Stop()
		t.Fatal("a second runner started while one runs")
	}
	var are *localrun.AlreadyRunningError
	if !errors.As(err, &are) {
		t.Fatalf("second Start: %v, want an *AlreadyRunningError", err)
	}
	if !strings.Contains(err.Error(), runner.URL()) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("message %q does not name the running one's URL", err)
	}
	// The first one is unharmed.
	if a := do(t, "GET", "/local/jwks.json", "", nil); a.status != 200 {
		t.Errorf("the running gateway answers %s after the refused start", a)
	}
}
