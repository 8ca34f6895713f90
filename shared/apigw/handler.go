// Package apigw is the API Lambdas' adapter for API Gateway HTTP API
// (payload format 2.0): routing, JSON decoding, the caller from the JWT
// authorizer's claims, and RFC 9457 problem documents. Handler serves the
// management API (the routes in Routes); VerifyHandler serves POST
// /v1/verify for mail servers. The routes, and the request and answer
// types, are generated from docs/openapi.yaml into package api; adding a
// route means editing the document and writing its one operation here
// (operations.go). The domain rules, authorization included, live in
// shared/device; this package only translates, and calls the use cases
// through the small interfaces of deps.go.
//
// Nothing a client sends makes Handle return a Go error or panic: every
// request gets an answer, 4xx for the client's mistakes, 5xx only for
// failures of the service's dependencies or bugs (a recovered panic is a
// 500, logged with the request id).
//
// A mailbox or device the caller may not manage gets the same answer
// whether or not it exists (403 with the same problem document), so
// addresses cannot be enumerated; only an administrator of the domain
// learns that a mailbox is not registered (404).
package apigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// Options tune a Handler. Zero values take the defaults.
type Options struct {
	// GroupsClaim is the JWT claim listing the caller's groups; default
	// "cognito:groups".
	GroupsClaim string
	// Logger receives one JSON line per request; default JSON on stderr.
	Logger *slog.Logger
	// MaxBody is the largest body accepted, in bytes; default 64 KiB.
	MaxBody int
	// Clock is the instant at which statuses are shown (a device past its
	// expiry shows as expired); default time.Now. Tests pass the service's.
	Clock func() time.Time
}

// Handler serves the management API's routes (Routes).
type Handler struct {
	deps        Deps
	groupsClaim string
	log         *slog.Logger
	maxBody     int
	now         func() time.Time
	ops         map[string]operation
}

// operation serves one route: it decodes the body into its document type
// (or refuses any member, for a route without a body) and calls the use
// case.
type operation struct {
	serve   func(context.Context, *request) (response, error)
	hasBody bool
}

// withBody is the operation of a route whose body is a B: the handler gets
// it decoded strictly, the zero B when the (optional) body is absent.
func withBody[B any](f func(context.Context, *request, B) (response, error)) operation {
	return operation{hasBody: true, serve: func(ctx context.Context, r *request) (response, error) {
		var b B
		if r.body != "" {
			if err := decodeStrict(r.body, &b); err != nil {
				return response{}, err
			}
		}
		return f(ctx, r, b)
	}}
}

// noBody is the operation of a route without a body: an empty one or {}
// is accepted, any member refused.
func noBody(f func(context.Context, *request) (response, error)) operation {
	op := withBody(func(ctx context.Context, r *request, _ struct{}) (response, error) { return f(ctx, r) })
	op.hasBody = false
	return op
}

// request is one request as it goes through the handler.
type request struct {
	ev         *events.APIGatewayV2HTTPRequest
	route      Route
	params     map[string]string
	caller     device.Caller
	body       string // the raw body, checked for size and content type; "" when absent
	query      map[string]string
	mailbox    string // for the log
	deviceID   string // for the log
	enrollment string // for the log: the link's id (a keyed hash), never its token
}

