package localstreams

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/devicepass/devicepass/shared/stream"
)

// FromStreams converts a record read with the DynamoDB Streams API.
func FromStreams(r streamtypes.Record) (stream.Record, error) {
	rec := stream.Record{EventID: aws.ToString(r.EventID), EventName: string(r.EventName)}
	if id := r.UserIdentity; id != nil {
		rec.ByTTL = aws.ToString(id.Type) == stream.TTLIdentityType && aws.ToString(id.PrincipalId) == stream.TTLIdentityPrincipal
	}
	c := r.Dynamodb
	if c == nil {
		return rec, fmt.Errorf("record %s has no change", rec.EventID)
	}
	rec.SequenceNumber = aws.ToString(c.SequenceNumber)
	if c.ApproximateCreationDateTime != nil {
		rec.Time = c.ApproximateCreationDateTime.UTC()
	}
	var err error
	if rec.Keys, err = fromStreamsMap(c.Keys); err != nil {
		return rec, fmt.Errorf("record %s: keys: %w", rec.EventID, err)
	}
	if rec.Old, err = fromStreamsMap(c.OldImage); err != nil {
		return rec, fmt.Errorf("record %s: old image: %w", rec.EventID, err)
	}
	if rec.New, err = fromStreamsMap(c.NewImage); err != nil {
		return rec, fmt.Errorf("record %s: new image: %w", rec.EventID, err)
	}
	return rec, nil
}

func fromStreamsMap(m map[string]streamtypes.AttributeValue) (map[string]types.AttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		av, err := fromStreamsValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func fromStreamsValue(v streamtypes.AttributeValue) (types.AttributeValue, error) {
	switch x := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberB:
		return &types.AttributeValueMemberB{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberBOOL:
		return &types.AttributeValueMemberBOOL{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberNULL:
		return &types.AttributeValueMemberNULL{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberSS:
		return &types.AttributeValueMemberSS{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberNS:
		return &types.AttributeValueMemberNS{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberBS:
		return &types.AttributeValueMemberBS{Value: x.Value}, nil
	case *streamtypes.AttributeValueMemberL:
		out := make([]types.AttributeValue, len(x.Value))
		for i, e := range x.Value {
			av, err := fromStreamsValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = av
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case *streamtypes.AttributeValueMemberM:
		m, err := fromStreamsMap(x.Value)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]types.AttributeValue{}
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unsupported attribute value %T", v)
}
