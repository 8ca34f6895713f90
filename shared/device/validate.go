package device

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/devicepass/devicepass/shared/apperr"
)

// Limits of the fields.
const (
	MaxNameLen     = 64
	MaxNoteLen     = 500
	MaxUserLen     = 128
	MaxAllowIPs    = 20
	MaxExpiry      = 365 * 24 * time.Hour
	MinRotationDay = 1
	MaxRotationDay = 365
	MinGrace       = 5 * time.Minute
	MaxGrace       = 7 * 24 * time.Hour
	MaxRegenGrace  = 7 * 24 * time.Hour
)

// idnaProfile is the lookup profile: it maps (lower-cases, NFC) and checks
// the IDNA2008 rules and the hyphen and length rules of host names.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

// localPartRE is the practical subset of RFC 5321's dot-atom that Secrets
// Manager accepts in a secret name (letters, digits, and . _ + = -), with no
// leading, trailing or doubled dot.
var localPartRE = regexp.MustCompile(`^[A-Za-z0-9_+=-]+(\.[A-Za-z0-9_+=-]+)*$`)

// NormalizeAddress validates a mailbox address and returns its canonical
// form: the local part lower-cased (it is ASCII), the domain lower-cased in
// ASCII (IDNA A-labels). Addresses are case-insensitive end to end: Dovecot
// lower-cases user names by default, so Bob.Smith@x and bob.smith@x must be
// one mailbox with one owner, never two. It refuses quoted local parts, comments, IP literals,
// non-ASCII local parts and single-label domains.
func NormalizeAddress(field, s string) (string, error) {
	if s == "" {
		return "", apperr.Field(field, "is required")
	}
	if len(s) > 320 {
		return "", apperr.Field(field, "is longer than 320 octets")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", apperr.Field(field, "must be an address of the form local-part@domain")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return "", apperr.Field(field, "local part is longer than 64 octets")
	}
	if !localPartRE.MatchString(local) {
		return "", apperr.Field(field, "local part may hold only letters, digits and . _ + = - (no leading, trailing or doubled dot)")
	}
	ascii, err := NormalizeDomain(domain)
	if err != nil {
		return "", apperr.Field(field, "%s", err.(*apperr.Error).Message)
	}
	addr := strings.ToLower(local) + "@" + ascii
	if len(addr) > 254 {
		return "", apperr.Field(field, "is longer than 254 octets")
	}
	return addr, nil
}

// NormalizeDomain validates a mail domain and returns it lower-cased in
// ASCII form.
func NormalizeDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", apperr.Field("domain", "address literals are not accepted")
	}
	if !utf8.ValidString(domain) {
		// The IDNA mapping would turn bad bytes into U+FFFD and accept them.
		return "", apperr.Field("domain", "domain is not valid UTF-8")
	}
	ascii, err := idnaProfile.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil || ascii == "" {
		return "", apperr.Field("domain", "domain is not a valid internationalized domain name (%s)", apperr.Describe(domain))
	}
	labels := strings.Split(ascii, ".")
	if slices.Contains(labels, "") { // "a.b.." keeps an empty root label after the one trailing dot is trimmed
		return "", apperr.Field("domain", "domain has an empty label")
	}
	if len(labels) < 2 {
		return "", apperr.Field("domain", "domain must have at least two labels")
	}
	tld := labels[len(labels)-1]
	if _, err := strconv.Atoi(tld); err == nil {
		return "", apperr.Field("domain", "domain's last label must not be numeric")
	}
	return strings.ToLower(ascii), nil
}

// DomainOf returns the domain of a normalized address.
func DomainOf(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		return address[i+1:]
	}
	return ""
}

