package app_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// policyDomain is a domain of its own for one case, with an administrator
// (fresh login) and a registered mailbox owned by "owner-1".
type policyDomain struct {
	domain, mailbox string
	admin, owner    device.Caller
}

func (r *rig) policyDomain(t *testing.T) policyDomain {
	t.Helper()
	dom := "p" + randHex(4) + ".example"
	d := policyDomain{domain: dom, mailbox: "box@" + dom,
		admin: r.fresh(device.Caller{Subject: "admin-" + dom, Groups: []string{"domain-admin:" + dom}}),
		owner: r.fresh(device.Caller{Subject: "owner-1"})}
	if _, _, err := r.app.Service.RegisterMailbox(context.Background(), d.admin, d.mailbox, "owner-1"); err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// TestPolicyEnforcement runs every rule of a domain policy through every
// entry point that adds or changes a device (create, edit, enrollment
// creation, redemption) on the DynamoDB and Secrets Manager stand-ins: a
// refusal is a policy_violation naming the rule, and what the policy
// allows, or fills in, goes through.
func TestPolicyEnforcement(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	now := r.clock.Now()

	type env struct {
		policyDomain
		link string // a link made before the policy, for redemption cases
		dev  string // a device made before the policy, for edit cases
	}
	create := func(c func(env) device.Caller, in device.CreateInput) func(env) error {
		return func(e env) error {
			if in.Name == "" {
				in.Name = "phone"
			}
			_, err := r.app.Service.CreateDevice(ctx, c(e), e.mailbox, in, "")
			return err
		}
	}
	byOwner := func(e env) device.Caller { return e.owner }
	byAdmin := func(e env) device.Caller { return e.admin }
	edit := func(p device.Patch) func(env) error {
		return func(e env) error {
			_, err := r.app.Service.UpdateDevice(ctx, e.owner, e.mailbox, e.dev, p)
			return err
		}
	}
	enroll := func(in device.EnrollmentInput) func(env) error {
		return func(e env) error {
			in.Name = "laptop"
			_, _, err := r.app.Service.CreateEnrollment(ctx, e.admin, e.mailbox, in)
			return err
		}
	}
	redeem := func(e env) error {
		_, err := r.app.Service.RedeemEnrollment(ctx, e.owner, e.link)
		return err
	}

	cases := []struct {
		name   string
		policy device.PolicyInput
		link   *device.EnrollmentInput // made before the policy
		act    func(env) error
		rule   string // "" for success
	}{
		{name: "create/requireExpiry refuses no expiry", policy: device.PolicyInput{RequireExpiry: ptr(true)}, act: create(byOwner, device.CreateInput{}), rule: "requireExpiry"},
		{name: "create/requireExpiry admits an expiry", policy: device.PolicyInput{RequireExpiry: ptr(true)}, act: create(byOwner, device.CreateInput{ValidFor: "24h"})},
		{name: "create/maxLifetime refuses a longer one", policy: device.PolicyInput{MaxLifetime: ptr("720h")}, act: create(byOwner, device.CreateInput{ValidFor: "721h"}), rule: "maxLifetime"},
		{name: "create/maxLifetime admits up to it", policy: device.PolicyInput{MaxLifetime: ptr("720h")}, act: create(byOwner, device.CreateInput{ValidFor: "720h"})},
		{name: "create/allowedScopes refuses another scope", policy: device.PolicyInput{AllowedScopes: &[]string{"imap"}}, act: create(byOwner, device.CreateInput{Scopes: []string{"imap", "smtp"}}), rule: "allowedScopes"},
		{name: "create/allowedScopes admits its scopes", policy: device.PolicyInput{AllowedScopes: &[]string{"imap"}}, act: create(byOwner, device.CreateInput{Scopes: []string{"imap"}})},
		{name: "create/requireAllowIps refuses none", policy: device.PolicyInput{RequireAllowIPs: ptr(true)}, act: create(byOwner, device.CreateInput{}), rule: "requireAllowIps"},
		{name: "create/requireAllowIps met by defaultAllowIps", policy: device.PolicyInput{RequireAllowIPs: ptr(true), DefaultAllowIPs: &[]string{"192.0.2.0/24"}}, act: create(byOwner, device.CreateInput{})},
		{name: "create/rotation refuses none", policy: device.PolicyInput{RotationMaxEveryDays: ptr(30)}, act: create(byOwner, device.CreateInput{}), rule: "rotation.requiredMaxEveryDays"},
		{name: "create/rotation refuses a slower one", policy: device.PolicyInput{RotationMaxEveryDays: ptr(30)}, act: create(byOwner, device.CreateInput{Rotation: &device.RotationInput{EveryDays: 31}}), rule: "rotation.requiredMaxEveryDays"},
		{name: "create/rotation admits a rate as often", policy: device.PolicyInput{RotationMaxEveryDays: ptr(30)}, act: create(byOwner, device.CreateInput{Rotation: &device.RotationInput{Schedule: "rate(30 days)"}})},
		{name: "create/selfService false refuses the owner", policy: device.PolicyInput{SelfService: ptr(false)}, act: create(byOwner, device.CreateInput{}), rule: "selfService"},
		{name: "create/selfService false admits an admin", policy: device.PolicyInput{SelfService: ptr(false)}, act: create(byAdmin, device.CreateInput{})},
		{name: "create/maxDevicesPerMailbox", policy: device.PolicyInput{MaxDevicesPerMailbox: ptr(1)}, act: func(e env) error {
			if err := create(byOwner, device.CreateInput{})(e); err != nil {
				t.Fatalf("first device: %v", err)
			}
			return create(byOwner, device.CreateInput{})(e)
		}, rule: "maxDevicesPerMailbox"},

		{name: "edit/allowedScopes refuses widening", policy: device.PolicyInput{AllowedScopes: &[]string{"imap", "pop", "smtp"}}, act: edit(device.Patch{Scopes: &[]string{"imap", "caldav"}}), rule: "allowedScopes"},
		{name: "edit/allowedScopes admits narrowing", policy: device.PolicyInput{AllowedScopes: &[]string{"imap"}}, act: edit(device.Patch{Scopes: &[]string{"imap"}})},
		{name: "edit/requireAllowIps refuses clearing", policy: device.PolicyInput{RequireAllowIPs: ptr(true)}, act: edit(device.Patch{AllowIPs: &[]string{}}), rule: "requireAllowIps"},
		{name: "edit/rotation refuses removing", policy: device.PolicyInput{RotationMaxEveryDays: ptr(30)}, act: edit(device.Patch{RemoveRotation: true}), rule: "rotation.requiredMaxEveryDays"},
		{name: "edit/rotation admits every 7 days", policy: device.PolicyInput{RotationMaxEveryDays: ptr(30)}, act: edit(device.Patch{Rotation: &device.RotationInput{EveryDays: 7}})},
		{name: "edit/a rename is not checked", policy: device.PolicyInput{RequireAllowIPs: ptr(true), AllowedScopes: &[]string{"smtp"}}, act: edit(device.Patch{Name: ptr("renamed")})},

		{name: "enroll/requireExpiry refuses no expiry", policy: device.PolicyInput{RequireExpiry: ptr(true)}, act: enroll(device.EnrollmentInput{}), rule: "requireExpiry"},
		{name: "enroll/requireExpiry met by defaultLifetime", policy: device.PolicyInput{RequireExpiry: ptr(true), DefaultLifetime: ptr("48h")}, act: enroll(device.EnrollmentInput{})},
		{name: "enroll/maxLifetime", policy: device.PolicyInput{MaxLifetime: ptr("24h")}, act: enroll(device.EnrollmentInput{ValidFor: "25h"}), rule: "maxLifetime"},
		{name: "enroll/allowedScopes", policy: device.PolicyInput{AllowedScopes: &[]string{"imap"}}, act: enroll(device.EnrollmentInput{Scopes: []string{"pop"}}), rule: "allowedScopes"},
		{name: "enroll/requireAllowIps without a default", policy: device.PolicyInput{RequireAllowIPs: ptr(true)}, act: enroll(device.EnrollmentInput{}), rule: "requireAllowIps"},
		{name: "enroll/rotation", policy: device.PolicyInput{RotationMaxEveryDays: ptr(30)}, act: enroll(device.EnrollmentInput{}), rule: "rotation.requiredMaxEveryDays"},
		{name: "enroll/enrollmentMaxValidity refuses longer", policy: device.PolicyInput{EnrollmentMaxValidity: ptr("2h")}, act: enroll(device.EnrollmentInput{TokenValidFor: "3h"}), rule: "enrollmentMaxValidity"},
		{name: "enroll/selfService false admits links", policy: device.PolicyInput{SelfService: ptr(false)}, act: enroll(device.EnrollmentInput{})},

		{name: "redeem/requireExpiry since the link", policy: device.PolicyInput{RequireExpiry: ptr(true)}, link: &device.EnrollmentInput{}, act: redeem, rule: "requireExpiry"},
		{name: "redeem/maxLifetime since the link", policy: device.PolicyInput{MaxLifetime: ptr("24h")}, link: &device.EnrollmentInput{ValidFor: "48h"}, act: redeem, rule: "maxLifetime"},
		{name: "redeem/allowedScopes since the link", policy: device.PolicyInput{AllowedScopes: &[]string{"imap"}}, link: &device.EnrollmentInput{Scopes: []string{"smtp"}}, act: redeem, rule: "allowedScopes"},
		{name: "redeem/requireAllowIps since the link", policy: device.PolicyInput{RequireAllowIPs: ptr(true)}, link: &device.EnrollmentInput{}, act: redeem, rule: "requireAllowIps"},
		{name: "redeem/selfService false admits the link", policy: device.PolicyInput{SelfService: ptr(false)}, link: &device.EnrollmentInput{}, act: redeem},
		{name: "redeem/maxDevicesPerMailbox", policy: device.PolicyInput{MaxDevicesPerMailbox: ptr(1)}, link: &device.EnrollmentInput{}, act: func(e env) error {
			if err := create(byAdmin, device.CreateInput{})(e); err != nil {
				t.Fatalf("first device: %v", err)
			}
			return redeem(e)
		}, rule: "maxDevicesPerMailbox"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := env{policyDomain: r.policyDomain(t)}
			if tc.link != nil {
				in := *tc.link
				in.Name = "link"
				_, tok, err := r.app.Service.CreateEnrollment(ctx, e.admin, e.mailbox, in)
				if err != nil {
					t.Fatal(err)
				}
				e.link = tok
			}
			if len(tc.name) > 5 && tc.name[:5] == "edit/" {
				c, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "old", Scopes: []string{"imap", "smtp"},
					AllowIPs: []string{"198.51.100.0/24"}, Rotation: &device.RotationInput{EveryDays: 10}}, "")
				if err != nil {
					t.Fatal(err)
				}
				e.dev = c.Device.ID
			}
			if _, err := r.app.Management.Policies.PutPolicy(ctx, e.admin, e.domain, tc.policy); err != nil {
				t.Fatal(err)
			}
			err := tc.act(e)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.PolicyViolation || ae.Field != tc.rule {
				t.Fatalf("want a policy_violation naming %s, got %v", tc.rule, err)
			}
		})
	}

	t.Run("defaults fill what the request leaves out", func(t *testing.T) {
		e := r.policyDomain(t)
		if _, err := r.app.Management.Policies.PutPolicy(ctx, e.admin, e.domain, device.PolicyInput{DefaultLifetime: ptr("48h"), DefaultAllowIPs: &[]string{"192.0.2.0/24"}}); err != nil {
			t.Fatal(err)
		}
		c, err := r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "phone"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := now.Add(48 * time.Hour); !c.Device.ExpiresAt.Equal(want) {
			t.Errorf("expiry %v, want the default lifetime's %v", c.Device.ExpiresAt, want)
		}
		if len(c.Device.AllowIPs) != 1 || c.Device.AllowIPs[0] != netip.MustParsePrefix("192.0.2.0/24") {
			t.Errorf("allow-list %v, want the default", c.Device.AllowIPs)
		}
		stored, err := r.app.Store.GetDevice(ctx, e.mailbox, c.Device.ID)
		if err != nil || !stored.ExpiresAt.Equal(c.Device.ExpiresAt) || len(stored.AllowIPs) != 1 {
			t.Errorf("stored device %+v, %v; want the defaults stored", stored, err)
		}
		// What the request gives wins over the defaults.
		c, err = r.app.Service.CreateDevice(ctx, e.owner, e.mailbox, device.CreateInput{Name: "laptop", ValidFor: "2h", AllowIPs: []string{"198.51.100.7/32"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if !c.Device.ExpiresAt.Equal(now.Add(2*time.Hour)) || c.Device.AllowIPs[0] != netip.MustParsePrefix("198.51.100.7/32") {
			t.Errorf("device %v %v: want the request's expiry and allow-list", c.Device.ExpiresAt, c.Device.AllowIPs)
		}
		// A link without expiry gets the default lifetime from redemption,
		// and the default allow-list.
		_, tok, err := r.app.Service.CreateEnrollment(ctx, e.admin, e.mailbox, device.EnrollmentInput{Name: "tablet"})
		if err != nil {
			t.Fatal(err)
		}
		red, err := r.app.Service.RedeemEnrollment(ctx, e.owner, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !red.Device.ExpiresAt.Equal(now.Add(48*time.Hour)) || len(red.Device.AllowIPs) != 1 {
			t.Errorf("redeemed device %v %v: want the defaults", red.Device.ExpiresAt, red.Device.AllowIPs)
		}
	})

	t.Run("a link's default validity shortens to the policy's", func(t *testing.T) {
		e := r.policyDomain(t)
		if _, err := r.app.Management.Policies.PutPolicy(ctx, e.admin, e.domain, device.PolicyInput{EnrollmentMaxValidity: ptr("2h")}); err != nil {
			t.Fatal(err)
		}
		en, _, err := r.app.Service.CreateEnrollment(ctx, e.admin, e.mailbox, device.EnrollmentInput{Name: "tablet"})
		if err != nil {
			t.Fatal(err)
		}
		if want := now.Add(2 * time.Hour); !en.ExpiresAt.Equal(want) {
			t.Errorf("link expires %v, want %v", en.ExpiresAt, want)
		}
	})
}

// TestPolicyRoutesAuthorization: only the domain's administrators read or
// replace its policy, replacing needs a fresh login, and a bad field is a
// 400 naming it, on the stand-ins.
func TestPolicyRoutesAuthorization(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	e := r.policyDomain(t)
	pol := r.app.Management.Policies

	got, err := pol.GetPolicy(ctx, e.admin, e.domain)
	if err != nil || !got.UpdatedAt.IsZero() || !got.SelfService || got.MaxDevicesPerMailbox != 50 {
		t.Fatalf("policy of a domain without one = %+v, %v; want the defaults", got, err)
	}
	if _, err := pol.GetPolicy(ctx, e.owner, e.domain); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("owner reads the policy: %v, want forbidden", err)
	}
	other := r.fresh(device.Caller{Subject: "admin-x", Groups: []string{"domain-admin:other.example"}})
	if _, err := pol.PutPolicy(ctx, other, e.domain, device.PolicyInput{}); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("another domain's admin replaces the policy: %v, want forbidden", err)
	}
	stale := e.admin
	stale.AuthTime = r.clock.Now().Add(-2 * time.Hour)
	if _, err := pol.PutPolicy(ctx, stale, e.domain, device.PolicyInput{RequireExpiry: ptr(true)}); !apperr.Is(err, apperr.StepUpRequired) {
		t.Errorf("stale login replaces the policy: %v, want step-up", err)
	}
	for field, in := range map[string]device.PolicyInput{
		"maxLifetime":            {MaxLifetime: ptr("forever")},
		"defaultLifetime":        {DefaultLifetime: ptr("0.5s")},
		"inactivity.revokeAfter": {InactivityRevokeAfter: ptr("-1h")},
		"maxDevicesPerMailbox":   {MaxDevicesPerMailbox: ptr(0)},
		"allowedScopes":          {AllowedScopes: &[]string{}},
		"defaultAllowIps[0]":     {DefaultAllowIPs: &[]string{"not-an-ip"}},
	} {
		_, err := pol.PutPolicy(ctx, e.admin, e.domain, in)
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Invalid || ae.Field != field {
			t.Errorf("policy with a bad %s: %v, want invalid naming it", field, err)
		}
	}
	put, err := pol.PutPolicy(ctx, e.admin, e.domain, device.PolicyInput{InactivityRevokeAfter: ptr("2s"), InactivityWarnBefore: ptr("1s")})
	if err != nil {
		t.Fatalf("second-long durations under the local floor: %v", err)
	}
	got, err = pol.GetPolicy(ctx, e.admin, strings.ToUpper(e.domain))
	if err != nil || got.InactivityRevokeAfter != 2*time.Second || got.UpdatedBy != e.admin.Subject || !got.UpdatedAt.Equal(put.UpdatedAt) {
		t.Errorf("policy read back = %+v, %v", got, err)
	}
}

// TestComplianceListing: devices made before a policy are listed with the
// rules each breaks; compliant, ended and other domains' devices are not;
// pages add up, on the stand-ins.
func TestComplianceListing(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	e := r.policyDomain(t)
	other := r.policyDomain(t)
	mk := func(d policyDomain, in device.CreateInput) string {
		t.Helper()
		c, err := r.app.Service.CreateDevice(ctx, d.owner, d.mailbox, in, "")
		if err != nil {
			t.Fatal(err)
		}
		return c.Device.ID
	}
	bare := mk(e, device.CreateInput{Name: "bare", Scopes: []string{"imap", "smtp"}})
	noIPs := mk(e, device.CreateInput{Name: "no ips", Scopes: []string{"imap"}, ValidFor: "24h"})
	compliant := mk(e, device.CreateInput{Name: "fine", Scopes: []string{"imap"}, ValidFor: "24h", AllowIPs: []string{"192.0.2.1"}})
	revoked := mk(e, device.CreateInput{Name: "gone"})
	if _, err := r.app.Service.Revoke(ctx, e.owner, e.mailbox, revoked); err != nil {
		t.Fatal(err)
	}
	mk(other, device.CreateInput{Name: "elsewhere"})
	for _, d := range []policyDomain{e, other} {
		if _, err := r.app.Management.Policies.PutPolicy(ctx, d.admin, d.domain, device.PolicyInput{RequireExpiry: ptr(true), AllowedScopes: &[]string{"imap"}, RequireAllowIPs: ptr(true)}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]string{}
	for cursor, pages := "", 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the listing never ends")
		}
		p, err := r.app.Management.Policies.Compliance(ctx, e.admin, e.domain, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range p.Items {
			for _, v := range n.Violations {
				got[n.Device.ID] = append(got[n.Device.ID], v.Rule)
			}
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	want := map[string][]string{
		bare:  {"requireExpiry", "allowedScopes", "requireAllowIps"},
		noIPs: {"requireAllowIps"},
	}
	if len(got) != len(want) || strings.Join(got[bare], ",") != strings.Join(want[bare], ",") || strings.Join(got[noIPs], ",") != strings.Join(want[noIPs], ",") {
		t.Fatalf("compliance listing = %v, want %v (compliant %s not listed)", got, want, compliant)
	}
	if _, err := r.app.Management.Policies.Compliance(ctx, e.owner, e.domain, "", 0); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("owner lists compliance: %v, want forbidden", err)
	}
}
