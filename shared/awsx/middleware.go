package awsx

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Call is one AWS operation as the middlewares see it.
type Call struct {
	Service   string // e.g. "DynamoDB", "Secrets Manager"
	Operation string // e.g. "TransactWriteItems"
}

func (c Call) String() string { return c.Service + "." + c.Operation }

// SecretsManagerWrite reports whether c is a Secrets Manager call that
// counts against its write quota (50 per second per account and Region,
// which AWS does not raise): every operation but the reads (Get*,
// BatchGet*, Describe*, List*). It is the figure that bounds bulk
// rotation, so call budgets count it apart from reads.
func (c Call) SecretsManagerWrite() bool {
	if c.Service != ServiceSecretsManager {
		return false
	}
	for _, read := range []string{"Get", "BatchGet", "Describe", "List"} {
		if strings.HasPrefix(c.Operation, read) {
			return false
		}
	}
	return true
}

func callOf(ctx context.Context) Call {
	return Call{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
}

// Counter counts AWS operations (not retry attempts) and the sequential
// round trips among them: a call that starts while another is in flight
// shares its round trip.
type Counter struct {
	mu         sync.Mutex
	calls      []Call
	inFlight   int
	roundTrips int
}

// Install adds the counter to cfg's clients.
func (c *Counter) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("devicepassCounter",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.calls = append(c.calls, callOf(ctx))
				if c.inFlight == 0 {
					c.roundTrips++
				}
				c.inFlight++
				c.mu.Unlock()
				defer func() {
					c.mu.Lock()
					c.inFlight--
					c.mu.Unlock()
				}()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// Reset forgets what was counted.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.roundTrips = nil, 0
}

// Calls returns the calls in order.
func (c *Counter) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// RoundTrips returns the sequential round trips.
func (c *Counter) RoundTrips() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roundTrips
}

// Count returns how many calls went to service ("" for all).
func (c *Counter) Count(service string) int {
	n := 0
	for _, call := range c.Calls() {
		if service == "" || call.Service == service {
			n++
		}
	}
	return n
}

// SecretsManagerWrites returns how many calls were Secrets Manager writes
// (Call.SecretsManagerWrite).
func (c *Counter) SecretsManagerWrites() int {
	n := 0
	for _, call := range c.Calls() {
		if call.SecretsManagerWrite() {
			n++
		}
	}
	return n
}

// Summary returns "Service.Operation×n" entries, sorted.
func (c *Counter) Summary() []string {
	m := map[string]int{}
	for _, call := range c.Calls() {
		m[call.String()]++
	}
	out := make([]string, 0, len(m))
	for k, n := range m {
		out = append(out, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(out)
	return out
}

// Service ids as the SDK names them.
const (
	ServiceDynamoDB       = "DynamoDB"
	ServiceSecretsManager = "Secrets Manager"
)

// ErrInjected is the error a Faults injects.
var ErrInjected = errors.New("injected fault")

// FaultMode says when an injected fault strikes.
type FaultMode int

// The modes.
const (
	// FailBefore fails the call without sending it: nothing changed.
	FailBefore FaultMode = iota
	// FailAfter sends the call and then reports a failure: the change was
	// made but the caller cannot know (a timeout after commit).
	FailAfter
)

// Faults fails the Nth AWS call (counting from 1) in the given mode, once.
// The error is not retryable, so the SDK's retryer passes it through.
type Faults struct {
	mu   sync.Mutex
	n    int
	at   int
	mode FaultMode
	hit  *Call
}

// Arm makes the at-th call from now fail; at 0 disarms.
func (f *Faults) Arm(at int, mode FaultMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.at, f.mode, f.hit = 0, at, mode, nil
}

// Hit returns the call that failed, if one did.
func (f *Faults) Hit() (Call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hit == nil {
		return Call{}, false
	}
	return *f.hit, true
}

// Install adds the injector to cfg's clients, outside the retry loop.
func (f *Faults) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("devicepassFaults",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				f.mu.Lock()
				f.n++
				strike := f.at != 0 && f.n == f.at
				mode := f.mode
				if strike {
					c := callOf(ctx)
					f.hit = &c
				}
				f.mu.Unlock()
				if !strike {
					return next.HandleInitialize(ctx, in)
				}
				if mode == FailBefore {
					return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s: %w", callOf(ctx), ErrInjected)
				}
				out, md, err := next.HandleInitialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				return middleware.InitializeOutput{}, md, fmt.Errorf("%s (after it was applied): %w", callOf(ctx), ErrInjected)
			}), middleware.Before)
	})
}
