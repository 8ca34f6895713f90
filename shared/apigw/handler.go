// Package apigw is the API Lambdas' adapter for API Gateway HTTP API
// (payload format 2.0): routing, JSON decoding, the caller from the JWT
// authorizer's claims, and RFC 9457 problem documents. Handler serves the
// management API (the routes in Routes); VerifyHandler serves POST
// /v1/verify for mail servers. The domain rules, authorization included,
// live in shared/device; this package only translates.
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
	"math"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// Options tune a Handler. Zero values take the defaults.
type Options struct {
	// GroupsClaim is the JWT claim listing the caller's groups; default
	// "cognito:groups".
	GroupsClaim string
	// StepUpMaxAge is the max_age the RFC 9470 challenge advertises. The
	// service enforces its own Policy.StepUpMaxAge; zero takes that value,
	// and any other value must equal it, so the challenge never lies.
	StepUpMaxAge time.Duration
	// Logger receives one JSON line per request; default JSON on stderr.
	Logger *slog.Logger
	// MaxBody is the largest body accepted, in bytes; default 64 KiB.
	MaxBody int
	// Clock is the instant at which statuses are shown (a device past its
	// expiry shows as expired); default time.Now. Tests pass the service's.
	Clock func() time.Time
	// Audit serves GET /v1/mailboxes/{address}/audit. Without it that
	// route answers 503 (the deployment lacks the audit trail).
	Audit *lifecycle.Audit
}

// Service is the use cases the management API serves.
type Service struct {
	*device.Devices
	*device.Enrollments
}

// Handler serves the management API's routes (Routes).
type Handler struct {
	svc         Service
	audit       *lifecycle.Audit
	groupsClaim string
	stepUp      time.Duration
	log         *slog.Logger
	maxBody     int
	now         func() time.Time
	serve       map[string]func(context.Context, *request) (response, error)
}

// request is one request as it goes through the handler.
type request struct {
	ev         *events.APIGatewayV2HTTPRequest
	route      Route
	params     map[string]string
	caller     device.Caller
	body       object
	query      map[string]string
	mailbox    string // for the log
	deviceID   string // for the log
	enrollment string // for the log: the link's id (a keyed hash), never its token
}

// New returns a Handler serving svc, or an error if svc is nil or an
// option is invalid.
func New(svc Service, opts Options) (*Handler, error) {
	if svc.Devices == nil || svc.Enrollments == nil {
		return nil, errors.New("apigw: New needs the device and enrollment use cases")
	}
	enforced := svc.Devices.Config().Policy.StepUpMaxAge
	switch {
	case opts.StepUpMaxAge == 0:
		opts.StepUpMaxAge = enforced
	case opts.StepUpMaxAge != enforced:
		return nil, fmt.Errorf("apigw: step-up max age %s differs from the service's %s", opts.StepUpMaxAge, enforced)
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
	h := &Handler{svc: svc, audit: opts.Audit, groupsClaim: opts.GroupsClaim, stepUp: opts.StepUpMaxAge, log: opts.Logger, maxBody: opts.MaxBody, now: opts.Clock}
	h.serve = map[string]func(context.Context, *request) (response, error){
		OpPutMailbox:   h.putMailbox,
		OpGetMailbox:   h.getMailbox,
		OpCreateDevice: h.createDevice,
		OpListDevices:  h.listDevices,
		OpGetDevice:    h.getDevice,
		OpUpdateDevice: h.updateDevice,
		OpRevokeDevice: h.revokeDevice,
		OpRegenerate:   h.regenerate,
		OpRevokeAll:    h.revokeAll,
		OpCreateEnroll: h.createEnrollment,
		OpCancelEnroll: h.cancelEnrollment,
		OpRedeemEnroll: h.redeemEnrollment,
		OpListAudit:    h.listAudit,
	}
	for _, r := range Routes {
		if h.serve[r.Operation] == nil {
			return nil, fmt.Errorf("apigw: route %s has no operation %q", r.Key(), r.Operation)
		}
	}
	return h, nil
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
	r.mailbox = params["address"]
	if route.Path == devicePath || route.Path == passwordPath {
		r.deviceID = params["id"]
	}
	// An enrollment id from the path is logged only once the store knew
	// it: a token sent there by mistake (both are 43 base64url characters)
	// must not reach the log.
	var err error
	if r.caller, err = callerOf(r.ev, h.groupsClaim); err != nil {
		return h.fail(r, err)
	}
	ctx = device.WithActor(ctx, r.caller.Actor())
	if r.query, err = readQuery(r.ev, route.Query); err != nil {
		return h.fail(r, err)
	}
	media := []string{"application/json"}
	if route.Method == "PATCH" {
		media = append(media, "application/merge-patch+json")
	}
	if r.body, err = readBody(r.ev, route.Body, h.maxBody, media...); err != nil {
		return h.fail(r, err)
	}
	res, err := h.serve[route.Operation](ctx, r)
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
			int64(h.stepUp/time.Second))
	}
	return res
}

