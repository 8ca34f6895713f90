package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// TestRotationConfigurationTest: setting or changing a device's rotation
// policy makes the API call RotateSecret without rotating; the Secrets
// Manager stand-in then runs the configuration test as AWS does (a copy of
// the current value under its own token, testSecret alone, the label
// removed), through the local rotation function. It passes and changes
// nothing; describe-secret shows the schedule.
func TestRotationConfigurationTest(t *testing.T) {
	ctx := context.Background()
	sm := consumerSecrets(t)
	admin := adminToken(t)
	mx := mailServerToken(t)
	addr := newMailbox(t, admin, unique("owner"))

	seen := len(runner.RotationInvocations())
	dev := newDevice(t, admin, addr, map[string]any{"rotation": map[string]any{"everyDays": 30}})
	tests := runner.RotationInvocations()[seen:]
	if len(tests) != 1 || tests[0].Step != "testSecret" || tests[0].SecretID != dev.arn || tests[0].Err != "" {
		t.Fatalf("invocations after create = %+v, want one passing testSecret of %s", tests, dev.arn)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(dev.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(d.RotationEnabled) || d.RotationRules == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Fatalf("describe-secret: RotationEnabled %v, RotationRules %+v; want enabled every 30 days", aws.ToBool(d.RotationEnabled), d.RotationRules)
	}
	cur := currentSecret(t, sm, dev.arn)
	if len(d.VersionIdsToStages) != 1 || cur.password != dev.password {
		t.Fatalf("after the configuration test: versions %v, current password changed %v; want the one version, unchanged", d.VersionIdsToStages, cur.password != dev.password)
	}
	if !verify(t, mx, addr, dev.password) {
		t.Fatal("the password stopped verifying")
	}

	// A new policy: another test, the new rules shown.
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	seen = len(runner.RotationInvocations())
	if a := do(t, "PATCH", base, admin, map[string]any{"rotation": map[string]any{"schedule": "cron(0 4 ? * MON *)", "duration": "3h"}}); a.status != 200 {
		t.Fatalf("change the policy: %s", a)
	}
	if tests := runner.RotationInvocations()[seen:]; len(tests) != 1 || tests[0].Step != "testSecret" || tests[0].Err != "" {
		t.Fatalf("invocations after the change = %+v, want one passing testSecret", tests)
	}
	d, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(dev.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if rr := d.RotationRules; rr == nil || aws.ToString(rr.ScheduleExpression) != "cron(0 4 ? * MON *)" || aws.ToString(rr.Duration) != "3h" {
		t.Fatalf("rules after the change = %+v", rr)
	}

	// The scheduled rotation still runs (the test's label is gone).
	if a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn}); a.status != 200 {
		t.Fatalf("rotate after the configuration tests: %s", a)
	}
	handedOut.Add("password", currentSecret(t, sm, dev.arn).password)

	// Removing the policy cancels the schedule, without a test.
	seen = len(runner.RotationInvocations())
	if a := do(t, "PATCH", base, admin, map[string]any{"rotation": nil}); a.status != 200 {
		t.Fatalf("remove the policy: %s", a)
	}
	if n := len(runner.RotationInvocations()) - seen; n != 0 {
		t.Fatalf("removing the policy invoked the rotation function %d times", n)
	}
	d, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(dev.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToBool(d.RotationEnabled) {
		t.Fatal("RotationEnabled after removing the policy")
	}
}
