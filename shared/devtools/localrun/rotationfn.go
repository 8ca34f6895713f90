package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/rotation"
)

// RotationFunctionARN is the local rotation function's ARN: the service
// calls RotateSecret with it, as the deployed API function does with the
// real one, and the Secrets Manager stand-in invokes it, so the local stack
// runs Secrets Manager's rotation configuration test whenever a rotation
// policy is set or changed.
const RotationFunctionARN = "arn:aws:lambda:" + standins.Region + ":" + AccountID + ":function:devicepass-rotation"

// AccountID is the stand-ins' account (moto's default), in the ARNs and
// events the local runner makes.
const AccountID = "123456789012"

// maxInvocations bounds the invocations a runner remembers.
const maxInvocations = 1000

// Invocation is one invocation of the local rotation function by the
// Secrets Manager stand-in, and its outcome.
type Invocation struct {
	Step     string
	SecretID string
	Token    string
	Err      string // "" on success
}

// rotationFunction serves the rotation Lambda's handler to the Secrets
// Manager stand-in through the Lambda Invoke API, and remembers what it was
// asked.
type rotationFunction struct {
	handler *rotation.Handler
	server  *standins.FunctionServer
	// report hands a failed invocation to the rotation-events handler, as
	// Secrets Manager's CloudTrail event does in AWS.
	report func(ctx context.Context, kind, secretID string, step device.Step)

	mu   sync.Mutex
	seen []Invocation
}

// serveRotation starts the local rotation function and registers it with
// the stand-in under RotationFunctionARN.
func (r *Runner) serveRotation(ctx context.Context, h *rotation.Handler) error {
	f := &rotationFunction{handler: h, report: r.reportFailure}
	srv, err := standins.ServeFunction(f.invoke)
	if err != nil {
		return err
	}
	f.server = srv
	r.rotationFn = f
	if err := r.stack.RegisterFunction(ctx, RotationFunctionARN, srv.InvokeURL()); err != nil {
		return fmt.Errorf("register the local rotation function: %w", err)
	}
	return nil
}

func (f *rotationFunction) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev rotation.Event
	_ = json.Unmarshal(payload, &ev) // the handler answers a bad event itself
	err := f.handler.Handle(ctx, payload)
	in := Invocation{Step: ev.Step, SecretID: ev.SecretID, Token: ev.ClientRequestToken}
	if err != nil {
		in.Err = err.Error()
	}
	f.mu.Lock()
	// The stand-in invokes testSecret alone, under a token of its own, for
	// the configuration test; a failure there is TestRotationFailed in
	// AWS, any other RotationFailed.
	kind := device.FailureTestRotationFailed
	for _, s := range f.seen {
		if s.Token == in.Token && in.Token != "" {
			kind = device.FailureRotationFailed
		}
	}
	if in.Step != string(device.StepTest) {
		kind = device.FailureRotationFailed
	}
	if len(f.seen) == maxInvocations { // a long `make run` keeps the latest
		f.seen = append(f.seen[:0], f.seen[1:]...)
	}
	f.seen = append(f.seen, in)
	f.mu.Unlock()
	if err != nil && f.report != nil {
		f.report(ctx, kind, ev.SecretID, device.Step(ev.Step))
	}
	return nil, err
}

// RotationInvocations returns every invocation of the local rotation
// function by the Secrets Manager stand-in so far (its configuration tests
// and any RotateSecret that rotates now; the latest maxInvocations), oldest
// first. The local scheduler
// and /local/rotate run the handler directly and are not listed.
func (r *Runner) RotationInvocations() []Invocation {
	if r.rotationFn == nil {
		return nil
	}
	r.rotationFn.mu.Lock()
	defer r.rotationFn.mu.Unlock()
	return append([]Invocation(nil), r.rotationFn.seen...)
}
