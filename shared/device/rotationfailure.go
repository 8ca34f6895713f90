package device

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/devicepass/devicepass/shared/apperr"
)

// The kinds of rotation failure Secrets Manager reports (its CloudTrail
// service events), which the local scheduler reports too.
const (
	FailureRotationFailed     = "RotationFailed"
	FailureRotationAbandoned  = "RotationAbandoned"
	FailureTestRotationFailed = "TestRotationFailed"
)

// MaxRotationErrorLen bounds the recorded message: enough for Secrets
// Manager's "Error when executing lambda ... during createSecret step",
// small enough for every listing.
const MaxRotationErrorLen = 300

// maxFailureIDLen bounds a failure's id (CloudTrail's are UUIDs), so that
// nothing unbounded reaches the device item.
const maxFailureIDLen = 128

// RotationFailure is one failed rotation of a device's secret, as Secrets
// Manager (or the local scheduler) reports it.
type RotationFailure struct {
	ID       string    // unique per failure, the same on every redelivery (CloudTrail's eventID)
	Kind     string    // one of the Failure constants
	SecretID string    // the secret's ARN or name
	Message  string    // what failed; never holds a secret
	At       time.Time // when it failed
}

// RotationFailureStore records a failed rotation on the device.
type RotationFailureStore interface {
	// RecordRotationFailure sets the device's last rotation error to f
	// with one conditional write: only on a live device, only if f.ID is
	// not already recorded, and only if f is not older than the failure
	// recorded or than the last password change (within the second, as
	// CloudTrail's times are whole seconds): a redelivered or late
	// failure changes nothing. Refused, it is an apperr NotFound or
	// Conflict.
	RecordRotationFailure(ctx context.Context, mailbox, id string, f RotationFailure) error
}

// RotationFailures records failed rotations on their devices, where the
// table's stream turns each into a rotation.failed event for the audit
// trail, the event bus and the domain's administrators.
type RotationFailures struct {
	store  RotationFailureStore
	prefix string
}

// NewRotationFailures returns the use case for the device secrets of cfg
// (named under its SecretPrefix).
func NewRotationFailures(cfg Config, store RotationFailureStore) (*RotationFailures, error) {
	if store == nil {
		return nil, errors.New("device: NewRotationFailures needs a store")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &RotationFailures{store: store, prefix: cfg.SecretPrefix}, nil
}

// Outcome says what Record did with a failure.
type Outcome string

// The outcomes of Record.
const (
	FailureRecorded  Outcome = "recorded"
	FailureDuplicate Outcome = "duplicate"     // already recorded, older than what the device knows, or the device is no longer live
	FailureForeign   Outcome = "not-a-device"  // a secret that is not a device's
	FailureInvalid   Outcome = "invalid-event" // no id (or one too long), or an unknown kind
)

// Record records f on the device its secret belongs to. Failures of
// secrets that are not devices', and failures already recorded, are no
// error: redeliveries and unrelated secrets must not be retried forever.
func (r *RotationFailures) Record(ctx context.Context, f RotationFailure) (Outcome, error) {
	if f.ID == "" || len(f.ID) > maxFailureIDLen || !validFailureKind(f.Kind) {
		return FailureInvalid, nil
	}
	mailbox, id, err := ParseSecretID(r.prefix, f.SecretID)
	if err != nil {
		return FailureForeign, nil
	}
	f.Message = cleanMessage(f.Message)
	if f.At.IsZero() {
		f.At = time.Now()
	}
	f.At = f.At.UTC()
	ctx = WithActor(ctx, Actor{Kind: ActorRotation, Subject: "secretsmanager"})
	err = r.store.RecordRotationFailure(ctx, mailbox, id, f)
	if apperr.Is(err, apperr.NotFound) || apperr.Is(err, apperr.Conflict) {
		return FailureDuplicate, nil
	}
	if err != nil {
		return "", err
	}
	return FailureRecorded, nil
}

func validFailureKind(k string) bool {
	return k == FailureRotationFailed || k == FailureRotationAbandoned || k == FailureTestRotationFailed
}

// cleanMessage keeps a message printable and bounded.
func cleanMessage(m string) string {
	m = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(m))
	if len(m) > MaxRotationErrorLen {
		m = m[:MaxRotationErrorLen]
		for !utf8.ValidString(m) {
			m = m[:len(m)-1]
		}
	}
	return m
}

// NextRotationAt is when a device's scheduled rotation is next due, from
// its policy and its last rotation: every N days, or rate(N hours|days),
// after the last rotation. It is zero for a device without a policy, one
// that is not active, and a cron() schedule (Secrets Manager alone knows
// the instant it picks in the window).
func NextRotationAt(d Device) time.Time {
	p := d.Rotation
	if p == nil || d.Status != StatusActive || d.RotatedAt.IsZero() {
		return time.Time{}
	}
	if p.EveryDays > 0 {
		return d.RotatedAt.Add(time.Duration(p.EveryDays) * 24 * time.Hour).UTC()
	}
	inner, ok := strings.CutPrefix(p.Schedule, "rate(")
	inner, ok2 := strings.CutSuffix(inner, ")")
	f := strings.Fields(inner)
	if !ok || !ok2 || len(f) != 2 {
		return time.Time{}
	}
	if n, err := strconv.Atoi(f[0]); err == nil && n > 0 {
		switch f[1] {
		case "hour", "hours":
			return d.RotatedAt.Add(time.Duration(n) * time.Hour).UTC()
		case "day", "days":
			return d.RotatedAt.Add(time.Duration(n) * 24 * time.Hour).UTC()
		}
	}
	return time.Time{}
}
