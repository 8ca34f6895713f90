// Package config reads a function's configuration from its environment,
// the way the CDK stack and the local runner set it. Every variable has a
// safe default except the table and the verifier key's secret.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// Config is everything a function reads from its environment.
type Config struct {
	TableName           string
	VerifierKeySecretID string
	KMSKeyID            string
	GroupsClaim         string
	EventBusName        string
	NoticeTopicARN      string
	AuditRetentionDays  int
	LogLevel            string
	Device              device.Config
}

// Getenv is os.Getenv's signature, so tests pass a map.
type Getenv func(string) string

// Load reads the configuration. It reports every invalid variable at once.
func Load(getenv Getenv) (Config, error) {
	var errs []string
	str := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	integer := func(k string, def int) int {
		v := str(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q is not an integer", k, v))
		}
		return n
	}
	dur := func(k string, def time.Duration) time.Duration {
		v := str(k, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q is not a duration", k, v))
		}
		return d
	}
	c := Config{
		TableName:           str("TABLE_NAME", ""),
		VerifierKeySecretID: str("VERIFIER_KEY_SECRET_ID", ""),
		KMSKeyID:            str("KMS_KEY_ID", ""),
		GroupsClaim:         str("ADMIN_GROUP_CLAIM", "cognito:groups"),
		EventBusName:        str("EVENT_BUS_NAME", ""),
		NoticeTopicARN:      str("NOTICE_TOPIC_ARN", ""),
		AuditRetentionDays:  integer("AUDIT_RETENTION_DAYS", 365),
		LogLevel:            str("LOG_LEVEL", "info"),
		Device: device.Config{
			SecretPrefix:       str("SECRET_PREFIX", "devicepass"),
			MaxLiveDevices:     integer("MAX_LIVE_DEVICES", 50),
			RecoveryWindowDays: integer("RECOVERY_WINDOW_DAYS", 7),
			RotationGrace:      dur("ROTATION_GRACE", 2*time.Hour),
			RotationLambdaARN:  str("ROTATION_LAMBDA_ARN", ""),
			Policy: device.Policy{
				AdminGroupPattern: str("ADMIN_GROUP_PATTERN", "domain-admin:{domain}"),
				StepUpMaxAge:      dur("STEP_UP_MAX_AGE", 5*time.Minute),
			},
			Verify: device.VerifyConfig{
				MaxFailures: integer("VERIFY_MAX_FAILURES", 20),
				Window:      dur("VERIFY_WINDOW", 10*time.Minute),
			},
		},
	}
	if c.TableName == "" {
		errs = append(errs, "TABLE_NAME is required")
	}
	if c.VerifierKeySecretID == "" {
		errs = append(errs, "VERIFIER_KEY_SECRET_ID is required")
	}
	if c.AuditRetentionDays < 1 {
		errs = append(errs, "AUDIT_RETENTION_DAYS must be positive")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
