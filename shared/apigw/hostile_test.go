package apigw_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// jsonMembers lists the JSON paths of every member of a generated request
// type, nested objects included, each with a body that sets only that
// member to v (v in an array for an array member, since a password pasted
// into a list arrives as an item).
func jsonMembers(t reflect.Type, v string) map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, wrap func(string) string, path string)
	walk = func(t reflect.Type, wrap func(string) string, path string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			q, _ := json.Marshal(name)
			inner := func(s string) string { return wrap("{" + string(q) + ":" + s + "}") }
			val, _ := json.Marshal(v)
			switch ft.Kind() {
			case reflect.Struct:
				walk(ft, inner, p)
			case reflect.Slice:
				out[p] = inner("[" + string(val) + "]")
			default:
				out[p] = inner(string(val))
			}
		}
	}
	walk(t, func(s string) string { return s }, "")
	return out
}

// TestPasswordsInEveryField feeds handed-out passwords into every field of
// every route (each path parameter, query parameter, header and body
// member, and as an unknown member's name) and searches every problem
// document and the whole log for them. A password that is a valid value
// for a field (a name, a note) may come back in a success answer, as any
// name does; a refused one is never quoted.
func TestPasswordsInEveryField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	id, pw1 := e.createDevice("laptop")
	r := e.do(call{method: "POST", path: devicesPath + "/" + id + "/password", as: owner}).want(t, 200)
	pw2 := r.str("password")
	_, token := e.createEnrollment(`{"name":"n"}`)
	pw3 := e.do(call{method: "POST", path: "/v1/enrollments/" + token + "/device", as: stranger}).want(t, 201).str("password")
	passwords := []string{pw1, pw2, pw3}
	for _, pw := range passwords {
		if len(pw) < 20 {
			t.Fatalf("a handed-out password %q is too short to search for", pw)
		}
	}

	bodies := map[string]reflect.Type{
		api.OpPutMailbox:         reflect.TypeFor[api.PutMailboxJSONRequestBody](),
		api.OpCreateDevice:       reflect.TypeFor[api.CreateDeviceJSONRequestBody](),
		api.OpUpdateDevice:       reflect.TypeFor[api.UpdateDeviceJSONRequestBody](),
		api.OpRegeneratePassword: reflect.TypeFor[api.RegeneratePasswordJSONRequestBody](),
		api.OpCreateEnrollment:   reflect.TypeFor[api.CreateEnrollmentJSONRequestBody](),
		api.OpVerify:             reflect.TypeFor[api.VerifyJSONRequestBody](),
	}
	// Valid values of the members a body needs, so the one under test is
	// checked by the domain too, not only refused as incomplete.
	base := map[string]map[string]any{
		api.OpPutMailbox:       {"owner": "owner-1"},
		api.OpCreateDevice:     {"name": "n"},
		api.OpCreateEnrollment: {"name": "n"},
		api.OpVerify:           {"mailbox": mailbox, "password": "not-it", "protocol": "imap"},
	}
	withBase := func(op, body string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range base[op] {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}

	sent, problems := 0, 0
	scan := func(what string, res result, pw string) {
		t.Helper()
		sent++
		if res.status >= 500 {
			t.Errorf("%s: %d %s", what, res.status, res.body)
		}
		if res.status >= 400 {
			problems++
			if strings.Contains(res.body, pw) {
				t.Errorf("%s: the problem quotes the password: %s", what, res.body)
			}
		}
	}
	for _, pw := range passwords {
		for _, rt := range apigw.Routes {
			params := map[string]string{"{address}": mailbox, "{id}": id, "{token}": token}
			path := func(p map[string]string) string {
				out := rt.Path
				for k, v := range p {
					out = strings.ReplaceAll(out, k, url.PathEscape(v))
				}
				return out
			}
			send := func(what, p, body string, headers map[string]string) {
				t.Helper()
				if rt.Auth == api.AuthIAM {
					ev := verifyEvent(t, body)
					for k, v := range headers {
						ev.Headers[k] = v
					}
					scan(what, e.verifyCall(ev), pw)
					return
				}
				scan(what, e.do(call{method: rt.Method, path: p, body: body, as: admin, headers: headers}), pw)
			}
			okBody := ""
			if rt.Body != api.BodyNone {
				okBody = withBase(rt.Operation, "{}")
			}
			// Path parameters.
			for k := range params {
				if strings.Contains(rt.Path, k) {
					p := map[string]string{}
					for kk, v := range params {
						p[kk] = v
					}
					p[k] = pw
					send(rt.Key()+" path "+k, path(p), okBody, nil)
				}
			}
			// Query parameters, and an unknown one named by the password.
			for _, q := range rt.Query {
				send(rt.Key()+" query "+q.Name, path(params)+"?"+q.Name+"="+url.QueryEscape(pw), okBody, nil)
			}
			send(rt.Key()+" query name", path(params)+"?"+url.QueryEscape(pw)+"=1", okBody, nil)
			// Headers.
			send(rt.Key()+" Idempotency-Key", path(params), okBody, map[string]string{"idempotency-key": pw})
			if okBody != "" {
				send(rt.Key()+" Content-Type", path(params), okBody, map[string]string{"content-type": "application/" + pw})
			}
			// Body members, and an unknown member named by the password.
			if typ, ok := bodies[rt.Operation]; ok {
				for member, body := range jsonMembers(typ, pw) {
					send(rt.Key()+" body "+member, path(params), withBase(rt.Operation, body), nil)
				}
			}
			unknown, _ := json.Marshal(map[string]int{pw: 1})
			if rt.Body != api.BodyNone {
				send(rt.Key()+" member name", path(params), withBase(rt.Operation, string(unknown)), nil)
			} else {
				send(rt.Key()+" member name", path(params), string(unknown), nil)
			}
		}
	}
	logs := e.logs.String()
	for _, pw := range passwords {
		if strings.Contains(logs, pw) {
			i := strings.Index(logs, pw)
			t.Errorf("the log holds a password: ...%s...", logs[max(0, i-200):min(len(logs), i+len(pw)+50)])
		}
	}
	if sent < 200 || problems < sent/2 {
		t.Fatalf("%d requests, %d problems: the test did not exercise the routes", sent, problems)
	}
}

