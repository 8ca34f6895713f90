package app

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/devicepass/devicepass/shared/stream"
	"github.com/devicepass/devicepass/shared/wire/streamwire"
)

// NewStreamHandler wires the stream handler on a built App, as the stream
// function does (streamwire), with awsCfg for the sinks and sink, when not
// nil, receiving every event too (the local runner's event file).
func NewStreamHandler(a *App, awsCfg aws.Config, sink stream.EventPublisher) (*stream.Handler, error) {
	if a == nil {
		return nil, errors.New("app: NewStreamHandler needs a built App")
	}
	env := a.env
	env.AWS = awsCfg
	return streamwire.New(env, streamwire.Parts{Audit: a.Store, Expirer: a.Service.Repair, Sink: sink, Policies: a.Store})
}