// New returns a Handler serving deps, or an error if a use case is
// missing, an option is invalid, or a route of the document has no
// operation here (or an operation no route).
func New(deps Deps, opts Options) (*Handler, error) {
	if deps.Mailboxes == nil || deps.Devices == nil || deps.Enrollments == nil {
		return nil, errors.New("apigw: New needs the mailbox, device and enrollment use cases")
	}
	if deps.StepUpMaxAge <= 0 {
		return nil, fmt.Errorf("apigw: step-up max age %s is not positive", deps.StepUpMaxAge)
	}
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = DefaultGroupsClaim
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxBody < 0 {
		return nil, fmt.Errorf("apigw: negative max body %d", opts.MaxBody)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	h := &Handler{deps: deps, groupsClaim: opts.GroupsClaim, log: opts.Logger, maxBody: opts.MaxBody, now: opts.Clock}
	h.ops = map[string]operation{
		api.OpPutMailbox:          withBody(h.putMailbox),
		api.OpGetMailbox:          noBody(h.getMailbox),
		api.OpCreateDevice:        withBody(h.createDevice),
		api.OpListDevices:         noBody(h.listDevices),
		api.OpGetDevice:           noBody(h.getDevice),
		api.OpUpdateDevice:        withBody(h.updateDevice),
		api.OpRevokeDevice:        noBody(h.revokeDevice),
		api.OpRegeneratePassword:  withBody(h.regenerate),
		api.OpRevokeAllDevices:    noBody(h.revokeAll),
		api.OpCreateEnrollment:    withBody(h.createEnrollment),
		api.OpCancelEnrollment:    noBody(h.cancelEnrollment),
		api.OpRedeemEnrollment:    noBody(h.redeemEnrollment),
		api.OpListAudit:           noBody(h.listAudit),
		api.OpGetMe:               noBody(h.getMe),
		api.OpListMyMailboxes:     noBody(h.listMyMailboxes),
		api.OpListDomainMailboxes: noBody(h.listDomainMailboxes),
		api.OpListEnrollments:     noBody(h.listEnrollments),
		api.OpGetDomainPolicy:     noBody(h.getDomainPolicy),
		api.OpPutDomainPolicy:     withBody(h.putDomainPolicy),
		api.OpListNoncompliant:    noBody(h.listNoncompliant),
	}
	if err := checkOperations(Routes, h.ops); err != nil {
		return nil, err
	}
	return h, nil
}

// checkOperations fails unless every route has an operation taking a body
// exactly when the document gives it one, and every operation a route.
func checkOperations(routes []Route, ops map[string]operation) error {
	for _, r := range routes {
		op, ok := ops[r.Operation]
		if !ok {
			return fmt.Errorf("apigw: route %s has no operation %q", r.Key(), r.Operation)
		}
		if op.hasBody != (r.Body != api.BodyNone) {
			return fmt.Errorf("apigw: operation %q and docs/openapi.yaml disagree on whether it takes a body", r.Operation)
		}
	}
	if len(ops) != len(routes) {
		return fmt.Errorf("apigw: %d operations for %d routes", len(ops), len(routes))
	}
	return nil
}

// Handle answers one API Gateway HTTP API event. It returns a nil error
// for every request, and recovers from panics with a 500 problem.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, h.log, ev, h.handle), nil
}

