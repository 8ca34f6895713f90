package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// EventBridgeAPI is the part of the EventBridge client the bus adapter calls.
type EventBridgeAPI interface {
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes events to an EventBridge bus: source "devicepass",
// detail-type the event's type, detail the event's JSON.
type EventBridge struct {
	api EventBridgeAPI
	bus string
}

var _ EventPublisher = (*EventBridge)(nil)

// NewEventBridge returns the adapter for bus (a name or an ARN).
func NewEventBridge(api EventBridgeAPI, bus string) (*EventBridge, error) {
	if api == nil || bus == "" {
		return nil, errors.New("stream: NewEventBridge needs a client and a bus")
	}
	return &EventBridge{api: api, bus: bus}, nil
}

// Publish implements EventPublisher with one PutEvents of one entry.
func (b *EventBridge) Publish(ctx context.Context, ev lifecycle.Event) error {
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
	out, err := b.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
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

// SNSAPI is the part of the SNS client the notice adapter calls.
type SNSAPI interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS sends owners' notices to an SNS topic: the event's JSON as the
// message, a readable subject, and the message attributes "type" and
// "mailbox", so that a subscription's filter policy can pick one mailbox.
type SNS struct {
	api   SNSAPI
	topic string
}

var _ Notifier = (*SNS)(nil)

// NewSNS returns the adapter for the topic's ARN.
func NewSNS(api SNSAPI, topicARN string) (*SNS, error) {
	if api == nil || topicARN == "" {
		return nil, errors.New("stream: NewSNS needs a client and a topic ARN")
	}
	return &SNS{api: api, topic: topicARN}, nil
}

// Notify implements Notifier with one Publish.
func (n *SNS) Notify(ctx context.Context, ev lifecycle.Event) error {
	msg, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = n.api.Publish(ctx, &sns.PublishInput{
		TopicArn: &n.topic,
		Subject:  aws.String(Subject(ev)),
		Message:  aws.String(string(msg)),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"type":    {DataType: aws.String("String"), StringValue: aws.String(ev.Type)},
			"mailbox": {DataType: aws.String("String"), StringValue: aws.String(ev.Mailbox)},
		},
	})
	if err != nil {
		return fmt.Errorf("publish notice: %w", err)
	}
	return nil
}

// Subject is a notice's subject line, within SNS's rules for subjects
// (printable ASCII, at most 100 characters).
func Subject(ev lifecycle.Event) string {
	var s string
	switch ev.Type {
	case lifecycle.DeviceCreated:
		s = "New device added to " + ev.Mailbox
	case lifecycle.EnrollmentUsed:
		s = "Enrollment link used to add a device to " + ev.Mailbox
	default:
		s = "devicepass " + ev.Type + " for " + ev.Mailbox
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 100 {
		b = append(b[:97], "..."...)
	}
	return string(b)
}

// FileSink appends every event it is given to a file, one JSON object a
// line: the local runner's sink (`tail -f .local/events.jsonl`).
type FileSink struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

var _ EventPublisher = (*FileSink)(nil)

// NewFileSink opens (creating it, mode 0600) the file at path for appending.
func NewFileSink(path string) (*FileSink, error) {
	if path == "" {
		return nil, errors.New("stream: NewFileSink needs a path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("event sink: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event sink: %w", err)
	}
	return &FileSink{f: f, path: path}, nil
}

// Path returns the file's path.
func (s *FileSink) Path() string { return s.path }

// Publish implements EventPublisher: one line, written at once.
func (s *FileSink) Publish(_ context.Context, ev lifecycle.Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("event sink is closed")
	}
	if _, err := s.f.Write(line); err != nil {
		return fmt.Errorf("append to %s: %w", s.path, err)
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