// TestHostileBodies: invalid UTF-8, empty members and headers, and
// integers in every JSON spelling.
func TestHostileBodies(t *testing.T) {
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
		{"invalid UTF-8 in a name", call{method: "POST", path: devicesPath, body: "{\"name\":\"ph\xffone\"}"}, 400, ""},
		{"invalid UTF-8 in a note", call{method: "PATCH", path: dev, body: "{\"note\":\"\xc3\"}"}, 400, ""},
		{"invalid UTF-8, base64-encoded", call{method: "POST", path: devicesPath, body: "{\"name\":\"\xed\xa0\x80\"}", b64: true}, 400, ""},
		{"empty expiresAt", call{method: "POST", path: devicesPath, body: `{"name":"a","expiresAt":""}`}, 400, "expiresAt"},
		{"empty validFor", call{method: "POST", path: devicesPath, body: `{"name":"a","validFor":""}`}, 400, "validFor"},
		{"empty user", call{method: "POST", path: devicesPath, body: `{"name":"a","user":""}`}, 400, "user"},
		{"empty schedule", call{method: "POST", path: devicesPath, body: `{"name":"a","rotation":{"schedule":""}}`}, 400, "rotation.schedule"},
		{"empty grace in a patch", call{method: "PATCH", path: dev, body: `{"rotation":{"everyDays":3,"grace":""}}`}, 400, "rotation.grace"},
		{"empty tokenValidFor", call{method: "POST", path: mailboxPath + "/enrollments", body: `{"name":"a","tokenValidFor":""}`}, 400, "tokenValidFor"},
		{"empty enrollment expiresAt", call{method: "POST", path: mailboxPath + "/enrollments", body: `{"name":"a","expiresAt":""}`}, 400, "expiresAt"},
		{"integer with a zero fraction", call{method: "PATCH", path: dev, body: `{"rotation":{"everyDays":30.0}}`}, 200, ""},
		{"integer with an exponent", call{method: "PATCH", path: dev, body: `{"rotation":{"everyDays":3e1}}`}, 200, ""},
		{"integer with a fraction and exponent", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1.008e3}`}, 200, ""},
		{"integer 1008.0", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1008.0}`}, 200, ""},
		{"fraction 1008.5", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1008.5}`}, 400, "graceSeconds"},
		{"tiny fraction", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1008.0000000000000000000000001}`}, 400, "graceSeconds"},
		{"negative exponent fraction", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":5e-1}`}, 400, "graceSeconds"},
		{"huge exponent", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1e999999999}`}, 400, "graceSeconds"},
		{"huge negative exponent", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1e-999999999}`}, 400, "graceSeconds"},
		{"out of int64", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":1e19}`}, 400, "graceSeconds"},
		{"zero with a huge exponent", call{method: "POST", path: dev + "/password", body: `{"graceSeconds":0e999999999}`}, 200, ""},
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
	// An Idempotency-Key header sent empty (the helper's "" deletes one).
	ev := e.event(call{method: "POST", path: devicesPath, body: `{"name":"a"}`, as: admin})
	ev.Headers["idempotency-key"] = ""
	if r := e.handle(ev).want(t, 400); r.str("field") != "Idempotency-Key" {
		t.Errorf("field = %q, want Idempotency-Key (%s)", r.str("field"), r.body)
	}
	// The integer spelled 30.0 is stored as 30.
	d := e.do(call{method: "PATCH", path: dev, as: admin, body: `{"rotation":{"everyDays":30.0}}`}).want(t, 200)
	if rot, _ := d.json["rotation"].(map[string]any); rot["everyDays"] != float64(30) {
		t.Errorf("rotation = %v, want everyDays 30", d.json["rotation"])
	}
}

