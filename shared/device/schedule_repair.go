package device

import (
	"context"
	"fmt"
	"time"
)

// SecretSchedule is a secret's rotation schedule as Secrets Manager
// reports it (DescribeSecret and ListSecrets: RotationEnabled,
// RotationLambdaARN, RotationRules).
type SecretSchedule struct {
	Enabled   bool
	Function  string // the rotation function's ARN
	EveryDays int    // RotationRules.AutomaticallyAfterDays
	Schedule  string // RotationRules.ScheduleExpression
	Window    string // RotationRules.Duration
}

// wantSchedule is the schedule a device's secret should have: its rotation
// policy while it is active and unexpired, none otherwise (applySchedule's
// rule).
func wantSchedule(d Device, now time.Time) *RotationPolicy {
	if d.Status != StatusActive || d.Expired(now) {
		return nil
	}
	return d.Rotation
}

// scheduleMatches reports whether Secrets Manager's schedule st is what
// policy p (nil: none) asks for, with the rotation function fn. Secrets
// Manager fills in what it computes (AutomaticallyAfterDays for a schedule
// expression, an expression for a number of days), so only what devicepass
// sets is compared; a difference there is drift.
func scheduleMatches(p *RotationPolicy, st SecretSchedule, fn string) bool {
	if p == nil {
		return !st.Enabled
	}
	if !st.Enabled || (fn != "" && st.Function != "" && st.Function != fn) {
		return false
	}
	if p.EveryDays > 0 {
		rate := fmt.Sprintf("rate(%d days)", p.EveryDays)
		if p.EveryDays == 1 {
			rate = "rate(1 day)"
		}
		return st.EveryDays == p.EveryDays && (st.Schedule == "" || st.Schedule == rate)
	}
	return st.Schedule == p.Schedule && (p.Window == "" || st.Window == p.Window)
}

// reconcileSchedule repairs schedule drift: a device whose rotation policy
// Secrets Manager's schedule does not reflect (applySchedule failed after
// the table was written, or someone changed the secret's rotation) gets
// its policy applied again, or its schedule cancelled. The listing carries
// the schedule, so this costs no call unless there is drift. Devices
// changed within minAge are left to the request changing them.
func (s *Repair) reconcileSchedule(ctx context.Context, d Device, sec SecretSummary, now time.Time, minAge time.Duration, rep *ReconcileReport, fail func(string, Device, error)) {
	if s.scheduler == nil {
		return // schedules are not Secrets Manager's here (no rotation function)
	}
	if now.Sub(lastChange(d)) < minAge {
		return
	}
	want := wantSchedule(d, now)
	if scheduleMatches(want, sec.Schedule, s.cfg.RotationLambdaARN) {
		return
	}
	if err := s.scheduler.SetSchedule(ctx, sec.ARN, want); err != nil {
		fail("repair a rotation schedule", d, err)
		return
	}
	rep.SchedulesRepaired++
	what := "cancelled"
	if want != nil {
		what = "applied"
	}
	s.log.WarnContext(ctx, "repaired a rotation schedule that did not match the device's policy", "mailbox", d.Mailbox, "device", d.ID, "schedule", what)
}
