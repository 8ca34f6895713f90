package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// A domain policy is the set of rules a domain's administrators impose on
// the devices of the domain's mailboxes. Every field left out takes the
// default, which is how devicepass behaves without a policy, so a domain
// that never writes one sees no change.

// Policy limits.
const (
	// DefaultPolicyMinDuration is the shortest policy duration a deployment
	// accepts: shorter inactivity or reminder periods would only be noise.
	DefaultPolicyMinDuration = time.Hour
	// MaxPolicyDuration bounds every policy duration (ten years): long
	// enough for any rule, short enough that sums of durations cannot
	// overflow.
	MaxPolicyDuration = 10 * 365 * 24 * time.Hour
	// MaxPolicyAllowIPs bounds defaultAllowIps as a device's allow-list is
	// bounded.
	MaxPolicyAllowIPs = 20
	// MaxPolicyDevices bounds maxDevicesPerMailbox.
	MaxPolicyDevices = 1000
)

// DomainPolicy is a domain's rules for its devices. Zero durations and
// counts mean "no rule" where the field says so; use DefaultDomainPolicy
// for the defaults.
type DomainPolicy struct {
	SelfService              bool           // owners may add devices
	MaxDevicesPerMailbox     int            // live devices per mailbox; the deployment's cap still applies
	AllowedScopes            []Scope        // scopes a device may have
	RequireExpiry            bool           // every new device must expire
	MaxLifetime              time.Duration  // longest lifetime of a new device
	DefaultLifetime          time.Duration  // 0: a device without expiry stays without
	RequireAllowIPs          bool           // every new device must have an allow-list
	DefaultAllowIPs          []netip.Prefix // the allow-list of a device created without one
	RotationMaxEveryDays     int            // 0: no rule; else a device must rotate at least this often
	InactivityRevokeAfter    time.Duration  // 0: never revoke for inactivity
	InactivityWarnBefore     time.Duration  // warning ahead of an inactivity revocation
	ExpiryReminderBefore     time.Duration  // 0: no expiry reminders
	NewNetworkNotice         bool           // notify the owner of a first use from a new network
	RevokeOnCredentialChange bool           // a main password change revokes every device
	EnrollmentMaxValidity    time.Duration  // longest validity of an enrollment link

	UpdatedAt time.Time // zero: the domain has no stored policy
	UpdatedBy string
}

// DefaultDomainPolicy is the policy of a domain that has none: today's
// behaviour, where nothing is required and nothing is revoked for
// inactivity.
func DefaultDomainPolicy() DomainPolicy {
	return DomainPolicy{
		SelfService:              true,
		MaxDevicesPerMailbox:     50,
		AllowedScopes:            append([]Scope(nil), AllScopes...),
		MaxLifetime:              MaxExpiry,
		InactivityWarnBefore:     7 * 24 * time.Hour,
		RevokeOnCredentialChange: true,
		EnrollmentMaxValidity:    MaxEnrollmentValidity,
	}
}

// AllowsScope reports whether the policy admits scope s.
func (p DomainPolicy) AllowsScope(s Scope) bool {
	for _, x := range p.AllowedScopes {
		if x == s {
			return true
		}
	}
	return false
}

// PolicyInput is a policy as an administrator sends it; a nil field takes
// its default. Durations are Go durations ("168h").
type PolicyInput struct {
	SelfService              *bool
	MaxDevicesPerMailbox     *int
	AllowedScopes            *[]string
	RequireExpiry            *bool
	MaxLifetime              *string
	DefaultLifetime          *string
	RequireAllowIPs          *bool
	DefaultAllowIPs          *[]string
	RotationMaxEveryDays     *int
	InactivityRevokeAfter    *string
	InactivityWarnBefore     *string
	ExpiryReminderBefore     *string
	NewNetworkNotice         *bool
	RevokeOnCredentialChange *bool
	EnrollmentMaxValidity    *string
}

