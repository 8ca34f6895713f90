// Package config reads and checks a function's configuration from its
// environment. It is the one validator of that configuration: every
// function runs Load at start, and the CDK app runs the same Load over the
// environment it is about to give the functions, so `cdk synth` refuses
// exactly what a function would refuse at its cold start. It therefore
// stays light: no AWS SDK, no CDK, only the domain's types and limits.
//
// Every variable has a safe default except the table and the verifier
// key's secret.
package config

import (
	"fmt"
	"regexp"
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

// Limits of the variables that have a range. The domain enforces the same
// limits when a service is built; these make a bad value fail at start (and
// at synth) with the variable's name instead.
const (
	MinMaxLiveDevices     = 1
	MaxMaxLiveDevices     = 1000
	MinRecoveryWindowDays = 7 // Secrets Manager's own bounds of a recovery window
	MaxRecoveryWindowDays = 30
	MinStepUpMaxAge       = time.Minute
	MaxStepUpMaxAge       = 24 * time.Hour
	MinAuditRetentionDays = 1
	MaxAuditRetentionDays = 3653 // ten years, CloudWatch Logs' longest retention too
	MinVerifyMaxFailures  = 1
	MaxVerifyMaxFailures  = 10000
	MinVerifyWindow       = time.Minute
	MaxVerifyWindow       = 24 * time.Hour
	MinPolicyMinDuration  = time.Second // what make run uses, so policies act in seconds
)

// secretPrefixRE admits Secrets Manager name characters in segments joined
// by single slashes, without '@': a secret's name is
// <prefix>/<mailbox>/<device id>, and the mailbox is found by its '@'.
var secretPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_+=.-]+(/[A-Za-z0-9_+=.-]+)*$`)

// LogLevels are the values LOG_LEVEL accepts (in any case).
var LogLevels = []string{"debug", "info", "warn", "error"}

// Problem is one invalid variable.
type Problem struct {
	Key    string // the variable, e.g. MAX_LIVE_DEVICES
	Reason string // what is wrong and what is wanted; never a secret
}

// Error lists every invalid variable Load found, so that one failed start
// names them all.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Key + ": " + p.Reason
	}
	return "configuration: " + strings.Join(parts, "; ")
}

// key is one variable: its name, its default ("" for none), and how its
// value (trimmed, or the default) is checked and stored.
type key struct {
	name     string
	def      string
	required bool
	set      func(c *Config, v string) error
}

// keys is the one list of variables, in the order docs/architecture.md
// documents them.
var keys = []key{
	{name: "TABLE_NAME", required: true, set: func(c *Config, v string) error { c.TableName = v; return nil }},
	{name: "VERIFIER_KEY_SECRET_ID", required: true, set: func(c *Config, v string) error { c.VerifierKeySecretID = v; return nil }},
	{name: "SECRET_PREFIX", def: "devicepass", set: func(c *Config, v string) error {
		if !secretPrefixRE.MatchString(v) {
			return fmt.Errorf("%q: want letters, digits and _+=.- in segments separated by single slashes, no '@', no leading or trailing slash", v)
		}
		c.Device.SecretPrefix = v
		return nil
	}},
	{name: "KMS_KEY_ID", set: func(c *Config, v string) error { c.KMSKeyID = v; return nil }},
	{name: "ROTATION_LAMBDA_ARN", set: func(c *Config, v string) error { c.Device.RotationLambdaARN = v; return nil }},
	{name: "ADMIN_GROUP_CLAIM", def: "cognito:groups", set: func(c *Config, v string) error { c.GroupsClaim = v; return nil }},
	{name: "ADMIN_GROUP_PATTERN", def: "domain-admin:{domain}", set: func(c *Config, v string) error {
		if !strings.Contains(v, "{domain}") {
			return fmt.Errorf("%q: want a {domain} placeholder", v)
		}
		c.Device.Policy.AdminGroupPattern = v
		return nil
	}},
	{name: "STEP_UP_MAX_AGE", def: "5m", set: durationIn(MinStepUpMaxAge, MaxStepUpMaxAge, func(c *Config) *time.Duration { return &c.Device.Policy.StepUpMaxAge })},
	{name: "MAX_LIVE_DEVICES", def: "50", set: intIn(MinMaxLiveDevices, MaxMaxLiveDevices, func(c *Config) *int { return &c.Device.MaxLiveDevices })},
	{name: "RECOVERY_WINDOW_DAYS", def: "7", set: intIn(MinRecoveryWindowDays, MaxRecoveryWindowDays, func(c *Config) *int { return &c.Device.RecoveryWindowDays })},
	{name: "ROTATION_GRACE", def: "2h", set: durationIn(device.MinGrace, device.MaxGrace, func(c *Config) *time.Duration { return &c.Device.RotationGrace })},
	{name: "VERIFY_MAX_FAILURES", def: "20", set: intIn(MinVerifyMaxFailures, MaxVerifyMaxFailures, func(c *Config) *int { return &c.Device.Verify.MaxFailures })},
	{name: "VERIFY_WINDOW", def: "10m", set: durationIn(MinVerifyWindow, MaxVerifyWindow, func(c *Config) *time.Duration { return &c.Device.Verify.Window })},
	{name: "POLICY_MIN_DURATION", def: "1h", set: durationIn(MinPolicyMinDuration, device.DefaultPolicyMinDuration, func(c *Config) *time.Duration { return &c.Device.PolicyMinDuration })},
	{name: "EVENT_BUS_NAME", set: func(c *Config, v string) error { c.EventBusName = v; return nil }},
	{name: "NOTICE_TOPIC_ARN", set: func(c *Config, v string) error { c.NoticeTopicARN = v; return nil }},
	{name: "AUDIT_RETENTION_DAYS", def: "365", set: intIn(MinAuditRetentionDays, MaxAuditRetentionDays, func(c *Config) *int { return &c.AuditRetentionDays })},
	{name: "LOG_LEVEL", def: "info", set: func(c *Config, v string) error {
		l := strings.ToLower(v)
		for _, ok := range LogLevels {
			if l == ok {
				c.LogLevel = l
				return nil
			}
		}
		return fmt.Errorf("%q: want one of %s", v, strings.Join(LogLevels, ", "))
	}},
}

// Keys returns the names of every variable Load reads, in documentation
// order.
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Default returns a variable's default value ("" when it has none).
func Default(name string) string {
	for _, k := range keys {
		if k.name == name {
			return k.def
		}
	}
	return ""
}

// Load reads and checks the configuration. It reports every invalid
// variable at once, as an *Error.
func Load(getenv Getenv) (Config, error) {
	var c Config
	var problems []Problem
	for _, k := range keys {
		v := strings.TrimSpace(getenv(k.name))
		if v == "" {
			if k.required {
				problems = append(problems, Problem{k.name, "required"})
				continue
			}
			v = k.def
		}
		if err := k.set(&c, v); err != nil {
			problems = append(problems, Problem{k.name, err.Error()})
		}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info" // an invalid LOG_LEVEL still leaves a usable level to log the failure with
	}
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

func intIn(lo, hi int, field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q: want a whole number from %d to %d", v, lo, hi)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d: want %d to %d", n, lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func durationIn(lo, hi time.Duration, field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q: want a duration such as 90s, 10m or 2h, from %s to %s", v, lo, hi)
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s: want %s to %s", d, lo, hi)
		}
		*field(c) = d
		return nil
	}
}
