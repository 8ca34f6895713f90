// Package apperr is devicepass's one error model: a code that says what went
// wrong in terms a client can act on, the field it concerns, and a message
// safe to show. Adapters translate infrastructure errors into these codes at
// their boundary; the HTTP layer maps each code to one status.
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Code classifies an error.
type Code string

// The codes. Each maps to exactly one HTTP status in shared/apigw.
const (
	Invalid          Code = "invalid"           // the request is malformed or a field is out of range (400, or 422 for semantic conflicts)
	NotFound         Code = "not_found"         // the resource does not exist, or the caller may not know it exists (404)
	Conflict         Code = "conflict"          // the resource changed, exists already, or is in the wrong state (409)
	LimitReached     Code = "limit_reached"     // a configured cap was reached (409)
	PolicyViolation  Code = "policy_violation"  // the domain's policy forbids the request; Field names the rule (403)
	Forbidden        Code = "forbidden"         // the caller is known but may not do this (403)
	Unauthenticated  Code = "unauthenticated"   // no valid credentials (401)
	StepUpRequired   Code = "step_up_required"  // credentials valid but the login is too old (401 with RFC 9470 challenge)
	RateLimited      Code = "rate_limited"      // too many attempts (429)
	TooLarge         Code = "too_large"         // the body exceeds the limit (413)
	UnsupportedMedia Code = "unsupported_media" // the body is not JSON (415)
	Unavailable      Code = "unavailable"       // a dependency failed; the request may be retried (503)
	Internal         Code = "internal"          // a bug; details are logged, never returned (500)
)

// Error is an error with a code, an optional field and a client-safe message.
type Error struct {
	Code    Code
	Field   string // the request field at fault, in JSON path form, if any
	Message string // safe to return to the client
	Err     error  // the cause, for logs only
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Field returns an Invalid error about one field.
func Field(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with code and message that keeps err as its cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Describe says what a refused value looks like without quoting it: its
// length and the classes of its characters. A value that fails validation
// may be a password pasted into the wrong field, so errors and logs carry
// this description, bounded and safe, never the value.
func Describe(s string) string {
	if s == "" {
		return "empty"
	}
	var n int
	var lower, upper, digit, space, punct, other, control, invalid bool
	for i, r := range s {
		n++
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			invalid = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			control = true
		case r == ' ' || unicode.IsSpace(r):
			space = true
		case r < 0x80:
			punct = true
		default:
			other = true
		}
	}
	var classes []string
	for _, c := range []struct {
		on   bool
		name string
	}{{lower, "lower-case letters"}, {upper, "upper-case letters"}, {digit, "digits"}, {punct, "ASCII punctuation"},
		{space, "spaces"}, {other, "non-ASCII characters"}, {control, "control characters"}, {invalid, "invalid UTF-8"}} {
		if c.on {
			classes = append(classes, c.name)
		}
	}
	unit := "characters"
	if n == 1 {
		unit = "character"
	}
	return fmt.Sprintf("%d %s: %s", n, unit, strings.Join(classes, ", "))
}

// validAt reports whether s holds a valid encoding at byte i (where
// ranging yielded U+FFFD: the character itself or a bad byte).
func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 3
}