// NormalizePolicy validates in and returns the policy it describes; every
// duration is at least minDuration. An error names the field at fault and
// never repeats its value.
func NormalizePolicy(in PolicyInput, minDuration time.Duration) (DomainPolicy, error) {
	p := DefaultDomainPolicy()
	var err error
	if in.SelfService != nil {
		p.SelfService = *in.SelfService
	}
	if in.MaxDevicesPerMailbox != nil {
		n := *in.MaxDevicesPerMailbox
		if n < 1 || n > MaxPolicyDevices {
			return p, apperr.Field("maxDevicesPerMailbox", "must be between 1 and %d", MaxPolicyDevices)
		}
		p.MaxDevicesPerMailbox = n
	}
	if in.AllowedScopes != nil {
		if len(*in.AllowedScopes) == 0 {
			return p, apperr.Field("allowedScopes", "must name at least one scope")
		}
		if p.AllowedScopes, err = NormalizeScopes("allowedScopes", *in.AllowedScopes); err != nil {
			return p, err
		}
	}
	if in.RequireExpiry != nil {
		p.RequireExpiry = *in.RequireExpiry
	}
	for _, f := range []struct {
		field string
		in    *string
		out   *time.Duration
	}{
		{"maxLifetime", in.MaxLifetime, &p.MaxLifetime},
		{"defaultLifetime", in.DefaultLifetime, &p.DefaultLifetime},
		{"inactivity.revokeAfter", in.InactivityRevokeAfter, &p.InactivityRevokeAfter},
		{"inactivity.warnBefore", in.InactivityWarnBefore, &p.InactivityWarnBefore},
		{"expiryReminderBefore", in.ExpiryReminderBefore, &p.ExpiryReminderBefore},
		{"enrollmentMaxValidity", in.EnrollmentMaxValidity, &p.EnrollmentMaxValidity},
	} {
		if f.in == nil {
			continue
		}
		if *f.out, err = parsePolicyDuration(f.field, *f.in, minDuration); err != nil {
			return p, err
		}
	}
	if p.MaxLifetime > MaxExpiry {
		return p, apperr.Field("maxLifetime", "must be at most one year (8760h), the longest a device may live")
	}
	if p.DefaultLifetime > p.MaxLifetime {
		return p, apperr.Field("defaultLifetime", "must not exceed maxLifetime")
	}
	if p.EnrollmentMaxValidity > MaxEnrollmentValidity {
		return p, apperr.Field("enrollmentMaxValidity", "must be at most 168h (7 days)")
	}
	if p.InactivityRevokeAfter > 0 && p.InactivityWarnBefore >= p.InactivityRevokeAfter {
		return p, apperr.Field("inactivity.warnBefore", "must be shorter than inactivity.revokeAfter")
	}
	if in.RequireAllowIPs != nil {
		p.RequireAllowIPs = *in.RequireAllowIPs
	}
	if in.DefaultAllowIPs != nil {
		if len(*in.DefaultAllowIPs) > MaxPolicyAllowIPs {
			return p, apperr.Field("defaultAllowIps", "must list at most %d networks", MaxPolicyAllowIPs)
		}
		if p.DefaultAllowIPs, err = NormalizeAllowIPs("defaultAllowIps", *in.DefaultAllowIPs); err != nil {
			return p, err
		}
	}
	if in.RotationMaxEveryDays != nil {
		n := *in.RotationMaxEveryDays
		if n < 1 || n > MaxRotationDay {
			return p, apperr.Field("rotation.requiredMaxEveryDays", "must be between 1 and %d, or null for no rule", MaxRotationDay)
		}
		p.RotationMaxEveryDays = n
	}
	if in.NewNetworkNotice != nil {
		p.NewNetworkNotice = *in.NewNetworkNotice
	}
	if in.RevokeOnCredentialChange != nil {
		p.RevokeOnCredentialChange = *in.RevokeOnCredentialChange
	}
	return p, nil
}

// parsePolicyDuration reads a Go duration of at least floor.
func parsePolicyDuration(field, s string, floor time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, apperr.Field(field, "must be a Go duration such as 168h or 90m")
	}
	if d < floor || d > MaxPolicyDuration {
		return 0, apperr.Field(field, "must be between %s and %s", floor, MaxPolicyDuration)
	}
	return d, nil
}

