package standins_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// The tests below pin each fix tools/moto_server.py applies, against the
// running stand-in: where AWS is stricter than moto, the stand-in is too.

func smClient(t *testing.T, ctx context.Context) *secretsmanager.Client {
	t.Helper()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg)
}

func token(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func newSecret(t *testing.T, ctx context.Context, sm *secretsmanager.Client, value string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("fixes/" + token(t)), SecretString: aws.String(value), ClientRequestToken: aws.String(token(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantAPIError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("%s: error %v, want %s", what, err, code)
	}
}

// Versions without a staging label are deprecated: DescribeSecret and
// ListSecrets leave them out (moto lists them with no stages).
func TestMotoLeavesUnlabelledVersionsOut(t *testing.T) {
	ctx := testContext(t)
	sm := smClient(t, ctx)
	s := newSecret(t, ctx, sm, "v1")
	v2 := token(t)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: s.ARN, ClientRequestToken: aws.String(v2), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: s.ARN, VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: s.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if _, listed := d.VersionIdsToStages[v2]; listed || len(d.VersionIdsToStages) != 1 {
		t.Fatalf("VersionIdsToStages = %v, want only %s", d.VersionIdsToStages, aws.ToString(s.VersionId))
	}
	l, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{aws.ToString(s.Name)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.SecretList) != 1 || len(l.SecretList[0].SecretVersionsToStages) != 1 {
		t.Fatalf("ListSecrets = %+v, want one secret with one labelled version", l.SecretList)
	}
	// Still readable by id, as in AWS.
	if got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: s.ARN, VersionId: aws.String(v2)}); err != nil || aws.ToString(got.SecretString) != "v2" {
		t.Fatalf("read of the unlabelled version = %v, %v", got, err)
	}
}

// A ClientRequestToken naming an existing version: the same value again is
// idempotent, another value is ResourceExistsException (moto overwrote an
// AWSPENDING version).
func TestMotoRefusesReusedTokenWithOtherData(t *testing.T) {
	ctx := testContext(t)
	sm := smClient(t, ctx)
	s := newSecret(t, ctx, sm, "v1")
	v2 := token(t)
	put := func(value string) error {
		_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: s.ARN, ClientRequestToken: aws.String(v2), SecretString: aws.String(value), VersionStages: []string{"AWSPENDING"}})
		return err
	}
	if err := put("v2"); err != nil {
		t.Fatal(err)
	}
	if err := put("v2"); err != nil {
		t.Fatalf("the same request again: %v", err)
	}
	wantAPIError(t, "another value under the same token", put("other"), "ResourceExistsException")
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: s.ARN, VersionId: aws.String(v2)})
	if err != nil || aws.ToString(got.SecretString) != "v2" {
		t.Fatalf("version after the refused put = %v, %v; want v2", got, err)
	}
	// The first version's token too.
	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: s.ARN, ClientRequestToken: s.VersionId, SecretString: aws.String("other")})
	wantAPIError(t, "another value under the first version's token", err, "ResourceExistsException")
}

// Writes to a secret marked for deletion are InvalidRequestException.
func TestMotoRefusesLabelChangesOnDeletedSecrets(t *testing.T) {
	ctx := testContext(t)
	sm := smClient(t, ctx)
	s := newSecret(t, ctx, sm, "v1")
	v2 := token(t)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: s.ARN, ClientRequestToken: aws.String(v2), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: s.ARN, RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	_, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: s.ARN, VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(v2), RemoveFromVersionId: s.VersionId})
	wantAPIError(t, "moving AWSCURRENT on a deleted secret", err, "InvalidRequestException")
	_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: s.ARN, VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(v2)})
	wantAPIError(t, "removing AWSPENDING on a deleted secret", err, "InvalidRequestException")
	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: s.ARN, ClientRequestToken: aws.String(token(t)), SecretString: aws.String("v3")})
	wantAPIError(t, "putting a value on a deleted secret", err, "InvalidRequestException")
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: s.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.VersionIdsToStages[v2]; len(st) != 1 || st[0] != "AWSPENDING" {
		t.Fatalf("stages of %s after the refusals = %v, want [AWSPENDING]", v2, st)
	}
}

