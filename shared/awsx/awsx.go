// Package awsx holds what every function needs of the AWS SDK: loading the
// configuration once per cold start with a retry policy fit for Secrets
// Manager's quotas, and two middlewares that make AWS calls observable in
// tests and benchmarks: a counter and a fault injector.
package awsx

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Retry policy: throttling (ThrottlingException, LimitExceededException,
// ProvisionedThroughputExceededException, ...) and transient errors are
// retried with exponential backoff and full jitter. The client-side retry
// quota is off, because under Secrets Manager's 50 writes per second a
// bulk operation is throttled on purpose and must keep retrying.
const (
	MaxAttempts = 8
	MaxBackoff  = 4 * time.Second
)

// NewRetryer returns the retry policy.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.RateLimiter = ratelimit.None
		o.Retryables = append(append([]retry.IsErrorRetryable{}, o.Retryables...), retry.IsErrorRetryableFunc(cutResponse))
	})
}

// cutResponse marks as retryable a response whose connection broke while
// its body was read: the SDK's defaults retry a connection that fails
// before the response, but a body cut short (a connection closed by a
// proxy or a load balancer mid-response) surfaces as a deserialization
// error. It is the same transient fault one step later. The request may
// have been applied, as with any retried 5xx: the callers' writes are
// conditional or carry an idempotency token.
func cutResponse(err error) aws.Ternary {
	var de *smithy.DeserializationError
	if !errors.As(err, &de) {
		return aws.UnknownTernary
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// Load loads the SDK configuration from the environment (including the
// service-specific endpoint variables AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_SECRETS_MANAGER the local runner sets) with the retry
// policy, and every call ending DefaultMargin before the function's
// deadline.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append([]func(*config.LoadOptions) error{config.WithRetryer(NewRetryer)}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, err
	}
	Deadline{Margin: DefaultMargin}.Install(&cfg)
	return cfg, nil
}

// DefaultMargin is how long before a function's deadline every AWS call
// ends, leaving the handler time to answer 503 itself: a Lambda killed at
// its timeout answers API Gateway's bare 500 (or nothing) instead.
const DefaultMargin = time.Second

// Deadline bounds every AWS call: it ends Margin before the context's
// deadline (a Lambda's remaining time) and, if Ceiling is set, at most
// Ceiling after it starts (the local runner, whose requests have no
// Lambda deadline). A stalled dependency then costs a request at most
// that, and the adapters answer Unavailable (503 with Retry-After) instead
// of hanging until the function is killed. The SDK's retries of one call
// share its deadline.
type Deadline struct {
	Margin  time.Duration
	Ceiling time.Duration
}

// Install adds the deadline to cfg's clients.
func (d Deadline) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("devicepassDeadline",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				end, ok := d.end(ctx, time.Now())
				if !ok {
					return next.HandleInitialize(ctx, in)
				}
				ctx, cancel := context.WithDeadline(ctx, end)
				defer cancel()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// end returns the deadline of a call starting at now, if it has one.
func (d Deadline) end(ctx context.Context, now time.Time) (time.Time, bool) {
	var end time.Time
	if dl, ok := ctx.Deadline(); ok {
		end = dl.Add(-d.Margin)
	}
	if d.Ceiling > 0 && (end.IsZero() || now.Add(d.Ceiling).Before(end)) {
		end = now.Add(d.Ceiling)
	}
	return end, !end.IsZero()
}