// TestExactSubjects: a subject is never trimmed; one with surrounding
// white space or a control or format character is refused with 401.
func TestExactSubjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	for _, sub := range []string{"owner-1\u3000", "\u00a0owner-1", " owner-1", "owner-1\n", "owner-1\t", "\u200bowner-1", "owner-1\u2028", "own\x00er-1", "owner-1\xff"} {
		r := e.do(call{method: "GET", path: mailboxPath, as: &identity{sub: sub}})
		if r.status != 401 || r.headers["WWW-Authenticate"] != "Bearer" {
			t.Errorf("subject %q: %d %s, want 401", sub, r.status, r.body)
		}
	}
	e.do(call{method: "GET", path: mailboxPath, as: owner}).want(t, 200)
	// A group padded with white space other than the separator is not the
	// group.
	for _, g := range []string{"[domain-admin:example.com\u3000]", `["domain-admin:example.com\u00a0"]`, `[" domain-admin:example.com"]`} {
		r := e.do(call{method: "GET", path: mailboxPath, as: &identity{sub: "admin-9", groups: g}})
		if r.status != 403 {
			t.Errorf("groups %s: %d %s, want 403", g, r.status, r.body)
		}
	}
}

// TestAdminGroupsMatchASCIIOnly: the Kelvin sign and the long s do not
// stand for k and s in an administrator group; ASCII case is ignored.
func TestAdminGroupsMatchASCIIOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		group, address string
		status         int
	}{
		{"[domain-admin:\u212a\u212a.example]", "bob@kk.example", 403},
		{"[domain-admin:\u017fub.example]", "bob@sub.example", 403},
		{"[DOMAIN-ADMIN:KK.EXAMPLE]", "bob@kk.example", 401}, // an admin, whose PUT needs a fresh login
	}
	for _, tc := range tests {
		r := e.do(call{method: "PUT", path: "/v1/mailboxes/" + tc.address, body: `{"owner":"bob"}`, as: &identity{sub: "a", groups: tc.group}, authAge: stepUpMaxAge * 2})
		if r.status != tc.status {
			t.Errorf("group %s on %s: %d %s, want %d", tc.group, tc.address, r.status, r.body, tc.status)
		}
	}
}