// invocation is one event the stand-in sent, and what the version it names
// held while the function ran.
type invocation struct {
	Step, SecretID, Token string
	Stages                []string
	Value                 string // "" when the version had no value
}

// recorder serves a rotation function that records each invocation and
// reads the version it names, as a rotation function does.
type recorder struct {
	mu   sync.Mutex
	seen []invocation
	fail map[string]bool // steps that answer an error
}

func (r *recorder) serve(t *testing.T, sm *secretsmanager.Client, arn string) {
	t.Helper()
	f, err := standins.ServeFunction(func(ctx context.Context, payload []byte) ([]byte, error) {
		var ev struct{ Step, SecretId, ClientRequestToken string }
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		in := invocation{Step: ev.Step, SecretID: ev.SecretId, Token: ev.ClientRequestToken}
		if d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretId}); err == nil {
			in.Stages = d.VersionIdsToStages[ev.ClientRequestToken]
		}
		if v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &ev.SecretId, VersionId: &ev.ClientRequestToken}); err == nil {
			in.Value = aws.ToString(v.SecretString)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen = append(r.seen, in)
		if r.fail[ev.Step] {
			return nil, errors.New(ev.Step + " refused")
		}
		if ev.Step == "createSecret" && in.Value == "" {
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &ev.SecretId, ClientRequestToken: &ev.ClientRequestToken, SecretString: aws.String("rotated"), VersionStages: []string{"AWSPENDING"}})
			return nil, err
		}
		if ev.Step == "finishSecret" {
			d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretId})
			if err != nil {
				return nil, err
			}
			var cur string
			for v, st := range d.VersionIdsToStages {
				for _, s := range st {
					if s == "AWSCURRENT" {
						cur = v
					}
				}
			}
			_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: &ev.SecretId, VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: &ev.ClientRequestToken, RemoveFromVersionId: &cur})
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := stack.RegisterFunction(context.Background(), arn, f.InvokeURL()); err != nil {
		t.Fatal(err)
	}
}

