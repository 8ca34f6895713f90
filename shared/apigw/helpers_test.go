package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// t0 is the fake clock's start; the fixtures' auth_time is a minute before.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	mailbox      = "alice@example.com"
	mailboxPath  = "/v1/mailboxes/alice@example.com"
	devicesPath  = mailboxPath + "/devices"
	stepUpMaxAge = 5 * time.Minute
)

// identity is a caller as the JWT authorizer describes it.
type identity struct {
	sub    string
	groups string // the groups claim as HTTP API flattens it
}

var (
	admin      = &identity{sub: "admin-1", groups: "[domain-admin:example.com ops]"}
	owner      = &identity{sub: "owner-1"}
	otherAdmin = &identity{sub: "admin-2", groups: "[domain-admin:example.org]"}
	stranger   = &identity{sub: "user-9", groups: "[users]"}
)

// env is the domain service on shared/device/devicetest's in-memory
// fakes, behind the handlers.
type env struct {
	tb      testing.TB
	clock   *devicetest.Clock
	store   *devicetest.MemStore
	secrets *devicetest.MemSecrets
	keyed   *verifier.Keyed
	svc     *devicetest.UseCases
	h       *apigw.Handler
	verify  *apigw.VerifyHandler
	audit   *memAudit
	logs    *logbuf.Buffer
	n       int
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{tb: tb, clock: devicetest.NewClock(t0), store: devicetest.NewMemStore(), secrets: devicetest.NewMemSecrets(), logs: &logbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if e.keyed, err = verifier.New(bytes.Repeat([]byte{7}, 32)); err != nil {
		tb.Fatal(err)
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		tb.Fatal(err)
	}
	e.svc, err = devicetest.NewUseCases(device.Config{MaxLiveDevices: 10, Policy: device.Policy{StepUpMaxAge: stepUpMaxAge}},
		devicetest.Deps{Store: e.store, Secrets: e.secrets, Scheduler: e.secrets, Keyed: e.keyed, Generator: gen, Clock: e.clock.Now, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	e.audit = &memAudit{}
	audit, err := lifecycle.NewAudit(e.store, e.audit, e.svc.Config().Policy)
	if err != nil {
		tb.Fatal(err)
	}
	deps := deviceDeps(e.svc)
	deps.Audit = audit
	if deps.Directory, err = device.NewDirectory(e.store, e.svc.Config().Policy); err != nil {
		tb.Fatal(err)
	}
	if deps.OpenLinks, err = device.NewEnrollmentLister(e.store, e.svc.Config().Policy, e.clock.Now); err != nil {
		tb.Fatal(err)
	}
	if e.h, err = apigw.New(deps, apigw.Options{Logger: logger, Clock: e.clock.Now}); err != nil {
		tb.Fatal(err)
	}
	if e.verify, err = apigw.NewVerify(apigw.VerifyDeps{Verifier: e.svc, Window: e.svc.Config().Verify.Window}, logger); err != nil {
		tb.Fatal(err)
	}
	return e
}

// deviceDeps are the management API's use cases, all served by svc, without
// an audit trail.
func deviceDeps(svc *devicetest.UseCases) apigw.Deps {
	return apigw.Deps{Mailboxes: svc, Devices: svc, Enrollments: svc, Policies: svc.Policies, StepUpMaxAge: svc.Config().Policy.StepUpMaxAge}
}

// call is one request to the handler.
type call struct {
	method  string
	path    string // raw path, as the client sent it
	body    string
	headers map[string]string // lower-case names; "" deletes a default
	as      *identity         // nil: no JWT claims
	authAge time.Duration     // how long ago the caller logged in; default 1m
	noKey   bool              // leave RouteKey and PathParameters empty (fallback routing)
	b64     bool              // send the body base64-encoded
}

// result is the handler's answer, decoded.
type result struct {
	status  int
	headers map[string]string
	body    string
	json    map[string]any
}

func (r result) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

func (r result) device() map[string]any {
	d, _ := r.json["device"].(map[string]any)
	return d
}

// event builds the payload v2 event API Gateway would send for c.
func (e *env) event(c call) events.APIGatewayV2HTTPRequest {
	e.n++
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "$default",
		RawPath:  c.path,
		Headers:  map[string]string{"user-agent": "apigw-test", "accept": "application/json"},
		Body:     c.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  "$default",
			RequestID: "req-" + strconv.Itoa(e.n),
			Stage:     "$default",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: c.method, Path: c.path, SourceIP: "203.0.113.7", UserAgent: "apigw-test"},
		},
	}
	if q, p, ok := strings.Cut(c.path, "?"); ok {
		ev.RawPath, ev.RawQueryString = q, p
		ev.RequestContext.HTTP.Path = q
	}
	if c.body != "" {
		ev.Headers["content-type"] = "application/json"
	}
	for k, v := range c.headers {
		if v == "" {
			delete(ev.Headers, k)
		} else {
			ev.Headers[k] = v
		}
	}
	if c.b64 {
		ev.Body, ev.IsBase64Encoded = b64(c.body), true
	}
	if !c.noKey {
		if r, params, ok := apigw.Match(c.method, ev.RawPath); ok {
			ev.RouteKey, ev.PathParameters = r.Key(), params
			ev.RequestContext.RouteKey = r.Key()
		}
	}
	if c.as != nil {
		age := c.authAge
		if age == 0 {
			age = time.Minute
		}
		claims := map[string]string{
			"sub":       c.as.sub,
			"email":     c.as.sub + "@example.net",
			"auth_time": strconv.FormatInt(e.clock.Now().Add(-age).Unix(), 10),
			"token_use": "access",
		}
		if c.as.groups != "" {
			claims["cognito:groups"] = c.as.groups
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

func (e *env) do(c call) result {
	e.tb.Helper()
	return e.handle(e.event(c))
}

func (e *env) handle(ev events.APIGatewayV2HTTPRequest) result {
	e.tb.Helper()
	resp, err := e.h.Handle(context.Background(), ev)
	if err != nil {
		e.tb.Fatalf("%s %s: Handle returned error %v", ev.RequestContext.HTTP.Method, ev.RawPath, err)
	}
	return decodeResult(e.tb, resp)
}

func decodeResult(tb testing.TB, resp events.APIGatewayV2HTTPResponse) result {
	tb.Helper()
	r := result{status: resp.StatusCode, headers: resp.Headers, body: resp.Body}
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &r.json); err != nil {
			tb.Fatalf("status %d: body is not a JSON object: %v: %s", resp.StatusCode, err, resp.Body)
		}
	}
	return r
}

// want fails unless r has status.
func (r result) want(tb testing.TB, status int) result {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// registerMailbox registers alice@example.com with owner-1.
func (e *env) registerMailbox() {
	e.tb.Helper()
	e.do(call{method: "PUT", path: mailboxPath, body: `{"owner":"owner-1"}`, as: admin}).want(e.tb, 201)
}

// createDevice adds a device as owner and returns its id and password.
func (e *env) createDevice(name string) (string, string) {
	e.tb.Helper()
	r := e.do(call{method: "POST", path: devicesPath, body: `{"name":` + strconv.Quote(name) + `}`, as: owner}).want(e.tb, 201)
	id, _ := r.device()["id"].(string)
	pw := r.str("password")
	if id == "" || pw == "" {
		e.tb.Fatalf("create answered no id or password: %s", r.body)
	}
	return id, pw
}

func loadEvent(tb testing.TB, name string) events.APIGatewayV2HTTPRequest {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return ev
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func newLogger(w *logbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// currentPassword returns the AWSCURRENT password of a secret.
func (e *env) currentPassword(secretID string) string {
	v, _, _ := e.secrets.CurrentValue(secretID)
	return v.Password
}

// memAudit is an in-memory audit trail: each mailbox's events, newest
// first, paged by position.
type memAudit struct {
	mu     sync.Mutex
	events map[string][]lifecycle.Event
}

func (m *memAudit) add(ev lifecycle.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == nil {
		m.events = map[string][]lifecycle.Event{}
	}
	m.events[ev.Mailbox] = append([]lifecycle.Event{ev}, m.events[ev.Mailbox]...)
}

// ListAudit implements lifecycle.AuditStore.
func (m *memAudit) ListAudit(_ context.Context, mailbox, cursor string, limit int) ([]lifecycle.Event, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cursor, "p"))
		if err != nil || !strings.HasPrefix(cursor, "p") || n < 0 {
			return nil, "", apperr.Field("cursor", "is not a cursor this API returned")
		}
		start = n
	}
	all := m.events[mailbox]
	if start > len(all) {
		start = len(all)
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = "p" + strconv.Itoa(end)
	}
	return append([]lifecycle.Event(nil), all[start:end]...), next, nil
}