func checkText(field, s string, allowNewlines bool) error {
	if !utf8.ValidString(s) {
		return apperr.Field(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if allowNewlines && (r == '\n' || r == '\t') || r == '\u200d' {
			continue // the zero-width joiner holds emoji sequences together
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) && r != '\u200d' {
			return apperr.Field(field, "must not contain control or format characters")
		}
		if !unicode.IsPrint(r) && r != ' ' {
			return apperr.Field(field, "must contain printable characters only")
		}
	}
	return nil
}

// NormalizeName trims and validates a device name.
func NormalizeName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkText(field, s, false); err != nil {
		return "", err
	}
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", apperr.Field(field, "is required (1-%d characters)", MaxNameLen)
	}
	if n > MaxNameLen {
		return "", apperr.Field(field, "is longer than %d characters", MaxNameLen)
	}
	return s, nil
}

// NormalizeNote validates a note; newlines and tabs are allowed.
func NormalizeNote(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkText(field, s, true); err != nil {
		return "", err
	}
	if utf8.RuneCountInString(s) > MaxNoteLen {
		return "", apperr.Field(field, "is longer than %d characters", MaxNoteLen)
	}
	return s, nil
}

// NormalizeSubject validates a user subject (a JWT "sub"): printable, no
// spaces, at most 128 characters. Empty is allowed and means none.
func NormalizeSubject(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if err := checkText(field, s, false); err != nil {
		return "", err
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return "", apperr.Field(field, "must not contain spaces")
	}
	if utf8.RuneCountInString(s) > MaxUserLen {
		return "", apperr.Field(field, "is longer than %d characters", MaxUserLen)
	}
	return s, nil
}

// ParseScope validates one scope.
func ParseScope(field, s string) (Scope, error) {
	for _, x := range AllScopes {
		if string(x) == s {
			return x, nil
		}
	}
	return "", apperr.Field(field, "is not a known scope (%s); one of imap, pop, smtp, caldav, carddav", apperr.Describe(s))
}