func (r *recorder) take() []invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// RotateSecret runs no rotation of moto's own: it records the function and
// rules, tests the configuration (RotateImmediately=false) or rotates now
// through the registered function, and refuses while a rotation is
// incomplete.
func TestMotoRotateSecretAsAWS(t *testing.T) {
	ctx := testContext(t)
	sm := smClient(t, ctx)
	fn := "arn:aws:lambda:us-east-1:123456789012:function:fixes-" + token(t)[:8]

	s := newSecret(t, ctx, sm, "v1")
	_, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN, RotationLambdaARN: aws.String(fn),
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false)})
	wantAPIError(t, "RotateSecret naming a function nobody serves", err, "AccessDeniedException")

	r := &recorder{fail: map[string]bool{}}
	r.serve(t, sm, fn)

	// The configuration test.
	out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN, RotationLambdaARN: aws.String(fn),
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	seen := r.take()
	if len(seen) != 1 || seen[0].Step != "testSecret" || seen[0].SecretID != aws.ToString(s.ARN) || seen[0].Token != aws.ToString(out.VersionId) {
		t.Fatalf("invocations = %+v, want testSecret alone with the secret's ARN and token %s", seen, aws.ToString(out.VersionId))
	}
	if seen[0].Value != "v1" || len(seen[0].Stages) != 1 || seen[0].Stages[0] != "AWSPENDING" {
		t.Fatalf("the tested version held %q with stages %v, want a copy of the current value labelled AWSPENDING", seen[0].Value, seen[0].Stages)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: s.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != fn || d.RotationRules == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Fatalf("describe after RotateSecret: enabled %v, function %s, rules %+v", aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), d.RotationRules)
	}
	if len(d.VersionIdsToStages) != 1 || d.VersionIdsToStages[aws.ToString(s.VersionId)][0] != "AWSCURRENT" {
		t.Fatalf("versions after the configuration test = %v, want only AWSCURRENT (the test's label removed)", d.VersionIdsToStages)
	}

	// A schedule expression and window, shown as given; a failed test does
	// not fail RotateSecret (its rotation runs asynchronously in AWS).
	r.fail["testSecret"] = true
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN,
		RotationRules: &smtypes.RotationRulesType{ScheduleExpression: aws.String("cron(0 4 ? * MON *)"), Duration: aws.String("3h")}, RotateImmediately: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	r.fail["testSecret"] = false
	if seen := r.take(); len(seen) != 1 || seen[0].Step != "testSecret" {
		t.Fatalf("invocations = %+v, want testSecret", seen)
	}
	d, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: s.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if rr := d.RotationRules; rr == nil || aws.ToString(rr.ScheduleExpression) != "cron(0 4 ? * MON *)" || aws.ToString(rr.Duration) != "3h" || rr.AutomaticallyAfterDays != nil {
		t.Fatalf("rules = %+v, want the schedule expression and window", rr)
	}
	_, err = sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN,
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(0)}, RotateImmediately: aws.Bool(false)})
	wantAPIError(t, "AutomaticallyAfterDays 0", err, "InvalidParameterException")

	// A rotation now: a value-less placeholder, then the four steps.
	out, err = sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN})
	if err != nil {
		t.Fatal(err)
	}
	seen = r.take()
	steps := []string{"createSecret", "setSecret", "testSecret", "finishSecret"}
	if len(seen) != 4 {
		t.Fatalf("invocations = %+v, want the four steps", seen)
	}
	for i, in := range seen {
		if in.Step != steps[i] || in.Token != aws.ToString(out.VersionId) {
			t.Fatalf("invocation %d = %+v, want %s of %s", i, in, steps[i], aws.ToString(out.VersionId))
		}
	}
	if seen[0].Value != "" || len(seen[0].Stages) != 1 || seen[0].Stages[0] != "AWSPENDING" {
		t.Fatalf("createSecret saw %q with stages %v, want a value-less AWSPENDING placeholder", seen[0].Value, seen[0].Stages)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: s.ARN})
	if err != nil || aws.ToString(got.SecretString) != "rotated" {
		t.Fatalf("AWSCURRENT after the rotation = %v, %v", got, err)
	}

	// The function left AWSPENDING on the new AWSCURRENT version, as a
	// rotation that makes only two writes does: a finished rotation, so
	// the next RotateSecret below is accepted.
	d, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: s.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.VersionIdsToStages[aws.ToString(out.VersionId)]; !slices.Contains(st, "AWSCURRENT") || !slices.Contains(st, "AWSPENDING") {
		t.Fatalf("stages of the rotated version = %v, want AWSCURRENT and AWSPENDING", st)
	}

	// An incomplete rotation blocks the next RotateSecret.
	r.fail["setSecret"] = true
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN}); err != nil {
		t.Fatal(err)
	}
	if seen := r.take(); len(seen) != 2 {
		t.Fatalf("invocations = %+v, want createSecret and the failed setSecret", seen)
	}
	_, err = sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: s.ARN, RotateImmediately: aws.Bool(false)})
	wantAPIError(t, "RotateSecret while a rotation is incomplete", err, "InvalidRequestException")

	// CancelRotateSecret turns it off.
	if _, err := sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: s.ARN}); err != nil {
		t.Fatal(err)
	}
	if d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: s.ARN}); err != nil || aws.ToBool(d.RotationEnabled) {
		t.Fatalf("RotationEnabled after CancelRotateSecret = %v (%v)", d.RotationEnabled, err)
	}
}