func mailboxLocation(address string) string {
	return "/v1/mailboxes/" + url.PathEscape(address)
}

func deviceLocation(address, id string) string {
	return mailboxLocation(address) + "/devices/" + url.PathEscape(id)
}

func (h *Handler) putMailbox(ctx context.Context, r *request) (response, error) {
	owner, _ := r.body.str("owner")
	m, created, err := h.svc.RegisterMailbox(ctx, r.caller, r.mailbox, owner)
	if err != nil {
		return response{}, err
	}
	r.mailbox = m.Address
	if !created {
		return reply(200, newMailboxJSON(m)), nil
	}
	res := reply(201, newMailboxJSON(m))
	res.headers["Location"] = mailboxLocation(m.Address)
	return res, nil
}

func (h *Handler) getMailbox(ctx context.Context, r *request) (response, error) {
	m, err := h.svc.GetMailbox(ctx, r.caller, r.mailbox)
	if err != nil {
		return response{}, err
	}
	return reply(200, newMailboxJSON(m)), nil
}

// rotationInput reads a rotation policy member.
func rotationInput(path string, o object) (*device.RotationInput, error) {
	in := &device.RotationInput{}
	if v, ok := o["everyDays"]; ok {
		if v.num < math.MinInt32 || v.num > math.MaxInt32 {
			return nil, apperr.Field(path+".everyDays", "must be between %d and %d", device.MinRotationDay, device.MaxRotationDay)
		}
		in.EveryDays = int(v.num)
	}
	in.Schedule, _ = o.str("schedule")
	in.Duration, _ = o.str("duration")
	in.Grace, _ = o.str("grace")
	return in, nil
}

func (h *Handler) createDevice(ctx context.Context, r *request) (response, error) {
	var in device.CreateInput
	in.Name, _ = r.body.str("name")
	in.Note, _ = r.body.str("note")
	in.User, _ = r.body.str("user")
	in.ExpiresAt, _ = r.body.str("expiresAt")
	in.ValidFor, _ = r.body.str("validFor")
	if v, ok := r.body["scopes"]; ok {
		in.Scopes = v.strs
	}
	if v, ok := r.body["allowIps"]; ok {
		in.AllowIPs = v.strs
	}
	if v, ok := r.body["rotation"]; ok {
		var err error
		if in.Rotation, err = rotationInput("rotation", v.obj); err != nil {
			return response{}, err
		}
	}
	c, err := h.svc.CreateDevice(ctx, r.caller, r.mailbox, in, header(r.ev, "idempotency-key"))
	if err != nil {
		return response{}, err
	}
	r.mailbox, r.deviceID = c.Device.Mailbox, c.Device.ID
	res := reply(201, createdJSON{Device: newDeviceJSON(c.Device, h.now()), Password: c.Password})
	res.headers["Location"] = deviceLocation(c.Device.Mailbox, c.Device.ID)
	if c.Replayed {
		res.headers["Idempotent-Replayed"] = "true"
	}
	return res, nil
}

func (h *Handler) listDevices(ctx context.Context, r *request) (response, error) {
	limit, err := limitParam(r.query)
	if err != nil {
		return response{}, err
	}
	p, err := h.svc.ListDevices(ctx, r.caller, r.mailbox, r.query["cursor"], limit)
	if err != nil {
		return response{}, err
	}
	now := h.now()
	out := pageJSON{Items: make([]deviceJSON, 0, len(p.Devices)), Next: optString(p.Next)}
	for _, d := range p.Devices {
		out.Items = append(out.Items, newDeviceJSON(d, now))
	}
	return reply(200, out), nil
}

func (h *Handler) getDevice(ctx context.Context, r *request) (response, error) {
	d, err := h.svc.GetDevice(ctx, r.caller, r.mailbox, r.deviceID)
	if err != nil {
		return response{}, err
	}
	return reply(200, newDeviceJSON(d, h.now())), nil
}

// updateDevice applies a JSON merge patch (RFC 7396): an absent member
// leaves its value alone, null removes it (note, allowIps, rotation), and
// rotation is replaced as a whole.
func (h *Handler) updateDevice(ctx context.Context, r *request) (response, error) {
	var p device.Patch
	if v, ok := r.body["name"]; ok {
		p.Name = &v.str
	}
	if v, ok := r.body["note"]; ok {
		p.Note = &v.str // null: "", no note
	}
	if v, ok := r.body["status"]; ok {
		p.Status = &v.str
	}
	if v, ok := r.body["scopes"]; ok {
		p.Scopes = &v.strs
	}
	if v, ok := r.body["allowIps"]; ok {
		ips := v.strs
		if ips == nil {
			ips = []string{} // null: no allow-list
		}
		p.AllowIPs = &ips
	}
	if v, ok := r.body["rotation"]; ok {
		if v.null {
			p.RemoveRotation = true
		} else {
			var err error
			if p.Rotation, err = rotationInput("rotation", v.obj); err != nil {
				return response{}, err
			}
		}
	}
	d, err := h.svc.UpdateDevice(ctx, r.caller, r.mailbox, r.deviceID, p)
	if err != nil {
		return response{}, err
	}
	return reply(200, newDeviceJSON(d, h.now())), nil
}

