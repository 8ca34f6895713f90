package localscheduler

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed AWS cron expression, "cron(Minutes Hours Day-of-month
// Month Day-of-week Year)", evaluated in UTC as Secrets Manager does. It
// supports what rotation schedules use: *, ?, numbers, names (JAN-DEC,
// SUN-SAT), lists, ranges and steps. Day-of-week counts 1 (SUN) to 7 (SAT).
// L, W and # are not supported: ParseCron reports ErrCronUnsupported.
type Cron struct {
	minute, hour, dom, month, dow, year []bool
	domAny, dowAny                      bool // the field is * or ?
}

// ErrCronUnsupported marks a valid AWS cron feature this evaluator lacks
// (L, W, #); the scheduler then treats the schedule as due daily.
var ErrCronUnsupported = errors.New("cron: L, W and # are not supported locally")

var cronExpr = regexp.MustCompile(`^cron\((.*)\)$`)

type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
	cronFields = []cronField{
		{"minutes", 0, 59, nil},
		{"hours", 0, 23, nil},
		{"day-of-month", 1, 31, nil},
		{"month", 1, 12, monthNames},
		{"day-of-week", 1, 7, dayNames},
		{"year", 1970, 2199, nil},
	}
)

// ParseCron parses "cron(...)" with six fields.
func ParseCron(expr string) (*Cron, error) {
	m := cronExpr.FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		return nil, fmt.Errorf("cron: %q is not cron(...)", expr)
	}
	parts := strings.Fields(m[1])
	if len(parts) != 6 {
		return nil, fmt.Errorf("cron: %q has %d fields, want 6", expr, len(parts))
	}
	sets := make([][]bool, 6)
	for i, f := range cronFields {
		s, err := f.parse(strings.ToUpper(parts[i]))
		if err != nil {
			return nil, err
		}
		sets[i] = s
	}
	c := &Cron{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4], year: sets[5]}
	c.domAny = parts[2] == "*" || parts[2] == "?"
	c.dowAny = parts[4] == "*" || parts[4] == "?"
	return c, nil
}

func (f cronField) parse(s string) ([]bool, error) {
	set := make([]bool, f.max+1)
	if f.unsupported(s) {
		return nil, ErrCronUnsupported
	}
	for _, item := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("cron: %s: bad step %q", f.name, stepStr)
			}
			step = n
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return nil, err
			}
			if hi, err = f.value(b); err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, fmt.Errorf("cron: %s: range %q runs backwards", f.name, rng)
			}
		default:
			v, err := f.value(rng)
			if err != nil {
				return nil, err
			}
			lo = v
			if !hasStep {
				hi = v
			}
		}
		for v := lo; v <= hi; v += step {
			set[v] = true
		}
	}
	return set, nil
}

// unsupported reports whether s uses L, W or #, valid in AWS day fields.
func (f cronField) unsupported(s string) bool {
	if strings.Contains(s, "#") {
		return true
	}
	switch f.name {
	case "day-of-month":
		return strings.ContainsAny(s, "LW")
	case "day-of-week":
		for name := range dayNames {
			s = strings.ReplaceAll(s, name, "")
		}
		return strings.Contains(s, "L")
	}
	return false
}

func (f cronField) value(s string) (int, error) {
	if v, ok := f.names[s]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < f.min || v > f.max {
		return 0, fmt.Errorf("cron: %s: %q is not %d-%d", f.name, s, f.min, f.max)
	}
	return v, nil
}

func (c *Cron) dayMatches(t time.Time) bool {
	dom := c.dom[t.Day()]
	dow := c.dow[int(t.Weekday())+1]
	switch {
	case c.domAny && c.dowAny:
		return true
	case c.domAny:
		return dow
	case c.dowAny:
		return dom
	}
	return dom || dow
}

// Next returns the first instant strictly after t at which the schedule
// fires, or false if it never fires again (its years are over).
func (c *Cron) Next(t time.Time) (time.Time, bool) {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	for range 200000 {
		y := t.Year()
		switch {
		case y >= len(c.year):
			return time.Time{}, false
		case !c.year[y]:
			t = time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)
		case !c.month[t.Month()]:
			t = time.Date(y, t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !c.dayMatches(t):
			t = time.Date(y, t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case !c.hour[t.Hour()]:
			t = t.Truncate(time.Hour).Add(time.Hour)
		case !c.minute[t.Minute()]:
			t = t.Add(time.Minute)
		default:
			return t, true
		}
	}
	return time.Time{}, false
}
