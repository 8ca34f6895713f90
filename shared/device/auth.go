package device

import (
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// Caller is who makes a request, as the identity provider's token says.
type Caller struct {
	Subject   string
	Email     string
	Groups    []string
	AuthTime  time.Time // when the user last entered credentials; zero if unknown
	SourceIP  string
	UserAgent string
	RequestID string
}

// Policy decides who may do what.
type Policy struct {
	// AdminGroupPattern names the group that makes a caller an
	// administrator of a domain; "{domain}" stands for the domain.
	AdminGroupPattern string
	// StepUpMaxAge is how recent a login must be for a change that raises
	// privilege or hands out a credential.
	StepUpMaxAge time.Duration
}

// IsAdmin reports whether c administers domain, a normalized (ASCII,
// lower-case) domain. Groups match case-insensitively in ASCII only and
// byte for byte otherwise: Unicode case folding would let the Kelvin sign
// (U+212A) stand for k and the long s (U+017F) for s, so a group naming
// another domain would administer this one.
func (p Policy) IsAdmin(c Caller, domain string) bool {
	if domain == "" {
		return false
	}
	want := strings.ReplaceAll(p.AdminGroupPattern, "{domain}", domain)
	for _, g := range c.Groups {
		if EqualFoldASCII(g, want) {
			return true
		}
	}
	return false
}

// EqualFoldASCII reports whether a and b are equal when ASCII letters are
// compared without case; every other byte must be equal.
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// errNoAccess is the one answer for a mailbox the caller may not manage,
// whether or not it exists, so that addresses cannot be enumerated.
func errNoAccess() error {
	return apperr.New(apperr.Forbidden,
		"you are neither the owner of this mailbox nor an administrator of its domain; "+
			"ask a domain administrator to register you as owner or to send you an enrollment link")
}

// CanManage returns nil if c may manage the devices of mailbox address,
// whose stored record is m (nil when it does not exist). Administrators of
// the domain learn that a mailbox does not exist (NotFound); everyone else
// gets the same Forbidden answer whether or not it exists.
func (p Policy) CanManage(c Caller, address string, m *Mailbox) error {
	if c.Subject == "" {
		return apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if p.IsAdmin(c, DomainOf(address)) {
		if m == nil {
			return apperr.New(apperr.NotFound, "mailbox %s is not registered", address)
		}
		return nil
	}
	if m != nil && m.Owner == c.Subject {
		return nil
	}
	return errNoAccess()
}

// RequireFresh returns StepUpRequired unless c logged in within
// StepUpMaxAge before now.
func (p Policy) RequireFresh(c Caller, now time.Time) error {
	if c.AuthTime.IsZero() || now.Sub(c.AuthTime) > p.StepUpMaxAge || c.AuthTime.After(now.Add(time.Minute)) {
		return apperr.New(apperr.StepUpRequired,
			"this operation needs a login within the last %s; sign in again and retry", p.StepUpMaxAge)
	}
	return nil
}
