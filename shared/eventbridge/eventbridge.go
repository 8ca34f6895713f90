// Package eventbridge publishes lifecycle events to an Amazon EventBridge
// bus: the stream function's event sink.
package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// API is the part of the EventBridge client the bus adapter calls.
type API interface {
	PutEvents(context.Context, *ebsdk.PutEventsInput, ...func(*ebsdk.Options)) (*ebsdk.PutEventsOutput, error)
}

// Bus publishes events to an EventBridge bus: source "devicepass",
// detail-type the event's type, detail the event's JSON.
type Bus struct {
	api API
	bus string
}

// New returns the adapter for bus (a name or an ARN).
func New(api API, bus string) (*Bus, error) {
	if api == nil || bus == "" {
		return nil, errors.New("eventbridge: New needs a client and a bus")
	}
	return &Bus{api: api, bus: bus}, nil
}

// Publish sends ev with one PutEvents of one entry; a refused entry is an
// error, so the stream handler retries the record.
func (b *Bus) Publish(ctx context.Context, ev lifecycle.Event) error {
	detail, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	entry := ebtypes.PutEventsRequestEntry{
		EventBusName: &b.bus,
		Source:       aws.String(lifecycle.Source),
		DetailType:   aws.String(ev.Type),
		Detail:       aws.String(string(detail)),
		Time:         aws.Time(ev.Time),
	}
	if ev.Device != nil && ev.Device.SecretARN != "" {
		entry.Resources = []string{ev.Device.SecretARN}
	}
	out, err := b.api.PutEvents(ctx, &ebsdk.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("put events: %w", err)
	}
	if out.FailedEntryCount > 0 {
		code, msg := "", ""
		if len(out.Entries) > 0 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		return fmt.Errorf("put events: the entry was refused: %s %s", code, msg)
	}
	return nil
}
