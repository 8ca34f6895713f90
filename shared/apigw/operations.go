package apigw

import (
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// The management API's operations, one per route of docs/openapi.yaml:
// each reads its decoded body and parameters, calls one use case and
// answers with the document's type.

func (h *Handler) putMailbox(ctx context.Context, r *request, in api.PutMailboxJSONRequestBody) (response, error) {
	m, created, err := h.deps.Mailboxes.RegisterMailbox(ctx, r.caller, r.mailbox, in.Owner)
	if err != nil {
		return response{}, err
	}
	r.mailbox = m.Address
	if !created {
		return reply(200, mailboxAnswer(m)), nil
	}
	res := reply(201, mailboxAnswer(m))
	res.headers["Location"] = mailboxLocation(m.Address)
	return res, nil
}

func (h *Handler) getMailbox(ctx context.Context, r *request) (response, error) {
	m, err := h.deps.Mailboxes.GetMailbox(ctx, r.caller, r.mailbox)
	if err != nil {
		return response{}, err
	}
	out := mailboxAnswer(m)
	if h.deps.Policies != nil {
		// The owner sees the rules their devices must follow.
		p, err := h.deps.Policies.Effective(ctx, m.Domain())
		if err != nil {
			return response{}, err
		}
		limits := policyAnswer(p)
		out.Limits = &limits
	}
	return reply(200, out), nil
}

// rotationInput reads a rotation policy member.
func rotationInput(path string, in api.RotationInput) (*device.RotationInput, error) {
	out := &device.RotationInput{}
	if in.EveryDays != nil {
		n := *in.EveryDays
		if n < math.MinInt32 || n > math.MaxInt32 {
			return nil, apperr.Field(path+".everyDays", "must be between %d and %d", device.MinRotationDay, device.MaxRotationDay)
		}
		out.EveryDays = n
	}
	out.Schedule = deref(in.Schedule)
	out.Duration = deref(in.Duration)
	out.Grace = deref(in.Grace)
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// scopeStrings returns the scopes as the domain reads them: present (even
// empty) when the member was sent, nil when it was not.
func scopeStrings(scopes *[]api.Scope) []string {
	if scopes == nil {
		return nil
	}
	out := make([]string, len(*scopes))
	for i, s := range *scopes {
		out[i] = string(s)
	}
	return out
}

// nonEmpty refuses an optional string member that was sent empty: the
// document gives it minLength 1, and reading "" as absent would silently
// drop what the client meant (an expiry, a bound user).
func nonEmpty(members map[string]*string) error {
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if p := members[name]; p != nil && *p == "" {
			return apperr.Field(name, "must not be empty; leave the member out instead")
		}
	}
	return nil
}

// idempotencyKey returns the Idempotency-Key header; sent but empty is a
// mistake, not the absence of a key.
func idempotencyKey(r *request) (string, error) {
	k, sent := lookupHeader(r.ev, api.HeaderIdempotencyKey)
	if sent && k == "" {
		return "", apperr.Field(api.HeaderIdempotencyKey, "must not be empty; leave the header out to create without one")
	}
	return k, nil
}

// rotationStrings are the optional strings of a rotation member.
func rotationStrings(path string, in *api.RotationInput) map[string]*string {
	if in == nil {
		return nil
	}
	return map[string]*string{path + ".schedule": in.Schedule, path + ".duration": in.Duration, path + ".grace": in.Grace}
}

func (h *Handler) createDevice(ctx context.Context, r *request, body api.CreateDeviceJSONRequestBody) (response, error) {
	idemKey, err := idempotencyKey(r)
	if err != nil {
		return response{}, err
	}
	opt := map[string]*string{"user": body.User, "expiresAt": body.ExpiresAt, "validFor": body.ValidFor}
	maps.Copy(opt, rotationStrings("rotation", body.Rotation))
	if err := nonEmpty(opt); err != nil {
		return response{}, err
	}
	in := device.CreateInput{
		Name:      body.Name,
		Note:      deref(body.Note),
		User:      deref(body.User),
		ExpiresAt: deref(body.ExpiresAt),
		ValidFor:  deref(body.ValidFor),
		Scopes:    scopeStrings(body.Scopes),
	}
	if body.AllowIps != nil {
		in.AllowIPs = *body.AllowIps
	}
	if body.Rotation != nil {
		if in.Rotation, err = rotationInput("rotation", *body.Rotation); err != nil {
			return response{}, err
		}
	}
	c, err := h.deps.Devices.CreateDevice(ctx, r.caller, r.mailbox, in, idemKey)
	if err != nil {
		return response{}, err
	}
	r.mailbox, r.deviceID = c.Device.Mailbox, c.Device.ID
	res := reply(201, withPassword(c, h.now()))
	res.headers["Location"] = deviceLocation(c.Device.Mailbox, c.Device.ID)
	if c.Replayed {
		res.headers["Idempotent-Replayed"] = "true"
	}
	return res, nil
}

func (h *Handler) listDevices(ctx context.Context, r *request) (response, error) {
	var q api.ListDevicesParams
	if err := bindQuery(r.query, &q); err != nil {
		return response{}, err
	}
	p, err := h.deps.Devices.ListDevices(ctx, r.caller, r.mailbox, deref(q.Cursor), deref(q.Limit))
	if err != nil {
		return response{}, err
	}
	now := h.now()
	out := api.DevicePage{Items: make([]api.Device, 0, len(p.Devices)), Next: nullString(p.Next)}
	for _, d := range p.Devices {
		out.Items = append(out.Items, deviceAnswer(d, now))
	}
	return reply(200, out), nil
}

func (h *Handler) getDevice(ctx context.Context, r *request) (response, error) {
	d, err := h.deps.Devices.GetDevice(ctx, r.caller, r.mailbox, r.deviceID)
	if err != nil {
		return response{}, err
	}
	return reply(200, deviceAnswer(d, h.now())), nil
}

// updateDevice applies a JSON merge patch (RFC 7396): an absent member
// leaves its value alone, null removes it (note, allowIps, rotation), and
// rotation is replaced as a whole.
func (h *Handler) updateDevice(ctx context.Context, r *request, body api.UpdateDeviceJSONRequestBody) (response, error) {
	var p device.Patch
	p.Name = body.Name
	if body.Note.IsSpecified() {
		note := body.Note[true] // null: "", no note
		p.Note = &note
	}
	if body.Status != nil {
		status := string(*body.Status)
		p.Status = &status
	}
	if body.Scopes != nil {
		scopes := scopeStrings(body.Scopes)
		p.Scopes = &scopes
	}
	if body.AllowIps.IsSpecified() {
		ips := body.AllowIps[true]
		if ips == nil {
			ips = []string{} // null: no allow-list
		}
		p.AllowIPs = &ips
	}
	if body.Rotation.IsSpecified() && !body.Rotation.IsNull() {
		rot := body.Rotation[true]
		if err := nonEmpty(rotationStrings("rotation", &rot)); err != nil {
			return response{}, err
		}
	}
	if body.Rotation.IsSpecified() {
		if body.Rotation.IsNull() {
			p.RemoveRotation = true
		} else {
			var err error
			if p.Rotation, err = rotationInput("rotation", body.Rotation[true]); err != nil {
				return response{}, err
			}
		}
	}
	d, err := h.deps.Devices.UpdateDevice(ctx, r.caller, r.mailbox, r.deviceID, p)
	if err != nil {
		return response{}, err
	}
	return reply(200, deviceAnswer(d, h.now())), nil
}

func (h *Handler) revokeDevice(ctx context.Context, r *request) (response, error) {
	d, err := h.deps.Devices.Revoke(ctx, r.caller, r.mailbox, r.deviceID)
	if err != nil {
		return response{}, err
	}
	return reply(200, deviceAnswer(d, h.now())), nil
}

func (h *Handler) regenerate(ctx context.Context, r *request, body api.RegeneratePasswordJSONRequestBody) (response, error) {
	var grace time.Duration
	if body.GraceSeconds != nil {
		var err error
		if grace, err = device.ParseGraceSeconds("graceSeconds", int64(*body.GraceSeconds)); err != nil {
			return response{}, err
		}
	}
	c, err := h.deps.Devices.Regenerate(ctx, r.caller, r.mailbox, r.deviceID, grace)
	if err != nil {
		return response{}, err
	}
	return reply(200, withPassword(c, h.now())), nil
}

func (h *Handler) revokeAll(ctx context.Context, r *request) (response, error) {
	n, err := h.deps.Devices.RevokeAll(ctx, r.caller, r.mailbox)
	if err != nil {
		return response{}, err
	}
	return reply(200, api.Revoked{Revoked: n}), nil
}

func (h *Handler) createEnrollment(ctx context.Context, r *request, body api.CreateEnrollmentJSONRequestBody) (response, error) {
	if err := nonEmpty(map[string]*string{"user": body.User, "expiresAt": body.ExpiresAt, "validFor": body.ValidFor, "tokenValidFor": body.TokenValidFor}); err != nil {
		return response{}, err
	}
	in := device.EnrollmentInput{
		Name:          body.Name,
		User:          deref(body.User),
		ExpiresAt:     deref(body.ExpiresAt),
		ValidFor:      deref(body.ValidFor),
		TokenValidFor: deref(body.TokenValidFor),
		Scopes:        scopeStrings(body.Scopes),
	}
	e, token, err := h.deps.Enrollments.CreateEnrollment(ctx, r.caller, r.mailbox, in)
	if err != nil {
		return response{}, err
	}
	r.mailbox, r.enrollment = e.Mailbox, e.ID
	return reply(201, api.EnrollmentWithToken{Enrollment: enrollmentAnswer(e, h.now()), Token: token}), nil
}

func (h *Handler) cancelEnrollment(ctx context.Context, r *request) (response, error) {
	e, err := h.deps.Enrollments.CancelEnrollment(ctx, r.caller, r.mailbox, r.params[api.PathEnrollmentID])
	if err != nil {
		return response{}, err
	}
	r.enrollment = e.ID
	return reply(200, enrollmentAnswer(e, h.now())), nil
}

// redeemEnrollment creates the device of the link whose token is in the
// path. The token is read here and passed on; it is never logged (the log
// names the route template) nor repeated in an answer.
func (h *Handler) redeemEnrollment(ctx context.Context, r *request) (response, error) {
	c, err := h.deps.Enrollments.RedeemEnrollment(ctx, r.caller, r.params[api.PathEnrollmentToken])
	if err != nil {
		return response{}, err
	}
	r.mailbox, r.deviceID = c.Device.Mailbox, c.Device.ID
	res := reply(201, withPassword(c, h.now()))
	res.headers["Location"] = deviceLocation(c.Device.Mailbox, c.Device.ID)
	return res, nil
}

func (h *Handler) listAudit(ctx context.Context, r *request) (response, error) {
	var q api.ListAuditParams
	if err := bindQuery(r.query, &q); err != nil {
		return response{}, err
	}
	if h.deps.Audit == nil {
		return response{}, apperr.New(apperr.Unavailable, "the audit trail is not available in this deployment")
	}
	p, err := h.deps.Audit.List(ctx, r.caller, r.mailbox, deref(q.Cursor), deref(q.Limit))
	if err != nil {
		return response{}, err
	}
	out := api.AuditPage{Items: make([]api.AuditEvent, 0, len(p.Items)), Next: nullString(p.Next)}
	for _, ev := range p.Items {
		out.Items = append(out.Items, auditAnswer(ev))
	}
	return reply(200, out), nil
}
