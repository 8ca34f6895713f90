package device

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxDescriptionName bounds the device name quoted in a secret's
// Description (Secrets Manager allows 2048 characters in all).
const maxDescriptionName = 100

// SecretDescription is the Description of a device's secret, which
// list-secrets and the console show next to the name, so that operators
// tell devices apart without reading the table: devicepass device "Phone"
// of alice@example.com. The name is sanitized (control characters and
// quotes replaced, spaces collapsed) and bounded; it is metadata the owner
// chose, never a secret.
func SecretDescription(name, mailbox string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(name) {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError:
			space = true
			continue
		case r == '"' || r == '\\':
			r = '\''
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	clean := b.String()
	if utf8.RuneCountInString(clean) > maxDescriptionName {
		clean = string([]rune(clean)[:maxDescriptionName-1]) + "…"
	}
	return `devicepass device "` + clean + `" of ` + mailbox
}

// describeSecret makes the secret's Description name the device as it is
// named now, after a rename: one Secrets Manager call. A failure is logged;
// the rename stands, and the reconciler repairs the Description.
func (s *Devices) describeSecret(ctx context.Context, d Device) {
	if err := s.secrets.SetDescription(ctx, d.SecretARN, SecretDescription(d.Name, d.Mailbox)); err != nil {
		s.log.WarnContext(ctx, "could not update the secret's description; the reconciler will", "mailbox", d.Mailbox, "device", d.ID, "error", err)
	}
}

// reconcileDescription repairs a Description that does not name the device
// as it is named now (a rename whose update failed, or a secret made before
// Descriptions named devices). The listing carries the Description, so
// this costs no call unless it differs. Devices changed within minAge are
// left to the request changing them.
func (s *Repair) reconcileDescription(ctx context.Context, d Device, sec SecretSummary, now time.Time, minAge time.Duration, rep *ReconcileReport, fail func(string, Device, error)) {
	want := SecretDescription(d.Name, d.Mailbox)
	if sec.Description == want || now.Sub(lastChange(d)) < minAge {
		return
	}
	if err := s.secrets.SetDescription(ctx, sec.ARN, want); err != nil {
		fail("repair a secret's description", d, err)
		return
	}
	rep.DescriptionsRepaired++
	s.log.WarnContext(ctx, "repaired a secret's description", "mailbox", d.Mailbox, "device", d.ID)
}

// lastChange is when a device item last changed through the API.
func lastChange(d Device) time.Time {
	if d.UpdatedAt.IsZero() {
		return d.CreatedAt
	}
	return d.UpdatedAt
}
