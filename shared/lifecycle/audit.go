package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// AuditStore keeps the audit trail: every lifecycle event of a mailbox, in
// time order, for a configurable retention.
type AuditStore interface {
	// ListAudit returns one page of a mailbox's events, newest first, and
	// the cursor of the next page ("" at the end). Invalid for a bad cursor.
	ListAudit(ctx context.Context, mailbox, cursor string, limit int) ([]Event, string, error)
}

// Lookup is the part of device.MailboxReader the audit service needs.
type Lookup interface {
	Lookup(ctx context.Context, q device.LookupQuery) (device.LookupResult, error)
}

// Audit serves the audit trail to a mailbox's owner and its domain's
// administrators.
type Audit struct {
	lookup Lookup
	store  AuditStore
	policy device.Policy
}

// NewAudit returns the audit service.
func NewAudit(lookup Lookup, store AuditStore, policy device.Policy) (*Audit, error) {
	if lookup == nil || store == nil {
		return nil, errors.New("lifecycle: NewAudit needs a lookup and an audit store")
	}
	if policy.AdminGroupPattern == "" {
		return nil, errors.New("lifecycle: NewAudit needs the admin group pattern")
	}
	return &Audit{lookup: lookup, store: store, policy: policy}, nil
}

// Page is one page of the audit trail.
type Page struct {
	Items []Event
	Next  string
}

// List returns a page of a mailbox's audit trail, with the same
// authorization (and the same no-enumeration answer) as its devices.
func (a *Audit) List(ctx context.Context, c device.Caller, address, cursor string, limit int) (Page, error) {
	addr, err := device.NormalizeAddress("address", address)
	if err != nil {
		return Page{}, err
	}
	if limit == 0 {
		limit = device.DefaultPageSize
	}
	if limit < 1 || limit > device.MaxPageSize {
		return Page{}, apperr.Field("limit", "must be between 1 and %d", device.MaxPageSize)
	}
	lr, err := a.lookup.Lookup(ctx, device.LookupQuery{Mailbox: addr})
	if err != nil {
		return Page{}, fmt.Errorf("lookup mailbox: %w", err)
	}
	if err := a.policy.CanManage(c, addr, lr.Mailbox); err != nil {
		return Page{}, err
	}
	items, next, err := a.store.ListAudit(ctx, addr, cursor, limit)
	if err != nil {
		return Page{}, fmt.Errorf("list audit: %w", err)
	}
	return Page{Items: items, Next: next}, nil
}
