package apigw

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw/api"
)

// CredentialRoute is the mail platform's report of a changed main
// password, IAM-authorized as the verify route is; the API function serves
// it (it revokes devices, which the verify function may not).
var CredentialRoute = routeOf(api.OpCredentialChanged)

// CredentialReceiver revokes a mailbox's devices after its main password
// changed; *device.Devices is one.
type CredentialReceiver interface {
	CredentialChanged(ctx context.Context, address string) (int, bool, error)
}

// CredentialHandler serves POST /v1/mailboxes/{address}/credential-changed.
// API Gateway authorizes the caller with IAM before the function runs; an
// event without the IAM authorizer's context is refused (403).
type CredentialHandler struct {
	receiver CredentialReceiver
	log      *slog.Logger
	maxBody  int
}

// NewCredential returns a CredentialHandler; logger nil means JSON on
// stderr.
func NewCredential(r CredentialReceiver, logger *slog.Logger) (*CredentialHandler, error) {
	if r == nil {
		return nil, errors.New("apigw: NewCredential needs a receiver")
	}
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return &CredentialHandler{receiver: r, log: logger, maxBody: DefaultMaxBody}, nil
}

// Handle answers one report. It returns a nil error for every request.
func (h *CredentialHandler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, h.log, ev, h.handle), nil
}

func (h *CredentialHandler) handle(ctx context.Context, r *request) response {
	rid := r.ev.RequestContext.RequestID
	// Revoking every device of a mailbox must never be open to anyone.
	raw, stop := iamRequest(r, CredentialRoute, h.maxBody)
	if stop != nil {
		return *stop
	}
	r.mailbox = r.params[api.PathAddress]
	if raw != "" {
		var none struct{}
		if err := decodeStrict(raw, &none); err != nil {
			return problem(err, rid)
		}
	}
	n, applied, err := h.receiver.CredentialChanged(ctx, r.mailbox)
	if err != nil {
		return problem(err, rid)
	}
	return reply(200, api.CredentialChanged{Revoked: n, Applied: applied})
}

// WithCredential returns the API function's entry point: the credential
// route's events to c, every other to h.
func WithCredential(h *Handler, c *CredentialHandler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.RouteKey == CredentialRoute.Key() {
			return c.Handle(ctx, ev)
		}
		return h.Handle(ctx, ev)
	}
}
