package apigw

import (
	"context"
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// Policies reads and replaces domain policies; *device.DomainPolicies is
// one.
type Policies interface {
	GetPolicy(ctx context.Context, c device.Caller, domain string) (device.DomainPolicy, error)
	PutPolicy(ctx context.Context, c device.Caller, domain string, in device.PolicyInput) (device.DomainPolicy, error)
	// Effective is the policy that applies to a domain, for a caller
	// already allowed to see one of its mailboxes.
	Effective(ctx context.Context, domain string) (device.DomainPolicy, error)
	Compliance(ctx context.Context, c device.Caller, domain, cursor string, limit int) (device.CompliancePage, error)
}

func (h *Handler) listNoncompliant(ctx context.Context, r *request) (response, error) {
	var q api.ListNoncompliantParams
	if err := bindQuery(r.query, &q); err != nil {
		return response{}, err
	}
	if h.deps.Policies == nil {
		return response{}, errNoPolicies()
	}
	p, err := h.deps.Policies.Compliance(ctx, r.caller, r.params[api.PathDomain], deref(q.Cursor), deref(q.Limit))
	if err != nil {
		return response{}, err
	}
	now := h.now()
	out := api.CompliancePage{Items: make([]api.Noncompliant, 0, len(p.Items)), Next: nullString(p.Next)}
	for _, n := range p.Items {
		item := api.Noncompliant{Device: deviceAnswer(n.Device, now), Violations: make([]api.Violation, 0, len(n.Violations))}
		for _, v := range n.Violations {
			item.Violations = append(item.Violations, api.Violation{Rule: v.Rule, Detail: v.Detail})
		}
		out.Items = append(out.Items, item)
	}
	return reply(200, out), nil
}

// errNoPolicies answers the policy routes of a deployment built without
// them.
func errNoPolicies() error {
	return apperr.New(apperr.Unavailable, "domain policies are not available in this deployment")
}

func (h *Handler) getDomainPolicy(ctx context.Context, r *request) (response, error) {
	if h.deps.Policies == nil {
		return response{}, errNoPolicies()
	}
	p, err := h.deps.Policies.GetPolicy(ctx, r.caller, r.params[api.PathDomain])
	if err != nil {
		return response{}, err
	}
	return reply(200, policyAnswer(p)), nil
}

func (h *Handler) putDomainPolicy(ctx context.Context, r *request, body api.PutDomainPolicyJSONRequestBody) (response, error) {
	if h.deps.Policies == nil {
		return response{}, errNoPolicies()
	}
	p, err := h.deps.Policies.PutPolicy(ctx, r.caller, r.params[api.PathDomain], policyInput(body))
	if err != nil {
		return response{}, err
	}
	return reply(200, policyAnswer(p)), nil
}

// present returns the value of a member that was sent and not null, nil
// otherwise: in a policy both mean "the default".
func present[T any](n nullable.Nullable[T]) *T {
	if !n.IsSpecified() || n.IsNull() {
		return nil
	}
	v := n.MustGet()
	return &v
}

// policyInput reads a policy body as the domain reads it.
func policyInput(b api.PolicyInput) device.PolicyInput {
	in := device.PolicyInput{
		SelfService:              b.SelfService,
		MaxDevicesPerMailbox:     b.MaxDevicesPerMailbox,
		RequireExpiry:            b.RequireExpiry,
		MaxLifetime:              present(b.MaxLifetime),
		DefaultLifetime:          present(b.DefaultLifetime),
		RequireAllowIPs:          b.RequireAllowIps,
		DefaultAllowIPs:          present(b.DefaultAllowIps),
		ExpiryReminderBefore:     present(b.ExpiryReminderBefore),
		NewNetworkNotice:         b.NewNetworkNotice,
		RevokeOnCredentialChange: b.RevokeOnCredentialChange,
		EnrollmentMaxValidity:    present(b.EnrollmentMaxValidity),
	}
	if b.AllowedScopes != nil {
		scopes := scopeStrings(b.AllowedScopes)
		in.AllowedScopes = &scopes
	}
	if b.Rotation != nil {
		in.RotationMaxEveryDays = present(b.Rotation.RequiredMaxEveryDays)
	}
	if b.Inactivity != nil {
		in.InactivityRevokeAfter = present(b.Inactivity.RevokeAfter)
		in.InactivityWarnBefore = present(b.Inactivity.WarnBefore)
	}
	return in
}

// policyAnswer is the document's view of a policy.
func policyAnswer(p device.DomainPolicy) api.Policy {
	out := api.Policy{
		SelfService:              p.SelfService,
		MaxDevicesPerMailbox:     p.MaxDevicesPerMailbox,
		AllowedScopes:            scopesJSON(p.AllowedScopes),
		RequireExpiry:            p.RequireExpiry,
		MaxLifetime:              formatDuration(p.MaxLifetime),
		DefaultLifetime:          nullDuration(p.DefaultLifetime),
		RequireAllowIps:          p.RequireAllowIPs,
		DefaultAllowIps:          make([]string, 0, len(p.DefaultAllowIPs)),
		Inactivity:               api.PolicyInactivityAnswer{RevokeAfter: nullDuration(p.InactivityRevokeAfter), WarnBefore: formatDuration(p.InactivityWarnBefore)},
		ExpiryReminderBefore:     nullDuration(p.ExpiryReminderBefore),
		NewNetworkNotice:         p.NewNetworkNotice,
		RevokeOnCredentialChange: p.RevokeOnCredentialChange,
		EnrollmentMaxValidity:    formatDuration(p.EnrollmentMaxValidity),
		UpdatedBy:                nullString(p.UpdatedBy),
		UpdatedAt:                nullable.NewNullNullable[string](),
	}
	for _, ip := range p.DefaultAllowIPs {
		out.DefaultAllowIps = append(out.DefaultAllowIps, ip.String())
	}
	out.Rotation.RequiredMaxEveryDays = nullable.NewNullNullable[int]()
	if p.RotationMaxEveryDays > 0 {
		out.Rotation.RequiredMaxEveryDays = nullable.NewNullableWithValue(p.RotationMaxEveryDays)
	}
	if !p.UpdatedAt.IsZero() {
		out.UpdatedAt = nullable.NewNullableWithValue(timeJSON(p.UpdatedAt))
	}
	return out
}

// formatDuration writes d as a policy is written: "168h", "1h30m", "90s",
// without Go's trailing zero units ("168h0m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func nullDuration(d time.Duration) nullable.Nullable[string] {
	if d == 0 {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(formatDuration(d))
}
