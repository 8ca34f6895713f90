package devicetest

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

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
}
