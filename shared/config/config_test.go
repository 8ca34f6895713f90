package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

func env(m map[string]string) config.Getenv { return func(k string) string { return m[k] } }

// base is the least a function needs: the two required variables.
func base() map[string]string {
	return map[string]string{"TABLE_NAME": "t", "VERIFIER_KEY_SECRET_ID": "k"}
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		TableName: "t", VerifierKeySecretID: "k", GroupsClaim: "cognito:groups", AuditRetentionDays: 365, LogLevel: "info",
		Device: device.Config{
			SecretPrefix: "devicepass", MaxLiveDevices: 50, RecoveryWindowDays: 7, RotationGrace: 2 * time.Hour, PolicyMinDuration: time.Hour,
			Policy: device.Policy{AdminGroupPattern: "domain-admin:{domain}", StepUpMaxAge: 5 * time.Minute},
			Verify: device.VerifyConfig{MaxFailures: 20, Window: 10 * time.Minute},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestOverrides(t *testing.T) {
	e := base()
	for k, v := range map[string]string{
		"SECRET_PREFIX": "acme/dp", "MAX_LIVE_DEVICES": "7", "ROTATION_GRACE": "30m", "STEP_UP_MAX_AGE": "90s",
		"ADMIN_GROUP_CLAIM": "groups", "ADMIN_GROUP_PATTERN": "admins-{domain}", "RECOVERY_WINDOW_DAYS": "30",
		"VERIFY_MAX_FAILURES": "5", "VERIFY_WINDOW": "1h", "AUDIT_RETENTION_DAYS": "30", "LOG_LEVEL": "DEBUG",
		"KMS_KEY_ID": "kms", "ROTATION_LAMBDA_ARN": "arn:rot", "EVENT_BUS_NAME": "bus", "NOTICE_TOPIC_ARN": "arn:topic",
		"POLICY_MIN_DURATION": "1s",
	} {
		e[k] = v
	}
	c, err := config.Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		TableName: "t", VerifierKeySecretID: "k", KMSKeyID: "kms", GroupsClaim: "groups", EventBusName: "bus",
		NoticeTopicARN: "arn:topic", AuditRetentionDays: 30, LogLevel: "debug",
		Device: device.Config{
			SecretPrefix: "acme/dp", MaxLiveDevices: 7, RecoveryWindowDays: 30, RotationGrace: 30 * time.Minute,
			RotationLambdaARN: "arn:rot", PolicyMinDuration: time.Second,
			Policy: device.Policy{AdminGroupPattern: "admins-{domain}", StepUpMaxAge: 90 * time.Second},
			Verify: device.VerifyConfig{MaxFailures: 5, Window: time.Hour},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("overrides:\n got %+v\nwant %+v", c, want)
	}
}

func TestReportsEveryProblem(t *testing.T) {
	_, err := config.Load(env(map[string]string{"MAX_LIVE_DEVICES": "many", "ROTATION_GRACE": "soon"}))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.Key)
	}
	want := []string{"TABLE_NAME", "VERIFIER_KEY_SECRET_ID", "MAX_LIVE_DEVICES", "ROTATION_GRACE"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems name %v, want %v", got, want)
	}
	for _, k := range want {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

// Cases lists, for every variable, values the validator must accept (the
// bounds of its range) and refuse. A variable added to Load without cases
// here fails TestEveryKeyHasCases.
var cases = map[string]struct{ good, bad []string }{
	"TABLE_NAME":             {good: []string{"devicepass"}, bad: []string{"", "  "}},
	"VERIFIER_KEY_SECRET_ID": {good: []string{"devicepass/verifier-key"}, bad: []string{""}},
	"SECRET_PREFIX": {
		good: []string{"devicepass", "acme/dp", "a_b+c=d.e-f"},
		bad:  []string{"devicepass/", "/devicepass", "a//b", "dev pass", "dev@pass", "dévice", "a/b@c"},
	},
	"KMS_KEY_ID":          {good: []string{"", "alias/devicepass"}},
	"ROTATION_LAMBDA_ARN": {good: []string{"", "arn:aws:lambda:eu-west-1:123456789012:function:rotation"}},
	"ADMIN_GROUP_CLAIM":   {good: []string{"", "groups"}},
	"ADMIN_GROUP_PATTERN": {good: []string{"{domain}-admins"}, bad: []string{"admins", "{Domain}"}},
	"STEP_UP_MAX_AGE":     {good: []string{"1m", "24h"}, bad: []string{"59s", "24h1s", "-5m", "soon", "5"}},
	"MAX_LIVE_DEVICES":    {good: []string{"1", "1000"}, bad: []string{"0", "1001", "5000", "-1", "many", "7.5"}},
	"RECOVERY_WINDOW_DAYS": {
		good: []string{"7", "30"}, bad: []string{"6", "31", "x"},
	},
	"ROTATION_GRACE":       {good: []string{"5m", "168h"}, bad: []string{"4m59s", "168h1s", "2 hours"}},
	"VERIFY_MAX_FAILURES":  {good: []string{"1", "10000"}, bad: []string{"0", "10001", "-3", "lots"}},
	"VERIFY_WINDOW":        {good: []string{"1m", "24h"}, bad: []string{"59s", "25h", "0s", "10"}},
	"POLICY_MIN_DURATION":  {good: []string{"1s", "1h"}, bad: []string{"999ms", "1h1s", "0s", "1"}},
	"EVENT_BUS_NAME":       {good: []string{"", "devicepass"}},
	"NOTICE_TOPIC_ARN":     {good: []string{"", "arn:aws:sns:eu-west-1:123456789012:notices"}},
	"AUDIT_RETENTION_DAYS": {good: []string{"1", "3653"}, bad: []string{"0", "3654", "forever"}},
	"LOG_LEVEL":            {good: []string{"debug", "info", "warn", "error", "WARN"}, bad: []string{"verbose", "info+2"}},
}

func TestEveryKeyHasCases(t *testing.T) {
	for _, k := range config.Keys() {
		if _, ok := cases[k]; !ok {
			t.Errorf("%s: no cases in this test", k)
		}
	}
	if len(cases) != len(config.Keys()) {
		t.Errorf("cases for %d variables, Load reads %d: remove the stale ones", len(cases), len(config.Keys()))
	}
}

func TestEveryKey(t *testing.T) {
	for _, k := range config.Keys() {
		for _, v := range cases[k].good {
			e := base()
			e[k] = v
			if _, err := config.Load(env(e)); err != nil {
				t.Errorf("%s=%q refused: %v", k, v, err)
			}
		}
		for _, v := range cases[k].bad {
			e := base()
			e[k] = v
			_, err := config.Load(env(e))
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Key != k {
				t.Errorf("%s=%q: error %v, want exactly one problem naming %s", k, v, err, k)
			}
		}
	}
}

// TestAcceptedConfigBuildsAService proves the validator is at least as
// strict as the domain: every value Load accepts (the bounds of every
// range) also builds a device service, so a function that passed Load
// never fails later on its configuration.
func TestAcceptedConfigBuildsAService(t *testing.T) {
	keyed, err := verifier.New(make([]byte, verifier.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		t.Fatal(err)
	}
	deps := devicetest.Deps{Store: devicetest.NewMemStore(), Secrets: devicetest.NewMemSecrets(), Keyed: keyed, Generator: gen}
	for _, k := range config.Keys() {
		for _, v := range cases[k].good {
			e := base()
			e[k] = v
			c, err := config.Load(env(e))
			if err != nil {
				t.Fatalf("%s=%q: %v", k, v, err)
			}
			if _, err := devicetest.NewUseCases(c.Device, deps); err != nil {
				t.Errorf("%s=%q passes Load but the domain refuses it: %v", k, v, err)
			}
		}
	}
}

func TestDefaultsAreDocumentedValues(t *testing.T) {
	for k, want := range map[string]string{"SECRET_PREFIX": "devicepass", "MAX_LIVE_DEVICES": "50", "TABLE_NAME": ""} {
		if got := config.Default(k); got != want {
			t.Errorf("Default(%s) = %q, want %q", k, got, want)
		}
	}
}
