package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/config"
)

func env(m map[string]string) config.Getenv { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(map[string]string{"TABLE_NAME": "t", "VERIFIER_KEY_SECRET_ID": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.SecretPrefix != "devicepass" || c.Device.MaxLiveDevices != 50 || c.Device.RecoveryWindowDays != 7 ||
		c.Device.RotationGrace != 2*time.Hour || c.Device.Policy.StepUpMaxAge != 5*time.Minute ||
		c.Device.Policy.AdminGroupPattern != "domain-admin:{domain}" || c.GroupsClaim != "cognito:groups" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestOverrides(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"TABLE_NAME": "t", "VERIFIER_KEY_SECRET_ID": "k", "SECRET_PREFIX": "acme", "MAX_LIVE_DEVICES": "7",
		"ROTATION_GRACE": "30m", "STEP_UP_MAX_AGE": "90s", "ADMIN_GROUP_CLAIM": "groups",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.SecretPrefix != "acme" || c.Device.MaxLiveDevices != 7 || c.Device.RotationGrace != 30*time.Minute ||
		c.Device.Policy.StepUpMaxAge != 90*time.Second || c.GroupsClaim != "groups" {
		t.Errorf("overrides: %+v", c)
	}
}

func TestReportsEveryProblem(t *testing.T) {
	_, err := config.Load(env(map[string]string{"MAX_LIVE_DEVICES": "many", "ROTATION_GRACE": "soon"}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"TABLE_NAME", "VERIFIER_KEY_SECRET_ID", "MAX_LIVE_DEVICES", "ROTATION_GRACE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
