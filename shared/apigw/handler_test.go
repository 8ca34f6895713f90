package apigw_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/password"
)

func TestNewRejectsBadDependencies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := apigw.New(apigw.Deps{}, apigw.Options{}); err == nil {
		t.Error("New without use cases succeeded")
	}
	for _, drop := range []func(*apigw.Deps){
		func(d *apigw.Deps) { d.Mailboxes = nil },
		func(d *apigw.Deps) { d.Devices = nil },
		func(d *apigw.Deps) { d.Enrollments = nil },
		func(d *apigw.Deps) { d.StepUpMaxAge = 0 },
	} {
		deps := deviceDeps(e.svc)
		drop(&deps)
		if _, err := apigw.New(deps, apigw.Options{}); err == nil {
			t.Errorf("New accepted incomplete dependencies %+v", deps)
		}
	}
	if _, err := apigw.NewVerify(apigw.VerifyDeps{}, nil); err == nil {
		t.Error("NewVerify without a verifier succeeded")
	}
	if _, err := apigw.New(deviceDeps(e.svc), apigw.Options{MaxBody: -1}); err == nil {
		t.Error("New accepted a negative max body")
	}
	if _, err := apigw.New(deviceDeps(e.svc), apigw.Options{}); err != nil {
		t.Errorf("New with every use case: %v", err)
	}
}

// TestFixtures replays real payload v2 events: a base64 body, a create
// with an Idempotency-Key, its replay, and a listing with a query string.
func TestFixtures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.handle(loadEvent(t, "put-mailbox.json")).want(t, 201)

	first := e.handle(loadEvent(t, "create-device.json")).want(t, 201)
	d := first.device()
	if d["name"] != "Alice's phone" || d["note"] != "mail app" || d["mailbox"] != mailbox || d["createdBy"] != "owner-1" {
		t.Errorf("created device = %v", d)
	}
	if got, want := d["scopes"], []any{"imap", "smtp"}; !slices.Equal(got.([]any), want) {
		t.Errorf("scopes = %v, want %v", got, want)
	}
	if got := d["expiresAt"]; got != "2026-03-31T12:00:00Z" {
		t.Errorf("expiresAt = %v, want 30 days after the clock", got)
	}
	if rot, _ := d["rotation"].(map[string]any); rot["everyDays"] != 30.0 || rot["grace"] != "2h" {
		t.Errorf("rotation = %v", d["rotation"])
	}
	if got, want := first.headers["Location"], "/v1/mailboxes/alice@example.com/devices/"+d["id"].(string); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if first.headers["Cache-Control"] != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", first.headers["Cache-Control"])
	}
	if _, ok := first.headers["Idempotent-Replayed"]; ok {
		t.Error("a first create is marked as replayed")
	}
	if e.currentPassword(d["secretArn"].(string)) != first.str("password") {
		t.Error("the password answered is not the secret's AWSCURRENT password")
	}

	replay := e.handle(loadEvent(t, "create-device.json")).want(t, 201)
	if replay.headers["Idempotent-Replayed"] != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", replay.headers["Idempotent-Replayed"])
	}
	if replay.device()["id"] != d["id"] || replay.str("password") != first.str("password") {
		t.Error("a replayed create answered another device or password")
	}

	list := e.handle(loadEvent(t, "list-devices.json")).want(t, 200)
	if items, _ := list.json["items"].([]any); len(items) != 1 || list.json["next"] != nil {
		t.Errorf("list = %s, want one item and next null", list.body)
	}
}

func TestEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	put := e.do(call{method: "PUT", path: mailboxPath, body: `{"owner":"owner-1"}`, as: admin}).want(t, 201)
	if put.headers["Location"] != mailboxPath {
		t.Errorf("PUT Location = %q", put.headers["Location"])
	}
	if got := keys(put.json); !slices.Equal(got, []string{"address", "createdAt", "createdBy", "deviceCount", "owner"}) {
		t.Errorf("mailbox members = %v", got)
	}
	e.do(call{method: "PUT", path: mailboxPath, body: `{"owner":"owner-1"}`, as: admin}).want(t, 200)

	id1, pw1 := e.createDevice("laptop")
	id2, _ := e.createDevice("phone")

	mb := e.do(call{method: "GET", path: mailboxPath, as: owner}).want(t, 200)
	if mb.json["address"] != mailbox || mb.json["owner"] != "owner-1" || mb.json["deviceCount"] != 2.0 || mb.json["createdBy"] != "admin-1" {
		t.Errorf("GET mailbox = %s", mb.body)
	}

	// Pages of one, in id order, following the cursor.
	var seen []string
	path := devicesPath + "?limit=1"
	for i := 0; i < 3; i++ {
		page := e.do(call{method: "GET", path: path, as: owner}).want(t, 200)
		for _, it := range page.json["items"].([]any) {
			seen = append(seen, it.(map[string]any)["id"].(string))
		}
		next, _ := page.json["next"].(string)
		if next == "" {
			break
		}
		path = devicesPath + "?limit=1&cursor=" + next
	}
	if want := []string{min(id1, id2), max(id1, id2)}; !slices.Equal(seen, want) {
		t.Errorf("listed %v, want %v", seen, want)
	}

	got := e.do(call{method: "GET", path: devicesPath + "/" + id1, as: owner}).want(t, 200)
	if got.json["id"] != id1 || got.json["status"] != "active" || got.json["lastUsedAt"] != nil || got.json["expiresAt"] != nil || got.json["rotation"] != nil {
		t.Errorf("GET device = %s", got.body)
	}

	patched := e.do(call{method: "PATCH", path: devicesPath + "/" + id1, as: owner,
		body: `{"name":"work laptop","note":"desk","status":"disabled","scopes":["smtp"],"allowIps":["192.0.2.0/24"],"rotation":{"schedule":"rate(10 days)","duration":"3h","grace":"90m"}}`}).want(t, 200)
	if patched.json["name"] != "work laptop" || patched.json["note"] != "desk" || patched.json["status"] != "disabled" {
		t.Errorf("PATCH = %s", patched.body)
	}
	if rot, _ := patched.json["rotation"].(map[string]any); rot["schedule"] != "rate(10 days)" || rot["duration"] != "3h" || rot["grace"] != "1h30m" {
		t.Errorf("PATCH rotation = %v", patched.json["rotation"])
	}
	// Merge patch: absent members stay, null removes.
	patched = e.do(call{method: "PATCH", path: devicesPath + "/" + id1, as: owner, headers: map[string]string{"content-type": "application/merge-patch+json"},
		body: `{"note":null,"allowIps":null,"rotation":null,"status":"active"}`}).want(t, 200)
	if patched.json["name"] != "work laptop" || patched.json["note"] != "" || patched.json["rotation"] != nil ||
		len(patched.json["allowIps"].([]any)) != 0 || patched.json["status"] != "active" || len(patched.json["scopes"].([]any)) != 1 {
		t.Errorf("PATCH with nulls = %s", patched.body)
	}

	regen := e.do(call{method: "POST", path: devicesPath + "/" + id1 + "/password", as: owner}).want(t, 200)
	pw1b := regen.str("password")
	if pw1b == "" || pw1b == pw1 || regen.device()["id"] != id1 || regen.headers["Cache-Control"] != "no-store" {
		t.Errorf("regenerate = %s", regen.body)
	}
	if e.currentPassword(regen.device()["secretArn"].(string)) != pw1b {
		t.Error("the regenerated password is not AWSCURRENT")
	}
	e.do(call{method: "POST", path: devicesPath + "/" + id1 + "/password", as: owner, body: `{"graceSeconds":60}`}).want(t, 200)

	del := e.do(call{method: "DELETE", path: devicesPath + "/" + id2, as: owner}).want(t, 200)
	if del.json["id"] != id2 || del.json["status"] != "revoked" {
		t.Errorf("DELETE = %s", del.body)
	}
	all := e.do(call{method: "POST", path: devicesPath + "/revoke-all", as: owner}).want(t, 200)
	if all.json["revoked"] != 1.0 {
		t.Errorf("revoke-all = %s, want 1 revoked (the other was revoked before)", all.body)
	}
	mb = e.do(call{method: "GET", path: mailboxPath, as: admin}).want(t, 200)
	if mb.json["deviceCount"] != 0.0 {
		t.Errorf("deviceCount after revoke-all = %v", mb.json["deviceCount"])
	}
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// TestDeviceJSONHasNoVerifier gives a device every verifier field (current,
// previous in grace, pending) through the store's own operations, and reads
// it back every way the API shows devices.
func TestDeviceJSONHasNoVerifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, pw := e.createDevice("laptop")
	ctx := context.Background()
	now := e.clock.Now()
	v2, v3 := devicetest.NewVersion(t), devicetest.NewVersion(t)
	h1, h2, h3 := e.keyed.Password(pw), e.keyed.Password("second-pw"), e.keyed.Password("third-pw")
	d, err := e.store.GetDevice(ctx, mailbox, id)
	if err != nil {
		t.Fatal(err)
	}
	v1 := d.Current.Version
	steps := []error{
		func() error { _, err := e.store.BeginRotation(ctx, mailbox, id, v2, v1, false, now); return err }(),
		func() error { _, err := e.store.SetPending(ctx, mailbox, id, v2, h2); return err }(),
		func() error { _, err := e.store.Promote(ctx, mailbox, id, v2, now, now.Add(time.Hour)); return err }(),
		func() error { _, err := e.store.BeginRotation(ctx, mailbox, id, v3, v2, false, now); return err }(),
		func() error { _, err := e.store.SetPending(ctx, mailbox, id, v3, h3); return err }(),
		e.store.TouchLastUsed(ctx, mailbox, id, now.Add(-time.Minute), device.ScopeIMAP, "198.51.100.9", now),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if d, _ = e.store.GetDevice(ctx, mailbox, id); d.Previous == nil || d.Pending == nil || d.Current.Hash != h2 || d.PendingBase != v2 {
		t.Fatalf("the device does not hold every verifier: %+v", d)
	}

	answers := []result{
		e.do(call{method: "GET", path: devicesPath + "/" + id, as: owner}).want(t, 200),
		e.do(call{method: "GET", path: devicesPath, as: owner}).want(t, 200),
		e.do(call{method: "PATCH", path: devicesPath + "/" + id, as: owner, body: `{"name":"renamed"}`}).want(t, 200),
	}
	wantKeys := []string{"allowIps", "createdAt", "createdBy", "expiresAt", "id", "lastUsedAt", "lastUsedIp", "lastUsedProtocol",
		"mailbox", "name", "note", "rotatedAt", "rotation", "scopes", "secretArn", "status", "updatedAt"}
	if got := keys(answers[0].json); !slices.Equal(got, wantKeys) {
		t.Errorf("device members = %v, want %v", got, wantKeys)
	}
	if answers[0].json["lastUsedProtocol"] != "imap" || answers[0].json["lastUsedIp"] != "198.51.100.9" || answers[0].json["lastUsedAt"] != "2026-03-01T11:59:00Z" {
		t.Errorf("last use = %s", answers[0].body)
	}
	for i, a := range answers {
		for _, s := range []string{string(h1), string(h2), string(h3), v1, v2, v3, pw, "hash", "Hash", "pend", "Pend", "verifier", "Verifier", "prev", "Prev"} {
			if strings.Contains(a.body, s) {
				t.Errorf("answer %d holds %q: %s", i, s, a.body)
			}
		}
	}
}

func TestEffectiveStatusShowsExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	r := e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"intern","validFor":"1h"}`}).want(t, 201)
	id := r.device()["id"].(string)
	e.clock.Advance(2 * time.Hour)
	got := e.do(call{method: "GET", path: devicesPath + "/" + id, as: owner}).want(t, 200)
	if got.json["status"] != "expired" {
		t.Errorf("status after expiry = %v, want expired", got.json["status"])
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, _ := e.createDevice("laptop")

	t.Run("fallback on the raw path", func(t *testing.T) {
		r := e.do(call{method: "GET", path: "/v1/mailboxes/alice%40example.com/devices/" + id, as: owner, noKey: true}).want(t, 200)
		if r.json["id"] != id {
			t.Errorf("id = %v", r.json["id"])
		}
		e.do(call{method: "POST", path: devicesPath + "/revoke-all", as: owner, noKey: true, authAge: time.Hour}).want(t, 401)
	})
	t.Run("named stage prefix", func(t *testing.T) {
		ev := e.event(call{method: "GET", path: "/prod" + mailboxPath, as: owner, noKey: true})
		ev.RequestContext.Stage = "prod"
		e.handle(ev).want(t, 200)
	})
	t.Run("route key wins over raw path", func(t *testing.T) {
		ev := e.event(call{method: "GET", path: "/somewhere/else", as: owner, noKey: true})
		ev.RouteKey = "GET /v1/mailboxes/{address}"
		ev.PathParameters = map[string]string{"address": mailbox}
		e.handle(ev).want(t, 200)
	})

	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/nowhere", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", mailboxPath + "/", 404, ""},
		{"GET", "/v1/mailboxes//devices", 404, ""},
		{"GET", "/v1/mailboxes/%zz/devices", 404, ""},
		{"DELETE", mailboxPath, 405, "GET, PUT"},
		{"PUT", devicesPath, 405, "GET, POST"},
		{"GET", devicesPath + "/revoke-all", 405, "POST"},
		{"GET", devicesPath + "/" + id + "/password", 405, "POST"},
		{"OPTIONS", devicesPath + "/" + id, 405, "DELETE, GET, PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			for _, noKey := range []bool{false, true} {
				r := e.do(call{method: tt.method, path: tt.path, as: owner, noKey: noKey}).want(t, tt.status)
				if r.headers["Content-Type"] != "application/problem+json" {
					t.Errorf("Content-Type = %q", r.headers["Content-Type"])
				}
				if r.headers["Allow"] != tt.allow {
					t.Errorf("Allow = %q, want %q", r.headers["Allow"], tt.allow)
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		key          string // "" means no match
		params       map[string]string
	}{
		{"PUT", "/v1/mailboxes/a%40b.ch", "PUT /v1/mailboxes/{address}", map[string]string{"address": "a@b.ch"}},
		{"GET", "/v1/mailboxes/a+b@b.ch/devices", "GET /v1/mailboxes/{address}/devices", map[string]string{"address": "a+b@b.ch"}},
		{"POST", "/v1/mailboxes/a@b.ch/devices/revoke-all", "POST /v1/mailboxes/{address}/devices/revoke-all", map[string]string{"address": "a@b.ch"}},
		{"POST", "/v1/mailboxes/a@b.ch/devices/revoke%2Dall", "POST /v1/mailboxes/{address}/devices/revoke-all", map[string]string{"address": "a@b.ch"}},
		{"GET", "/v1/mailboxes/a@b.ch/devices/revoke-all", "", nil},
		{"DELETE", "/v1/mailboxes/a@b.ch/devices/abc", "DELETE /v1/mailboxes/{address}/devices/{id}", map[string]string{"address": "a@b.ch", "id": "abc"}},
		{"POST", "/v1/mailboxes/a@b.ch/devices/abc/password", "POST /v1/mailboxes/{address}/devices/{id}/password", map[string]string{"address": "a@b.ch", "id": "abc"}},
		{"GET", "/v1/mailboxes/a%2Fb@b.ch", "GET /v1/mailboxes/{address}", map[string]string{"address": "a/b@b.ch"}},
		{"POST", "/v1/verify", "", nil},
		{"GET", "/v1/mailboxes", "", nil},
		{"GET", "v1/mailboxes/a@b.ch", "", nil},
	}
	for _, tt := range tests {
		r, params, ok := apigw.Match(tt.method, tt.path)
		if ok != (tt.key != "") || ok && (r.Key() != tt.key || !maps.Equal(params, tt.params)) {
			t.Errorf("Match(%s, %s) = %q, %v, %v; want %q, %v", tt.method, tt.path, r.Key(), params, ok, tt.key, tt.params)
		}
	}
}

// TestDecoding covers the body and query rules on real routes.
func TestDecoding(t *testing.T) {
	t.Parallel()
	big := `{"name":"x","note":"` + strings.Repeat("a", apigw.DefaultMaxBody) + `"}`
	tests := []struct {
		name   string
		c      call
		status int
		field  string // the problem's field member
		detail string // a substring of the detail
	}{
		{"json", call{body: `{"name":"a"}`}, 201, "", ""},
		{"charset", call{body: `{"name":"a"}`, headers: map[string]string{"content-type": "application/json; charset=UTF-8"}}, 201, "", ""},
		{"upper-case header name", call{body: `{"name":"a"}`, headers: map[string]string{"content-type": "", "Content-Type": "application/json"}}, 201, "", ""},
		{"base64", call{body: `{"name":"a"}`, b64: true}, 201, "", ""},
		{"no content type", call{body: `{"name":"a"}`, headers: map[string]string{"content-type": ""}}, 415, "", "Content-Type"},
		{"text/plain", call{body: `{"name":"a"}`, headers: map[string]string{"content-type": "text/plain"}}, 415, "", "send application/json"},
		{"form", call{body: `name=a`, headers: map[string]string{"content-type": "application/x-www-form-urlencoded"}}, 415, "", ""},
		{"latin1", call{body: `{"name":"a"}`, headers: map[string]string{"content-type": "application/json; charset=iso-8859-1"}}, 415, "", "charset"},
		{"malformed media type", call{body: `{"name":"a"}`, headers: map[string]string{"content-type": "application/json; ="}}, 415, "", ""},
		{"empty body without content type", call{headers: map[string]string{"content-type": ""}}, 415, "", ""},
		{"empty body", call{headers: map[string]string{"content-type": "application/json"}}, 400, "", "required"},
		{"too large", call{body: big}, 413, "", "65536"},
		{"too large base64", call{body: big, b64: true}, 413, "", ""},
		{"bad base64", call{body: `{"name":"a"}`, b64: true, headers: map[string]string{}}, 0, "", ""}, // replaced below
		{"malformed", call{body: "{\n  \"name\": ,\n}"}, 400, "", "line 2, column 11"},
		{"truncated", call{body: `{"name":"a"`}, 400, "", "ends"},
		{"trailing data", call{body: `{"name":"a"} {"name":"b"}`}, 400, "", "after the JSON value at line 1, column 14"},
		{"trailing garbage", call{body: `{"name":"a"}x`}, 400, "", "after"},
		{"not an object", call{body: `["name"]`}, 400, "", "JSON object"},
		{"unknown field", call{body: `{"name":"a","colour":"red"}`}, 400, "", "not a known field (6 characters: lower-case letters)"},
		{"field names are exact", call{body: `{"Name":"a"}`}, 400, "", "not a known field"},
		{"nested unknown field", call{body: `{"name":"a","rotation":{"everyDays":3,"hourly":true}}`}, 400, "rotation", "known fields: duration, everyDays"},
		{"nested names are exact", call{body: `{"name":"a","rotation":{"EveryDays":3}}`}, 400, "rotation", "not a known field"},
		{"escaped name is the name", call{body: `{"n\u0061me":"a"}`}, 201, "", ""},
		{"duplicate field", call{body: `{"name":"a","name":"b"}`}, 400, "name", "more than once"},
		{"duplicate in another case", call{body: `{"name":"a","NAME":"b"}`}, 400, "", "not a known field"},
		{"nested duplicate", call{body: `{"name":"a","rotation":{"everyDays":3,"everyDays":4}}`}, 400, "rotation.everyDays", "more than once"},
		{"null element", call{body: `{"name":"a","scopes":["imap",null]}`}, 400, "scopes[1]", "string"},
		{"integer beyond int32", call{body: `{"name":"a","rotation":{"everyDays":3000000000}}`}, 400, "rotation.everyDays", "between"},
		{"missing required", call{body: `{"note":"a"}`}, 400, "name", "required"},
		{"null required", call{body: `{"name":null}`}, 400, "name", "not null"},
		{"wrong type string", call{body: `{"name":5}`}, 400, "name", "string"},
		{"wrong type array", call{body: `{"name":"a","scopes":"imap"}`}, 400, "scopes", "array"},
		{"wrong type element", call{body: `{"name":"a","scopes":["imap",5]}`}, 400, "scopes[1]", "string"},
		{"wrong type object", call{body: `{"name":"a","rotation":30}`}, 400, "rotation", "object"},
		{"wrong type nested", call{body: `{"name":"a","rotation":{"everyDays":"30"}}`}, 400, "rotation.everyDays", "integer"},
		{"fraction", call{body: `{"name":"a","rotation":{"everyDays":1.5}}`}, 400, "rotation.everyDays", "integer"},
		{"huge integer", call{body: `{"name":"a","rotation":{"everyDays":99999999999999999999}}`}, 400, "rotation.everyDays", "range"},
		{"domain validation names the field", call{body: `{"name":"a","scopes":["imap","fax"]}`}, 400, "scopes[1]", "not a known scope (3 characters"},
		{"bad cidr", call{body: `{"name":"a","allowIps":["10.0.0.1/8"]}`}, 400, "allowIps[0]", ""},
		{"create null optional", call{body: `{"name":"a","note":null}`}, 400, "note", "not null"},
		{"bad idempotency key", call{body: `{"name":"a"}`, headers: map[string]string{"idempotency-key": "short"}}, 400, "Idempotency-Key", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.registerMailbox()
			c := tt.c
			c.method, c.path, c.as = "POST", devicesPath, owner
			if tt.name == "bad base64" {
				ev := e.event(c)
				ev.Body, ev.IsBase64Encoded = "not base64!", true
				r := e.handle(ev).want(t, 400)
				if !strings.Contains(r.str("detail"), "base64") {
					t.Errorf("detail = %q", r.str("detail"))
				}
				return
			}
			r := e.do(c).want(t, tt.status)
			if tt.status < 300 {
				return
			}
			if got := r.str("field"); got != tt.field {
				t.Errorf("field = %q, want %q (%s)", got, tt.field, r.body)
			}
			if !strings.Contains(r.str("detail"), tt.detail) {
				t.Errorf("detail = %q, want it to hold %q", r.str("detail"), tt.detail)
			}
		})
	}
}

func TestDecodingOtherRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, _ := e.createDevice("laptop")
	dev := devicesPath + "/" + id
	tests := []struct {
		name   string
		c      call
		status int
		field  string
	}{
		{"regenerate without body or content type", call{method: "POST", path: dev + "/password"}, 200, ""},
		{"regenerate with {}", call{method: "POST", path: dev + "/password", body: `{}`}, 200, ""},
		{"regenerate with grace", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":300}`}, 200, ""},
		{"regenerate negative grace", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":-1}`}, 400, "graceSeconds"},
		{"regenerate grace as string", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":"60"}`}, 400, "graceSeconds"},
		{"regenerate body without content type", call{method: "POST", path: dev + "/password", body: `{}`, headers: map[string]string{"content-type": ""}}, 415, ""},
		{"GET with a body member", call{method: "GET", path: dev, body: `{"x":1}`}, 400, ""},
		{"GET with a text body", call{method: "GET", path: dev, body: `hello`, headers: map[string]string{"content-type": "text/plain"}}, 415, ""},
		{"revoke-all unknown member", call{method: "POST", path: devicesPath + "/revoke-all", body: `{"all":true}`}, 400, ""},
		{"PATCH needs content type", call{method: "PATCH", path: dev, headers: map[string]string{"content-type": ""}}, 415, ""},
		{"PATCH empty object", call{method: "PATCH", path: dev, body: `{}`}, 200, ""},
		{"PATCH null name", call{method: "PATCH", path: dev, body: `{"name":null}`}, 400, "name"},
		{"PATCH null scopes", call{method: "PATCH", path: dev, body: `{"scopes":null}`}, 400, "scopes"},
		{"PATCH empty scopes", call{method: "PATCH", path: dev, body: `{"scopes":[]}`}, 400, "scopes"},
		{"PATCH revoked status", call{method: "PATCH", path: dev, body: `{"status":"revoked"}`}, 400, "status"},
		{"PATCH unknown field", call{method: "PATCH", path: dev, body: `{"password":"x"}`}, 400, ""},
		{"PUT requires owner", call{method: "PUT", path: mailboxPath, body: `{}`}, 400, "owner"},
		{"PUT owner type", call{method: "PUT", path: mailboxPath, body: `{"owner":["a"]}`}, 400, "owner"},
		{"PUT bad address", call{method: "PUT", path: "/v1/mailboxes/not-an-address", body: `{"owner":"x"}`}, 400, "address"},
		{"list limit", call{method: "GET", path: devicesPath + "?limit=abc"}, 400, "limit"},
		{"list limit zero", call{method: "GET", path: devicesPath + "?limit=0"}, 400, "limit"},
		{"list limit too big", call{method: "GET", path: devicesPath + "?limit=101"}, 400, "limit"},
		{"list bad cursor", call{method: "GET", path: devicesPath + "?cursor=nope"}, 400, "cursor"},
		{"list unknown parameter", call{method: "GET", path: devicesPath + "?limt=5"}, 400, ""},
		{"list repeated parameter", call{method: "GET", path: devicesPath + "?limit=5&limit=6"}, 400, "limit"},
		{"query on a route without parameters", call{method: "GET", path: dev + "?verbose=1"}, 400, ""},
		{"list malformed query", call{method: "GET", path: devicesPath + "?limit=%zz"}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.as = admin
			r := e.do(c).want(t, tt.status)
			if tt.status >= 400 && r.str("field") != tt.field {
				t.Errorf("field = %q, want %q (%s)", r.str("field"), tt.field, r.body)
			}
		})
	}
}

