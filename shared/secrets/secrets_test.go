package secrets_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
	"github.com/devicepass/devicepass/shared/secrets"
)

// stack is the package's one pair of stand-ins; a stand-in that cannot
// start fails the package (standinstest.Main never skips).
var stack *standins.Stack

func TestMain(m *testing.M) {
	standinstest.Main(m, func(s *standins.Stack) { stack = s })
}

func TestSecretsSuite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	s, err := secrets.New(secretsmanager.NewFromConfig(cfg), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := fmt.Sprintf("suite-%x", b)
	devicetest.SecretsSuite(t, func(*testing.T) (device.Secrets, string) { return s, prefix })
}

func TestNewRefusesNilClient(t *testing.T) {
	if _, err := secrets.New(nil, secrets.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// TestScheduleRoundTrip: SetSchedule's RotateSecret and CancelRotateSecret
// show in the listing's schedule, which the reconciler compares with the
// devices' policies; every RotateSecret ran the configuration test.
func TestScheduleRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:secrets-test-rotation"
	var mu sync.Mutex
	var steps []string
	f, err := standins.ServeFunction(func(_ context.Context, payload []byte) ([]byte, error) {
		var ev struct{ Step string }
		_ = json.Unmarshal(payload, &ev)
		mu.Lock()
		steps = append(steps, ev.Step)
		mu.Unlock()
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := stack.RegisterFunction(ctx, fn, f.InvokeURL()); err != nil {
		t.Fatal(err)
	}
	api := secretsmanager.NewFromConfig(cfg)
	s, err := secrets.New(api, secrets.Config{RotationLambdaARN: fn})
	if err != nil {
		t.Fatal(err)
	}
	lister, err := secrets.NewLister(api)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := fmt.Sprintf("sched-%x", b)
	name := prefix + "/alice@example.com/dev1"
	ref, err := s.Create(ctx, device.SecretInput{Name: name, Token: device.NewToken(), Value: device.SecretValue{Username: "alice@example.com", Password: "pw-1", Device: "dev1"}})
	if err != nil {
		t.Fatal(err)
	}
	listed := func() device.SecretSchedule {
		t.Helper()
		out, err := lister.ListSecrets(ctx, prefix+"/")
		if err != nil || len(out) != 1 {
			t.Fatalf("ListSecrets = %+v, %v; want the one secret", out, err)
		}
		return out[0].Schedule
	}
	if st := listed(); st.Enabled {
		t.Fatalf("a new secret lists schedule %+v", st)
	}
	if err := s.SetSchedule(ctx, ref.ARN, &device.RotationPolicy{EveryDays: 30}); err != nil {
		t.Fatal(err)
	}
	if st := listed(); st != (device.SecretSchedule{Enabled: true, Function: fn, EveryDays: 30}) {
		t.Fatalf("after every 30 days: %+v", st)
	}
	if err := s.SetSchedule(ctx, ref.ARN, &device.RotationPolicy{Schedule: "rate(12 hours)", Window: "2h"}); err != nil {
		t.Fatal(err)
	}
	if st := listed(); st != (device.SecretSchedule{Enabled: true, Function: fn, Schedule: "rate(12 hours)", Window: "2h"}) {
		t.Fatalf("after rate(12 hours): %+v", st)
	}
	if err := s.SetSchedule(ctx, ref.ARN, nil); err != nil {
		t.Fatal(err)
	}
	if st := listed(); st.Enabled {
		t.Fatalf("after cancelling: %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(steps) != 2 || steps[0] != "testSecret" || steps[1] != "testSecret" {
		t.Fatalf("the rotation function was invoked for %v, want the configuration test twice", steps)
	}
}

// TestDescriptionNamesTheDevice: the Description given at create shows in
// the listing; SetDescription replaces it without a new version.
func TestDescriptionNamesTheDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	api := secretsmanager.NewFromConfig(cfg)
	s, err := secrets.New(api, secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lister, err := secrets.NewLister(api)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := fmt.Sprintf("desc-%x", b)
	ref, err := s.Create(ctx, device.SecretInput{Name: prefix + "/alice@example.com/dev1", Token: device.NewToken(),
		Value:       device.SecretValue{Username: "alice@example.com", Password: "pw-1", Device: "dev1"},
		Description: device.SecretDescription("Phone", "alice@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	listed := func() device.SecretSummary {
		t.Helper()
		out, err := lister.ListSecrets(ctx, prefix+"/")
		if err != nil || len(out) != 1 {
			t.Fatalf("ListSecrets = %+v, %v; want the one secret", out, err)
		}
		return out[0]
	}
	if d := listed().Description; d != `devicepass device "Phone" of alice@example.com` {
		t.Fatalf("listed description = %q", d)
	}
	if err := s.SetDescription(ctx, ref.ARN, device.SecretDescription("Laptop", "alice@example.com")); err != nil {
		t.Fatal(err)
	}
	sum := listed()
	if sum.Description != `devicepass device "Laptop" of alice@example.com` || len(sum.Versions) != 1 {
		t.Fatalf("after SetDescription: description %q, versions %v; want the new one and still one version", sum.Description, sum.Versions)
	}
	if sv, err := s.Read(ctx, ref.ARN, ""); err != nil || sv.Value.Password != "pw-1" || sv.Version != ref.Version {
		t.Fatalf("current version after SetDescription = %+v, %v", sv, err)
	}
}
