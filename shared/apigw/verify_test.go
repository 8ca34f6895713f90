package apigw_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func (e *env) verifyCall(ev events.APIGatewayV2HTTPRequest) result {
	e.tb.Helper()
	resp, err := e.verify.Handle(context.Background(), ev)
	if err != nil {
		e.tb.Fatalf("verify Handle returned %v", err)
	}
	return decodeResult(e.tb, resp)
}

// verifyEvent is the fixture with body as its body.
func verifyEvent(tb testing.TB, body string) events.APIGatewayV2HTTPRequest {
	ev := loadEvent(tb, "verify.json")
	ev.Body = body
	return ev
}

func verifyBody(mailbox, password, protocol, ip string) string {
	return `{"mailbox":` + strconv.Quote(mailbox) + `,"password":` + strconv.Quote(password) +
		`,"protocol":` + strconv.Quote(protocol) + `,"clientIp":` + strconv.Quote(ip) + `}`
}

func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	_, pw := e.createDevice("laptop")

	// The fixture, with the password the create answered.
	ev := loadEvent(t, "verify.json")
	ev.Body = strings.Replace(ev.Body, "PLACEHOLDER", pw, 1)
	r := e.verifyCall(ev).want(t, 200)
	if r.body != `{"valid":true}` || r.headers["Content-Type"] != "application/json" || r.headers["Cache-Control"] != "no-store" {
		t.Errorf("valid password: %v %s", r.headers, r.body)
	}

	for _, body := range []string{
		verifyBody(mailbox, pw+"x", "imap", "198.51.100.7"),
		verifyBody(mailbox, pw, "caldav", ""), // not in the default scopes
		verifyBody("nobody@example.com", pw, "imap", ""),
	} {
		if r := e.verifyCall(verifyEvent(t, body)).want(t, 200); r.body != `{"valid":false}` {
			t.Errorf("%s: %s", body, r.body)
		}
	}

	bad := []struct {
		name, body, ct string
		status         int
		field          string
	}{
		{"missing protocol", `{"mailbox":"alice@example.com","password":"p"}`, "application/json", 400, "protocol"},
		{"missing password", `{"mailbox":"alice@example.com","protocol":"imap"}`, "application/json", 400, "password"},
		{"missing mailbox", `{"password":"p","protocol":"imap"}`, "application/json", 400, "mailbox"},
		{"empty password", verifyBody(mailbox, "", "imap", ""), "application/json", 400, "password"},
		{"bad protocol", verifyBody(mailbox, "p", "telnet", ""), "application/json", 400, "protocol"},
		{"bad ip", verifyBody(mailbox, "p", "imap", "300.1.1.1"), "application/json", 400, "clientIp"},
		{"bad mailbox", verifyBody("alice", "p", "imap", ""), "application/json", 400, "mailbox"},
		{"unknown field", `{"mailbox":"alice@example.com","password":"p","protocol":"imap","user":"u"}`, "application/json", 400, ""},
		{"wrong type", `{"mailbox":"alice@example.com","password":42,"protocol":"imap"}`, "application/json", 400, "password"},
		{"no content type", verifyBody(mailbox, "p", "imap", ""), "", 415, ""},
		{"form", "mailbox=a&password=p", "application/x-www-form-urlencoded", 415, ""},
		{"too large", verifyBody(mailbox, strings.Repeat("p", 70000), "imap", ""), "application/json", 413, ""},
		{"empty", "", "application/json", 400, ""},
	}
	for _, tt := range bad {
		ev := verifyEvent(t, tt.body)
		if tt.ct == "" {
			delete(ev.Headers, "content-type")
		} else {
			ev.Headers["content-type"] = tt.ct
		}
		r := e.verifyCall(ev).want(t, tt.status)
		if r.str("field") != tt.field || r.headers["Content-Type"] != "application/problem+json" {
			t.Errorf("%s: field %q, want %q: %s", tt.name, r.str("field"), tt.field, r.body)
		}
	}

	// Routing of the verify function.
	ev = verifyEvent(t, verifyBody(mailbox, pw, "imap", ""))
	ev.RouteKey, ev.RawPath, ev.RequestContext.HTTP.Method = "$default", "/v1/verify", "GET"
	if r := e.verifyCall(ev).want(t, 405); r.headers["Allow"] != "POST" {
		t.Errorf("Allow = %q", r.headers["Allow"])
	}
	ev.RawPath, ev.RequestContext.HTTP.Method = "/v1/verify/x", "POST"
	e.verifyCall(ev).want(t, 404)
	ev.RawPath = "/v1/verify"
	e.verifyCall(ev).want(t, 200)

	// Without the IAM authorizer's context the route is closed.
	ev.RequestContext.Authorizer = nil
	if r := e.verifyCall(ev).want(t, 403); strings.Contains(r.body, "valid") {
		t.Errorf("403 answer = %s", r.body)
	}
	ev.RequestContext.Authorizer = loadEvent(t, "create-device.json").RequestContext.Authorizer // a JWT, not IAM
	e.verifyCall(ev).want(t, 403)
}

// TestVerifyNeverEchoesThePassword sends malformed bodies holding a
// password-like string and checks neither the answer nor the log has it.
func TestVerifyNeverEchoesThePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	const secret = "Zq7WkRtY3mPx9vBn4cHs2dLf"
	bodies := []string{
		`{"mailbox":"alice@example.com","password":"` + secret + `\q","protocol":"imap"}`, // bad escape
		`{"mailbox":"alice@example.com","password":"` + secret + `","protocol":"imap"`,    // truncated
		`{"mailbox":"alice@example.com","password":"` + secret + `","protocol":"imap"} ` + secret,
		`{"mailbox":"alice@example.com","password":["` + secret + `"],"protocol":"imap"}`,
		verifyBody(mailbox, secret, "imap", "1.2.3"),
		verifyBody(mailbox, secret, "imap", ""),
	}
	for _, b := range bodies {
		r := e.verifyCall(verifyEvent(t, b))
		if strings.Contains(r.body, secret) || strings.Contains(r.body, secret[:8]) {
			t.Errorf("the answer echoes the password: %s", r.body)
		}
	}
	if log := e.logs.String(); strings.Contains(log, secret[:8]) {
		t.Errorf("the log holds the password: %s", log)
	}
}

func TestVerifyRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	_, pw := e.createDevice("laptop")
	max := e.svc.Config().Verify.MaxFailures
	for i := 0; i < max; i++ {
		e.verifyCall(verifyEvent(t, verifyBody(mailbox, "wrong-"+strconv.Itoa(i), "imap", ""))).want(t, 200)
	}
	r := e.verifyCall(verifyEvent(t, verifyBody(mailbox, pw, "imap", ""))).want(t, 429)
	ra, err := strconv.Atoi(r.headers["Retry-After"])
	// The failures count for two windows; the wait ends within them.
	if err != nil || ra < 1 || ra > 2*int(e.svc.Config().Verify.Window.Seconds()) {
		t.Errorf("Retry-After = %q, want seconds within two windows", r.headers["Retry-After"])
	}
	// Another network is not throttled: the owner's password verifies.
	ok := e.verifyCall(verifyEvent(t, verifyBody(mailbox, pw, "imap", "198.51.100.20"))).want(t, 200)
	if ok.json["valid"] != true {
		t.Errorf("the owner's password from another network = %s", ok.body)
	}
	if r.json["type"] != "https://devicepass.dev/problems/rate_limited" || strings.Contains(r.body, "valid") {
		t.Errorf("429 answer = %s", r.body)
	}
}