// TestProblemDocument checks the RFC 9457 shape on one problem of each
// kind the handler itself produces.
func TestProblemDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	tests := []struct {
		c      call
		status int
		code   string
	}{
		{call{method: "POST", path: devicesPath, as: owner, body: `{"name":1}`}, 400, "invalid"},
		{call{method: "GET", path: mailboxPath}, 401, "unauthenticated"},
		{call{method: "GET", path: mailboxPath, as: stranger}, 403, "forbidden"},
		{call{method: "GET", path: "/v1/mailboxes/bob@example.com", as: admin}, 404, "not_found"},
		{call{method: "DELETE", path: mailboxPath, as: admin}, 405, "method_not_allowed"},
		{call{method: "POST", path: devicesPath, as: owner, body: `{"name":"a"}`, headers: map[string]string{"content-type": "text/csv"}}, 415, "unsupported_media"},
		{call{method: "POST", path: devicesPath, as: owner, body: strings.Repeat(" ", apigw.DefaultMaxBody+1)}, 413, "too_large"},
		{call{method: "POST", path: devicesPath, as: owner, body: `{"name":"a"}`, authAge: time.Hour}, 401, "step_up_required"},
	}
	for _, tt := range tests {
		ev := e.event(tt.c)
		r := e.handle(ev).want(t, tt.status)
		if r.headers["Content-Type"] != "application/problem+json" {
			t.Errorf("%d: Content-Type = %q", tt.status, r.headers["Content-Type"])
		}
		if r.json["type"] != apigw.ProblemTypeBase+tt.code || r.json["status"] != float64(tt.status) ||
			r.str("title") == "" || r.str("detail") == "" || r.json["instance"] != ev.RequestContext.RequestID {
			t.Errorf("%d: problem = %s", tt.status, r.body)
		}
		for k := range r.json {
			if !slices.Contains([]string{"type", "title", "status", "detail", "field", "instance"}, k) {
				t.Errorf("%d: unexpected member %q", tt.status, k)
			}
		}
	}
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	want := map[apperr.Code]int{
		apperr.Invalid: 400, apperr.NotFound: 404, apperr.Conflict: 409, apperr.LimitReached: 409, apperr.Forbidden: 403,
		apperr.Unauthenticated: 401, apperr.StepUpRequired: 401, apperr.RateLimited: 429, apperr.TooLarge: 413,
		apperr.UnsupportedMedia: 415, apperr.Unavailable: 503, apperr.Internal: 500, "no-such-code": 500,
	}
	for code, status := range want {
		if got := apigw.StatusOf(code); got != status {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, status)
		}
	}
}