// TestAddressesAreCaseInsensitive: one mailbox per address whatever its
// case, with one owner.
func TestAddressesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(call{method: "PUT", path: "/v1/mailboxes/Bob.Smith@Example.com", body: `{"owner":"bob"}`, as: admin}).want(t, 201)
	if got := r.str("address"); got != "bob.smith@example.com" {
		t.Errorf("address = %q, want it lower-cased", got)
	}
	if loc := r.headers["Location"]; loc != "/v1/mailboxes/bob.smith@example.com" {
		t.Errorf("Location = %q", loc)
	}
	// Another case is the same mailbox: its owner changes, no second one.
	e.do(call{method: "PUT", path: "/v1/mailboxes/bob.smith@example.com", body: `{"owner":"mallory"}`, as: admin}).want(t, 200)
	e.do(call{method: "GET", path: "/v1/mailboxes/BOB.SMITH@example.com", as: &identity{sub: "bob"}}).want(t, 403)
	c := e.do(call{method: "POST", path: "/v1/mailboxes/BOB.smith@example.com/devices", body: `{"name":"phone"}`, as: &identity{sub: "mallory"}}).want(t, 201)
	if got := c.device()["mailbox"]; got != "bob.smith@example.com" {
		t.Errorf("device mailbox = %v", got)
	}
	v := e.verifyCall(verifyEvent(t, verifyBody("Bob.Smith@EXAMPLE.COM", c.str("password"), "imap", ""))).want(t, 200)
	if v.json["valid"] != true {
		t.Errorf("the password does not verify for the address in another case: %s", v.body)
	}
}

// errAWSLike is an error as an AWS SDK reports it, with the service's own
// message.
var errAWSLike = errors.New("operation error Secrets Manager: GetSecretValue, https response error StatusCode: 400, " +
	"RequestID: 7f1c, InvalidRequestException: You can't perform this operation on the secret because it was marked for deletion")

// failingDevices answers every create with err.
type failingDevices struct {
	apigw.Devices
	err error
}

func (f failingDevices) CreateDevice(context.Context, device.Caller, string, device.CreateInput, string) (device.Created, error) {
	return device.Created{}, f.err
}

// TestProblemsCarryNoAWSMessage: an error an adapter translated from an AWS
// error answers its code's own detail; the SDK's message stays in the log.
func TestProblemsCarryNoAWSMessage(t *testing.T) {
	t.Parallel()
	for _, code := range []apperr.Code{apperr.Conflict, apperr.NotFound, apperr.Unavailable, apperr.Invalid, apperr.Internal} {
		e := newEnv(t)
		deps := deviceDeps(e.svc)
		translated := apperr.Wrap(errAWSLike, code, "read secret: refused in the secret's state (%s)", "You can't perform this operation on the secret because it was marked for deletion.")
		deps.Devices = failingDevices{Devices: e.svc, err: errors.Join(errors.New("read secret of earlier request"), translated)}
		h, err := apigw.New(deps, apigw.Options{Logger: newLogger(e.logs), Clock: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := h.Handle(context.Background(), e.event(call{method: "POST", path: devicesPath, body: `{"name":"a"}`, as: owner}))
		r := decodeResult(t, resp)
		if r.status != apigw.StatusOf(code) {
			t.Errorf("%s: status %d, want %d", code, r.status, apigw.StatusOf(code))
		}
		for _, s := range []string{"marked for deletion", "InvalidRequestException", "Secrets Manager", "RequestID", "refused"} {
			if strings.Contains(r.body, s) {
				t.Errorf("%s: the problem carries the dependency's words %q: %s", code, s, r.body)
			}
		}
	}
}
