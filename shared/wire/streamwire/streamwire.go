// Package streamwire composes the stream function: the audit trail on the
// table, the repair use cases for TTL expiry, and the sinks the
// configuration names (an EventBridge bus, an SNS topic for owners'
// notices). It lives apart from package wire so that no other function
// links EventBridge, SNS or the stream handler.
package streamwire

import (
	"context"
	"errors"
	"time"

	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	snssdk "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/eventbridge"
	"github.com/devicepass/devicepass/shared/sns"
	"github.com/devicepass/devicepass/shared/stream"
	"github.com/devicepass/devicepass/shared/wire"
)

// The adapters the stream handler publishes through.
var (
	_ stream.EventPublisher = (*eventbridge.Bus)(nil)
	_ stream.Notifier       = (*sns.Topic)(nil)
)

// Parts are what the stream handler sits on besides its sinks.
type Parts struct {
	Audit   stream.AuditWriter
	Expirer stream.Expirer
	// Sink, when not nil, receives every event too (the local runner's
	// event file).
	Sink stream.EventPublisher
	// Policies, when set, decides the owner's notice of a new network.
	Policies device.PolicyReader
}

// New wires the stream handler on p with the sinks e's configuration
// names: the EventBridge bus (EVENT_BUS_NAME) and the owners' notice topic
// (NOTICE_TOPIC_ARN), each skipped when unset.
func New(e wire.Env, p Parts) (*stream.Handler, error) {
	if p.Audit == nil || p.Expirer == nil {
		return nil, errors.New("streamwire: New needs an audit store and an expirer")
	}
	o := stream.Options{
		Audit:     p.Audit,
		Expirer:   p.Expirer,
		Retention: time.Duration(e.Config.AuditRetentionDays) * 24 * time.Hour,
		Logger:    e.Logger,
		Sink:      p.Sink,
		Policies:  p.Policies,
	}
	if name := e.Config.EventBusName; name != "" {
		bus, err := eventbridge.New(ebsdk.NewFromConfig(e.AWS), name)
		if err != nil {
			return nil, err
		}
		o.Bus = bus
	}
	if arn := e.Config.NoticeTopicARN; arn != "" {
		n, err := sns.New(snssdk.NewFromConfig(e.AWS), arn)
		if err != nil {
			return nil, err
		}
		o.Notifier = n
	}
	return stream.New(o)
}

// Function wires the stream function from its environment: the table and
// Secrets Manager (the repair use cases schedule expired devices' secrets
// for deletion); no verifier key, since nothing here hashes.
func Function(ctx context.Context, e wire.Env) (*stream.Handler, error) {
	a, err := e.NewAdapters(ctx, false)
	if err != nil {
		return nil, err
	}
	repair, err := e.Repair(a.Store, a.Secrets)
	if err != nil {
		return nil, err
	}
	return New(e, Parts{Audit: a.Store, Expirer: repair, Policies: a.Store})
}