func TestChallenges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, _ := e.createDevice("laptop")
	const challenge = `Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age=300`
	for _, c := range []call{
		{method: "POST", path: devicesPath, body: `{"name":"b"}`},
		{method: "POST", path: devicesPath + "/" + id + "/password"},
		{method: "POST", path: devicesPath + "/revoke-all"},
	} {
		c.as, c.authAge = owner, stepUpMaxAge+time.Second
		r := e.do(c).want(t, 401)
		if got := r.headers["WWW-Authenticate"]; got != challenge {
			t.Errorf("%s %s: WWW-Authenticate = %q, want %q", c.method, c.path, got, challenge)
		}
	}
	// A token without auth_time cannot prove a recent login.
	ev := e.event(call{method: "POST", path: devicesPath, body: `{"name":"b"}`, as: owner})
	delete(ev.RequestContext.Authorizer.JWT.Claims, "auth_time")
	if r := e.handle(ev).want(t, 401); r.headers["WWW-Authenticate"] != challenge {
		t.Errorf("no auth_time: WWW-Authenticate = %q", r.headers["WWW-Authenticate"])
	}

	r := e.do(call{method: "GET", path: mailboxPath}).want(t, 401)
	if r.headers["WWW-Authenticate"] != "Bearer" {
		t.Errorf("no token: WWW-Authenticate = %q, want Bearer", r.headers["WWW-Authenticate"])
	}
	ev = e.event(call{method: "GET", path: mailboxPath, as: owner})
	ev.RequestContext.Authorizer.JWT.Claims["sub"] = " "
	e.handle(ev).want(t, 401)
}

