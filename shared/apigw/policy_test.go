package apigw_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const policyPath = "/v1/domains/example.com/policy"

// TestPolicyDocument: a domain without a policy answers the defaults, a
// PUT replaces the whole policy (left-out members back to their
// defaults), and the answer has the document's shape.
func TestPolicyDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(call{method: "GET", path: policyPath, as: admin}).want(t, 200)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(`{
	  "selfService": true, "maxDevicesPerMailbox": 50,
	  "allowedScopes": ["imap", "pop", "smtp", "caldav", "carddav"],
	  "requireExpiry": false, "maxLifetime": "8760h", "defaultLifetime": null,
	  "requireAllowIps": false, "defaultAllowIps": [],
	  "rotation": {"requiredMaxEveryDays": null},
	  "inactivity": {"revokeAfter": null, "warnBefore": "168h"},
	  "expiryReminderBefore": null, "newNetworkNotice": false,
	  "revokeOnCredentialChange": true, "enrollmentMaxValidity": "168h",
	  "updatedAt": null, "updatedBy": null}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("default policy =\n%s\nwant the documented defaults", r.body)
	}

	put := e.do(call{method: "PUT", path: policyPath, as: admin, body: `{"requireExpiry":true,"maxLifetime":"720h","defaultLifetime":"90m",
		"rotation":{"requiredMaxEveryDays":30},"inactivity":{"revokeAfter":"2160h"},"defaultAllowIps":["192.0.2.0/24"],"allowedScopes":["imap","smtp"]}`}).want(t, 200)
	for k, v := range map[string]any{"requireExpiry": true, "maxLifetime": "720h", "defaultLifetime": "1h30m", "updatedBy": "admin-1"} {
		if put.json[k] != v {
			t.Errorf("PUT answer %s = %v, want %v", k, put.json[k], v)
		}
	}
	if in, _ := put.json["inactivity"].(map[string]any); in["revokeAfter"] != "2160h" || in["warnBefore"] != "168h" {
		t.Errorf("inactivity = %v", put.json["inactivity"])
	}
	if put.json["updatedAt"] == nil {
		t.Error("a stored policy has no updatedAt")
	}
	r = e.do(call{method: "GET", path: "/v1/domains/EXAMPLE.COM/policy", as: admin}).want(t, 200)
	if r.body != put.body {
		t.Errorf("GET after PUT =\n%s\nwant\n%s", r.body, put.body)
	}
	// A replace: what is left out is the default again.
	r = e.do(call{method: "PUT", path: policyPath, as: admin, body: `{"selfService":false}`}).want(t, 200)
	if r.json["requireExpiry"] != false || r.json["maxLifetime"] != "8760h" || r.json["selfService"] != false {
		t.Errorf("replaced policy = %s", r.body)
	}
}

// TestPolicyBadInput: every bad member is a 400 naming it, without its
// value, and a stale login gets the step-up challenge.
func TestPolicyBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for body, field := range map[string]string{
		`{"maxLifetime":"secret-value-1"}`:                      "maxLifetime",
		`{"maxLifetime":"8761h"}`:                               "maxLifetime",
		`{"defaultLifetime":"30m"}`:                             "defaultLifetime",
		`{"maxLifetime":"2h","defaultLifetime":"3h"}`:           "defaultLifetime",
		`{"inactivity":{"revokeAfter":"2h","warnBefore":"3h"}}`: "inactivity.warnBefore",
		`{"expiryReminderBefore":"secret-value-1"}`:             "expiryReminderBefore",
		`{"enrollmentMaxValidity":"169h"}`:                      "enrollmentMaxValidity",
		`{"maxDevicesPerMailbox":0}`:                            "maxDevicesPerMailbox",
		`{"allowedScopes":[]}`:                                  "allowedScopes",
		`{"rotation":{"requiredMaxEveryDays":366}}`:             "rotation.requiredMaxEveryDays",
	} {
		r := e.do(call{method: "PUT", path: policyPath, as: admin, body: body}).want(t, 400)
		if r.str("field") != field {
			t.Errorf("%s: field %q, want %q (%s)", body, r.str("field"), field, r.body)
		}
		if strings.Contains(r.body, "secret-value-1") {
			t.Errorf("%s: the answer repeats the value: %s", body, r.body)
		}
	}
	e.do(call{method: "PUT", path: policyPath, as: admin, body: `{"unknown":true}`}).want(t, 400)
	e.do(call{method: "PUT", path: "/v1/domains/not..a..domain/policy", as: admin, body: `{}`}).want(t, 400)
	r := e.do(call{method: "PUT", path: policyPath, as: admin, body: `{}`, authAge: stepUpMaxAge + time.Minute}).want(t, 401)
	if !strings.Contains(r.headers["WWW-Authenticate"], `error="insufficient_user_authentication"`) {
		t.Errorf("stale PUT: WWW-Authenticate %q", r.headers["WWW-Authenticate"])
	}
}

// TestPolicyEnforcedOverHTTP: a refusal by the policy is a 403 whose type
// says policy and whose field names the rule, and the owner sees the
// limits on the mailbox.
func TestPolicyEnforcedOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	e.do(call{method: "PUT", path: policyPath, as: admin, body: `{"requireExpiry":true,"maxLifetime":"720h"}`}).want(t, 200)
	r := e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"phone"}`}).want(t, 403)
	if r.str("type") != "https://devicepass.dev/problems/policy_violation" || r.str("field") != "requireExpiry" {
		t.Errorf("refusal = %s", r.body)
	}
	r = e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"phone","validFor":"1000h"}`}).want(t, 403)
	if r.str("field") != "maxLifetime" {
		t.Errorf("refusal = %s", r.body)
	}
	e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"phone","validFor":"700h"}`}).want(t, 201)

	m := e.do(call{method: "GET", path: mailboxPath, as: owner}).want(t, 200)
	limits, _ := m.json["limits"].(map[string]any)
	if limits["requireExpiry"] != true || limits["maxLifetime"] != "720h" {
		t.Errorf("the owner's mailbox shows limits %v", m.json["limits"])
	}
}