// errPolicy is the answer to a request the domain's policy forbids: field
// names the policy's rule, the message what to change.
func errPolicy(rule, format string, args ...any) error {
	return &apperr.Error{Code: apperr.PolicyViolation, Field: rule, Message: "the domain's policy forbids this: " + fmt.Sprintf(format, args...)}
}

// applyDefaults fills what a new device's request left out with the
// policy's defaults: the lifetime when it gave no expiry, the allow-list
// when it gave none.
func (p DomainPolicy) applyDefaults(d *Device, now time.Time, gaveExpiry, gaveAllowIPs bool) {
	if !gaveExpiry && d.ExpiresAt.IsZero() && p.DefaultLifetime > 0 {
		d.ExpiresAt = now.Add(p.DefaultLifetime).UTC()
	}
	if !gaveAllowIPs && len(d.AllowIPs) == 0 && len(p.DefaultAllowIPs) > 0 {
		d.AllowIPs = append([]netip.Prefix(nil), p.DefaultAllowIPs...)
	}
}

// checkScopes refuses a scope the policy does not allow.
func (p DomainPolicy) checkScopes(scopes []Scope) error {
	for _, s := range scopes {
		if !p.AllowsScope(s) {
			return errPolicy("allowedScopes", "scope %s is not allowed in this domain (allowed: %s)", s, joinScopes(p.AllowedScopes))
		}
	}
	return nil
}

// checkLifetime refuses a device without expiry where one is required, and
// a lifetime beyond the longest allowed, counted from now.
func (p DomainPolicy) checkLifetime(expiresAt, now time.Time) error {
	if expiresAt.IsZero() {
		if p.RequireExpiry {
			return errPolicy("requireExpiry", "a device in this domain must expire; give expiresAt or validFor (at most %s)", p.MaxLifetime)
		}
		return nil
	}
	// A minute's slack: a client computing expiresAt from maxLifetime a
	// moment before the request arrives is not refused.
	if expiresAt.Sub(now) > p.MaxLifetime+time.Minute {
		return errPolicy("maxLifetime", "a device in this domain may live at most %s; choose an earlier expiresAt or a shorter validFor", p.MaxLifetime)
	}
	return nil
}

// checkAllowIPs refuses a device without an allow-list where one is
// required.
func (p DomainPolicy) checkAllowIPs(ips []netip.Prefix) error {
	if p.RequireAllowIPs && len(ips) == 0 {
		return errPolicy("requireAllowIps", "a device in this domain needs an IP allow-list; give allowIps")
	}
	return nil
}

// checkRotation refuses a device that does not rotate at least as often
// as the policy requires.
func (p DomainPolicy) checkRotation(r *RotationPolicy) error {
	if p.RotationMaxEveryDays == 0 {
		return nil
	}
	if days, ok := rotationDays(r); !ok || days > p.RotationMaxEveryDays {
		return errPolicy("rotation.requiredMaxEveryDays", "a device in this domain must rotate at least every %d days; give rotation.everyDays or a rate() schedule", p.RotationMaxEveryDays)
	}
	return nil
}

// rotationDays is how many days apart a rotation policy rotates at most,
// for everyDays and rate() schedules; a cron() schedule's period is not
// read, so it reports false.
func rotationDays(r *RotationPolicy) (int, bool) {
	switch {
	case r == nil:
		return 0, false
	case r.EveryDays > 0:
		return r.EveryDays, true
	}
	m := rateRE.FindStringSubmatch(r.Schedule)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	if strings.HasPrefix(m[2], "hour") {
		return (n + 23) / 24, true
	}
	return n, true
}

// checkNew checks a new device against the policy: lifetime, scopes,
// allow-list and rotation, in that order.
func (p DomainPolicy) checkNew(d Device, now time.Time) error {
	if err := p.checkLifetime(d.ExpiresAt, now); err != nil {
		return err
	}
	if err := p.checkScopes(d.Scopes); err != nil {
		return err
	}
	if err := p.checkAllowIPs(d.AllowIPs); err != nil {
		return err
	}
	return p.checkRotation(d.Rotation)
}

