package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/rie"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// builtRotationARN is the ARN under which the built rotation function,
// running under the emulator, is registered with the Secrets Manager
// stand-in (the runner's in-process one keeps localrun.RotationFunctionARN).
const builtRotationARN = "arn:aws:lambda:" + standins.Region + ":123456789012:function:devicepass-rotation-built"

// startBuiltRotation builds functions/rotation as `make build-local` does,
// runs it under the Lambda Runtime Interface Emulator with the local
// stack's environment, and registers it with the stand-in.
func startBuiltRotation(t *testing.T, ctx context.Context) *rie.Emulator {
	t.Helper()
	root, err := standins.Root()
	if err != nil {
		t.Fatal(err)
	}
	path, err := rie.Install(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bootstrap, "./functions/rotation")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the rotation function: %v\n%s", err, out)
	}
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"TABLE_NAME=" + localrun.TableName, "VERIFIER_KEY_SECRET_ID=" + localrun.VerifierKeySecretID, "LOG_LEVEL=info"},
		runner.Stack().Env()...)
	em, err := rie.Start(ctx, path, bootstrap, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Stop)
	if err := runner.Stack().RegisterFunction(ctx, builtRotationARN, em.InvokeURL()); err != nil {
		t.Fatal(err)
	}
	return em
}

// TestBuiltRotationFunction runs the built rotation binary under the Lambda
// Runtime Interface Emulator, invoked by the Secrets Manager stand-in as
// Secrets Manager invokes it: the rotation configuration test, then a full
// rotation (a value-less AWSPENDING placeholder, then the four steps); and
// directly, as the configuration test's event.
func TestBuiltRotationFunction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	em := startBuiltRotation(t, ctx)
	sm := consumerSecrets(t)
	admin := adminToken(t)
	mx := mailServerToken(t)
	addr := newMailbox(t, admin, unique("owner"))
	dev := newDevice(t, admin, addr, nil)
	before := currentSecret(t, sm, dev.arn)

	// The configuration test, through RotateSecret.
	_, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(dev.arn), RotationLambdaARN: aws.String(builtRotationARN),
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if out := em.Output().String(); !strings.Contains(out, "rotation configuration test passed") || strings.Contains(out, "rotation step refused") {
		t.Fatalf("the built function's configuration test did not pass; its output:\n%s", em.Output().Tail(20))
	}
	if cur := currentSecret(t, sm, dev.arn); cur != before {
		t.Fatal("the configuration test changed the current version")
	}
	if !verify(t, mx, addr, dev.password) {
		t.Fatal("the password stopped verifying after the configuration test")
	}

	// The configuration test's event, invoked directly: a copy of the
	// current value under a fresh token, labelled AWSPENDING.
	copyToken := "c0ffee00-0000-4000-8000-" + strings.Repeat("0", 12)
	raw, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(dev.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(dev.arn), ClientRequestToken: aws.String(copyToken),
		SecretString: raw.SecretString, VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	event := func(step, token string) []byte {
		b, _ := json.Marshal(map[string]string{"Step": step, "SecretId": dev.arn, "ClientRequestToken": token})
		return b
	}
	if _, err := em.Invoke(ctx, event("testSecret", copyToken)); err != nil {
		t.Fatalf("testSecret of the copy: %v", err)
	}
	for _, step := range []string{"createSecret", "setSecret", "finishSecret"} {
		if _, err := em.Invoke(ctx, event(step, copyToken)); err == nil {
			t.Fatalf("%s of the configuration test's copy succeeded", step)
		}
	}
	if cur := currentSecret(t, sm, dev.arn); cur != before {
		t.Fatal("the refused steps changed the current version")
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(dev.arn),
		VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(copyToken)}); err != nil {
		t.Fatal(err)
	}

	// A full rotation, as Secrets Manager runs one.
	out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(dev.arn)})
	if err != nil {
		t.Fatal(err)
	}
	after := currentSecret(t, sm, dev.arn)
	handedOut.Add("password", after.password)
	if after.version != aws.ToString(out.VersionId) || after.password == before.password {
		t.Fatalf("after the rotation AWSCURRENT is %s (password changed %v), want %s with a new password; the function's output:\n%s",
			after.version, after.password != before.password, aws.ToString(out.VersionId), em.Output().Tail(20))
	}
	if !strings.Contains(em.Output().String(), "rotation finished") {
		t.Fatalf("no finished rotation in the function's output:\n%s", em.Output().Tail(20))
	}
	if !verify(t, mx, addr, after.password) {
		t.Error("the rotated password does not verify")
	}
	if !verify(t, mx, addr, dev.password) {
		t.Error("the previous password does not verify during the grace period")
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(dev.arn)})
	if err != nil {
		t.Fatal(err)
	}
	for v, stages := range d.VersionIdsToStages {
		for _, s := range stages {
			if s == "AWSPENDING" && v != after.version {
				t.Errorf("AWSPENDING left on version %s after the rotation", v)
			}
		}
	}
	// Leave the device as the table says: no schedule.
	if _, err := sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(dev.arn)}); err != nil {
		t.Fatal(err)
	}
}