func (h *Handler) revokeDevice(ctx context.Context, r *request) (response, error) {
	d, err := h.svc.Revoke(ctx, r.caller, r.mailbox, r.deviceID)
	if err != nil {
		return response{}, err
	}
	return reply(200, newDeviceJSON(d, h.now())), nil
}

func (h *Handler) regenerate(ctx context.Context, r *request) (response, error) {
	var grace time.Duration
	if v, ok := r.body["graceSeconds"]; ok {
		var err error
		if grace, err = device.ParseGraceSeconds("graceSeconds", v.num); err != nil {
			return response{}, err
		}
	}
	c, err := h.svc.Regenerate(ctx, r.caller, r.mailbox, r.deviceID, grace)
	if err != nil {
		return response{}, err
	}
	return reply(200, createdJSON{Device: newDeviceJSON(c.Device, h.now()), Password: c.Password}), nil
}

func (h *Handler) revokeAll(ctx context.Context, r *request) (response, error) {
	n, err := h.svc.RevokeAll(ctx, r.caller, r.mailbox)
	if err != nil {
		return response{}, err
	}
	return reply(200, revokedJSON{Revoked: n}), nil
}

// limitParam reads the limit query parameter; 0 when absent.
func limitParam(q map[string]string) (int, error) {
	s, ok := q["limit"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > device.MaxPageSize {
		return 0, apperr.Field("limit", "must be an integer between 1 and %d", device.MaxPageSize)
	}
	return n, nil
}

func (h *Handler) createEnrollment(ctx context.Context, r *request) (response, error) {
	var in device.EnrollmentInput
	in.Name, _ = r.body.str("name")
	in.User, _ = r.body.str("user")
	in.ExpiresAt, _ = r.body.str("expiresAt")
	in.ValidFor, _ = r.body.str("validFor")
	in.TokenValidFor, _ = r.body.str("tokenValidFor")
	if v, ok := r.body["scopes"]; ok {
		in.Scopes = v.strs
	}
	e, token, err := h.svc.CreateEnrollment(ctx, r.caller, r.mailbox, in)
	if err != nil {
		return response{}, err
	}
	r.mailbox, r.enrollment = e.Mailbox, e.ID
	return reply(201, enrollmentCreatedJSON{Enrollment: newEnrollmentJSON(e, h.now()), Token: token}), nil
}

func (h *Handler) cancelEnrollment(ctx context.Context, r *request) (response, error) {
	e, err := h.svc.CancelEnrollment(ctx, r.caller, r.mailbox, r.params["id"])
	if err != nil {
		return response{}, err
	}
	r.enrollment = e.ID
	return reply(200, newEnrollmentJSON(e, h.now())), nil
}

// redeemEnrollment creates the device of the link whose token is in the
// path. The token is read here and passed on; it is never logged (the log
// names the route template) nor repeated in an answer.
func (h *Handler) redeemEnrollment(ctx context.Context, r *request) (response, error) {
	c, err := h.svc.RedeemEnrollment(ctx, r.caller, r.params["token"])
	if err != nil {
		return response{}, err
	}
	r.mailbox, r.deviceID = c.Device.Mailbox, c.Device.ID
	res := reply(201, createdJSON{Device: newDeviceJSON(c.Device, h.now()), Password: c.Password})
	res.headers["Location"] = deviceLocation(c.Device.Mailbox, c.Device.ID)
	return res, nil
}

func (h *Handler) listAudit(ctx context.Context, r *request) (response, error) {
	limit, err := limitParam(r.query)
	if err != nil {
		return response{}, err
	}
	if h.audit == nil {
		return response{}, apperr.New(apperr.Unavailable, "the audit trail is not available in this deployment")
	}
	p, err := h.audit.List(ctx, r.caller, r.mailbox, r.query["cursor"], limit)
	if err != nil {
		return response{}, err
	}
	out := auditPageJSON{Items: make([]auditEventJSON, 0, len(p.Items)), Next: optString(p.Next)}
	for _, ev := range p.Items {
		out.Items = append(out.Items, newAuditEventJSON(ev))
	}
	return reply(200, out), nil
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
	if r.mailbox != "" {
		attrs = append(attrs, slog.String("mailbox", truncate(r.mailbox, 320)))
	}
	if r.deviceID != "" {
		attrs = append(attrs, slog.String("device", truncate(r.deviceID, 64)))
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