// checkPatch checks the fields a patch changes; a device made before the
// policy may keep what the patch leaves alone (the compliance listing
// shows it).
func (p DomainPolicy) checkPatch(d Device, patch Patch) error {
	if patch.Scopes != nil {
		if err := p.checkScopes(d.Scopes); err != nil {
			return err
		}
	}
	if patch.AllowIPs != nil {
		if err := p.checkAllowIPs(d.AllowIPs); err != nil {
			return err
		}
	}
	if patch.Rotation != nil || patch.RemoveRotation {
		return p.checkRotation(d.Rotation)
	}
	return nil
}

// cap is the most live devices a mailbox of the domain may have: the
// policy's limit within the deployment's.
func (p DomainPolicy) cap(deployment int) int {
	if p.MaxDevicesPerMailbox > 0 && p.MaxDevicesPerMailbox < deployment {
		return p.MaxDevicesPerMailbox
	}
	return deployment
}

func errPolicyCap(n int) error {
	return errPolicy("maxDevicesPerMailbox", "a mailbox of this domain may have at most %d devices; revoke one first", n)
}

func joinScopes(ss []Scope) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// Violation is one rule a device breaks.
type Violation struct {
	Rule   string // the policy's field, e.g. "requireExpiry"
	Detail string
}

// Violations lists the rules of p that live device d breaks at now: a
// device made before its domain's policy keeps working, and the
// compliance listing shows what it breaks.
func (p DomainPolicy) Violations(d Device, now time.Time) []Violation {
	var out []Violation
	add := func(err error) {
		if e, ok := apperr.As(err); ok && err != nil {
			out = append(out, Violation{Rule: e.Field, Detail: strings.TrimPrefix(e.Message, "the domain's policy forbids this: ")})
		}
	}
	if d.ExpiresAt.IsZero() {
		add(p.checkLifetime(d.ExpiresAt, now))
	} else if d.ExpiresAt.Sub(d.CreatedAt) > p.MaxLifetime+time.Minute {
		// Lifetime counts from creation: the rule is about how long a
		// password lives, not how long it has left.
		add(errPolicy("maxLifetime", "the device lives longer than %s", p.MaxLifetime))
	}
	add(p.checkScopes(d.Scopes))
	add(p.checkAllowIPs(d.AllowIPs))
	add(p.checkRotation(d.Rotation))
	return out
}

// PolicyReader reads a domain's policy; the device and enrollment use
// cases take it to enforce the policy.
type PolicyReader interface {
	// GetPolicy returns the domain's stored policy, or nil if it has none.
	GetPolicy(ctx context.Context, domain string) (*DomainPolicy, error)
}

// PolicyStore stores domains' policies, one item per domain, and lists
// what the policies apply to.
type PolicyStore interface {
	PolicyReader
	// PutPolicy replaces the domain's policy.
	PutPolicy(ctx context.Context, domain string, p DomainPolicy) error
	// PolicyDomains lists the domains that have a stored policy.
	PolicyDomains(ctx context.Context) ([]string, error)
	// DomainDevices returns one page of the live devices of a domain's
	// mailboxes, in mailbox and id order, and the cursor of the next page
	// ("" at the end). Invalid for a bad cursor.
	DomainDevices(ctx context.Context, domain, cursor string, limit int) ([]Device, string, error)
}

// policyQuery is the domain whose policy a Lookup reads along, when the
// use case enforces policies.
func policyQuery(r PolicyReader, domain string) string {
	if r == nil {
		return ""
	}
	return domain
}

// orDefault is a policy a Lookup read, the default when there is none.
func orDefault(p *DomainPolicy) DomainPolicy {
	if p == nil {
		return DefaultDomainPolicy()
	}
	return *p
}