// serve runs one request through handle and answers it: a panic becomes a
// 500 problem with its stack in the log (the panic value and stack name no
// request data), and every request gets one log line.
func serve(ctx context.Context, log *slog.Logger, ev events.APIGatewayV2HTTPRequest, handle func(context.Context, *request) response) (resp events.APIGatewayV2HTTPResponse) {
	start := time.Now()
	r := &request{ev: &ev}
	var res response
	defer func() {
		if p := recover(); p != nil {
			res = problem(apperr.New(apperr.Internal, "panic"), ev.RequestContext.RequestID)
			res.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
		resp = res.event()
		logRequest(ctx, log, r, res, time.Since(start))
	}()
	res = handle(ctx, r)
	return resp
}

func (h *Handler) handle(ctx context.Context, r *request) response {
	route, params, allowed, ok := findRoute(Routes, r.ev)
	if !ok {
		return notRouted(r.ev, allowed)
	}
	r.route, r.params = route, params
	r.mailbox = params[api.PathAddress]
	if strings.Contains(route.Path, "/devices/{"+api.PathDeviceID+"}") {
		r.deviceID = params[api.PathDeviceID]
	}
	// An enrollment id from the path is logged only once the store knew
	// it: a token sent there by mistake (both are 43 base64url characters)
	// must not reach the log.
	var err error
	if r.caller, err = callerOf(r.ev, h.groupsClaim); err != nil {
		return h.fail(r, err)
	}
	ctx = device.WithActor(ctx, r.caller.Actor())
	if r.query, err = readQuery(r.ev, route); err != nil {
		return h.fail(r, err)
	}
	if r.body, err = readBody(r.ev, route, h.maxBody); err != nil {
		return h.fail(r, err)
	}
	res, err := h.ops[route.Operation].serve(ctx, r)
	if err != nil {
		return h.fail(r, err)
	}
	return res
}

// findRoute dispatches on the route key when API Gateway set it to one of
// routes (with its path parameters), and matches the raw path otherwise.
func findRoute(routes []Route, ev *events.APIGatewayV2HTTPRequest) (Route, map[string]string, []string, bool) {
	method := ev.RequestContext.HTTP.Method
	if rt, ok := routeByKey(routes, ev.RouteKey); ok && (method == "" || method == rt.Method) {
		params := map[string]string{}
		for _, name := range templateParams(rt.Path) {
			if v := ev.PathParameters[name]; v != "" {
				params[name] = v
			}
		}
		if len(params) == len(templateParams(rt.Path)) {
			return rt, params, nil, true
		}
	}
	if method == "" {
		method, _, _ = strings.Cut(ev.RouteKey, " ")
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	rt, params, allowed, ok := match(routes, method, path)
	if !ok && allowed == nil {
		// A named stage prefixes the raw path ("/prod/v1/...").
		if st := ev.RequestContext.Stage; st != "" && st != "$default" {
			if rest, cut := strings.CutPrefix(path, "/"+st+"/"); cut {
				return match(routes, method, "/"+rest)
			}
		}
	}
	return rt, params, allowed, ok
}

// notRouted answers a request no route matched: 405 with Allow when the
// path is known, 404 otherwise.
func notRouted(ev *events.APIGatewayV2HTTPRequest, allowed []string) response {
	rid := ev.RequestContext.RequestID
	if len(allowed) > 0 {
		res := problem(apperr.New(codeMethodNotAllowed, "this resource allows %s", strings.Join(allowed, ", ")), rid)
		res.headers["Allow"] = strings.Join(allowed, ", ")
		return res
	}
	return problem(apperr.New(apperr.NotFound, "no such resource"), rid)
}

// fail answers err, with the step-up challenge of RFC 9470 when the login
// is too old.
func (h *Handler) fail(r *request, err error) response {
	res := problem(err, r.ev.RequestContext.RequestID)
	if res.code == apperr.StepUpRequired {
		res.headers["WWW-Authenticate"] = fmt.Sprintf(
			`Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age=%d`,
			int64(h.deps.StepUpMaxAge/time.Second))
	}
	return res
}

func mailboxLocation(address string) string {
	return "/v1/mailboxes/" + url.PathEscape(address)
}

func deviceLocation(address, id string) string {
	return mailboxLocation(address) + "/devices/" + url.PathEscape(id)
}

// logRequest writes the one line of a request: who, what, the outcome and
// how long it took. Never a body, header, token or password; the cause of
// a 5xx only.
func logRequest(ctx context.Context, log *slog.Logger, r *request, res response, d time.Duration) {
	ev := r.ev
	route := "unmatched"
	if r.route.Path != "" {
		route = r.route.Key()
	}
	attrs := []slog.Attr{
		slog.String("request_id", ev.RequestContext.RequestID),
		slog.String("method", truncate(ev.RequestContext.HTTP.Method, 16)),
		slog.String("route", route),
		slog.Int("status", res.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	// The path's mailbox and device id are logged only in their valid,
	// normalized form: a value that fails validation may be a password
	// pasted into the wrong place, so the log names the field's shape.
	if r.mailbox != "" {
		if addr, err := device.NormalizeAddress("mailbox", r.mailbox); err == nil {
			attrs = append(attrs, slog.String("mailbox", addr))
		} else {
			attrs = append(attrs, slog.String("mailbox_refused", apperr.Describe(r.mailbox)))
		}
	}
	if r.deviceID != "" {
		if device.ValidID(r.deviceID) {
			attrs = append(attrs, slog.String("device", r.deviceID))
		} else {
			attrs = append(attrs, slog.String("device_refused", apperr.Describe(r.deviceID)))
		}
	}
	if r.enrollment != "" {
		attrs = append(attrs, slog.String("enrollment", truncate(r.enrollment, 64)))
	}
	if r.caller.Subject != "" {
		attrs = append(attrs, slog.String("caller", truncate(r.caller.Subject, 128)))
	}
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		attrs = append(attrs, slog.String("source_ip", truncate(ip, 64)))
	}
	level := slog.LevelInfo
	if res.code != "" {
		attrs = append(attrs, slog.String("code", string(res.code)))
		if e, ok := apperr.As(res.err); ok && e.Field != "" {
			attrs = append(attrs, slog.String("field", truncate(e.Field, 80)))
		}
	}
	if res.status >= 500 {
		level = slog.LevelError
		if res.err != nil {
			attrs = append(attrs, slog.String("error", res.err.Error()))
		}
	}
	log.LogAttrs(ctx, level, "request", attrs...)
}
