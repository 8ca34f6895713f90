package device_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// wantField fails unless err is Invalid and names field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid || e.Field != field {
		t.Fatalf("error = %v, want invalid %s", err, field)
	}
}

func TestNormalizeAddress(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	// A domain of valid labels that makes the address 260 octets.
	longDomain := strings.Join([]string{long(47), long(47), long(47), long(47)}, ".") + ".com"
	tests := []struct {
		in   string
		want string // "" for refused
	}{
		{"alice@example.com", "alice@example.com"},
		{"Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"a+tag=x_y-z@example.com", "a+tag=x_y-z@example.com"},
		{"alice@example.com.", "alice@example.com"},
		{"alice@BÜCHER.example", "alice@xn--bcher-kva.example"},
		{"alice@bücher.example", "alice@xn--bcher-kva.example"},
		{"alice@xn--bcher-kva.example", "alice@xn--bcher-kva.example"},
		{"bob@straße.example", "bob@xn--strae-oqa.example"},
		{long(64) + "@example.com", long(64) + "@example.com"},
		{"jörg@bücher.example", ""},
		{"élise@example.com", ""},
		{"", ""},
		{"alice", ""},
		{"@example.com", ""},
		{"alice@", ""},
		{"a..b@example.com", ""},
		{".alice@example.com", ""},
		{"alice.@example.com", ""},
		{`"alice"@example.com`, ""},
		{"alice smith@example.com", ""},
		{"alice(comment)@example.com", ""},
		{"alice@bad@example.com", ""},
		{"alice@[192.0.2.1]", ""},
		{"alice@localhost", ""},
		{"alice@example.123", ""},
		{"alice@exa_mple.com", ""},
		{"alice@-example.com", ""},
		{"alice@example..com", ""},
		{"alice@" + long(64) + ".com", ""},
		{long(65) + "@example.com", ""},
		{long(64) + "@" + longDomain, ""},
		{"alice@example.com\x00", ""},
		{"alice/x@example.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := device.NormalizeAddress("mailbox", tc.in)
			if tc.want == "" {
				wantField(t, err, "mailbox")
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if again, err := device.NormalizeAddress("mailbox", got); err != nil || again != got {
				t.Fatalf("normalizing %q again = %q, %v", got, again, err)
			}
			if device.DomainOf(got) != tc.want[strings.LastIndexByte(tc.want, '@')+1:] {
				t.Fatalf("DomainOf(%q) = %q", got, device.DomainOf(got))
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Phone", "Phone", true},
		{"  Laptop of Jörg  ", "Laptop of Jörg", true},
		{"网站 SMTP", "网站 SMTP", true},
		{"👨\u200d👩\u200d👧 family iPad", "👨\u200d👩\u200d👧 family iPad", true},
		{"❤️ phone", "❤️ phone", true},
		{strings.Repeat("é", 64), strings.Repeat("é", 64), true},
		{strings.Repeat("é", 65), "", false},
		{"", "", false},
		{"   ", "", false},
		{"a\x00b", "", false},
		{"a\nb", "", false},
		{"a\tb", "", false},
		{"a\x7fb", "", false},
		{"a\u200bb", "", false}, // zero-width space
		{"a\u202eb", "", false}, // right-to-left override
		{"a\u2028b", "", false}, // line separator
		{"a\xffb", "", false},   // not UTF-8
	}
	for _, tc := range tests {
		got, err := device.NormalizeName("name", tc.in)
		if !tc.ok {
			if err == nil {
				t.Errorf("NormalizeName(%q) = %q, want refused", tc.in, got)
			} else {
				wantField(t, err, "name")
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeNote(t *testing.T) {
	ok := []string{"", "line one\nline two\twith a tab", strings.Repeat("n", device.MaxNoteLen)}
	for _, in := range ok {
		if got, err := device.NormalizeNote("note", in); err != nil || got != in {
			t.Errorf("NormalizeNote(%q) = %q, %v", in, got, err)
		}
	}
	if got, _ := device.NormalizeNote("note", "  padded\n "); got != "padded" {
		t.Errorf("note not trimmed: %q", got)
	}
	for _, in := range []string{strings.Repeat("n", device.MaxNoteLen+1), "bell\a", "carriage\rreturn", "para\u2029graph"} {
		_, err := device.NormalizeNote("note", in)
		wantField(t, err, "note")
	}
}

func TestNormalizeSubject(t *testing.T) {
	for in, want := range map[string]string{"": "", "user-1": "user-1", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"} {
		if got, err := device.NormalizeSubject("user", in); err != nil || got != want {
			t.Errorf("NormalizeSubject(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"a b", "a\tb", "a\x00", strings.Repeat("u", device.MaxUserLen+1)} {
		_, err := device.NormalizeSubject("user", in)
		wantField(t, err, "user")
	}
}

func TestNormalizeScopes(t *testing.T) {
	tests := []struct {
		in    []string
		want  []device.Scope
		field string
	}{
		{nil, device.DefaultScopes(), ""},
		{[]string{"smtp", "imap", "smtp"}, []device.Scope{device.ScopeIMAP, device.ScopeSMTP}, ""},
		{[]string{"carddav", "caldav", "pop", "smtp", "imap"}, device.AllScopes, ""},
		{[]string{}, nil, "scopes"},
		{[]string{"ftp"}, nil, "scopes[0]"},
		{[]string{"imap", "IMAP"}, nil, "scopes[1]"},
		{[]string{"imap", ""}, nil, "scopes[1]"},
	}
	for _, tc := range tests {
		got, err := device.NormalizeScopes("scopes", tc.in)
		if tc.field != "" {
			wantField(t, err, tc.field)
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("NormalizeScopes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if got := device.DefaultScopes(); !slices.Equal(got, []device.Scope{"imap", "pop", "smtp"}) {
		t.Errorf("default scopes = %v, want the mail protocols", got)
	}
}

func TestNormalizeAllowIPs(t *testing.T) {
	tests := []struct {
		in    []string
		want  []string
		field string
	}{
		{nil, []string{}, ""},
		{[]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "2001:db8::1"}, []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "2001:db8::1/128"}, ""},
		{[]string{"::ffff:192.0.2.0/120"}, []string{"192.0.2.0/24"}, ""},
		{[]string{"::ffff:192.0.2.7"}, []string{"192.0.2.7/32"}, ""},
		{[]string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}, ""},
		{[]string{"10.0.0.1/8"}, nil, "allowIps[0]"},
		{[]string{"10.0.0.0/8", "not an address"}, nil, "allowIps[1]"},
		{[]string{"10.0.0.0/33"}, nil, "allowIps[0]"},
		{[]string{"fe80::1%eth0"}, nil, "allowIps[0]"},
		{[]string{"::ffff:0.0.0.0/90"}, nil, "allowIps[0]"},
		{[]string{""}, nil, "allowIps[0]"},
		{slices.Repeat([]string{"10.0.0.0/8"}, device.MaxAllowIPs+1), nil, "allowIps"},
	}
	for _, tc := range tests {
		got, err := device.NormalizeAllowIPs("allowIps", tc.in)
		if tc.field != "" {
			wantField(t, err, tc.field)
			continue
		}
		if err != nil {
			t.Errorf("NormalizeAllowIPs(%q): %v", tc.in, err)
			continue
		}
		s := make([]string, len(got))
		for i, p := range got {
			s[i] = p.String()
		}
		if !slices.Equal(s, tc.want) {
			t.Errorf("NormalizeAllowIPs(%q) = %v, want %v", tc.in, s, tc.want)
		}
	}
	// The allow-list admits IPv4-mapped clients as IPv4.
	d := device.Device{AllowIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	if !d.AllowsIP(netip.MustParseAddr("::ffff:192.0.2.9")) || d.AllowsIP(netip.MustParseAddr("198.51.100.1")) {
		t.Error("AllowsIP does not unmap IPv4-mapped clients, or admits outsiders")
	}
}

func TestNormalizeExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	year := device.MaxExpiry
	tests := []struct {
		name      string
		expiresAt string
		validFor  string
		want      time.Time
		field     string
	}{
		{"none", "", "", time.Time{}, ""},
		{"instant", "2030-02-01T10:00:00Z", "", time.Date(2030, 2, 1, 10, 0, 0, 0, time.UTC), ""},
		{"instant with offset", "2030-02-01T12:00:00+02:00", "", time.Date(2030, 2, 1, 10, 0, 0, 0, time.UTC), ""},
		{"exactly a year", now.Add(year).Format(time.RFC3339), "", now.Add(year), ""},
		{"a year and a second", now.Add(year + time.Second).Format(time.RFC3339), "", time.Time{}, "expiresAt"},
		{"now", now.Format(time.RFC3339), "", time.Time{}, "expiresAt"},
		{"past", "2029-12-31T23:59:59Z", "", time.Time{}, "expiresAt"},
		{"not RFC 3339", "2030-02-01", "", time.Time{}, "expiresAt"},
		{"duration", "", "168h", now.Add(168 * time.Hour), ""},
		{"minutes", "", "90m", now.Add(90 * time.Minute), ""},
		{"year duration", "", "8760h", now.Add(year), ""},
		{"too long", "", "8761h", time.Time{}, "validFor"},
		{"zero", "", "0s", time.Time{}, "validFor"},
		{"negative", "", "-1h", time.Time{}, "validFor"},
		{"days are not Go durations", "", "7d", time.Time{}, "validFor"},
		{"both", "2030-02-01T10:00:00Z", "1h", time.Time{}, "validFor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := device.NormalizeExpiry(now, tc.expiresAt, tc.validFor)
			if tc.field != "" {
				wantField(t, err, tc.field)
				return
			}
			if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("= %s, %v; want %s UTC", got, err, tc.want)
			}
		})
	}
}

func TestNormalizeRotation(t *testing.T) {
	def := 2 * time.Hour
	tests := []struct {
		name  string
		in    *device.RotationInput
		want  *device.RotationPolicy
		field string
	}{
		{"none", nil, nil, ""},
		{"every 30 days", &device.RotationInput{EveryDays: 30}, &device.RotationPolicy{EveryDays: 30, Grace: def}, ""},
		{"every day", &device.RotationInput{EveryDays: 1}, &device.RotationPolicy{EveryDays: 1, Grace: def}, ""},
		{"every 365 days", &device.RotationInput{EveryDays: 365}, &device.RotationPolicy{EveryDays: 365, Grace: def}, ""},
		{"with grace", &device.RotationInput{EveryDays: 7, Grace: "30m"}, &device.RotationPolicy{EveryDays: 7, Grace: 30 * time.Minute}, ""},
		{"rate days", &device.RotationInput{Schedule: "rate(10 days)"}, &device.RotationPolicy{Schedule: "rate(10 days)", Grace: def}, ""},
		{"rate hours", &device.RotationInput{Schedule: " rate(4 hours) ", Duration: "2h"}, &device.RotationPolicy{Schedule: "rate(4 hours)", Window: "2h", Grace: def}, ""},
		{"cron", &device.RotationInput{Schedule: "cron(0 16 1,15 * ? *)", Duration: "24h"}, &device.RotationPolicy{Schedule: "cron(0 16 1,15 * ? *)", Window: "24h", Grace: def}, ""},
		{"empty", &device.RotationInput{}, nil, "rotation"},
		{"both", &device.RotationInput{EveryDays: 1, Schedule: "rate(1 day)"}, nil, "rotation"},
		{"zero days is none", &device.RotationInput{EveryDays: 0}, nil, "rotation"},
		{"negative days", &device.RotationInput{EveryDays: -1}, nil, "rotation.everyDays"},
		{"366 days", &device.RotationInput{EveryDays: 366}, nil, "rotation.everyDays"},
		{"window with days", &device.RotationInput{EveryDays: 3, Duration: "2h"}, nil, "rotation.duration"},
		{"rate too often", &device.RotationInput{Schedule: "rate(3 hours)"}, nil, "rotation.schedule"},
		{"rate too rare", &device.RotationInput{Schedule: "rate(366 days)"}, nil, "rotation.schedule"},
		{"rate minutes", &device.RotationInput{Schedule: "rate(30 minutes)"}, nil, "rotation.schedule"},
		{"five-field cron", &device.RotationInput{Schedule: "cron(0 16 * * ?)"}, nil, "rotation.schedule"},
		{"not a schedule", &device.RotationInput{Schedule: "daily"}, nil, "rotation.schedule"},
		{"window too long", &device.RotationInput{Schedule: "rate(1 day)", Duration: "25h"}, nil, "rotation.duration"},
		{"window in minutes", &device.RotationInput{Schedule: "rate(1 day)", Duration: "90m"}, nil, "rotation.duration"},
		{"grace too short", &device.RotationInput{EveryDays: 1, Grace: "4m"}, nil, "rotation.grace"},
		{"grace too long", &device.RotationInput{EveryDays: 1, Grace: "169h"}, nil, "rotation.grace"},
		{"grace not a duration", &device.RotationInput{EveryDays: 1, Grace: "2 hours"}, nil, "rotation.grace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := device.NormalizeRotation("rotation", tc.in, def)
			if tc.field != "" {
				wantField(t, err, tc.field)
				return
			}
			if err != nil || (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseGraceSeconds(t *testing.T) {
	for n, want := range map[int64]time.Duration{0: 0, 30: 30 * time.Second, 604800: 7 * 24 * time.Hour} {
		if got, err := device.ParseGraceSeconds("grace", n); err != nil || got != want {
			t.Errorf("ParseGraceSeconds(%d) = %s, %v", n, got, err)
		}
	}
	for _, n := range []int64{-1, 604801, 1 << 62, 9223372037} {
		_, err := device.ParseGraceSeconds("grace", n)
		wantField(t, err, "grace")
	}
}

func TestValidIdempotencyKey(t *testing.T) {
	for _, k := range []string{"12345678", "3f1c6a2e-9f0b-4c55-8e57-0c9d1d3c1f6b", strings.Repeat("k", 255)} {
		if err := device.ValidIdempotencyKey(k); err != nil {
			t.Errorf("ValidIdempotencyKey(%q): %v", k, err)
		}
	}
	for _, k := range []string{"", "1234567", strings.Repeat("k", 256), "has space1", "tab\tkey12", "ünïcödé-key"} {
		wantField(t, device.ValidIdempotencyKey(k), "Idempotency-Key")
	}
}
