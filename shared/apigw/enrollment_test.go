package apigw_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

const enrollmentsPath = mailboxPath + "/enrollments"

func redeemPath(token string) string { return "/v1/enrollments/" + token + "/device" }

// createEnrollment makes a link for alice@example.com as the domain
// administrator and returns its id and token.
func (e *env) createEnrollment(body string) (string, string) {
	e.tb.Helper()
	r := e.do(call{method: "POST", path: enrollmentsPath, body: body, as: admin}).want(e.tb, 201)
	enr, _ := r.json["enrollment"].(map[string]any)
	id, _ := enr["id"].(string)
	token := r.str("token")
	if id == "" || token == "" {
		e.tb.Fatalf("create enrollment answered no id or token: %s", r.body)
	}
	return id, token
}

func (r result) enrollment() map[string]any {
	if m, ok := r.json["enrollment"].(map[string]any); ok {
		return m
	}
	return r.json
}

func TestCreateEnrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	r := e.do(call{method: "POST", path: enrollmentsPath, as: admin,
		body: `{"name":"Intern laptop","user":"intern-7","scopes":["smtp","imap"],"validFor":"168h","tokenValidFor":"2h"}`}).want(t, 201)
	if got := r.headers["Cache-Control"]; got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	token := r.str("token")
	if len(token) < 22 { // 128 bits in base64url
		t.Fatalf("token %q is shorter than 128 bits", token)
	}
	enr := r.enrollment()
	want := map[string]any{
		"mailbox": mailbox, "name": "Intern laptop", "user": "intern-7", "scopes": []any{"imap", "smtp"},
		"deviceExpiresAt": nil, "deviceValidFor": "168h", "expiresAt": t0.Add(2 * time.Hour).Format(time.RFC3339Nano),
		"status": "open", "createdAt": t0.Format(time.RFC3339Nano), "createdBy": admin.sub,
		"usedAt": nil, "usedBy": nil, "deviceId": nil,
	}
	for k, v := range want {
		if got, _ := json.Marshal(enr[k]); string(got) != mustJSON(t, v) {
			t.Errorf("enrollment.%s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
	if id, _ := enr["id"].(string); id == "" || id == token || strings.Contains(r.body[:strings.Index(r.body, `"token"`)], token) {
		t.Errorf("the enrollment object carries the token or no id: %s", r.body)
	}

	bad := []struct {
		body, field string
	}{
		{`{}`, "name"},
		{`{"name":""}`, "name"},
		{`{"name":"x","scopes":["ftp"]}`, "scopes[0]"},
		{`{"name":"x","tokenValidFor":"169h"}`, "tokenValidFor"},
		{`{"name":"x","tokenValidFor":"soon"}`, "tokenValidFor"},
		{`{"name":"x","validFor":"1h","expiresAt":"2026-04-01T00:00:00Z"}`, "validFor"},
		{`{"name":"x","expiresAt":"2026-03-01T13:00:00Z","tokenValidFor":"2h"}`, "expiresAt"},
		{`{"name":"x","user":"has space"}`, "user"},
		{`{"name":"x","token":"chosen"}`, ""},
	}
	for _, b := range bad {
		r := e.do(call{method: "POST", path: enrollmentsPath, as: admin, body: b.body})
		if r.status != 400 || r.str("field") != b.field {
			t.Errorf("%s: %d %s, want 400 naming %s", b.body, r.status, r.body, b.field)
		}
	}
	if r := e.do(call{method: "POST", path: "/v1/mailboxes/nobody@example.com/enrollments", as: admin, body: `{"name":"x"}`}); r.status != 404 {
		t.Errorf("link for an unregistered mailbox: %d %s, want 404 for the domain's administrator", r.status, r.body)
	}
	for _, who := range []*identity{owner, stranger, otherAdmin} {
		r := e.do(call{method: "POST", path: enrollmentsPath, as: who, body: `{"name":"x"}`})
		if r.status != 403 || strings.Contains(r.body, "token") && r.str("token") != "" {
			t.Errorf("%s creating a link: %d %s, want 403", who.sub, r.status, r.body)
		}
	}
}

func TestRedeemEnrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	_, token := e.createEnrollment(`{"name":"Shared printer","scopes":["smtp"],"validFor":"24h"}`)

	if r := e.do(call{method: "POST", path: redeemPath(token)}); r.status != 401 {
		t.Errorf("redeem without a bearer token: %d, want 401", r.status)
	}
	e.clock.Advance(time.Minute)
	r := e.do(call{method: "POST", path: redeemPath(token), as: stranger, body: `{}`}).want(t, 201)
	d := r.device()
	pw := r.str("password")
	if d["name"] != "Shared printer" || mustJSON(t, d["scopes"]) != `["smtp"]` || d["status"] != "active" || d["createdBy"] != stranger.sub {
		t.Errorf("redeemed device %v, want the link's preset name and scopes, created by the holder", d)
	}
	if want := t0.Add(time.Minute + 24*time.Hour).Format(time.RFC3339Nano); d["expiresAt"] != want {
		t.Errorf("expiresAt = %v, want %s (redemption + validFor)", d["expiresAt"], want)
	}
	if got := e.currentPassword(d["secretArn"].(string)); pw == "" || got != pw {
		t.Errorf("the password answered is not the secret's AWSCURRENT")
	}
	if loc := r.headers["Location"]; loc != devicesPath+"/"+d["id"].(string) {
		t.Errorf("Location = %q", loc)
	}

	again := e.do(call{method: "POST", path: redeemPath(token), as: stranger})
	if again.status != 409 || again.str("password") != "" {
		t.Errorf("second redemption: %d %s, want 409", again.status, again.body)
	}
	if n := len(e.store.Devices(mailbox)); n != 1 {
		t.Errorf("%d devices after two redemptions, want 1", n)
	}
	if live := e.secrets.Live(); len(live) != 1 {
		t.Errorf("%d live secrets after two redemptions, want 1", len(live))
	}

	// A body with members, or a token that opens nothing.
	_, token2 := e.createEnrollment(`{"name":"x"}`)
	if r := e.do(call{method: "POST", path: redeemPath(token2), as: stranger, body: `{"name":"mine"}`}); r.status != 400 || !strings.Contains(r.str("detail"), "not a known field") {
		t.Errorf("redeem with a body member: %d %s, want 400", r.status, r.body)
	}
	for _, tok := range []string{strings.Repeat("A", 43), "short", strings.Repeat("x", 500), token2 + "x"} {
		r := e.do(call{method: "POST", path: redeemPath(tok), as: stranger})
		if r.status != 404 {
			t.Errorf("redeem with a bad token: %d %s, want 404", r.status, r.body)
		}
		if strings.Contains(r.body, tok) || strings.Contains(r.body, tok[:5]) && len(tok) > 20 {
			t.Errorf("the problem document repeats the token: %s", r.body)
		}
	}
}

func TestEnrollmentForNamedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	_, token := e.createEnrollment(`{"name":"phone","user":"user-9"}`)
	for _, who := range []*identity{owner, admin} {
		r := e.do(call{method: "POST", path: redeemPath(token), as: who})
		if r.status != 403 {
			t.Errorf("%s redeeming user-9's link: %d %s, want 403", who.sub, r.status, r.body)
		}
	}
	if n := len(e.secrets.Names()); n != 0 {
		t.Errorf("refused redemptions made %d secrets", n)
	}
	r := e.do(call{method: "POST", path: redeemPath(token), as: stranger}).want(t, 201) // stranger is user-9
	if r.device()["user"] != stranger.sub {
		t.Errorf("device user %v, want %s", r.device()["user"], stranger.sub)
	}
	// Once used, the other subject still learns only that it is not theirs.
	if r := e.do(call{method: "POST", path: redeemPath(token), as: owner}); r.status != 403 {
		t.Errorf("another subject after use: %d, want 403", r.status)
	}
}

func TestCancelAndExpireEnrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, token := e.createEnrollment(`{"name":"a"}`)
	if r := e.do(call{method: "DELETE", path: enrollmentsPath + "/" + id, as: owner}); r.status != 403 {
		t.Errorf("owner cancelling: %d, want 403 (administrators only)", r.status)
	}
	r := e.do(call{method: "DELETE", path: enrollmentsPath + "/" + id, as: admin}).want(t, 200)
	if r.json["status"] != "cancelled" || r.json["id"] != id || r.str("token") != "" {
		t.Errorf("cancel answered %s", r.body)
	}
	if r := e.do(call{method: "DELETE", path: enrollmentsPath + "/" + id, as: admin}); r.status != 409 {
		t.Errorf("cancelling twice: %d, want 409", r.status)
	}
	if r := e.do(call{method: "POST", path: redeemPath(token), as: stranger}); r.status != 409 || !strings.Contains(r.str("detail"), "cancelled") {
		t.Errorf("redeeming a cancelled link: %d %s, want 409", r.status, r.body)
	}
	for _, bad := range []string{"nope", strings.Repeat("a", 43), strings.Repeat("%41", 300)} {
		if r := e.do(call{method: "DELETE", path: enrollmentsPath + "/" + bad, as: admin}); r.status != 404 {
			t.Errorf("cancelling %.20s: %d %s, want 404", bad, r.status, r.body)
		}
	}

	_, token = e.createEnrollment(`{"name":"b","tokenValidFor":"1h"}`)
	e.clock.Advance(time.Hour)
	if r := e.do(call{method: "POST", path: redeemPath(token), as: stranger}); r.status != 409 || !strings.Contains(r.str("detail"), "expired") {
		t.Errorf("redeeming an expired link: %d %s, want 409", r.status, r.body)
	}
	if n := len(e.secrets.Names()); n != 0 {
		t.Errorf("refused redemptions made %d secrets", n)
	}
}

