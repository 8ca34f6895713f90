// Package localscheduler is the local stand-in for Secrets Manager's
// rotation scheduler, which moto lacks: it reads the rotation policies
// from the table through the DynamoDB adapter, evaluates AWS's schedule
// expressions (every N days, rate(), cron()), and runs the rotation
// Lambda's handler through the four steps. Tooling only: no function
// links it.
package localscheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/rotation"
)

// DefaultSchedulerInterval is how often the local scheduler looks for due
// rotations.
const DefaultSchedulerInterval = 30 * time.Second

// Rotator runs a whole rotation of one secret with a fresh token: the four
// steps in order, as Secrets Manager does. It returns the new version id,
// or the step that failed and why.
type Rotator interface {
	RotateNow(ctx context.Context, secretID string) (version string, failed device.Step, err error)
}

var _ Rotator = (*device.Engine)(nil)

// HandlerRotator is a Rotator that drives the rotation Lambda's own handler
// with the events Secrets Manager sends, one invocation per step, so the
// local runner exercises the same code path as AWS.
type HandlerRotator struct {
	Handler *rotation.Handler
}

// RotateNow implements Rotator.
func (r HandlerRotator) RotateNow(ctx context.Context, secretID string) (string, device.Step, error) {
	token := device.NewToken()
	for _, st := range device.Steps {
		raw, err := json.Marshal(rotation.Event{Step: string(st), SecretID: secretID, ClientRequestToken: token})
		if err != nil {
			return token, st, err
		}
		if err := r.Handler.Handle(ctx, raw); err != nil {
			return token, st, err
		}
	}
	return token, "", nil
}

// Devices is what the scheduler reads devices through: the DynamoDB
// adapter's Scanner (shared/dynamo), so the item layout stays in one place.
type Devices interface {
	// ScanRotating visits every active device that has a rotation policy.
	ScanRotating(ctx context.Context, visit func(device.Device) error) error
}

var _ Devices = (*dynamo.Scanner)(nil)

// Scheduler is the local stand-in for Secrets Manager's rotation scheduler
// (the Secrets Manager stand-in records schedules but runs none): it finds active devices whose rotation policy is
// due and rotates each through the Rotator. The policy's source of truth is
// the device item in the table, which it scans.
type Scheduler struct {
	devices  Devices
	rotator  Rotator
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	mu sync.Mutex // one Tick at a time
}

// SchedulerOptions configure NewScheduler.
type SchedulerOptions struct {
	Devices  Devices // dynamo.NewScanner over the table
	Rotator  Rotator
	Logger   *slog.Logger
	Clock    func() time.Time // for Run's ticks (default time.Now)
	Interval time.Duration    // Run's period (default DefaultSchedulerInterval)
}

// NewScheduler returns a Scheduler.
func NewScheduler(o SchedulerOptions) (*Scheduler, error) {
	if o.Devices == nil || o.Rotator == nil || o.Logger == nil {
		return nil, errors.New("localscheduler: NewScheduler needs the devices, a rotator and a logger")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Interval == 0 {
		o.Interval = DefaultSchedulerInterval
	}
	if o.Interval < time.Second {
		return nil, fmt.Errorf("localscheduler: scheduler interval %s is under 1s", o.Interval)
	}
	return &Scheduler{devices: o.Devices, rotator: o.Rotator, log: o.Logger, now: o.Clock, interval: o.Interval}, nil
}

// Interval returns Run's period.
func (s *Scheduler) Interval() time.Duration { return s.interval }

// Run ticks every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Tick(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "local scheduler tick failed", "error", err.Error())
			}
		}
	}
}

// Rotated is one device a tick rotated, or tried to.
type Rotated struct {
	Mailbox  string
	DeviceID string
	SecretID string
	Version  string      // the new version id (the attempted one on failure)
	Failed   device.Step // the step that failed, "" on success
	Err      error
}

