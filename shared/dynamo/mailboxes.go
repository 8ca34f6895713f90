package dynamo

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// The two sparse indexes of mailbox items, for the console: a caller's
// mailboxes (byOwner) and a domain's (byDomain), both sorted by address.
// Only mailbox items carry `owner` and `mbxDomain`, so each index holds
// mailboxes only, and a listing is one Query, never a scan.
const (
	ByOwnerIndex  = "byOwner"
	ByDomainIndex = "byDomain"

	ownerAttr   = "owner"
	domainAttr  = "mbxDomain"
	addressAttr = "address"
)

var _ device.MailboxIndex = (*Store)(nil)

// MailboxesByOwner implements device.MailboxIndex with one Query of the
// byOwner index.
func (s *Store) MailboxesByOwner(ctx context.Context, owner, cursor string, limit int) ([]device.Mailbox, string, error) {
	return s.queryMailboxes(ctx, ByOwnerIndex, ownerAttr, owner, "", cursor, limit)
}

// MailboxesByDomain implements device.MailboxIndex with one Query of the
// byDomain index, begins_with on the address for a prefix.
func (s *Store) MailboxesByDomain(ctx context.Context, domain, prefix, cursor string, limit int) ([]device.Mailbox, string, error) {
	return s.queryMailboxes(ctx, ByDomainIndex, domainAttr, domain, prefix, cursor, limit)
}

// queryMailboxes reads one page of an index partition. DynamoDB may stop a
// page early (its 1 MB limit), so it queries on until the page is full or
// the partition ends; one item more than asked tells whether a next page
// exists without an empty last page.
func (s *Store) queryMailboxes(ctx context.Context, index, attr, value, prefix, cursor string, limit int) ([]device.Mailbox, string, error) {
	var start item
	if cursor != "" {
		addr, err := decodeMailboxCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		if !strings.HasPrefix(addr, prefix) {
			// DynamoDB refuses a start key outside the key condition.
			return nil, "", apperr.Field("cursor", "belongs to another search; start again without it")
		}
		// An index's ExclusiveStartKey holds the index key and the table key.
		start = mailboxKey(addr)
		start[attr] = str(value)
		start[addressAttr] = str(addr)
	}
	cond := "#p = :p"
	names := map[string]string{"#p": attr}
	vals := item{":p": str(value)}
	if prefix != "" {
		cond += " AND begins_with(#a, :prefix)"
		names["#a"] = addressAttr // DynamoDB refuses a name the expression does not use
		vals[":prefix"] = str(prefix)
	}
	var out []device.Mailbox
	for {
		res, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(index),
			KeyConditionExpression:    aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(int32(limit + 1 - len(out))),
		})
		if err != nil {
			return nil, "", translate(err, "list mailboxes")
		}
		for _, it := range res.Items {
			out = append(out, decodeMailbox(it))
		}
		if len(out) > limit {
			return out[:limit], encodeMailboxCursor(out[limit-1].Address), nil
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

func encodeMailboxCursor(address string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("m1:" + address))
}

func decodeMailboxCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	addr, ok := strings.CutPrefix(string(b), "m1:")
	if err != nil || !ok {
		return "", apperr.Field("cursor", "is not a cursor this API returned")
	}
	if _, err := device.NormalizeAddress("cursor", addr); err != nil {
		return "", apperr.Field("cursor", "is not a cursor this API returned")
	}
	return addr, nil
}
