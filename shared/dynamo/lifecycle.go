package dynamo

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// The sparse index of live devices with an expiry, which the sweep reads:
// partition expPK (one value), sort expMs. Ended devices leave it.
const (
	ExpiringIndex = "expiring"
	expiringPK    = "EXP"
)

// Enrollment items live in their own partition, keyed by the token's
// keyed hash (the enrollment id).
const (
	enrollmentPrefix = "ENR#"
	enrollmentSK     = "#ENR"
)

func enrollmentKey(id string) item { return key(enrollmentPrefix+id, enrollmentSK) }

func encodeActor(a device.Actor) types.AttributeValue {
	m := item{"kind": str(a.Kind)}
	for k, v := range map[string]string{"sub": a.Subject, "ip": a.SourceIP, "ua": a.UserAgent, "req": a.RequestID} {
		if v != "" {
			m[k] = str(v)
		}
	}
	return &types.AttributeValueMemberM{Value: m}
}

func decodeActor(m item) device.Actor {
	if m == nil {
		return device.Actor{}
	}
	return device.Actor{Kind: getS(m, "kind"), Subject: getS(m, "sub"), SourceIP: getS(m, "ip"), UserAgent: getS(m, "ua"), RequestID: getS(m, "req")}
}

// ExpiringDevices implements device.RepairStore with a Query of the sparse index.
func (s *Store) ExpiringDevices(ctx context.Context, now time.Time, limit int) ([]device.Device, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(ExpiringIndex),
		KeyConditionExpression:    aws.String("expPK = :p AND expMs <= :now"),
		ExpressionAttributeValues: item{":p": str(expiringPK), ":now": num(ms(now))},
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, translate(err, "query expiring devices")
	}
	ds := make([]device.Device, 0, len(out.Items))
	for _, it := range out.Items {
		ds = append(ds, decodeDevice(it))
	}
	return ds, nil
}

// RestoreExpired records a device that DynamoDB's TTL removed as expired:
// its metadata comes back for the audit trail, without verifiers, and the
// mailbox stops counting it. It is idempotent.
func (s *Store) RestoreExpired(ctx context.Context, d device.Device, now time.Time) error {
	d.Status, d.UpdatedAt = device.StatusExpired, now
	d.Current, d.Previous, d.Pending = nil, nil, nil
	d.LastActor = device.Actor{Kind: device.ActorSystem, Subject: "ttl"}
	it := encodeEnded(d, "ttl", now) // at the ended key, without TTL this time
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		// Only a device whose live item is gone, and only once.
		{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: deviceKey(d.Mailbox, d.ID), ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Update: &types.Update{
			TableName:                 &s.table,
			Key:                       mailboxKey(d.Mailbox),
			UpdateExpression:          aws.String("SET live = live - :one, ver = ver + :one"),
			ConditionExpression:       aws.String("attribute_exists(PK) AND live > :zero"),
			ExpressionAttributeValues: item{":one": num(1), ":zero": num(0)},
		}},
	}})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) && len(tc.CancellationReasons) > 1 &&
		(aws.ToString(tc.CancellationReasons[0].Code) == "ConditionalCheckFailed" || aws.ToString(tc.CancellationReasons[1].Code) == "ConditionalCheckFailed") {
		return nil // still stored, or restored by an earlier delivery of the same record
	}
	return translate(err, "restore expired device")
}

// PutEnrollment implements device.EnrollmentStore.
func (s *Store) PutEnrollment(ctx context.Context, e device.Enrollment) error {
	it := enrollmentKey(e.ID)
	it["kind"] = str("enrollment")
	it["id"] = str(e.ID)
	it["mailbox"] = str(e.Mailbox)
	it["name"] = str(e.Name)
	if e.User != "" {
		it["user"] = str(e.User)
	}
	it["scopes"] = strList(scopeStrings(e.Scopes))
	if !e.DeviceExpiresAt.IsZero() {
		it["devExpiresAt"] = str(timeStr(e.DeviceExpiresAt))
	}
	if e.DeviceValidFor > 0 {
		it["devValidMs"] = num(e.DeviceValidFor.Milliseconds())
	}
	it["expiresAt"] = str(timeStr(e.ExpiresAt))
	it["expMs"] = num(ms(e.ExpiresAt))
	// Keep the record a week past its expiry for the audit trail's sake.
	it["ttl"] = num(e.ExpiresAt.Add(7 * 24 * time.Hour).Unix())
	it["createdAt"] = str(timeStr(e.CreatedAt))
	it["createdBy"] = str(e.CreatedBy)
	it["status"] = str(string(e.Status))
	it["actor"] = encodeActor(device.ActorFrom(ctx))
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	return translate(err, "put enrollment")
}