func TestGroupsClaimFormats(t *testing.T) {
	t.Parallel()
	for _, groups := range []string{
		"[domain-admin:example.com ops]",
		"[ops domain-admin:example.com]",
		`["ops","domain-admin:example.com"]`,
		"domain-admin:example.com",
		"[DOMAIN-ADMIN:EXAMPLE.COM]",
	} {
		e := newEnv(t)
		e.do(call{method: "PUT", path: mailboxPath, body: `{"owner":"o"}`, as: &identity{sub: "a", groups: groups}}).want(t, 201)
	}
	for _, groups := range []string{"[domain-admin:example.org]", "[domain-admin:example.com.evil]", "[]", `["domain-admin:example.co"]`, "domain-admin:example.com ops"} {
		e := newEnv(t)
		e.do(call{method: "PUT", path: mailboxPath, body: `{"owner":"o"}`, as: &identity{sub: "a", groups: groups}}).want(t, 403)
	}

	// Another claim name.
	e := newEnv(t)
	h, err := apigw.New(deviceDeps(e.svc), apigw.Options{GroupsClaim: "groups", Logger: newLogger(&logbuf.Buffer{}), Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	ev := e.event(call{method: "PUT", path: mailboxPath, body: `{"owner":"o"}`, as: owner})
	ev.RequestContext.Authorizer.JWT.Claims["groups"] = "[domain-admin:example.com]"
	e.handle(ev).want(t, 201)
}

// TestAuthorizationMatrix runs every route as every kind of caller.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	type who struct {
		name string
		id   *identity
		age  time.Duration
	}
	callers := []who{
		{"owner", owner, 0},
		{"domain admin", admin, 0},
		{"admin of another domain", otherAdmin, 0},
		{"another user", stranger, 0},
		{"no claims", nil, 0},
		{"owner with stale login", owner, time.Hour},
		{"admin with stale login", admin, time.Hour},
	}
	routes := []struct {
		route string
		c     func(e *env, id string) call
		want  []int // in the order of callers
	}{
		{"PUT mailbox", func(*env, string) call { return call{method: "PUT", path: mailboxPath, body: `{"owner":"owner-1"}`} },
			[]int{403, 200, 403, 403, 401, 403, 401}},
		{"GET mailbox", func(*env, string) call { return call{method: "GET", path: mailboxPath} },
			[]int{200, 200, 403, 403, 401, 200, 200}},
		{"POST devices", func(*env, string) call { return call{method: "POST", path: devicesPath, body: `{"name":"n"}`} },
			[]int{201, 201, 403, 403, 401, 401, 401}},
		{"GET devices", func(*env, string) call { return call{method: "GET", path: devicesPath} },
			[]int{200, 200, 403, 403, 401, 200, 200}},
		{"GET device", func(_ *env, id string) call { return call{method: "GET", path: devicesPath + "/" + id} },
			[]int{200, 200, 403, 403, 401, 200, 200}},
		{"PATCH device", func(_ *env, id string) call {
			return call{method: "PATCH", path: devicesPath + "/" + id, body: `{"name":"m"}`}
		},
			[]int{200, 200, 403, 403, 401, 200, 200}},
		{"DELETE device", func(_ *env, id string) call { return call{method: "DELETE", path: devicesPath + "/" + id} },
			[]int{200, 200, 403, 403, 401, 200, 200}},
		{"POST password", func(_ *env, id string) call { return call{method: "POST", path: devicesPath + "/" + id + "/password"} },
			[]int{200, 200, 403, 403, 401, 401, 401}},
		{"POST revoke-all", func(*env, string) call { return call{method: "POST", path: devicesPath + "/revoke-all"} },
			[]int{200, 200, 403, 403, 401, 401, 401}},
		{"POST enrollments", func(*env, string) call {
			return call{method: "POST", path: mailboxPath + "/enrollments", body: `{"name":"n"}`}
		}, []int{403, 201, 403, 403, 401, 403, 401}},
		{"DELETE enrollment", func(e *env, _ string) call {
			id, _ := e.createEnrollment(`{"name":"n"}`)
			return call{method: "DELETE", path: mailboxPath + "/enrollments/" + id}
		}, []int{403, 200, 403, 403, 401, 403, 200}},
		{"POST enrollment device", func(e *env, _ string) call {
			_, token := e.createEnrollment(`{"name":"n"}`)
			return call{method: "POST", path: "/v1/enrollments/" + token + "/device"}
		}, []int{201, 201, 201, 201, 401, 401, 401}},
		{"GET audit", func(*env, string) call { return call{method: "GET", path: mailboxPath + "/audit"} },
			[]int{200, 200, 403, 403, 401, 200, 200}},
		{"GET me", func(*env, string) call { return call{method: "GET", path: "/v1/me"} },
			[]int{200, 200, 200, 200, 401, 200, 200}},
		{"GET my mailboxes", func(*env, string) call { return call{method: "GET", path: "/v1/me/mailboxes"} },
			[]int{200, 200, 200, 200, 401, 200, 200}},
		{"GET domain mailboxes", func(*env, string) call { return call{method: "GET", path: "/v1/domains/example.com/mailboxes"} },
			[]int{403, 200, 403, 403, 401, 403, 200}},
		{"GET enrollments", func(*env, string) call { return call{method: "GET", path: mailboxPath + "/enrollments"} },
			[]int{403, 200, 403, 403, 401, 403, 200}},
		{"GET policy", func(*env, string) call { return call{method: "GET", path: "/v1/domains/example.com/policy"} },
			[]int{403, 200, 403, 403, 401, 403, 200}},
		{"PUT policy", func(*env, string) call {
			return call{method: "PUT", path: "/v1/domains/example.com/policy", body: `{"requireExpiry":true}`}
		}, []int{403, 200, 403, 403, 401, 403, 401}},
		{"GET compliance", func(*env, string) call { return call{method: "GET", path: "/v1/domains/example.com/compliance"} },
			[]int{403, 200, 403, 403, 401, 403, 200}},
	}
	if len(routes) != len(apigw.Routes) {
		t.Fatalf("the matrix has %d routes, the router %d", len(routes), len(apigw.Routes))
	}
	for _, rt := range routes {
		for i, cl := range callers {
			t.Run(rt.route+"/"+cl.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.registerMailbox()
				id, _ := e.createDevice("laptop")
				c := rt.c(e, id)
				c.as, c.authAge = cl.id, cl.age
				e.do(c).want(t, rt.want[i])
			})
		}
	}
}

