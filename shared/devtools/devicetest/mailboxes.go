package devicetest

import (
	"context"
	"slices"
	"strings"

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
