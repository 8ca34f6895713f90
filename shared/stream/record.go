package stream

import (
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The operations a stream record reports.
const (
	OpInsert = "INSERT"
	OpModify = "MODIFY"
	OpRemove = "REMOVE"
)

// The identity DynamoDB's TTL process writes on the records of the items it
// deletes.
const (
	TTLIdentityType      = "Service"
	TTLIdentityPrincipal = "dynamodb.amazonaws.com"
)

// Record is one change of the table, in the shape the handler works on:
// either of the two sources (a Lambda event, or the DynamoDB Streams API
// the local runner polls, see localstreams.FromStreams) converts to it with
// a thin adapter, so both go through the same code.
type Record struct {
	EventID        string // unique per change; the events' id
	EventName      string // OpInsert, OpModify or OpRemove
	SequenceNumber string // the batch item identifier
	Time           time.Time
	Keys, Old, New map[string]types.AttributeValue
	// ByTTL marks a removal made by DynamoDB's TTL process.
	ByTTL bool

	unreadable bool // FromLambda failed: reported, never processed
}

// FromLambda converts a record of a Lambda DynamoDB stream event.
func FromLambda(r events.DynamoDBEventRecord) (Record, error) {
	rec := Record{
		EventID:        r.EventID,
		EventName:      r.EventName,
		SequenceNumber: r.Change.SequenceNumber,
		Time:           r.Change.ApproximateCreationDateTime.UTC(),
		ByTTL:          r.UserIdentity != nil && r.UserIdentity.Type == TTLIdentityType && r.UserIdentity.PrincipalID == TTLIdentityPrincipal,
	}
	var err error
	if rec.Keys, err = fromLambdaMap(r.Change.Keys); err != nil {
		return rec, fmt.Errorf("record %s: keys: %w", r.EventID, err)
	}
	if rec.Old, err = fromLambdaMap(r.Change.OldImage); err != nil {
		return rec, fmt.Errorf("record %s: old image: %w", r.EventID, err)
	}
	if rec.New, err = fromLambdaMap(r.Change.NewImage); err != nil {
		return rec, fmt.Errorf("record %s: new image: %w", r.EventID, err)
	}
	return rec, nil
}

func fromLambdaMap(m map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		av, err := fromLambdaValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

// fromLambdaValue converts one attribute value. The events package's
// accessors panic on a value of another type, which only a hand-built zero
// value can be; that is reported as an error.
func fromLambdaValue(v events.DynamoDBAttributeValue) (av types.AttributeValue, err error) {
	defer func() {
		if r := recover(); r != nil {
			av, err = nil, fmt.Errorf("unreadable attribute value: %v", r)
		}
	}()
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]types.AttributeValue, len(l))
		for i, e := range l {
			if out[i], err = fromLambdaValue(e); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m, err := fromLambdaMap(v.Map())
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]types.AttributeValue{}
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unsupported attribute type %d", v.DataType())
}
