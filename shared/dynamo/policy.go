package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/apperr"
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
		// In the domain index under one partition, so the sweep lists the
		// domains that have a policy with one Query.
		domainIndexPK: str(policiesPartition), domainIndexSK: str(domain),
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

// The sparse index of a domain's live devices: partition domPK (the
// domain), sort domSK (mailbox and device id). Policy items sit in it under
// one partition of their own, sorted by domain.
const (
	DomainIndex       = "domain"
	domainIndexPK     = "domPK"
	domainIndexSK     = "domSK"
	policiesPartition = "#POLICIES"
)

func domainSK(mailbox, id string) string { return mailbox + "#" + id }

// DomainDevices implements device.PolicyStore: one Query of the domain
// index. The cursor is the last item's keys.
func (s *Store) DomainDevices(ctx context.Context, domain, cursor string, limit int) ([]device.Device, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(DomainIndex),
		KeyConditionExpression:    aws.String("domPK = :d"),
		ExpressionAttributeValues: item{":d": str(domain)},
		Limit:                     aws.Int32(int32(limit)),
	}
	if cursor != "" {
		mailbox, id, err := decodeDomainCursor(cursor)
		if err != nil || device.DomainOf(mailbox) != domain {
			return nil, "", apperr.Field("cursor", "is not a cursor this API returned")
		}
		start := deviceKey(mailbox, id)
		start[domainIndexPK], start[domainIndexSK] = str(domain), str(domainSK(mailbox, id))
		in.ExclusiveStartKey = start
	}
	out, err := s.api.Query(ctx, in)
	if err != nil {
		return nil, "", translate(err, "query domain devices")
	}
	ds := make([]device.Device, 0, len(out.Items))
	for _, it := range out.Items {
		ds = append(ds, decodeDevice(it))
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(ds) > 0 {
		last := ds[len(ds)-1]
		next = base64.RawURLEncoding.EncodeToString([]byte("p1:" + last.Mailbox + "\x00" + last.ID))
	}
	return ds, next, nil
}

func decodeDomainCursor(c string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", err
	}
	rest, ok := strings.CutPrefix(string(b), "p1:")
	if !ok {
		return "", "", errors.New("bad cursor")
	}
	mailbox, id, ok := strings.Cut(rest, "\x00")
	if !ok || mailbox == "" || id == "" {
		return "", "", errors.New("bad cursor")
	}
	return mailbox, id, nil
}

// PolicyDomains implements device.PolicyStore: the domains that have a
// stored policy, from one partition of the domain index.
func (s *Store) PolicyDomains(ctx context.Context) ([]string, error) {
	var out []string
	var start item
	for {
		res, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(DomainIndex),
			KeyConditionExpression:    aws.String("domPK = :p"),
			ExpressionAttributeValues: item{":p": str(policiesPartition)},
			ProjectionExpression:      aws.String("#d"),
			ExpressionAttributeNames:  map[string]string{"#d": "domain"},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, translate(err, "query policy domains")
		}
		for _, it := range res.Items {
			out = append(out, getS(it, "domain"))
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}
