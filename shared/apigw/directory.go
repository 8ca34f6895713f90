package apigw

import (
	"context"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// The console's starting points: who the caller is, their mailboxes, and
// a domain's mailboxes for its administrators.

func (h *Handler) directory() (Directory, error) {
	if h.deps.Directory == nil {
		return nil, apperr.New(apperr.Unavailable, "mailbox listings are not available in this deployment")
	}
	return h.deps.Directory, nil
}

func (h *Handler) getMe(_ context.Context, r *request) (response, error) {
	d, err := h.directory()
	if err != nil {
		return response{}, err
	}
	me, err := d.Me(r.caller)
	if err != nil {
		return response{}, err
	}
	domains := me.AdminDomains
	if domains == nil {
		domains = []string{}
	}
	return reply(200, api.Me{Subject: me.Subject, Email: nullString(me.Email), AdminDomains: domains}), nil
}

func (h *Handler) listMyMailboxes(ctx context.Context, r *request) (response, error) {
	var q api.ListMyMailboxesParams
	if err := bindQuery(r.query, &q); err != nil {
		return response{}, err
	}
	d, err := h.directory()
	if err != nil {
		return response{}, err
	}
	p, err := d.MyMailboxes(ctx, r.caller, deref(q.Cursor), deref(q.Limit))
	if err != nil {
		return response{}, err
	}
	return reply(200, mailboxPage(p)), nil
}

func (h *Handler) listDomainMailboxes(ctx context.Context, r *request) (response, error) {
	var q api.ListDomainMailboxesParams
	if err := bindQuery(r.query, &q); err != nil {
		return response{}, err
	}
	d, err := h.directory()
	if err != nil {
		return response{}, err
	}
	p, err := d.DomainMailboxes(ctx, r.caller, r.params[api.PathDomain], deref(q.Prefix), deref(q.Cursor), deref(q.Limit))
	if err != nil {
		return response{}, err
	}
	return reply(200, mailboxPage(p)), nil
}

func mailboxPage(p device.MailboxPage) api.MailboxPage {
	out := api.MailboxPage{Items: make([]api.Mailbox, 0, len(p.Mailboxes)), Next: nullString(p.Next)}
	for _, m := range p.Mailboxes {
		out.Items = append(out.Items, mailboxAnswer(m))
	}
	return out
}

func (h *Handler) listEnrollments(ctx context.Context, r *request) (response, error) {
	var q api.ListEnrollmentsParams
	if err := bindQuery(r.query, &q); err != nil {
		return response{}, err
	}
	if h.deps.OpenLinks == nil {
		return response{}, apperr.New(apperr.Unavailable, "listing enrollment links is not available in this deployment")
	}
	p, err := h.deps.OpenLinks.ListOpenEnrollments(ctx, r.caller, r.mailbox, deref(q.Cursor), deref(q.Limit))
	if err != nil {
		return response{}, err
	}
	now := h.now()
	out := api.EnrollmentPage{Items: make([]api.Enrollment, 0, len(p.Enrollments)), Next: nullString(p.Next)}
	for _, e := range p.Enrollments {
		out.Items = append(out.Items, enrollmentAnswer(e, now))
	}
	return reply(200, out), nil
}
