package apigw_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLogsHoldNoSecrets runs a full lifecycle through both handlers with
// the service and the handlers logging to one buffer, then searches the
// log for every password any answer returned, their verifiers, the
// Idempotency-Key and the bearer token.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const idemKey = "d2f0c9b4-6a1e-4c37-9f55-0e8b7a1c2d3e"
	const bearer = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvd25lci0xIn0.c2lnbmF0dXJl"
	var passwords []string
	requests := 0
	do := func(c call, status int) result {
		t.Helper()
		if c.headers == nil {
			c.headers = map[string]string{}
		}
		c.headers["authorization"] = bearer
		requests++
		r := e.do(c).want(t, status)
		if pw := r.str("password"); pw != "" {
			passwords = append(passwords, pw)
		}
		return r
	}

	e.handle(loadEvent(t, "put-mailbox.json")).want(t, 201)
	requests++
	create := call{method: "POST", path: devicesPath, as: owner, body: `{"name":"phone","rotation":{"everyDays":7}}`, headers: map[string]string{"idempotency-key": idemKey}}
	id := do(create, 201).device()["id"].(string)
	do(create, 201) // the replay answers the same password
	id2 := do(call{method: "POST", path: devicesPath, as: admin, body: `{"name":"laptop","validFor":"24h"}`}, 201).device()["id"].(string)
	do(call{method: "GET", path: devicesPath, as: owner}, 200)
	do(call{method: "GET", path: devicesPath + "/" + id, as: owner}, 200)
	do(call{method: "PATCH", path: devicesPath + "/" + id, as: owner, body: `{"status":"disabled"}`}, 200)
	do(call{method: "PATCH", path: devicesPath + "/" + id, as: owner, body: `{"status":"active"}`}, 200)
	do(call{method: "POST", path: devicesPath + "/" + id + "/password", as: owner}, 200)
	do(call{method: "POST", path: devicesPath + "/" + id + "/password", as: owner, body: `{"graceSeconds":600}`}, 200)
	do(call{method: "POST", path: devicesPath + "/" + id + "/password", as: owner, authAge: time.Hour}, 401)
	for _, pw := range passwords {
		e.verifyCall(verifyEvent(t, verifyBody(mailbox, pw, "imap", "192.0.2.1")))
		e.verifyCall(verifyEvent(t, verifyBody(mailbox, pw+"-", "smtp", "")))
		e.verifyCall(verifyEvent(t, `{"mailbox":"alice@example.com","password":"`+pw+`","protocol":"imap"`))
		requests += 3
	}
	do(call{method: "DELETE", path: devicesPath + "/" + id2, as: owner}, 200)
	do(call{method: "POST", path: devicesPath + "/revoke-all", as: owner}, 200)
	do(call{method: "GET", path: mailboxPath, as: stranger}, 403)

	if len(passwords) < 4 {
		t.Fatalf("the lifecycle returned %d passwords, want at least 4", len(passwords))
	}
	logs := e.logs.String()
	forbidden := []string{idemKey, bearer[7:], "authorization"}
	for _, pw := range passwords {
		forbidden = append(forbidden, pw, string(e.keyed.Password(pw)))
	}
	for _, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}

	// One request line per request, with the fields operators search by.
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %s", line)
		}
		if m["msg"] != "request" {
			continue
		}
		lines++
		for _, k := range []string{"request_id", "route", "status", "duration_ms"} {
			if _, ok := m[k]; !ok {
				t.Errorf("request line without %s: %s", k, line)
			}
		}
		if m["route"] == "POST /v1/mailboxes/{address}/devices" && m["status"] == 201.0 && (m["mailbox"] != mailbox || m["device"] == nil) {
			t.Errorf("create line without mailbox or device: %s", line)
		}
		if m["status"] == 401.0 && m["code"] != "step_up_required" {
			t.Errorf("401 line without its code: %s", line)
		}
	}
	if lines != requests {
		t.Errorf("%d request lines for %d requests", lines, requests)
	}
}
