// Package sns sends mailbox owners' notices of lifecycle events to an
// Amazon SNS topic: the stream function's notice sink.
package sns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	snssdk "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// API is the part of the SNS client the notice adapter calls.
type API interface {
	Publish(context.Context, *snssdk.PublishInput, ...func(*snssdk.Options)) (*snssdk.PublishOutput, error)
}

// Topic sends notices to an SNS topic: the event's JSON as the message, a
// readable subject, and the message attributes "type", "mailbox",
// "domain" and "audience" ("owner" or "administrators",
// lifecycle.Audience), so that a subscription's filter policy picks one
// mailbox's owner notices ({"audience": ["owner"], "mailbox": [...]}) or
// one domain's administrator notices ({"audience": ["administrators"],
// "domain": [...]}).
type Topic struct {
	api   API
	topic string
}

// New returns the adapter for the topic's ARN.
func New(api API, topicARN string) (*Topic, error) {
	if api == nil || topicARN == "" {
		return nil, errors.New("sns: New needs a client and a topic ARN")
	}
	return &Topic{api: api, topic: topicARN}, nil
}

// Notify sends the notice of ev, to its audience, with one Publish.
func (n *Topic) Notify(ctx context.Context, ev lifecycle.Event) error {
	msg, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = n.api.Publish(ctx, &snssdk.PublishInput{
		TopicArn: &n.topic,
		Subject:  aws.String(Subject(ev)),
		Message:  aws.String(string(msg)),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"type":     {DataType: aws.String("String"), StringValue: aws.String(ev.Type)},
			"mailbox":  {DataType: aws.String("String"), StringValue: aws.String(ev.Mailbox)},
			"domain":   {DataType: aws.String("String"), StringValue: aws.String(domainOf(ev.Mailbox))},
			"audience": {DataType: aws.String("String"), StringValue: aws.String(lifecycle.Audience(ev))},
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
	case lifecycle.DeviceInactivityWarning:
		s = "Unused device will be revoked soon: " + ev.Mailbox
	case lifecycle.DeviceExpiryReminder:
		s = "Device password expires soon: " + ev.Mailbox
	case lifecycle.DeviceNewNetwork:
		s = "Device used from a new network: " + ev.Mailbox
	case lifecycle.DevicePolicyApplied:
		s = "Device now expires under your domain's policy: " + ev.Mailbox
	case lifecycle.RotationFailed:
		s = "Scheduled password rotation failed: " + ev.Mailbox
	case lifecycle.DeviceRevoked:
		s = "Device revoked (" + ev.Reason + "): " + ev.Mailbox
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

// domainOf is the part of an address after its last "@".
func domainOf(mailbox string) string {
	if i := strings.LastIndexByte(mailbox, '@'); i >= 0 {
		return mailbox[i+1:]
	}
	return mailbox
}
