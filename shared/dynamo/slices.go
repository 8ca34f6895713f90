package dynamo

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// ReconcileIndex is the sparse, keys-only global secondary index of every
// device item, live or ended, under its mailbox's first character
// (partition recPK), so that the reconciler reads one slice of the fleet
// without scanning the table. Keys only: a device's writes that leave its
// mailbox alone never write to it.
const (
	ReconcileIndex = "reconcile"
	reconcilePK    = "recPK"
	reconcilePfx   = "REC#"
)

// reconcileSlice is the recPK of a device of mailbox.
func reconcileSlice(mailbox string) string {
	if mailbox == "" {
		return reconcilePfx
	}
	return reconcilePfx + mailbox[:1]
}

// SliceAPI is the part of the DynamoDB client a SliceScanner uses.
type SliceAPI interface {
	ScanAPI
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// SliceScanner is a Scanner that also reads one mailbox slice of the
// devices through ReconcileIndex, for the sliced reconciler.
type SliceScanner struct {
	*Scanner
	api   SliceAPI
	table string
}

var _ device.PrefixScanner = (*SliceScanner)(nil)

// NewSliceScanner returns a SliceScanner of table.
func NewSliceScanner(api SliceAPI, table string) (*SliceScanner, error) {
	sc, err := NewScanner(api, table)
	if err != nil {
		return nil, err
	}
	return &SliceScanner{Scanner: sc, api: api, table: table}, nil
}

// ScanMailboxPrefix implements device.PrefixScanner: the index's keys of
// the slice of prefix's first character, page by page, and the items
// themselves by strongly consistent BatchGetItem, 100 keys at a time.
func (s *SliceScanner) ScanMailboxPrefix(ctx context.Context, prefix string, visit func(device.Device) error) error {
	if prefix == "" {
		return s.ScanDevices(ctx, visit)
	}
	var start item
	for {
		out, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(ReconcileIndex),
			KeyConditionExpression:    aws.String("recPK = :p"),
			ExpressionAttributeValues: item{":p": str(reconcileSlice(prefix))},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return translate(err, "query reconcile slice")
		}
		keys := make([]item, 0, len(out.Items))
		for _, it := range out.Items {
			keys = append(keys, key(getS(it, "PK"), getS(it, "SK")))
		}
		for len(keys) > 0 {
			n := min(len(keys), 100)
			if err := s.get(ctx, keys[:n], prefix, visit); err != nil {
				return err
			}
			keys = keys[n:]
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// get reads keys and visits the devices among them whose mailbox starts
// with prefix, retrying what BatchGetItem leaves unprocessed.
func (s *SliceScanner) get(ctx context.Context, keys []item, prefix string, visit func(device.Device) error) error {
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return translate(err, "read reconcile slice")
			}
		}
		if attempt > 8 {
			return apperr.New(apperr.Unavailable, "read reconcile slice: DynamoDB left keys unprocessed; retry")
		}
		out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return translate(err, "read reconcile slice")
		}
		for _, it := range out.Responses[s.table] {
			if KindOf(it) != "device" {
				continue
			}
			d := decodeDevice(it)
			if !strings.HasPrefix(d.Mailbox, prefix) {
				continue
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		req = out.UnprocessedKeys
	}
	return nil
}