// TestNoEnumeration: a caller who may not manage a mailbox gets the same
// answer whether or not it (or the device) exists.
func TestNoEnumeration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, _ := e.createDevice("laptop")
	enrollmentID, _ := e.createEnrollment(`{"name":"n"}`)
	const missing = "/v1/mailboxes/nobody@example.com"
	const fakeID = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	pairs := []struct{ method, exists, absent, body string }{
		{"GET", mailboxPath, missing, ""},
		{"GET", devicesPath, missing + "/devices", ""},
		{"POST", devicesPath, missing + "/devices", `{"name":"n"}`},
		{"GET", devicesPath + "/" + id, missing + "/devices/" + fakeID, ""},
		{"GET", devicesPath + "/" + id, devicesPath + "/" + fakeID, ""},
		{"GET", devicesPath + "/" + id, devicesPath + "/not-an-id", ""},
		{"PATCH", devicesPath + "/" + id, missing + "/devices/" + id, `{"name":"m"}`},
		{"DELETE", devicesPath + "/" + id, missing + "/devices/" + id, ""},
		{"POST", devicesPath + "/" + id + "/password", missing + "/devices/" + id + "/password", ""},
		{"POST", devicesPath + "/revoke-all", missing + "/devices/revoke-all", ""},
		{"GET", mailboxPath + "/audit", missing + "/audit", ""},
		{"POST", mailboxPath + "/enrollments", missing + "/enrollments", `{"name":"n"}`},
		{"DELETE", mailboxPath + "/enrollments/" + enrollmentID, missing + "/enrollments/" + enrollmentID, ""},
	}
	for _, who := range []*identity{stranger, otherAdmin} {
		for _, p := range pairs {
			a := e.event(call{method: p.method, path: p.exists, as: who, body: p.body})
			b := e.event(call{method: p.method, path: p.absent, as: who, body: p.body})
			b.RequestContext.RequestID = a.RequestContext.RequestID
			ra, rb := e.handle(a), e.handle(b)
			if ra.status != 403 || ra.status != rb.status || ra.body != rb.body {
				t.Errorf("%s: %s %s → %d %s; %s → %d %s", who.sub, p.method, p.exists, ra.status, ra.body, p.absent, rb.status, rb.body)
			}
		}
	}
}