// NormalizeScopes validates a scope list; nil means the defaults. The
// result is in canonical order without duplicates.
func NormalizeScopes(field string, in []string) ([]Scope, error) {
	if in == nil {
		return DefaultScopes(), nil
	}
	if len(in) == 0 {
		return nil, apperr.Field(field, "must name at least one scope")
	}
	seen := map[Scope]bool{}
	for i, s := range in {
		sc, err := ParseScope(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		seen[sc] = true
	}
	out := make([]Scope, 0, len(seen))
	for _, x := range AllScopes {
		if seen[x] {
			out = append(out, x)
		}
	}
	return out, nil
}

// NormalizeAllowIPs parses a CIDR allow-list. A bare address means that
// address alone. A prefix with host bits set is refused, since it usually
// means a typo.
func NormalizeAllowIPs(field string, in []string) ([]netip.Prefix, error) {
	if len(in) > MaxAllowIPs {
		return nil, apperr.Field(field, "has more than %d entries", MaxAllowIPs)
	}
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			p, err = netip.ParsePrefix(s)
			if err != nil {
				return nil, apperr.Field(f, "is not a CIDR block (%s)", apperr.Describe(s))
			}
			if p.Masked() != p {
				return nil, apperr.Field(f, "has host bits set; did you mean %s?", p.Masked())
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, apperr.Field(f, "is not an IP address or CIDR block (%s)", apperr.Describe(s))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			// Shorter than /96 it reaches beyond the mapped IPv4 space and has
			// no IPv4 form; PrefixFrom would make an invalid prefix that is
			// stored as "invalid Prefix" and read back as no allow-list at all.
			if p.Bits() < 96 {
				return nil, apperr.Field(f, "is an IPv4-mapped block shorter than /96; give the IPv4 block instead")
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out, nil
}

// NormalizeExpiry turns expiresAt (RFC 3339) or validFor (a Go duration)
// into an instant after now and at most MaxExpiry ahead. Both empty means
// no expiry.
func NormalizeExpiry(now time.Time, expiresAt, validFor string) (time.Time, error) {
	switch {
	case expiresAt != "" && validFor != "":
		return time.Time{}, apperr.Field("validFor", "give expiresAt or validFor, not both")
	case expiresAt != "":
		t, err := time.Parse(time.RFC3339, expiresAt)
		if err != nil {
			return time.Time{}, apperr.Field("expiresAt", "must be an RFC 3339 instant such as 2027-01-31T18:00:00Z")
		}
		if !t.After(now) {
			return time.Time{}, apperr.Field("expiresAt", "must be in the future")
		}
		if t.Sub(now) > MaxExpiry {
			return time.Time{}, apperr.Field("expiresAt", "must be at most one year ahead")
		}
		return t.UTC(), nil
	case validFor != "":
		d, err := time.ParseDuration(validFor)
		if err != nil {
			return time.Time{}, apperr.Field("validFor", "must be a duration such as 168h or 90m")
		}
		if d <= 0 {
			return time.Time{}, apperr.Field("validFor", "must be positive")
		}
		if d > MaxExpiry {
			return time.Time{}, apperr.Field("validFor", "must be at most one year (8760h)")
		}
		return now.Add(d).UTC(), nil
	}
	return time.Time{}, nil
}

var (
	rateRE = regexp.MustCompile(`^rate\((\d{1,4}) (hour|hours|day|days)\)$`)
	cronRE = regexp.MustCompile(`^cron\(([0-9A-Za-z*?,/#L\-]+ ){5}[0-9A-Za-z*?,/#L\-]+\)$`)
	winRE  = regexp.MustCompile(`^([1-9]|1[0-9]|2[0-4])h$`)
)

// RotationInput is a rotation policy as a client sends it.
type RotationInput struct {
	EveryDays int
	Schedule  string
	Duration  string
	Grace     string
}

// NormalizeRotation validates a rotation policy; nil means none.
func NormalizeRotation(field string, in *RotationInput, defaultGrace time.Duration) (*RotationPolicy, error) {
	if in == nil {
		return nil, nil
	}
	p := &RotationPolicy{Grace: defaultGrace}
	switch {
	case in.EveryDays != 0 && in.Schedule != "":
		return nil, apperr.Field(field, "give everyDays or schedule, not both")
	case in.EveryDays != 0:
		if in.EveryDays < MinRotationDay || in.EveryDays > MaxRotationDay {
			return nil, apperr.Field(field+".everyDays", "must be between %d and %d", MinRotationDay, MaxRotationDay)
		}
		if in.Duration != "" {
			return nil, apperr.Field(field+".duration", "applies to a schedule only")
		}
		p.EveryDays = in.EveryDays
	case in.Schedule != "":
		s := strings.TrimSpace(in.Schedule)
		if m := rateRE.FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			hours := strings.HasPrefix(m[2], "hour")
			if hours && (n < 4 || n > 24*365) || !hours && (n < 1 || n > 365) {
				return nil, apperr.Field(field+".schedule", "rate must be 4-8760 hours or 1-365 days")
			}
		} else if !cronRE.MatchString(s) {
			return nil, apperr.Field(field+".schedule", "must be rate(N hours|days) or a six-field cron(...) expression")
		}
		p.Schedule = s
		if in.Duration != "" {
			if !winRE.MatchString(in.Duration) {
				return nil, apperr.Field(field+".duration", "must be a whole number of hours from 1h to 24h")
			}
			p.Window = in.Duration
		}
	default:
		return nil, apperr.Field(field, "must give everyDays or schedule")
	}
	if in.Grace != "" {
		g, err := time.ParseDuration(in.Grace)
		if err != nil {
			return nil, apperr.Field(field+".grace", "must be a duration such as 2h")
		}
		if g < MinGrace || g > MaxGrace {
			return nil, apperr.Field(field+".grace", "must be between 5m and 168h")
		}
		p.Grace = g
	}
	return p, nil
}

// ParseGraceSeconds validates the grace of a manual regenerate.
func ParseGraceSeconds(field string, n int64) (time.Duration, error) {
	// Compare in seconds: n * time.Second overflows for large n.
	if n < 0 || n > int64(MaxRegenGrace/time.Second) {
		return 0, apperr.Field(field, "must be between 0 and %d seconds", int64(MaxRegenGrace/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}