// TickResult is what one tick did.
type TickResult struct {
	Considered int       // active devices with a rotation policy
	Rotations  []Rotated // the due ones, in scan order
}

// Tick rotates every device whose rotation is due at now. A failed rotation
// is logged and reported, and retried at the next tick while still due;
// only a failed scan is an error.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res TickResult
	cands, err := s.scan(ctx)
	if err != nil {
		return res, err
	}
	res.Considered = len(cands)
	for _, c := range cands {
		if !c.expiresAt.IsZero() && !now.Before(c.expiresAt) {
			continue // expired: the stream handler ends it; never rotate
		}
		due, note := Due(c.policy, c.rotatedAt, now)
		if !due {
			continue
		}
		r := Rotated{Mailbox: c.mailbox, DeviceID: c.id, SecretID: c.secretARN}
		r.Version, r.Failed, r.Err = s.rotator.RotateNow(ctx, c.secretARN)
		if r.Err != nil {
			s.log.ErrorContext(ctx, "scheduled rotation failed", "mailbox", c.mailbox, "device", c.id,
				"version", r.Version, "step", string(r.Failed), "error", r.Err.Error())
		} else {
			s.log.InfoContext(ctx, "scheduled rotation done", "mailbox", c.mailbox, "device", c.id,
				"version", r.Version, "policy", policyString(c.policy), "note", note)
		}
		res.Rotations = append(res.Rotations, r)
	}
	return res, nil
}

// candidate is what the scheduler reads of a device item.
type candidate struct {
	mailbox, id, secretARN string
	rotatedAt, expiresAt   time.Time
	policy                 device.RotationPolicy
}

// scan reads the active devices that have a rotation policy.
func (s *Scheduler) scan(ctx context.Context) ([]candidate, error) {
	var out []candidate
	err := s.devices.ScanRotating(ctx, func(d device.Device) error {
		if d.SecretARN == "" || d.Rotation == nil {
			return nil
		}
		out = append(out, candidate{mailbox: d.Mailbox, id: d.ID, secretARN: d.SecretARN,
			rotatedAt: d.RotatedAt, expiresAt: d.ExpiresAt, policy: *d.Rotation})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan for due rotations: %w", err)
	}
	return out, nil
}

var rateSchedule = regexp.MustCompile(`^rate\((\d+) (hour|hours|day|days)\)$`)

// Due reports whether a device last rotated at rotatedAt is due at now
// under policy p, as Secrets Manager decides (without the random offset in
// a rotation window: locally a rotation runs at the window's start):
// every N days and rate(N hours|days) when rotatedAt plus the interval has
// passed; cron(...) when the schedule fired after rotatedAt. note says how
// the decision was made when it is an approximation.
func Due(p device.RotationPolicy, rotatedAt, now time.Time) (due bool, note string) {
	if rotatedAt.IsZero() {
		return true, "never rotated"
	}
	switch {
	case p.EveryDays > 0:
		return !rotatedAt.Add(time.Duration(p.EveryDays) * 24 * time.Hour).After(now), ""
	case p.Schedule != "":
		if m := rateSchedule.FindStringSubmatch(p.Schedule); m != nil {
			n, _ := strconv.Atoi(m[1])
			unit := 24 * time.Hour
			if m[2] == "hour" || m[2] == "hours" {
				unit = time.Hour
			}
			return !rotatedAt.Add(time.Duration(n) * unit).After(now), ""
		}
		c, err := ParseCron(p.Schedule)
		if err != nil {
			// L, W, # (or a schedule this evaluator cannot read): daily.
			return !rotatedAt.Add(24 * time.Hour).After(now), "cron evaluated as daily: " + err.Error()
		}
		next, ok := c.Next(rotatedAt)
		return ok && !next.After(now), ""
	}
	return false, ""
}

func policyString(p device.RotationPolicy) string {
	if p.EveryDays > 0 {
		return fmt.Sprintf("every %d days", p.EveryDays)
	}
	return p.Schedule
}