// failingStore answers every call with err, or panics when err is nil.
type failingStore struct {
	*devicetest.MemStore
	err error
}

func (f failingStore) Lookup(context.Context, device.LookupQuery) (device.LookupResult, error) {
	if f.err == nil {
		panic("store exploded")
	}
	return device.LookupResult{}, f.err
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	t.Parallel()
	secret := "dynamodb://internal-host:8000 table secret-table"
	tests := []struct {
		name   string
		err    error
		status int
		retry  string
	}{
		{"panic", nil, 500, ""},
		{"plain error", errors.New(secret), 500, ""},
		{"internal", apperr.Wrap(errors.New(secret), apperr.Internal, "lookup: %s", secret), 500, ""},
		{"deadline", context.DeadlineExceeded, 503, "2"},
		{"unavailable", apperr.New(apperr.Unavailable, "DynamoDB is busy; retry"), 503, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			logs := &logbuf.Buffer{}
			gen, _ := password.New(password.DefaultLength)
			svc, err := devicetest.NewUseCases(device.Config{}, devicetest.Deps{Store: failingStore{devicetest.NewMemStore(), tt.err}, Secrets: e.secrets, Keyed: e.keyed, Generator: gen})
			if err != nil {
				t.Fatal(err)
			}
			h, err := apigw.New(deviceDeps(svc), apigw.Options{Logger: newLogger(logs)})
			if err != nil {
				t.Fatal(err)
			}
			ev := e.event(call{method: "GET", path: mailboxPath, as: owner})
			resp, err := h.Handle(context.Background(), ev)
			if err != nil {
				t.Fatalf("Handle returned %v", err)
			}
			r := decodeResult(t, resp).want(t, tt.status)
			if strings.Contains(r.body, "secret-table") || strings.Contains(r.body, "exploded") {
				t.Errorf("the answer leaks the cause: %s", r.body)
			}
			if r.headers["Retry-After"] != tt.retry {
				t.Errorf("Retry-After = %q, want %q", r.headers["Retry-After"], tt.retry)
			}
			if tt.status == 500 {
				log := logs.String()
				if !strings.Contains(log, ev.RequestContext.RequestID) || !(strings.Contains(log, "secret-table") || strings.Contains(log, "exploded")) {
					t.Errorf("the log lacks the request id or the cause: %s", log)
				}
			}
		})
	}
}
