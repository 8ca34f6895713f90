package dynamo

import (
	"context"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/device"
)

// A domain's policy is one item, DOM#<domain> / #POLICY: a create reads
// it with one GetItem by key, and replacing it is one PutItem. Durations
// are stored in milliseconds.

const (
	domainPrefix = "DOM#"
	policySK     = "#POLICY"
)

var _ device.PolicyStore = (*Store)(nil)

func policyKey(domain string) item { return key(domainPrefix+domain, policySK) }

func boolAttr(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

func durMs(d time.Duration) types.AttributeValue { return num(d.Milliseconds()) }

func getDur(it item, k string) time.Duration {
	return time.Duration(getN(it, k)) * time.Millisecond
}

// PutPolicy implements device.PolicyStore.
func (s *Store) PutPolicy(ctx context.Context, domain string, p device.DomainPolicy) error {
	it := policyKey(domain)
	for k, v := range (item{
		"kind": str("policy"), "domain": str(domain),
		"selfService": boolAttr(p.SelfService), "maxDevices": num(int64(p.MaxDevicesPerMailbox)),
		"scopes": strList(scopeStrings(p.AllowedScopes)), "requireExpiry": boolAttr(p.RequireExpiry),
		"maxLifetimeMs": durMs(p.MaxLifetime), "defaultLifetimeMs": durMs(p.DefaultLifetime),
		"requireAllowIps": boolAttr(p.RequireAllowIPs), "defaultAllowIps": strList(prefixStrings(p.DefaultAllowIPs)),
		"rotationMaxEveryDays": num(int64(p.RotationMaxEveryDays)),
		"inactiveAfterMs":      durMs(p.InactivityRevokeAfter), "inactiveWarnMs": durMs(p.InactivityWarnBefore),
		"expiryReminderMs": durMs(p.ExpiryReminderBefore), "newNetworkNotice": boolAttr(p.NewNetworkNotice),
		"revokeOnCredentialChange": boolAttr(p.RevokeOnCredentialChange),
		"enrollmentMaxValidityMs":  durMs(p.EnrollmentMaxValidity),
		"updatedAt":                str(timeStr(p.UpdatedAt)), "updatedBy": str(p.UpdatedBy),
		"actor": encodeActor(device.ActorFrom(ctx)),
	}) {
		it[k] = v
	}
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it})
	return translate(err, "put policy")
}

// GetPolicy implements device.PolicyReader.
func (s *Store) GetPolicy(ctx context.Context, domain string) (*device.DomainPolicy, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: policyKey(domain), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, translate(err, "get policy")
	}
	if out.Item == nil {
		return nil, nil
	}
	p := DecodePolicy(out.Item)
	return &p, nil
}

// DecodePolicy reads a policy item.
func DecodePolicy(it map[string]types.AttributeValue) device.DomainPolicy {
	p := device.DomainPolicy{
		SelfService:              getBool(it, "selfService"),
		MaxDevicesPerMailbox:     int(getN(it, "maxDevices")),
		RequireExpiry:            getBool(it, "requireExpiry"),
		MaxLifetime:              getDur(it, "maxLifetimeMs"),
		DefaultLifetime:          getDur(it, "defaultLifetimeMs"),
		RequireAllowIPs:          getBool(it, "requireAllowIps"),
		RotationMaxEveryDays:     int(getN(it, "rotationMaxEveryDays")),
		InactivityRevokeAfter:    getDur(it, "inactiveAfterMs"),
		InactivityWarnBefore:     getDur(it, "inactiveWarnMs"),
		ExpiryReminderBefore:     getDur(it, "expiryReminderMs"),
		NewNetworkNotice:         getBool(it, "newNetworkNotice"),
		RevokeOnCredentialChange: getBool(it, "revokeOnCredentialChange"),
		EnrollmentMaxValidity:    getDur(it, "enrollmentMaxValidityMs"),
		UpdatedAt:                getT(it, "updatedAt"),
		UpdatedBy:                getS(it, "updatedBy"),
	}
	for _, sc := range getL(it, "scopes") {
		p.AllowedScopes = append(p.AllowedScopes, device.Scope(sc))
	}
	for _, s := range getL(it, "defaultAllowIps") {
		if pr, err := netip.ParsePrefix(s); err == nil {
			p.DefaultAllowIPs = append(p.DefaultAllowIPs, pr)
		}
	}
	return p
}
