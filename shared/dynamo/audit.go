package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// Audit entries live in one partition per mailbox, sorted by time:
// PK = AUD#<mailbox>, SK = <time>#<event id>. The time has a fixed width
// (nanoseconds always written) so that the string order is the time
// order; RFC 3339's shortest form ("...:05Z" and "...:05.1Z") is not.
const (
	auditPrefix     = "AUD#"
	auditTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
	auditCursorTag  = "a1:"
	maxEventIDLen   = 128
)

var _ lifecycle.AuditStore = (*Store)(nil)

func auditKey(ev lifecycle.Event) item {
	return key(auditPrefix+ev.Mailbox, auditSK(ev.Time, ev.ID))
}

func auditSK(t time.Time, id string) string { return t.UTC().Format(auditTimeLayout) + "#" + id }

// PutAudit records ev in its mailbox's audit trail, kept for retention
// after the event's time (DynamoDB's TTL then removes it), marked not yet
// published. The write is conditional on the entry not existing, so a
// redelivered change is recognized: then created is false and published
// says whether the earlier delivery finished publishing.
func (s *Store) PutAudit(ctx context.Context, ev lifecycle.Event, retention time.Duration) (created, published bool, err error) {
	if ev.Mailbox == "" || ev.ID == "" || len(ev.ID) > maxEventIDLen || ev.Type == "" || ev.Time.IsZero() {
		return false, false, apperr.New(apperr.Internal, "put audit: the event lacks a mailbox, id, type or time")
	}
	if retention <= 0 {
		return false, false, apperr.New(apperr.Internal, "put audit: the retention must be positive")
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return false, false, fmt.Errorf("put audit: encode event: %w", err)
	}
	it := auditKey(ev)
	it["kind"] = str("audit")
	it["type"] = str(ev.Type)
	it["mailbox"] = str(ev.Mailbox)
	it["eventId"] = str(ev.ID)
	it["at"] = str(timeStr(ev.Time))
	if ev.DeviceID != "" {
		it["deviceId"] = str(ev.DeviceID)
	}
	it["ev"] = str(string(body))
	it["published"] = &types.AttributeValueMemberBOOL{Value: false}
	it["ttl"] = num(ev.Time.Add(retention).Unix())
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.table,
		Item:                                it,
		ConditionExpression:                 aws.String("attribute_not_exists(PK)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, getBool(ccf.Item, "published"), nil
	}
	if err != nil {
		return false, false, translate(err, "put audit")
	}
	return true, false, nil
}

// MarkPublished records that ev went to every sink; NotFound if its audit
// entry does not exist.
func (s *Store) MarkPublished(ctx context.Context, ev lifecycle.Event) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       auditKey(ev),
		UpdateExpression:          aws.String("SET published = :t"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: item{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return apperr.Wrap(err, apperr.NotFound, "mark published: no audit entry for event %s", ev.ID)
	}
	return translate(err, "mark published")
}

// ListAudit implements lifecycle.AuditStore: one Query of the mailbox's
// audit partition, newest first. The cursor is the sort key of the last
// entry returned; it is only ever used inside the mailbox's partition, so
// it cannot reach another mailbox's entries.
func (s *Store) ListAudit(ctx context.Context, mailbox, cursor string, limit int) ([]lifecycle.Event, string, error) {
	if limit < 1 {
		return nil, "", apperr.Field("limit", "must be positive")
	}
	var start item
	if cursor != "" {
		sk, err := decodeAuditCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		start = key(auditPrefix+mailbox, sk)
	}
	var out []lifecycle.Event
	var sks []string
	for {
		res, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: item{":pk": str(auditPrefix + mailbox)},
			ExclusiveStartKey:         start,
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(int32(limit + 1 - len(out))),
		})
		if err != nil {
			return nil, "", translate(err, "list audit")
		}
		for _, it := range res.Items {
			var ev lifecycle.Event
			if err := json.Unmarshal([]byte(getS(it, "ev")), &ev); err != nil {
				return nil, "", apperr.Wrap(err, apperr.Internal, "list audit: entry %s is not an event", getS(it, "SK"))
			}
			out, sks = append(out, ev), append(sks, getS(it, "SK"))
		}
		if len(out) > limit {
			return out[:limit], encodeAuditCursor(sks[limit-1]), nil
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

func encodeAuditCursor(sk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(auditCursorTag + sk))
}

func decodeAuditCursor(c string) (string, error) {
	bad := apperr.Field("cursor", "is not a cursor this API returned")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", bad
	}
	sk, ok := strings.CutPrefix(string(b), auditCursorTag)
	if !ok {
		return "", bad
	}
	at, id, ok := strings.Cut(sk, "#")
	if !ok || id == "" || len(id) > maxEventIDLen {
		return "", bad
	}
	if _, err := time.Parse(auditTimeLayout, at); err != nil {
		return "", bad
	}
	return sk, nil
}

// DecodeMailbox reads a mailbox item (for the stream handler), with who
// made its last change.
func DecodeMailbox(it map[string]types.AttributeValue) (device.Mailbox, device.Actor) {
	return decodeMailbox(it), decodeActor(getM(it, "actor"))
}
