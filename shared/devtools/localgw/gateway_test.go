package localgw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localauth/localauthtest"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
)

// The test issuer and authorizer, as every test of the local runner builds
// them.
var (
	mustIssuer      = localauthtest.MustIssuer
	sharedKeyIssuer = localauthtest.SharedIssuer
	mustAuthorizer  = localauthtest.MustAuthorizer
)

// fakeHandler records the events it gets and answers resp (or err).
type fakeHandler struct {
	mu     sync.Mutex
	events []events.APIGatewayV2HTTPRequest
	resp   events.APIGatewayV2HTTPResponse
	err    error
	panic  bool
}

func (f *fakeHandler) Handle(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	if f.panic {
		panic("boom")
	}
	return f.resp, f.err
}

func (f *fakeHandler) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("the handler was not invoked")
	}
	return f.events[len(f.events)-1]
}

func (f *fakeHandler) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

type fakeRotator struct {
	version string
	step    device.Step
	err     error
	got     string
}

func (f *fakeRotator) RotateNow(_ context.Context, secretID string) (string, device.Step, error) {
	f.got = secretID
	return f.version, f.step, f.err
}

func newTestGateway(t *testing.T, iss *localauth.Issuer, api, verify localgw.Handler, rot ...localgw.Rotator) *localgw.Gateway {
	t.Helper()
	if api == nil {
		api = &fakeHandler{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200}}
	}
	o := localgw.GatewayOptions{
		API: api, Issuer: iss, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authorizer: mustAuthorizer(t, iss, nil),
	}
	if verify != nil {
		o.Verify = verify
	}
	if len(rot) > 0 {
		o.Rotator = rot[0]
	}
	g, err := localgw.NewGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mint(t *testing.T, iss *localauth.Issuer, r localauth.TokenRequest) string {
	t.Helper()
	tok, err := iss.Mint(r)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func serve(g http.Handler, r *http.Request) *httptest.ResponseRecorder {
	if r.RemoteAddr == "" || r.RemoteAddr == "192.0.2.1:1234" {
		r.RemoteAddr = "127.0.0.1:5555"
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

func TestGatewayEvent(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	api := &fakeHandler{resp: events.APIGatewayV2HTTPResponse{
		StatusCode:        201,
		Headers:           map[string]string{"Content-Type": "application/json", "X-One": "1"},
		MultiValueHeaders: map[string][]string{"X-Many": {"a", "b"}},
		Cookies:           []string{"c1=v1; Path=/", "c2=v2"},
		Body:              base64.StdEncoding.EncodeToString([]byte(`{"ok":true}`)),
		IsBase64Encoded:   true,
	}}
	g := newTestGateway(t, iss, api, nil)
	tok := mint(t, iss, localauth.TokenRequest{Sub: "alice", Groups: []string{"g1", "g2"}, AuthAgeSeconds: 30})
	req := httptest.NewRequest("PATCH", "/v1/mailboxes/alice%40example.com/devices/abc?x=1&x=2&y=%C3%A9", strings.NewReader(`{"name":"n"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("Cookie", "s=1; t=2")
	req.Header.Set("User-Agent", "test-agent")
	w := serve(g, req)

	if w.Code != 201 {
		t.Fatalf("status %d, want the handler's 201; body %s", w.Code, w.Body)
	}
	if got := w.Body.String(); got != `{"ok":true}` {
		t.Errorf("body %q, want the handler's body base64-decoded", got)
	}
	if w.Header().Get("X-One") != "1" || strings.Join(w.Header().Values("X-Many"), ",") != "a,b" {
		t.Errorf("headers %v, want X-One and both X-Many values", w.Header())
	}
	if got := w.Header().Values("Set-Cookie"); len(got) != 2 || got[0] != "c1=v1; Path=/" {
		t.Errorf("Set-Cookie %q, want the handler's two cookies", got)
	}

	ev := api.last(t)
	checks := map[string][2]string{
		"version":         {ev.Version, "2.0"},
		"routeKey":        {ev.RouteKey, "PATCH /v1/mailboxes/{address}/devices/{id}"},
		"rc.routeKey":     {ev.RequestContext.RouteKey, "PATCH /v1/mailboxes/{address}/devices/{id}"},
		"rawPath":         {ev.RawPath, "/v1/mailboxes/alice%40example.com/devices/abc"},
		"rawQueryString":  {ev.RawQueryString, "x=1&x=2&y=%C3%A9"},
		"address":         {ev.PathParameters["address"], "alice@example.com"},
		"id":              {ev.PathParameters["id"], "abc"},
		"query x":         {ev.QueryStringParameters["x"], "1,2"},
		"query y":         {ev.QueryStringParameters["y"], "é"},
		"x-multi":         {ev.Headers["x-multi"], "a,b"},
		"content-type":    {ev.Headers["content-type"], "application/json"},
		"cookie header":   {ev.Headers["cookie"], ""},
		"cookies":         {strings.Join(ev.Cookies, "|"), "s=1|t=2"},
		"x-forwarded-for": {ev.Headers["x-forwarded-for"], "127.0.0.1"},
		"stage":           {ev.RequestContext.Stage, "$default"},
		"accountId":       {ev.RequestContext.AccountID, localgw.AccountID},
		"method":          {ev.RequestContext.HTTP.Method, "PATCH"},
		"sourceIp":        {ev.RequestContext.HTTP.SourceIP, "127.0.0.1"},
		"userAgent":       {ev.RequestContext.HTTP.UserAgent, "test-agent"},
		"protocol":        {ev.RequestContext.HTTP.Protocol, "HTTP/1.1"},
		"body":            {ev.Body, `{"name":"n"}`},
		"sub":             {ev.RequestContext.Authorizer.JWT.Claims["sub"], "alice"},
		"groups":          {ev.RequestContext.Authorizer.JWT.Claims["cognito:groups"], "[g1 g2]"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if ev.IsBase64Encoded {
		t.Error("a UTF-8 body was base64-encoded")
	}
	if ev.RequestContext.RequestID == "" || ev.RequestContext.RequestID != w.Header().Get("Apigw-Requestid") {
		t.Errorf("requestId %q, want it non-empty and equal to the apigw-requestid header %q", ev.RequestContext.RequestID, w.Header().Get("Apigw-Requestid"))
	}
	if d := time.Since(time.UnixMilli(ev.RequestContext.TimeEpoch)); d < 0 || d > time.Minute {
		t.Errorf("timeEpoch %d is not now", ev.RequestContext.TimeEpoch)
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", ev.RequestContext.Time); err != nil {
		t.Errorf("time %q is not in API Gateway's format: %v", ev.RequestContext.Time, err)
	}
	if ev.RequestContext.Authorizer.IAM != nil {
		t.Error("a JWT route carries an IAM authorizer")
	}
}

func TestGatewayBinaryBody(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	api := &fakeHandler{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200}}
	g := newTestGateway(t, iss, api, nil)
	req := httptest.NewRequest("PUT", "/v1/mailboxes/a@example.com", bytes.NewReader([]byte{0xff, 0xfe, 0x00}))
	req.Header.Set("Authorization", "Bearer "+mint(t, iss, localauth.TokenRequest{Sub: "a"}))
	serve(g, req)
	ev := api.last(t)
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0x00}) {
		t.Errorf("body %q (base64 %v), want the bytes base64-encoded", ev.Body, ev.IsBase64Encoded)
	}
}

func TestGatewayRefusals(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	other := mustIssuer(t, localauth.IssuerOptions{KID: iss.KID()})
	api := &fakeHandler{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200}}
	verify := &fakeHandler{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: `{"valid":true}`}}
	g := newTestGateway(t, iss, api, verify)
	good := mint(t, iss, localauth.TokenRequest{Sub: "a"})
	mail := mint(t, iss, localauth.TokenRequest{Sub: "mx1", Groups: []string{"mail-server"}})
	forged := mint(t, other, localauth.TokenRequest{Sub: "a", Groups: []string{"mail-server"}})

	cases := []struct {
		name, method, path, token string
		status                    int
		body, challenge           string
	}{
		{"unknown path", "GET", "/nope", good, 404, `{"message":"Not Found"}`, ""},
		{"unknown path without token", "GET", "/v2/x", "", 404, `{"message":"Not Found"}`, ""},
		{"wrong method", "POST", "/v1/mailboxes/a@example.com", good, 404, `{"message":"Not Found"}`, ""},
		{"no token", "GET", "/v1/mailboxes/a@example.com", "", 401, `{"message":"Unauthorized"}`, "Bearer"},
		{"forged token", "GET", "/v1/mailboxes/a@example.com", forged, 401, `{"message":"Unauthorized"}`,
			`Bearer scope="" error="invalid_token" error_description="the token does not have a valid signature"`},
		{"verify without token", "POST", "/v1/verify", "", 403, `{"message":"Forbidden"}`, ""},
		{"verify without the group", "POST", "/v1/verify", good, 403, `{"message":"Forbidden"}`, ""},
		{"verify with a forged token", "POST", "/v1/verify", forged, 403, `{"message":"Forbidden"}`, ""},
		{"verify", "POST", "/v1/verify", mail, 200, `{"valid":true}`, ""},
		{"unknown local route", "GET", "/local/nope", "", 404, `{"message":"Not Found"}`, ""},
		{"rotate without a rotator", "POST", "/local/rotate", "", 404, `{"message":"Not Found"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := api.count()
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{}`))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := serve(g, req)
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Errorf("%d %s, want %d %s", w.Code, w.Body, tc.status, tc.body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status != 200 && api.count() != before {
				t.Error("the API handler was invoked for a refused request")
			}
		})
	}
	ev := verify.last(t)
	if ev.RouteKey != "POST /v1/verify" || ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.IAM == nil {
		t.Fatalf("verify event %+v, want route POST /v1/verify with an IAM authorizer", ev.RequestContext)
	}
	if got, want := ev.RequestContext.Authorizer.IAM.UserARN, "arn:aws:iam::000000000000:user/mx1"; got != want {
		t.Errorf("userArn %q, want %q", got, want)
	}
	if ev.RequestContext.Authorizer.JWT != nil {
		t.Error("an IAM-authorized route carries JWT claims")
	}
}

func TestGatewayHandlerFailures(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	tok := mint(t, iss, localauth.TokenRequest{Sub: "a"})
	for name, h := range map[string]*fakeHandler{
		"error":      {err: errors.New("boom")},
		"panic":      {panic: true},
		"no status":  {resp: events.APIGatewayV2HTTPResponse{}},
		"bad base64": {resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "%%%", IsBase64Encoded: true}},
	} {
		t.Run(name, func(t *testing.T) {
			g := newTestGateway(t, iss, h, nil)
			req := httptest.NewRequest("GET", "/v1/mailboxes/a@example.com", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := serve(g, req)
			if w.Code != 500 || w.Body.String() != `{"message":"Internal Server Error"}` {
				t.Errorf("%d %s, want API Gateway's 500", w.Code, w.Body)
			}
		})
	}
}

func TestLocalToken(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	g := newTestGateway(t, iss, nil, nil)
	cases := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"ok", "application/json", `{"sub":"alice","email":"alice@example.com","groups":["x"],"authAgeSeconds":10,"expiresInSeconds":60,"audience":"aud2"}`, 200, ""},
		{"no content type", "", `{"sub":"alice"}`, 200, ""},
		{"unknown field", "application/json", `{"sub":"alice","admin":true}`, 400, "admin"},
		{"wrong type", "application/json", `{"sub":"alice","groups":"x"}`, 400, "groups"},
		{"malformed", "application/json", `{"sub":`, 400, ""},
		{"two values", "application/json", `{"sub":"a"} {}`, 400, ""},
		{"missing sub", "application/json", `{}`, 400, "sub"},
		{"negative age", "application/json", `{"sub":"a","authAgeSeconds":-5}`, 400, "authAgeSeconds"},
		{"text", "text/plain", `{"sub":"a"}`, 415, ""},
		{"too large", "application/json", `{"sub":"` + strings.Repeat("a", 70<<10) + `"}`, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/local/token", strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			w := serve(g, req)
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.status)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q is not JSON", w.Body)
			}
			if tc.status == 200 {
				if tok, _ := got["token"].(string); strings.Count(tok, ".") != 2 {
					t.Errorf("token %q is not a JWT", tok)
				}
				return
			}
			if w.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("content type %q, want a problem document", w.Header().Get("Content-Type"))
			}
			if f, _ := got["field"].(string); f != tc.field {
				t.Errorf("field %q, want %q (%s)", f, tc.field, w.Body)
			}
		})
	}
	t.Run("not loopback", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/local/token", strings.NewReader(`{"sub":"a"}`))
		req.RemoteAddr = "10.0.0.1:4444"
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code != 403 {
			t.Errorf("status %d, want 403 for a remote client", w.Code)
		}
	})
	t.Run("jwks", func(t *testing.T) {
		w := serve(g, httptest.NewRequest("GET", "/local/jwks.json", nil))
		var set localauth.JWKS
		if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].Kid != iss.KID() || set.Keys[0].Kty != "RSA" {
			t.Errorf("jwks %s (%v), want one RSA key named %s", w.Body, err, iss.KID())
		}
	})
}

func TestLocalRotate(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	cases := []struct {
		name   string
		body   string
		rot    fakeRotator
		status int
		want   map[string]any
	}{
		{"ok", `{"secretId":"devicepass/a@example.com/x"}`, fakeRotator{version: "v2"}, 200, map[string]any{"versionId": "v2"}},
		{"refused", `{"secretId":"s"}`, fakeRotator{version: "v3", step: device.StepCreate, err: apperr.New(apperr.Conflict, "createSecret: the device is disabled")}, 409,
			map[string]any{"failedStep": "createSecret", "detail": "createSecret: the device is disabled"}},
		{"not a device secret", `{"secretId":"other/thing"}`, fakeRotator{step: device.StepCreate, err: apperr.Field("SecretId", "secret \"other/thing\" is not under prefix \"devicepass\"")}, 400,
			map[string]any{"field": "secretId"}},
		{"no such secret", `{"secretId":"devicepass/a@example.com/x"}`, fakeRotator{step: device.StepCreate, err: apperr.New(apperr.NotFound, "no secret")}, 404,
			map[string]any{"failedStep": "createSecret"}},
		{"test failed", `{"secretId":"s"}`, fakeRotator{step: device.StepTest, err: apperr.New(apperr.Invalid, "odd")}, 422, map[string]any{"failedStep": "testSecret"}},
		{"internal", `{"secretId":"s"}`, fakeRotator{step: device.StepFinish, err: errors.New("socket closed")}, 500,
			map[string]any{"failedStep": "finishSecret", "detail": "the rotation failed; the runner's log says why"}},
		{"missing id", `{}`, fakeRotator{}, 400, map[string]any{"field": "secretId"}},
		{"unknown field", `{"secretId":"s","now":true}`, fakeRotator{}, 400, map[string]any{"field": "now"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rot := tc.rot
			g := newTestGateway(t, iss, nil, nil, &rot)
			req := httptest.NewRequest("POST", "/local/rotate", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			w := serve(g, req)
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.status)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, got[k], v, w.Body)
				}
			}
		})
	}
}

// TestDiscoveryServesTheIssuersKeys follows OpenID discovery over HTTP from
// the gateway's own /local routes, as API Gateway does with a real issuer:
// the document names the issuer and the JWKS, and the published keys
// validate the issuer's tokens.
func TestDiscoveryServesTheIssuersKeys(t *testing.T) {
	t.Parallel()
	var iss *localauth.Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		newTestGateway(t, iss, nil, nil).ServeHTTP(w, r)
	}))
	defer srv.Close()
	iss = mustIssuer(t, localauth.IssuerOptions{URL: srv.URL + "/local", KID: "remote"})
	getJSON := func(url string, v any) {
		t.Helper()
		resp, err := srv.Client().Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: status %d", url, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(iss.URL()+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != iss.URL() || disc.JWKSURI != iss.URL()+"/jwks.json" {
		t.Fatalf("discovery names issuer %q and jwks_uri %q", disc.Issuer, disc.JWKSURI)
	}
	var set localauth.JWKS
	getJSON(disc.JWKSURI, &set)
	a, err := localauth.NewAuthorizer(localauth.AuthorizerOptions{Issuer: disc.Issuer, Audiences: []string{localauth.DefaultAudience}, Keys: set})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, iss, localauth.TokenRequest{Sub: "carol"})
	claims, _, err := a.Authorize(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatalf("Authorize with the published keys: %v", err)
	}
	if claims["sub"] != "carol" {
		t.Errorf("sub = %q", claims["sub"])
	}
	if _, err := set.Key(context.Background(), "missing"); !errors.Is(err, localauth.ErrUnknownKID) {
		t.Errorf("unknown kid: %v, want ErrUnknownKID", err)
	}
}