// TestEnrollmentTokenNeverLogged: the token travels in the path; the
// request lines name the route template, and no line holds the token.
func TestEnrollmentTokenNeverLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	var tokens []string
	for i := range 3 {
		_, tok := e.createEnrollment(`{"name":"d` + strconv.Itoa(i) + `"}`)
		tokens = append(tokens, tok)
	}
	e.do(call{method: "POST", path: redeemPath(tokens[0]), as: stranger}).want(t, 201)
	e.do(call{method: "POST", path: redeemPath(tokens[0]), as: stranger}).want(t, 409)
	e.do(call{method: "POST", path: redeemPath(tokens[1]), as: stranger, noKey: true}).want(t, 201)
	e.do(call{method: "POST", path: redeemPath(tokens[2]), as: nil}).want(t, 401)
	e.do(call{method: "POST", path: redeemPath(tokens[2]) + "?x=1", as: stranger}).want(t, 400)
	e.do(call{method: "GET", path: redeemPath(tokens[2]), as: stranger}).want(t, 405)
	e.do(call{method: "POST", path: redeemPath(tokens[2]), as: stranger, body: `{"a":1}`}).want(t, 400)
	// A token pasted where the id belongs: not found, and not repeated.
	if r := e.do(call{method: "DELETE", path: enrollmentsPath + "/" + tokens[2], as: admin}).want(t, 404); strings.Contains(r.body, tokens[2]) {
		t.Errorf("the problem document repeats the token: %s", r.body)
	}

	logs := e.logs.String()
	for _, tok := range tokens {
		if strings.Contains(logs, tok) {
			t.Errorf("the log holds an enrollment token")
		}
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %s", line)
		}
		if m["msg"] == "request" && m["route"] == "POST /v1/enrollments/{token}/device" {
			n++
		}
	}
	if n < 5 {
		t.Errorf("%d request lines name the redeem route's template, want at least 5", n)
	}
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	at := t0.Add(time.Minute)
	exp := t0.Add(48 * time.Hour)
	for i := range 5 {
		e.audit.add(lifecycle.Event{Version: "1", ID: "ev-" + strconv.Itoa(i), Type: lifecycle.DeviceCreated, Time: at.Add(time.Duration(i) * time.Second),
			Mailbox: mailbox, DeviceID: "dev" + strconv.Itoa(i),
			Actor:  lifecycle.Actor{Kind: "user", Subject: owner.sub, SourceIP: "203.0.113.7", UserAgent: "apigw-test", RequestID: "req-x"},
			Device: &lifecycle.DeviceInfo{Name: "phone", Status: "active", Scopes: []string{"imap"}, ExpiresAt: &exp, SecretARN: "arn:aws:secretsmanager:x", Version: "v1"}})
	}
	e.audit.add(lifecycle.Event{Version: "1", ID: "other", Type: lifecycle.DeviceCreated, Time: at, Mailbox: "bob@example.com"})

	for _, who := range []*identity{owner, admin} {
		r := e.do(call{method: "GET", path: mailboxPath + "/audit?limit=2", as: who}).want(t, 200)
		items, _ := r.json["items"].([]any)
		if len(items) != 2 || r.json["next"] == nil {
			t.Fatalf("%s: first page %s, want 2 items and a cursor", who.sub, r.body)
		}
		first := items[0].(map[string]any)
		if first["id"] != "ev-4" || first["type"] != "device.created" || first["deviceId"] != "dev4" {
			t.Errorf("newest first: %v", first)
		}
		actor := first["actor"].(map[string]any)
		if actor["subject"] != owner.sub || actor["sourceIp"] != "203.0.113.7" || actor["userAgent"] != "apigw-test" {
			t.Errorf("actor %v", actor)
		}
		if strings.Contains(r.body, "secretsmanager") || strings.Contains(r.body, `"v1"`) {
			t.Errorf("the audit listing holds the secret's ARN or version: %s", r.body)
		}
		var ids []string
		for cursor := ""; ; {
			path := mailboxPath + "/audit?limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := e.do(call{method: "GET", path: path, as: who}).want(t, 200)
			for _, it := range r.json["items"].([]any) {
				ids = append(ids, it.(map[string]any)["id"].(string))
			}
			next, _ := r.json["next"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if want := []string{"ev-4", "ev-3", "ev-2", "ev-1", "ev-0"}; !slices.Equal(ids, want) {
			t.Errorf("%s: pages %v, want %v", who.sub, ids, want)
		}
	}

	var forbidden string
	for _, who := range []*identity{stranger, otherAdmin} {
		r := e.do(call{method: "GET", path: mailboxPath + "/audit", as: who})
		if r.status != 403 || strings.Contains(r.body, "ev-") {
			t.Errorf("%s reading the audit trail: %d %s, want 403", who.sub, r.status, r.body)
		}
		forbidden = r.str("detail")
	}
	if !strings.Contains(forbidden, "enrollment link") {
		t.Errorf("the 403 does not say how to proceed: %q", forbidden)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=zzz", "page=2"} {
		if r := e.do(call{method: "GET", path: mailboxPath + "/audit?" + q, as: owner}); r.status != 400 {
			t.Errorf("?%s: %d %s, want 400", q, r.status, r.body)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
