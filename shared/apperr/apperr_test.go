package apperr_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/apperr"
)

func TestErrorText(t *testing.T) {
	cases := []struct {
		err  *apperr.Error
		want string
	}{
		{apperr.New(apperr.Conflict, "device %s changed", "d1"), "device d1 changed"},
		{apperr.Field("name", "must be at most %d characters", 64), "name: must be at most 64 characters"},
		{apperr.Wrap(io.ErrUnexpectedEOF, apperr.Unavailable, "read the table"), "read the table: unexpected EOF"},
		{&apperr.Error{Code: apperr.Invalid, Field: "scopes[1]", Message: "unknown scope", Err: io.EOF}, "scopes[1]: unknown scope: EOF"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestConstructors(t *testing.T) {
	if e := apperr.New(apperr.NotFound, "no %s", "device"); e.Code != apperr.NotFound || e.Message != "no device" || e.Field != "" || e.Err != nil {
		t.Errorf("New = %+v", e)
	}
	if e := apperr.Field("mailbox", "is required"); e.Code != apperr.Invalid || e.Field != "mailbox" || e.Message != "is required" {
		t.Errorf("Field = %+v", e)
	}
	cause := errors.New("socket closed")
	e := apperr.Wrap(cause, apperr.Unavailable, "create secret")
	if e.Code != apperr.Unavailable || e.Message != "create secret" || !errors.Is(e, cause) || e.Unwrap() != cause {
		t.Errorf("Wrap = %+v, want the cause kept", e)
	}
}

func TestCodeOf(t *testing.T) {
	limit := apperr.New(apperr.LimitReached, "too many devices")
	cases := []struct {
		name string
		err  error
		want apperr.Code
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("boom"), apperr.Internal},
		{"direct", limit, apperr.LimitReached},
		{"wrapped by fmt", fmt.Errorf("create: %w", limit), apperr.LimitReached},
		{"joined", errors.Join(errors.New("other"), limit), apperr.LimitReached},
		// The outermost *Error decides: an adapter's translation wins over
		// the code of what it wrapped.
		{"outer wins", apperr.Wrap(apperr.New(apperr.Conflict, "inner"), apperr.Unavailable, "outer"), apperr.Unavailable},
	}
	for _, tc := range cases {
		if got := apperr.CodeOf(tc.err); got != tc.want {
			t.Errorf("%s: CodeOf = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIs(t *testing.T) {
	err := fmt.Errorf("verify: %w", apperr.New(apperr.RateLimited, "slow down"))
	if !apperr.Is(err, apperr.RateLimited) {
		t.Error("Is(RateLimited) = false through a wrap")
	}
	if apperr.Is(err, apperr.Forbidden) {
		t.Error("Is(Forbidden) = true for a rate-limited error")
	}
	if apperr.Is(nil, "") || apperr.Is(nil, apperr.Internal) {
		t.Error("Is(nil, ...) = true")
	}
	if !apperr.Is(errors.New("bug"), apperr.Internal) {
		t.Error("a plain error is not Internal")
	}
}

func TestAs(t *testing.T) {
	inner := apperr.Field("name", "too long")
	got, ok := apperr.As(fmt.Errorf("update: %w", inner))
	if !ok || got != inner {
		t.Errorf("As = %v, %v; want the wrapped *Error", got, ok)
	}
	if got, ok := apperr.As(errors.New("plain")); ok || got != nil {
		t.Errorf("As(plain) = %v, %v; want nil, false", got, ok)
	}
}

// The cause stays out of what a client is shown: Message and Field carry
// no part of it, so the HTTP layer can return them as they are.
func TestCauseNotInMessage(t *testing.T) {
	e := apperr.Wrap(errors.New("arn:aws:secretsmanager:eu-west-1:123:secret:x s3cr3t"), apperr.Unavailable, "the secret store is unavailable")
	if e.Message != "the secret store is unavailable" || e.Field != "" {
		t.Errorf("client-visible parts %q / %q carry the cause", e.Message, e.Field)
	}
}

// TestDescribe: a refused value is described by its length and character
// classes, never quoted.
func TestDescribe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"a", "1 character: lower-case letters"},
		{"Nmkkk747KdrFsUEgtB2DCjWd", "24 characters: lower-case letters, upper-case letters, digits"},
		{"a b-c", "5 characters: lower-case letters, ASCII punctuation, spaces"},
		{"\u212a\u3000\x00", "3 characters: spaces, non-ASCII characters, control characters"},
		{"x\xff", "2 characters: lower-case letters, invalid UTF-8"},
		{"\ufffd", "1 character: non-ASCII characters"},
	}
	for _, tc := range tests {
		got := apperr.Describe(tc.in)
		if got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(tc.in) > 2 && strings.Contains(got, tc.in) {
			t.Errorf("Describe(%q) quotes the value", tc.in)
		}
	}
}
