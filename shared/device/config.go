package device

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"
)

// Config holds the use cases' settings; every use case takes the same
// Config and reads the part it needs. Zero values take the defaults.
type Config struct {
	SecretPrefix       string        // default "devicepass"
	MaxLiveDevices     int           // default 50
	RecoveryWindowDays int           // default 7 (7-30)
	RotationGrace      time.Duration // default 2h
	IdempotencyTTL     time.Duration // default 24h
	RotationLambdaARN  string        // when set, rotation policies become Secrets Manager schedules
	PolicyMinDuration  time.Duration // shortest duration a domain policy may set; default 1h (1s-1h)
	Policy             Policy
	Verify             VerifyConfig
}

func (c *Config) setDefaults() error {
	if c.SecretPrefix == "" {
		c.SecretPrefix = "devicepass"
	}
	if strings.ContainsAny(c.SecretPrefix, " @") || strings.HasSuffix(c.SecretPrefix, "/") {
		return fmt.Errorf("secret prefix %q must not end in / or contain spaces or @", c.SecretPrefix)
	}
	if c.MaxLiveDevices == 0 {
		c.MaxLiveDevices = 50
	}
	if c.MaxLiveDevices < 1 || c.MaxLiveDevices > 1000 {
		return fmt.Errorf("max live devices %d outside 1-1000", c.MaxLiveDevices)
	}
	if c.RecoveryWindowDays == 0 {
		c.RecoveryWindowDays = 7
	}
	if c.RecoveryWindowDays < 7 || c.RecoveryWindowDays > 30 {
		return fmt.Errorf("recovery window %d days outside 7-30", c.RecoveryWindowDays)
	}
	if c.RotationGrace == 0 {
		c.RotationGrace = 2 * time.Hour
	}
	if c.RotationGrace < MinGrace || c.RotationGrace > MaxGrace {
		return fmt.Errorf("rotation grace %s outside %s-%s", c.RotationGrace, MinGrace, MaxGrace)
	}
	if c.PolicyMinDuration == 0 {
		c.PolicyMinDuration = DefaultPolicyMinDuration
	}
	if c.PolicyMinDuration < time.Second || c.PolicyMinDuration > DefaultPolicyMinDuration {
		return fmt.Errorf("policy minimum duration %s outside 1s-1h", c.PolicyMinDuration)
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.Policy.AdminGroupPattern == "" {
		c.Policy.AdminGroupPattern = "domain-admin:{domain}"
	}
	if !strings.Contains(c.Policy.AdminGroupPattern, "{domain}") {
		return fmt.Errorf("admin group pattern %q lacks {domain}", c.Policy.AdminGroupPattern)
	}
	if c.Policy.StepUpMaxAge == 0 {
		c.Policy.StepUpMaxAge = 5 * time.Minute
	}
	c.Verify.setDefaults()
	return nil
}

// VerifyConfig tunes verification.
type VerifyConfig struct {
	MaxFailures int           // failed attempts per mailbox and client network in two windows before 429; default 20
	Window      time.Duration // the rate-limit window; default 10m
	// MailboxCeiling is the failures per mailbox, over every network, in
	// two windows above which a network that has failed waits a window
	// after its first failure; default 10 times MaxFailures.
	MailboxCeiling int
	LastUsedEvery  time.Duration // last-use writes at most this often per device; default 5m
}

func (c *VerifyConfig) setDefaults() {
	if c.MaxFailures == 0 {
		c.MaxFailures = 20
	}
	if c.Window == 0 {
		c.Window = 10 * time.Minute
	}
	if c.LastUsedEvery == 0 {
		c.LastUsedEvery = 5 * time.Minute
	}
	if c.MailboxCeiling == 0 {
		c.MailboxCeiling = 10 * c.MaxFailures
	}
}

// base is what every use case has besides its ports: the validated
// configuration, the clock and the logger.
type base struct {
	cfg Config
	now func() time.Time
	log *slog.Logger
}

// newBase validates cfg and fills in the default clock and logger. what
// names the constructor in errors.
func newBase(what string, cfg Config, clock func() time.Time, logger *slog.Logger) (base, error) {
	if err := cfg.setDefaults(); err != nil {
		return base{}, fmt.Errorf("device: %s: %w", what, err)
	}
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return base{cfg: cfg, now: clock, log: logger}, nil
}

func (r base) clock() time.Time { return r.now().UTC() }

// Config returns the effective configuration.
func (r base) Config() Config { return r.cfg }

// missing reports whether a required dependency is absent: a nil
// interface, or an interface holding a nil pointer (which would panic on
// the first call instead of failing at start).
func missing(deps ...any) bool {
	for _, d := range deps {
		if d == nil {
			return true
		}
		if v := reflect.ValueOf(d); v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
	}
	return false
}
