package app

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	snssdk "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/devicepass/devicepass/shared/eventbridge"
	"github.com/devicepass/devicepass/shared/sns"
	"github.com/devicepass/devicepass/shared/stream"
)

// The adapters the stream handler publishes through.
var (
	_ stream.EventPublisher = (*eventbridge.Bus)(nil)
	_ stream.Notifier       = (*sns.Topic)(nil)
)

// NewStreamHandler wires the stream handler on a built App: the audit
// trail on the table, the service for TTL expiry, and the sinks the
// configuration names: the EventBridge bus (EVENT_BUS_NAME) and the
// owners' notice topic (NOTICE_TOPIC_ARN), each skipped when unset, plus
// sink when not nil (the local runner's event file).
func NewStreamHandler(a *App, awsCfg aws.Config, sink stream.EventPublisher) (*stream.Handler, error) {
	if a == nil {
		return nil, errors.New("app: NewStreamHandler needs a built App")
	}
	o := stream.Options{
		Audit:     a.Store,
		Expirer:   a.Service,
		Retention: time.Duration(a.Config.AuditRetentionDays) * 24 * time.Hour,
		Logger:    a.Logger,
		Sink:      sink,
		Policies:  a.Store,
	}
	if name := a.Config.EventBusName; name != "" {
		bus, err := eventbridge.New(ebsdk.NewFromConfig(awsCfg), name)
		if err != nil {
			return nil, err
		}
		o.Bus = bus
	}
	if arn := a.Config.NoticeTopicARN; arn != "" {
		n, err := sns.New(snssdk.NewFromConfig(awsCfg), arn)
		if err != nil {
			return nil, err
		}
		o.Notifier = n
	}
	return stream.New(o)
}

// MustStreamFromEnv wires the stream Lambda from its environment once per
// cold start, as MustFromEnv does, and exits with a logged reason on error.
func MustStreamFromEnv(ctx context.Context) (*App, *stream.Handler) {
	a := MustFromEnv(ctx)
	h, err := NewStreamHandler(a, a.AWSConfig, nil)
	a.Must(err, "build stream handler")
	return a, h
}
