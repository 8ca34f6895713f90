package device

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/devicepass/devicepass/shared/apperr"
)

// MailboxIndex finds mailboxes by owner and by domain, for the console's
// home and domain pages. Each method is one Query on an index, never a
// scan; results come in address order, one page at a time, with the
// cursor of the next page ("" at the end). Invalid for a bad cursor.
type MailboxIndex interface {
	MailboxesByOwner(ctx context.Context, owner, cursor string, limit int) ([]Mailbox, string, error)
	// MailboxesByDomain lists the mailboxes of a normalized domain whose
	// address starts with prefix ("" for all).
	MailboxesByDomain(ctx context.Context, domain, prefix, cursor string, limit int) ([]Mailbox, string, error)
}

// Directory answers who the caller is and which mailboxes they may open:
// the read-only use cases behind GET /v1/me, /v1/me/mailboxes and
// /v1/domains/{domain}/mailboxes. It is separate from Service because it
// needs only the index and the policy, never Secrets Manager.
type Directory struct {
	index  MailboxIndex
	policy Policy
}

// NewDirectory returns a Directory on index deciding with policy.
func NewDirectory(index MailboxIndex, policy Policy) (*Directory, error) {
	if index == nil {
		return nil, errors.New("device: NewDirectory needs a mailbox index")
	}
	if !strings.Contains(policy.AdminGroupPattern, "{domain}") {
		return nil, errors.New("device: the admin group pattern must contain {domain}")
	}
	return &Directory{index: index, policy: policy}, nil
}

// Me is the caller as the console shows them.
type Me struct {
	Subject      string
	Email        string
	AdminDomains []string // sorted, normalized
}

// MailboxPage is one page of mailboxes and the cursor of the next.
type MailboxPage struct {
	Mailboxes []Mailbox
	Next      string
}

// Me returns the caller's subject, email and administered domains.
func (d *Directory) Me(c Caller) (Me, error) {
	if c.Subject == "" {
		return Me{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	return Me{Subject: c.Subject, Email: c.Email, AdminDomains: d.policy.AdminDomains(c)}, nil
}

// MyMailboxes lists the mailboxes whose owner is the caller.
func (d *Directory) MyMailboxes(ctx context.Context, c Caller, cursor string, limit int) (MailboxPage, error) {
	if c.Subject == "" {
		return MailboxPage{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	limit, err := pageLimit(limit)
	if err != nil {
		return MailboxPage{}, err
	}
	ms, next, err := d.index.MailboxesByOwner(ctx, c.Subject, cursor, limit)
	if err != nil {
		return MailboxPage{}, fmt.Errorf("list owned mailboxes: %w", err)
	}
	return MailboxPage{Mailboxes: ms, Next: next}, nil
}

// DomainMailboxes lists a domain's mailboxes, for its administrators
// only: anyone else gets Forbidden, whether or not the domain has any.
func (d *Directory) DomainMailboxes(ctx context.Context, c Caller, domain, prefix, cursor string, limit int) (MailboxPage, error) {
	if c.Subject == "" {
		return MailboxPage{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	dom, err := NormalizeDomain(domain)
	if err != nil {
		// NormalizeDomain's message may quote the value; name the field only.
		return MailboxPage{}, apperr.Field("domain", "is not a valid mail domain")
	}
	if !d.policy.IsAdmin(c, dom) {
		return MailboxPage{}, apperr.New(apperr.Forbidden, "only an administrator of this domain may list its mailboxes")
	}
	if len(prefix) > 254 || strings.ContainsAny(prefix, "\x00\r\n") {
		return MailboxPage{}, apperr.Field("prefix", "must be at most 254 characters of an address")
	}
	if err := checkText("prefix", prefix, false); err != nil {
		return MailboxPage{}, err
	}
	limit, err = pageLimit(limit)
	if err != nil {
		return MailboxPage{}, err
	}
	ms, next, err := d.index.MailboxesByDomain(ctx, dom, prefix, cursor, limit)
	if err != nil {
		return MailboxPage{}, fmt.Errorf("list domain mailboxes: %w", err)
	}
	return MailboxPage{Mailboxes: ms, Next: next}, nil
}

func pageLimit(limit int) (int, error) {
	if limit == 0 {
		return DefaultPageSize, nil
	}
	if limit < 1 || limit > MaxPageSize {
		return 0, apperr.Field("limit", "must be between 1 and %d", MaxPageSize)
	}
	return limit, nil
}

// AdminDomains returns the domains c administers: the groups matching the
// admin group pattern (case-insensitively, as IsAdmin compares), with the
// domain normalized, sorted and without duplicates. A group whose domain
// part is not a valid domain is ignored.
func (p Policy) AdminDomains(c Caller) []string {
	before, after, ok := strings.Cut(p.AdminGroupPattern, "{domain}")
	if !ok {
		return []string{}
	}
	out := []string{}
	for _, g := range c.Groups {
		if len(g) <= len(before)+len(after) ||
			!strings.EqualFold(g[:len(before)], before) || !strings.EqualFold(g[len(g)-len(after):], after) {
			continue
		}
		dom, err := NormalizeDomain(g[len(before) : len(g)-len(after)])
		if err != nil || !p.IsAdmin(c, dom) {
			continue
		}
		out = append(out, dom)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
