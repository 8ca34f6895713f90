package devicetest

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// policyStoreTests are the contract of device.PolicyStore: no policy reads
// as nil, a stored policy reads back field for field, and a put replaces.
var policyStoreTests = []storeTest{
	{"PolicyStore/absent policy reads as nil", func(t *testing.T, s Store) {
		p, err := s.GetPolicy(context.Background(), "none-"+randomHex(t, 4)+".example")
		if err != nil || p != nil {
			t.Fatalf("GetPolicy of a domain without one = %+v, %v; want nil, nil", p, err)
		}
	}},
	{"PolicyStore/round trip and replace", func(t *testing.T, s Store) {
		ctx := context.Background()
		dom := "p" + randomHex(t, 4) + ".example"
		want := device.DomainPolicy{
			SelfService: false, MaxDevicesPerMailbox: 7,
			AllowedScopes: []device.Scope{device.ScopeIMAP, device.ScopeSMTP}, RequireExpiry: true,
			MaxLifetime: 720 * time.Hour, DefaultLifetime: 90 * time.Minute, RequireAllowIPs: true,
			DefaultAllowIPs:      []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64")},
			RotationMaxEveryDays: 30, InactivityRevokeAfter: 90 * 24 * time.Hour, InactivityWarnBefore: 7 * 24 * time.Hour,
			ExpiryReminderBefore: 3 * time.Second, NewNetworkNotice: true, RevokeOnCredentialChange: false,
			EnrollmentMaxValidity: 2 * time.Hour, UpdatedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), UpdatedBy: "admin-1",
		}
		if err := s.PutPolicy(ctx, dom, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPolicy(ctx, dom)
		if err != nil || got == nil {
			t.Fatalf("GetPolicy = %v, %v", got, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("GetPolicy =\n%+v\nwant\n%+v", *got, want)
		}
		def := device.DefaultDomainPolicy()
		if err := s.PutPolicy(ctx, dom, def); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetPolicy(ctx, dom)
		if err != nil || got == nil {
			t.Fatalf("GetPolicy after replace = %v, %v", got, err)
		}
		if !reflect.DeepEqual(*got, def) {
			t.Fatalf("GetPolicy after replace =\n%+v\nwant the default\n%+v", *got, def)
		}
	}},
	{"PolicyStore/policy domains lists stored policies", func(t *testing.T, s Store) {
		ctx := context.Background()
		dom := "q" + randomHex(t, 4) + ".example"
		mustOK(t, s.PutPolicy(ctx, dom, device.DefaultDomainPolicy()), "put policy")
		mustOK(t, s.PutPolicy(ctx, dom, device.DefaultDomainPolicy()), "put policy again")
		got, err := s.PolicyDomains(ctx)
		mustOK(t, err, "policy domains")
		n := 0
		for _, d := range got {
			if d == dom {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("PolicyDomains lists %s %d times, want once", dom, n)
		}
	}},
	{"PolicyStore/domain devices pages the live devices of a domain", func(t *testing.T, s Store) {
		ctx := context.Background()
		dom := "r" + randomHex(t, 4) + ".example"
		want := map[string]bool{}
		var ended device.Device
		for _, local := range []string{"a", "b", "c"} {
			mbx := local + "@" + dom
			_, _, err := s.SaveMailbox(ctx, mbx, "owner", "admin", baseTime)
			mustOK(t, err, "save mailbox")
			for i := 0; i < 2; i++ {
				d := createDevice(t, s, newDevice(t, mbx))
				want[d.ID] = true
				ended = d
			}
		}
		other := seedMailbox(t, s, "owner") // another domain
		createDevice(t, s, newDevice(t, other))
		_, err := s.EndDevice(ctx, ended, device.StatusRevoked, "admin", baseTime)
		mustOK(t, err, "end device")
		delete(want, ended.ID)

		got := map[string]bool{}
		last := ""
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("DomainDevices never ends")
			}
			ds, next, err := s.DomainDevices(ctx, dom, cursor, 2)
			mustOK(t, err, "domain devices")
			if len(ds) > 2 {
				t.Fatalf("page of %d devices, limit 2", len(ds))
			}
			for _, d := range ds {
				if got[d.ID] {
					t.Fatalf("device %s listed twice", d.ID)
				}
				if k := d.Mailbox + "#" + d.ID; k <= last {
					t.Fatalf("devices out of order: %s after %s", k, last)
				} else {
					last = k
				}
				got[d.ID] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DomainDevices listed %v, want the live devices %v", got, want)
		}
		_, _, err = s.DomainDevices(ctx, dom, "bm90LWEtY3Vyc29y", 2)
		WantCode(t, err, apperr.Invalid)
	}},
	{"PolicyStore/lookup reads the policy along", func(t *testing.T, s Store) {
		ctx := context.Background()
		dom := "l" + randomHex(t, 4) + ".example"
		mbx := "a@" + dom
		_, _, err := s.SaveMailbox(ctx, mbx, "owner", "admin", baseTime)
		mustOK(t, err, "save mailbox")
		lr, err := s.Lookup(ctx, device.LookupQuery{Mailbox: mbx, PolicyDomain: dom})
		mustOK(t, err, "lookup")
		if lr.Mailbox == nil || lr.Policy != nil {
			t.Fatalf("lookup without a policy: mailbox %v, policy %+v", lr.Mailbox, lr.Policy)
		}
		p := device.DefaultDomainPolicy()
		p.RequireExpiry, p.UpdatedBy = true, "admin"
		mustOK(t, s.PutPolicy(ctx, dom, p), "put policy")
		lr, err = s.Lookup(ctx, device.LookupQuery{Mailbox: mbx, PolicyDomain: dom})
		mustOK(t, err, "lookup")
		if lr.Policy == nil || !lr.Policy.RequireExpiry || lr.Policy.UpdatedBy != "admin" || lr.Mailbox == nil {
			t.Fatalf("lookup with a policy: %+v", lr.Policy)
		}
		lr, err = s.Lookup(ctx, device.LookupQuery{Mailbox: mbx})
		mustOK(t, err, "lookup")
		if lr.Policy != nil {
			t.Fatal("lookup without PolicyDomain read the policy")
		}
	}},
}
