package sns_test

import (
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/sns"
)

func TestSubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ev   lifecycle.Event
		want string
	}{
		{lifecycle.Event{Type: lifecycle.DeviceCreated, Mailbox: "alice@example.com"}, "New device added to alice@example.com"},
		{lifecycle.Event{Type: lifecycle.EnrollmentUsed, Mailbox: "bob@example.com"}, "Enrollment link used to add a device to bob@example.com"},
		{lifecycle.Event{Type: lifecycle.DeviceCreated, Mailbox: "jörg@example.com"}, "New device added to j??rg@example.com"},
		{lifecycle.Event{Type: lifecycle.DeviceCreated, Mailbox: strings.Repeat("a", 90) + "@example.com"}, "New device added to " + strings.Repeat("a", 77) + "..."},
	}
	for _, tc := range cases {
		if got := sns.Subject(tc.ev); got != tc.want || len(got) > 100 {
			t.Errorf("Subject(%s) = %q, want %q", tc.ev.Mailbox, got, tc.want)
		}
	}
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	if _, err := sns.New(nil, "arn"); err == nil {
		t.Error("New without a client succeeded")
	}
}