// effectivePolicy returns the domain's policy, the default without one or
// without a reader.
func effectivePolicy(ctx context.Context, r PolicyReader, domain string) (DomainPolicy, error) {
	if r == nil {
		return DefaultDomainPolicy(), nil
	}
	p, err := r.GetPolicy(ctx, domain)
	if err != nil {
		return DomainPolicy{}, fmt.Errorf("read policy: %w", err)
	}
	if p == nil {
		return DefaultDomainPolicy(), nil
	}
	return *p, nil
}

// DomainPolicies is the policy use cases: a domain's administrators read
// and replace its policy, and anyone who may see a mailbox sees the
// limits that apply to it.
type DomainPolicies struct {
	base
	store PolicyStore
}

// DomainPoliciesDeps are the collaborators of DomainPolicies.
type DomainPoliciesDeps struct {
	Store  PolicyStore
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// NewDomainPolicies returns the policy use cases, or an error if the store
// is missing or the configuration invalid.
func NewDomainPolicies(cfg Config, d DomainPoliciesDeps) (*DomainPolicies, error) {
	if missing(d.Store) {
		return nil, errors.New("device: NewDomainPolicies needs a store")
	}
	b, err := newBase("NewDomainPolicies", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	return &DomainPolicies{base: b, store: d.Store}, nil
}

// adminOf normalizes domain and checks that c administers it.
func (s *DomainPolicies) adminOf(c Caller, domain string) (string, error) {
	dom, err := NormalizeDomain(domain)
	if err != nil {
		return "", apperr.Field("domain", "must be a domain name such as example.com")
	}
	if c.Subject == "" {
		return "", apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if !s.cfg.Policy.IsAdmin(c, dom) {
		return "", apperr.New(apperr.Forbidden, "only an administrator of %s may read or change its policy", dom)
	}
	return dom, nil
}

// GetPolicy returns a domain's policy (the default if it has none) to an
// administrator of the domain.
func (s *DomainPolicies) GetPolicy(ctx context.Context, c Caller, domain string) (DomainPolicy, error) {
	dom, err := s.adminOf(c, domain)
	if err != nil {
		return DomainPolicy{}, err
	}
	return effectivePolicy(ctx, s.store, dom)
}

// PutPolicy replaces a domain's policy; only its administrators may, with
// a recent login, since a policy can loosen every device's rules.
func (s *DomainPolicies) PutPolicy(ctx context.Context, c Caller, domain string, in PolicyInput) (DomainPolicy, error) {
	ctx = WithActor(ctx, c.Actor())
	dom, err := s.adminOf(c, domain)
	if err != nil {
		return DomainPolicy{}, err
	}
	now := s.clock()
	if err := s.cfg.Policy.RequireFresh(c, now); err != nil {
		return DomainPolicy{}, err
	}
	p, err := NormalizePolicy(in, s.cfg.PolicyMinDuration)
	if err != nil {
		return DomainPolicy{}, err
	}
	p.UpdatedAt, p.UpdatedBy = now, c.Subject
	if err := s.store.PutPolicy(ctx, dom, p); err != nil {
		return DomainPolicy{}, fmt.Errorf("store policy: %w", err)
	}
	s.log.InfoContext(ctx, "domain policy replaced", "domain", dom, "request_id", c.RequestID)
	return p, nil
}

// Effective returns the policy that applies to a domain's mailboxes, for
// showing a mailbox's limits to a caller already allowed to see it.
func (s *DomainPolicies) Effective(ctx context.Context, domain string) (DomainPolicy, error) {
	return effectivePolicy(ctx, s.store, domain)
}

// admitNew applies the policy to a device about to be created on a
// mailbox holding live devices: it fills in the policy's defaults for what
// the request left out and refuses what the policy forbids. byAdmin is
// whether the caller administers the domain; enrollment links are made by
// administrators, so their redemption counts as theirs.
func (p DomainPolicy) admitNew(d *Device, live, deploymentCap int, byAdmin, gaveExpiry, gaveAllowIPs bool, now time.Time) error {
	if !p.SelfService && !byAdmin {
		return errPolicy("selfService", "owners cannot add devices to this domain's mailboxes themselves; ask an administrator for an enrollment link")
	}
	if c := p.cap(deploymentCap); live >= c {
		if c < deploymentCap {
			return errPolicyCap(c)
		}
		return errLimit(c)
	}
	p.applyDefaults(d, now, gaveExpiry, gaveAllowIPs)
	return p.checkNew(*d, now)
}

// admitEnrollment applies the policy to a new enrollment link: the link's
// validity (the default shortened to the policy's longest), the device's
// scopes and lifetime (the default lifetime filling a link that gave
// none), and the rules a redeemed device could not meet, refused now
// rather than at redemption: an allow-list required without a default, a
// rotation required (a link's device has no rotation policy).
func (p DomainPolicy) admitEnrollment(e *Enrollment, gaveValidity bool, now time.Time) error {
	if validity := e.ExpiresAt.Sub(now); validity > p.EnrollmentMaxValidity {
		if gaveValidity {
			return errPolicy("enrollmentMaxValidity", "an enrollment link of this domain may be valid at most %s; give a shorter tokenValidFor", p.EnrollmentMaxValidity)
		}
		e.ExpiresAt = now.Add(p.EnrollmentMaxValidity)
		if !e.DeviceExpiresAt.IsZero() && !e.DeviceExpiresAt.After(e.ExpiresAt) {
			return apperr.Field("expiresAt", "the device would expire before the link does")
		}
	}
	if err := p.checkScopes(e.Scopes); err != nil {
		return err
	}
	switch {
	case !e.DeviceExpiresAt.IsZero():
		if err := p.checkLifetime(e.DeviceExpiresAt, now); err != nil {
			return err
		}
	case e.DeviceValidFor > 0:
		if err := p.checkLifetime(now.Add(e.DeviceValidFor), now); err != nil {
			return err
		}
	case p.DefaultLifetime > 0:
		e.DeviceValidFor = p.DefaultLifetime
	default:
		if err := p.checkLifetime(time.Time{}, now); err != nil {
			return err
		}
	}
	if p.RequireAllowIPs && len(p.DefaultAllowIPs) == 0 {
		return errPolicy("requireAllowIps", "a device in this domain needs an IP allow-list, which an enrollment link cannot give; set defaultAllowIps in the policy or create the device directly")
	}
	if p.RotationMaxEveryDays > 0 {
		return errPolicy("rotation.requiredMaxEveryDays", "a device in this domain must rotate at least every %d days, which an enrollment link cannot give; create the device directly", p.RotationMaxEveryDays)
	}
	return nil
}

// Noncompliant is a live device that breaks its domain's policy, with the
// rules it breaks.
type Noncompliant struct {
	Device     Device
	Violations []Violation
}

// CompliancePage is one page of a domain's compliance listing.
type CompliancePage struct {
	Items []Noncompliant
	Next  string // "" at the end
}

// Compliance lists, to an administrator of the domain, the live devices
// that break its policy (made before the policy, or before a rule of it),
// one page of the domain's devices at a time: a page may hold fewer items
// than limit, even none, while Next is set.
func (s *DomainPolicies) Compliance(ctx context.Context, c Caller, domain, cursor string, limit int) (CompliancePage, error) {
	dom, err := s.adminOf(c, domain)
	if err != nil {
		return CompliancePage{}, err
	}
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return CompliancePage{}, apperr.Field("limit", "must be between 1 and %d", MaxPageSize)
	}
	pol, err := effectivePolicy(ctx, s.store, dom)
	if err != nil {
		return CompliancePage{}, err
	}
	ds, next, err := s.store.DomainDevices(ctx, dom, cursor, limit)
	if err != nil {
		return CompliancePage{}, fmt.Errorf("list domain devices: %w", err)
	}
	now := s.clock()
	page := CompliancePage{Items: []Noncompliant{}, Next: next}
	for _, d := range ds {
		if d.Expired(now) {
			continue // ended by the sweep soon; nothing to bring into line
		}
		if v := pol.Violations(d, now); len(v) > 0 {
			page.Items = append(page.Items, Noncompliant{Device: d, Violations: v})
		}
	}
	return page, nil
}
