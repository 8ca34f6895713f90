package devicetest

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

var _ device.MailboxIndex = (*MemStore)(nil)

// MailboxesByOwner implements device.MailboxIndex; the cursor is the last
// address of the previous page, as plain text (the fake need not hide it).
func (s *MemStore) MailboxesByOwner(ctx context.Context, owner, cursor string, limit int) ([]device.Mailbox, string, error) {
	return s.mailboxesWhere(ctx, "MailboxesByOwner", cursor, limit, func(m *device.Mailbox) bool { return m.Owner == owner })
}

// MailboxesByDomain implements device.MailboxIndex.
func (s *MemStore) MailboxesByDomain(ctx context.Context, domain, prefix, cursor string, limit int) ([]device.Mailbox, string, error) {
	return s.mailboxesWhere(ctx, "MailboxesByDomain", cursor, limit, func(m *device.Mailbox) bool {
		return m.Domain() == domain && strings.HasPrefix(m.Address, prefix)
	})
}

func (s *MemStore) mailboxesWhere(ctx context.Context, method, cursor string, limit int, keep func(*device.Mailbox) bool) (_ []device.Mailbox, _ string, err error) {
	after, err := s.lockedCall(ctx, method)
	if err != nil {
		return nil, "", err
	}
	defer s.unlock(&err, after)
	if cursor != "" && !strings.Contains(cursor, "@") {
		return nil, "", apperr.Field("cursor", "is not a cursor this API returned")
	}
	var out []device.Mailbox
	for _, m := range s.mailboxes {
		if keep(m) && m.Address > cursor {
			out = append(out, *m)
		}
	}
	slices.SortFunc(out, func(a, b device.Mailbox) int { return strings.Compare(a.Address, b.Address) })
	if len(out) > limit {
		return out[:limit], out[limit-1].Address, nil
	}
	return out, "", nil
}

var _ device.EnrollmentIndex = (*MemStore)(nil)

// OpenEnrollments implements device.EnrollmentIndex; the cursor is the
// last id of the previous page (links sort by expiry, then id).
func (s *MemStore) OpenEnrollments(ctx context.Context, mailbox string, now time.Time, cursor string, limit int) (_ []device.Enrollment, _ string, err error) {
	after, err := s.lockedCall(ctx, "OpenEnrollments")
	if err != nil {
		return nil, "", err
	}
	defer s.unlock(&err, after)
	var out []device.Enrollment
	for _, e := range s.enrollmentsOf() {
		if e.Mailbox == mailbox && e.Status == device.EnrollmentOpen && now.Before(e.ExpiresAt) {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b device.Enrollment) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if cursor != "" {
		i := slices.IndexFunc(out, func(e device.Enrollment) bool { return e.ID == cursor })
		if i < 0 {
			return nil, "", apperr.Field("cursor", "is not a cursor this API returned")
		}
		out = out[i+1:]
	}
	if len(out) > limit {
		return out[:limit], out[limit-1].ID, nil
	}
	return out, "", nil
}
