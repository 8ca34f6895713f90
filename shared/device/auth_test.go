package device_test

import (
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

func TestPolicyIsAdmin(t *testing.T) {
	p := device.Policy{AdminGroupPattern: "domain-admin:{domain}"}
	tests := []struct {
		groups []string
		domain string
		want   bool
	}{
		{[]string{"domain-admin:example.com"}, "example.com", true},
		{[]string{"users", "Domain-Admin:EXAMPLE.com"}, "example.com", true},
		{[]string{"domain-admin:example.com"}, "sub.example.com", false},
		{[]string{"domain-admin:sub.example.com"}, "example.com", false},
		{[]string{"domain-admin:example.com.evil"}, "example.com", false},
		{[]string{"domain-admin:"}, "", false},
		{[]string{"domain-admin:*"}, "example.com", false},
		{nil, "example.com", false},
		// ASCII case is ignored; nothing else is folded.
		{[]string{"Domain-Admin:EXAMPLE.com"}, "example.com", true},
		{[]string{"domain-admin:\u212a\u212a.example"}, "kk.example", false}, // Kelvin sign
		{[]string{"domain-admin:\u017fub.example"}, "sub.example", false},    // long s
		{[]string{"domain-admin:example.com\u0000"}, "example.com", false},
	}
	for _, tc := range tests {
		if got := p.IsAdmin(device.Caller{Subject: "s", Groups: tc.groups}, tc.domain); got != tc.want {
			t.Errorf("IsAdmin(%v, %q) = %v, want %v", tc.groups, tc.domain, got, tc.want)
		}
	}
	custom := device.Policy{AdminGroupPattern: "admins@{domain}"}
	if !custom.IsAdmin(device.Caller{Groups: []string{"admins@example.com"}}, "example.com") ||
		custom.IsAdmin(device.Caller{Groups: []string{"domain-admin:example.com"}}, "example.com") {
		t.Error("a configured pattern is not the one applied")
	}
}

func TestPolicyCanManage(t *testing.T) {
	p := device.Policy{AdminGroupPattern: "domain-admin:{domain}"}
	const addr = "alice@example.com"
	m := &device.Mailbox{Address: addr, Owner: "owner"}
	admin := device.Caller{Subject: "admin", Groups: []string{"domain-admin:example.com"}}
	owner := device.Caller{Subject: "owner"}
	stranger := device.Caller{Subject: "mallory"}
	tests := []struct {
		name string
		c    device.Caller
		m    *device.Mailbox
		want apperr.Code // "" for allowed
	}{
		{"admin", admin, m, ""},
		{"admin, missing mailbox", admin, nil, apperr.NotFound},
		{"owner", owner, m, ""},
		{"owner of a missing mailbox", owner, nil, apperr.Forbidden},
		{"stranger", stranger, m, apperr.Forbidden},
		{"stranger, missing mailbox", stranger, nil, apperr.Forbidden},
		{"admin of another domain", device.Caller{Subject: "a", Groups: []string{"domain-admin:example.org"}}, m, apperr.Forbidden},
		{"anonymous", device.Caller{Groups: []string{"domain-admin:example.com"}}, m, apperr.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.CanManage(tc.c, addr, tc.m)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CanManage: %v", err)
				}
				return
			}
			wantCode(t, err, tc.want)
		})
	}
	// No enumeration: the same answer, word for word, whether or not the
	// mailbox exists.
	if a, b := p.CanManage(stranger, addr, m), p.CanManage(stranger, addr, nil); a.Error() != b.Error() {
		t.Errorf("answers differ: %q and %q", a, b)
	}
}

func TestPolicyRequireFresh(t *testing.T) {
	p := device.Policy{StepUpMaxAge: 5 * time.Minute}
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		auth time.Time
		ok   bool
	}{
		{"just now", now, true},
		{"at the limit", now.Add(-5 * time.Minute), true},
		{"a second too old", now.Add(-5*time.Minute - time.Second), false},
		{"unknown", time.Time{}, false},
		{"clock skew", now.Add(30 * time.Second), true},
		{"from the future", now.Add(2 * time.Minute), false},
	}
	for _, tc := range tests {
		err := p.RequireFresh(device.Caller{Subject: "s", AuthTime: tc.auth}, now)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil {
			wantCode(t, err, apperr.StepUpRequired)
		}
	}
}
