package apigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// VerifyHandler serves POST /v1/verify for mail servers. API Gateway
// authorizes the caller with IAM (SigV4) before the function runs; an event
// without the IAM authorizer's context is refused (403). The body
// holds a password: it is never logged or echoed, and no error quotes it.
type VerifyHandler struct {
	deps    VerifyDeps
	log     *slog.Logger
	maxBody int
}

// NewVerify returns a VerifyHandler serving deps; logger nil means JSON on
// stderr.
func NewVerify(deps VerifyDeps, logger *slog.Logger) (*VerifyHandler, error) {
	if deps.Verifier == nil {
		return nil, errors.New("apigw: NewVerify needs a verifier")
	}
	// A password oracle must be IAM-authorized in the document.
	if VerifyRoute.Auth != api.AuthIAM {
		return nil, fmt.Errorf("apigw: %s is not IAM-authorized in the document", api.OpVerify)
	}
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return &VerifyHandler{deps: deps, log: logger, maxBody: DefaultMaxBody}, nil
}

// Handle answers one verification: 200 {"valid": true|false}, never saying
// why a password was refused; 429 with Retry-After when the client's
// network has had too many failures for the mailbox; 400 for bad input. It returns a nil error for every
// request and recovers from panics with a 500 problem.
func (v *VerifyHandler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, v.log, ev, v.handle), nil
}

func (v *VerifyHandler) handle(ctx context.Context, r *request) response {
	rid := r.ev.RequestContext.RequestID
	// A password oracle must not be open to anyone.
	raw, stop := iamRequest(r, VerifyRoute, v.maxBody)
	if stop != nil {
		return *stop
	}
	var body api.VerifyJSONRequestBody
	if err := decodeStrict(raw, &body); err != nil {
		return problem(err, rid)
	}
	req := device.VerifyRequest{Mailbox: body.Mailbox, Password: body.Password, Protocol: string(body.Protocol), ClientIP: deref(body.ClientIp)}
	r.mailbox = req.Mailbox
	valid, err := v.deps.Verifier.Verify(ctx, req)
	if err != nil {
		res := problem(err, rid)
		if res.code == apperr.RateLimited {
			res.headers["Retry-After"] = strconv.Itoa(v.retryAfter(err, time.Now()))
		}
		return res
	}
	return reply(200, api.VerifyResult{Valid: valid})
}

// retryAfter is the number of seconds until the client's network may try
// again, as the refusal says, or else until the current window ends.
func (v *VerifyHandler) retryAfter(err error, now time.Time) int {
	if wait, ok := device.RetryAfter(err, now); ok {
		return max(1, int(math.Ceil(wait.Seconds())))
	}
	w := v.deps.Window
	if w <= 0 {
		return retryRateLimited
	}
	left := now.Truncate(w).Add(w).Sub(now)
	return max(1, int(math.Ceil(left.Seconds())))
}

// iamRequest routes r to route, an IAM-authorized route, and reads its
// query and body. API Gateway lets only SigV4-signed requests of allowed
// principals through; an event without an IAM caller means the route lost
// its authorization, and is refused (403). A non-nil answer ends the
// request with it.
func iamRequest(r *request, route Route, maxBody int) (string, *response) {
	rid := r.ev.RequestContext.RequestID
	rt, params, allowed, ok := findRoute([]Route{route}, r.ev)
	if !ok {
		resp := notRouted(r.ev, allowed)
		return "", &resp
	}
	r.route, r.params = rt, params
	if a := r.ev.RequestContext.Authorizer; a == nil || a.IAM == nil {
		resp := problem(apperr.New(apperr.Forbidden, "this route needs an IAM (SigV4) signed request"), rid)
		return "", &resp
	}
	if _, err := readQuery(r.ev, rt); err != nil {
		resp := problem(err, rid)
		return "", &resp
	}
	raw, err := readBody(r.ev, rt, maxBody)
	if err != nil {
		resp := problem(err, rid)
		return "", &resp
	}
	return raw, nil
}