// DecodeEnrollment reads an enrollment item.
func DecodeEnrollment(it map[string]types.AttributeValue) device.Enrollment {
	e := device.Enrollment{
		ID:              getS(it, "id"),
		Mailbox:         getS(it, "mailbox"),
		Name:            getS(it, "name"),
		User:            getS(it, "user"),
		DeviceExpiresAt: getT(it, "devExpiresAt"),
		DeviceValidFor:  time.Duration(getN(it, "devValidMs")) * time.Millisecond,
		ExpiresAt:       getT(it, "expiresAt"),
		CreatedAt:       getT(it, "createdAt"),
		CreatedBy:       getS(it, "createdBy"),
		Status:          device.EnrollmentStatus(getS(it, "status")),
		UsedAt:          getT(it, "usedAt"),
		UsedBy:          getS(it, "usedBy"),
		DeviceID:        getS(it, "deviceId"),
		LastActor:       decodeActor(getM(it, "actor")),
	}
	for _, sc := range getL(it, "scopes") {
		e.Scopes = append(e.Scopes, device.Scope(sc))
	}
	return e
}

// GetEnrollment implements device.EnrollmentStore.
func (s *Store) GetEnrollment(ctx context.Context, id string) (device.Enrollment, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: enrollmentKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return device.Enrollment{}, translate(err, "get enrollment")
	}
	if out.Item == nil {
		return device.Enrollment{}, apperr.New(apperr.NotFound, "no such enrollment")
	}
	return DecodeEnrollment(out.Item), nil
}

// CancelEnrollment implements device.EnrollmentStore.
func (s *Store) CancelEnrollment(ctx context.Context, mailbox, id string, now time.Time) (device.Enrollment, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 enrollmentKey(id),
		UpdateExpression:                    aws.String("SET #status = :cancelled, cancelledAt = :now, actor = :actor"),
		ConditionExpression:                 aws.String("mailbox = :mbx AND #status = :open"),
		ExpressionAttributeNames:            map[string]string{"#status": "status"},
		ExpressionAttributeValues:           item{":cancelled": str(string(device.EnrollmentCancelled)), ":open": str(string(device.EnrollmentOpen)), ":now": str(timeStr(now)), ":mbx": str(mailbox), ":actor": encodeActor(device.ActorFrom(ctx))},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return DecodeEnrollment(out.Attributes), nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item == nil || getS(ccf.Item, "mailbox") != mailbox {
			return device.Enrollment{}, apperr.New(apperr.NotFound, "this mailbox has no such enrollment")
		}
		return DecodeEnrollment(ccf.Item), apperr.Wrap(err, apperr.Conflict, "the enrollment is %s", getS(ccf.Item, "status"))
	}
	return device.Enrollment{}, translate(err, "cancel enrollment")
}

// DecodeDevice reads a device item (for the stream handler).
func DecodeDevice(it map[string]types.AttributeValue) device.Device { return decodeDevice(it) }

// KindOf returns what an item is: "device", "mailbox", "enrollment",
// "idempotency", "failures", "audit", or "" for an unknown item.
func KindOf(it map[string]types.AttributeValue) string {
	if k := getS(it, "kind"); k != "" {
		return k
	}
	if sk := getS(it, "SK"); strings.HasPrefix(sk, devicePrefix) || strings.HasPrefix(sk, endedPrefix) {
		return "device"
	}
	return ""
}

// Scanner implements device.DeviceScanner, for the reconciler.
type Scanner struct {
	api   ScanAPI
	table string
}

var _ device.DeviceScanner = (*Scanner)(nil)

// NewScanner returns a Scanner of table.
func NewScanner(api ScanAPI, table string) (*Scanner, error) {
	if api == nil || table == "" {
		return nil, errors.New("dynamo: NewScanner needs a client and a table name")
	}
	return &Scanner{api: api, table: table}, nil
}

// ScanDevices implements device.DeviceScanner with a paginated Scan that
// keeps only device items.
func (s *Scanner) ScanDevices(ctx context.Context, visit func(device.Device) error) error {
	var start item
	for {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 &s.table,
			FilterExpression:          aws.String("kind = :device"),
			ExpressionAttributeValues: item{":device": str("device")},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return translate(err, "scan devices")
		}
		for _, it := range out.Items {
			if err := visit(decodeDevice(it)); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// ScanRotating visits every active device that has a rotation policy,
// with a paginated, strongly consistent Scan that reads only what a
// rotation scheduler needs (never a verifier): the local stand-in for
// Secrets Manager's scheduler, which moto lacks, decides from these.
func (s *Scanner) ScanRotating(ctx context.Context, visit func(device.Device) error) error {
	var start item
	for {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{
			TableName: &s.table,
			// Every name goes through a placeholder: several are reserved words.
			FilterExpression:     aws.String("#kind = :device AND #status = :active AND attribute_exists(#rot)"),
			ProjectionExpression: aws.String("#mailbox, #id, #status, #secretArn, #rotatedAt, #expiresAt, #rot"),
			ExpressionAttributeNames: map[string]string{
				"#kind": "kind", "#status": "status", "#rot": "rot", "#mailbox": "mailbox", "#id": "id",
				"#secretArn": "secretArn", "#rotatedAt": "rotatedAt", "#expiresAt": "expiresAt",
			},
			ExpressionAttributeValues: item{":device": str("device"), ":active": str(string(device.StatusActive))},
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return translate(err, "scan rotating devices")
		}
		for _, it := range out.Items {
			if err := visit(decodeDevice(it)); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// ScanAPI is the Scan call, which only the reconciler's client offers.
type ScanAPI interface {
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}
