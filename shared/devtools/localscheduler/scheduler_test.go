package localscheduler_test

import (
	"errors"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/localscheduler"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCronNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr, after, want string
	}{
		{"cron(0 16 1,15 * ? *)", "2026-01-01T16:00:00Z", "2026-01-15T16:00:00Z"},
		{"cron(0 16 1,15 * ? *)", "2026-01-15T16:00:00Z", "2026-02-01T16:00:00Z"},
		{"cron(0 4 ? * MON *)", "2026-11-27T00:00:00Z", "2026-11-30T04:00:00Z"}, // 27 Nov 2026 is a Friday
		{"cron(0 4 ? * 2 *)", "2026-11-27T00:00:00Z", "2026-11-30T04:00:00Z"},   // 2 = MON
		{"cron(0 4 ? * MON-FRI *)", "2026-11-28T00:00:00Z", "2026-11-30T04:00:00Z"},
		{"cron(*/15 * * * ? *)", "2026-03-01T10:07:30Z", "2026-03-01T10:15:00Z"},
		{"cron(5/20 8-9 * * ? *)", "2026-03-01T08:45:00Z", "2026-03-01T09:05:00Z"},
		{"cron(0 0 29 FEB ? *)", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"cron(0 0 31 * ? *)", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"},
		{"cron(0 12 1 JAN ? 2027)", "2026-06-01T00:00:00Z", "2027-01-01T12:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.expr+" after "+tc.after, func(t *testing.T) {
			c, err := localscheduler.ParseCron(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := c.Next(utc(tc.after))
			if !ok || !got.Equal(utc(tc.want)) {
				t.Errorf("Next = %s (%v), want %s", got, ok, tc.want)
			}
		})
	}
	c, _ := localscheduler.ParseCron("cron(0 12 1 JAN ? 2027)")
	if got, ok := c.Next(utc("2027-01-01T12:00:00Z")); ok {
		t.Errorf("a schedule whose years are over fires at %s", got)
	}
}

func TestParseCronErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"cron(0 0 * *)", "rate(1 day)", "cron(60 * * * ? *)", "cron(0 0 5-1 * ? *)", "cron(0 0 * * ? 1969)", "cron(0 0 * * ? */0)"} {
		if _, err := localscheduler.ParseCron(expr); err == nil || errors.Is(err, localscheduler.ErrCronUnsupported) {
			t.Errorf("ParseCron(%q) = %v, want a syntax error", expr, err)
		}
	}
	for _, expr := range []string{"cron(0 0 L * ? *)", "cron(0 0 15W * ? *)", "cron(0 0 ? * 6#3 *)", "cron(0 0 ? * 6L *)"} {
		if _, err := localscheduler.ParseCron(expr); !errors.Is(err, localscheduler.ErrCronUnsupported) {
			t.Errorf("ParseCron(%q) = %v, want ErrCronUnsupported", expr, err)
		}
	}
	if _, err := localscheduler.ParseCron("cron(0 0 ? * WED *)"); err != nil {
		t.Errorf("WED (which holds a W) was refused: %v", err)
	}
	if _, err := localscheduler.ParseCron("cron(0 0 1 JUL ? *)"); err != nil {
		t.Errorf("JUL (which holds an L) was refused: %v", err)
	}
}

func TestDue(t *testing.T) {
	t.Parallel()
	rotated := utc("2026-01-01T10:00:00Z")
	cases := []struct {
		name string
		p    device.RotationPolicy
		now  string
		want bool
	}{
		{"every 30 days, day 29", device.RotationPolicy{EveryDays: 30}, "2026-01-30T10:00:00Z", false},
		{"every 30 days, day 30", device.RotationPolicy{EveryDays: 30}, "2026-01-31T10:00:00Z", true},
		{"every 30 days, day 31", device.RotationPolicy{EveryDays: 30}, "2026-02-01T10:00:00Z", true},
		{"rate 4 hours, early", device.RotationPolicy{Schedule: "rate(4 hours)"}, "2026-01-01T13:59:00Z", false},
		{"rate 4 hours, due", device.RotationPolicy{Schedule: "rate(4 hours)"}, "2026-01-01T14:00:00Z", true},
		{"rate 1 day", device.RotationPolicy{Schedule: "rate(1 day)"}, "2026-01-02T10:00:00Z", true},
		{"rate 10 days, early", device.RotationPolicy{Schedule: "rate(10 days)"}, "2026-01-10T10:00:00Z", false},
		{"cron before it fires", device.RotationPolicy{Schedule: "cron(0 16 1,15 * ? *)"}, "2026-01-01T15:59:00Z", false},
		{"cron once it fired", device.RotationPolicy{Schedule: "cron(0 16 1,15 * ? *)"}, "2026-01-01T16:00:00Z", true},
		{"cron with L, daily, early", device.RotationPolicy{Schedule: "cron(0 0 L * ? *)"}, "2026-01-02T09:00:00Z", false},
		{"cron with L, daily", device.RotationPolicy{Schedule: "cron(0 0 L * ? *)"}, "2026-01-02T10:00:00Z", true},
		{"no policy", device.RotationPolicy{}, "2030-01-01T00:00:00Z", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := localscheduler.Due(tc.p, rotated, utc(tc.now)); got != tc.want {
				t.Errorf("Due = %v, want %v", got, tc.want)
			}
		})
	}
}
