package apigw_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// The routes, the types and the decoding rules come from
// docs/openapi.yaml by generation (a test in shared/apigw/api keeps the
// generated code fresh). These tests cover what generation does not:
// that the handler enforces what the document says of each body, that
// answers set their nullable members, that the step-up routes are the
// ones the use cases guard, and that the problem types are the
// document's.

// doc is docs/openapi.yaml, parsed.
type doc map[string]any

func loadDoc(tb testing.TB) doc {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var d map[string]any // not doc: yaml would decode nested mappings as doc too
	if err := yaml.Unmarshal(b, &d); err != nil {
		tb.Fatalf("docs/openapi.yaml: %v", err)
	}
	return d
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// resolve follows a local $ref.
func (d doc) resolve(v any) map[string]any {
	m := obj(v)
	for ref, ok := m["$ref"].(string); ok; ref, ok = m["$ref"].(string) {
		cur := any(map[string]any(d))
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = obj(cur)[part]
		}
		m = obj(cur)
	}
	return m
}

// jsonType is the first non-null JSON type a schema allows.
func (d doc) jsonType(schema map[string]any) string {
	schema = d.resolve(schema)
	switch t := schema["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if x != "null" {
				return x.(string)
			}
		}
	}
	alts, _ := schema["oneOf"].([]any)
	for _, alt := range alts {
		if t := d.jsonType(obj(alt)); t != "null" && t != "" {
			return t
		}
	}
	return ""
}

// placeholder is a JSON value of type t, or of another type when wrong.
func placeholder(t string, wrong bool) string {
	if wrong {
		if t == "string" {
			return "12345"
		}
		return `"x"`
	}
	switch t {
	case "integer":
		return "1"
	case "array":
		return `["imap"]`
	case "object":
		return "{}"
	}
	return `"x"`
}

// TestDocumentedBodiesAreEnforced sends, for every route with a body, the
// body without each documented required member and with each documented
// member of the wrong type: the handler must answer 400 naming that
// member, so the decoder requires and types exactly what the document
// says (oapi-codegen's rendering of required or write-only members
// included).
func TestDocumentedBodiesAreEnforced(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	e := newEnv(t)
	e.registerMailbox()
	id, _ := e.createDevice("laptop")
	paths := obj(d["paths"])
	for _, rt := range api.Routes {
		if rt.Body == api.BodyNone {
			continue
		}
		op := obj(obj(paths[rt.Path])[strings.ToLower(rt.Method)])
		schema := d.resolve(obj(obj(obj(d.resolve(op["requestBody"])["content"])[rt.MediaTypes[0]])["schema"]))
		props := obj(schema["properties"])
		var required []string
		rs, _ := schema["required"].([]any)
		for _, r := range rs {
			required = append(required, r.(string))
		}
		if len(props) == 0 {
			t.Errorf("%s: no documented members", rt.Key())
		}
		path := strings.NewReplacer("{address}", mailbox, "{id}", id).Replace(rt.Path)
		send := func(members map[string]string) result {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(members)) {
				parts = append(parts, strconv.Quote(k)+":"+members[k])
			}
			c := call{method: rt.Method, path: path, as: admin, body: "{" + strings.Join(parts, ",") + "}"}
			if rt.Auth == api.AuthIAM {
				return e.verifyCall(verifyEvent(t, c.body))
			}
			return e.do(c)
		}
		base := map[string]string{}
		for _, name := range required {
			base[name] = placeholder(d.jsonType(obj(props[name])), false)
		}
		for _, name := range required {
			members := maps.Clone(base)
			delete(members, name)
			if r := send(members); r.status != 400 || r.str("field") != name || !strings.Contains(r.str("detail"), "required") {
				t.Errorf("%s without %s: %d %s, want 400 naming it as required", rt.Key(), name, r.status, r.body)
			}
		}
		for name, p := range props {
			members := maps.Clone(base)
			members[name] = placeholder(d.jsonType(obj(p)), true)
			if r := send(members); r.status != 400 || r.str("field") != name || !strings.Contains(r.str("detail"), "must be") {
				t.Errorf("%s with %s of the wrong type: %d %s, want 400 naming its type", rt.Key(), name, r.status, r.body)
			}
		}
	}
}

// emptyStrings returns the paths of the members of v that are "", except
// note (a device without a note has note ""); a nullable member left unset
// would show as one.
func emptyStrings(path string, v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if x == "" && !strings.HasSuffix(path, ".note") {
			out = append(out, path)
		}
	case map[string]any:
		for k, m := range x {
			out = append(out, emptyStrings(path+"."+k, m)...)
		}
	case []any:
		for i, m := range x {
			out = append(out, emptyStrings(path+"["+strconv.Itoa(i)+"]", m)...)
		}
	}
	return out
}

// TestAnswersSetEveryNullable: an absent value is null in every answer,
// never the empty string an unset nullable member would marshal as.
func TestAnswersSetEveryNullable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerMailbox()
	exp := t0.Add(time.Hour)
	e.audit.add(lifecycle.Event{ID: "e1", Type: lifecycle.EnrollmentUsed, Time: t0, Mailbox: mailbox,
		Actor:          lifecycle.Actor{Kind: "system"},
		Device:         &lifecycle.DeviceInfo{Name: "n", Status: "active", Scopes: []string{"imap"}},
		EnrollmentInfo: &lifecycle.EnrollmentInfo{Name: "n", Status: "used", ExpiresAt: exp}})
	e.audit.add(lifecycle.Event{ID: "e2", Type: lifecycle.MailboxRegistered, Time: t0, Mailbox: mailbox, Actor: lifecycle.Actor{Kind: "user", Subject: "s"}, Owner: "o"})
	enrolled := e.do(call{method: "POST", path: mailboxPath + "/enrollments", as: admin, body: `{"name":"b"}`}).want(t, 201)
	answers := map[string]result{
		"created":    e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"a"}`}).want(t, 201),
		"rotating":   e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"r","rotation":{"everyDays":5}}`}).want(t, 201),
		"mailbox":    e.do(call{method: "GET", path: mailboxPath, as: owner}).want(t, 200),
		"page":       e.do(call{method: "GET", path: devicesPath, as: owner}).want(t, 200),
		"enrollment": enrolled,
		"redeemed":   e.do(call{method: "POST", path: "/v1/enrollments/" + enrolled.str("token") + "/device", as: stranger}).want(t, 201),
		"audit":      e.do(call{method: "GET", path: mailboxPath + "/audit", as: owner}).want(t, 200),
		"problem":    e.do(call{method: "GET", path: mailboxPath, as: stranger, body: `{"x":1}`}).want(t, 400),
	}
	for name, r := range answers {
		if empty := emptyStrings(name, r.json); len(empty) > 0 {
			t.Errorf("%s: empty strings at %v where null is due: %s", name, empty, r.body)
		}
	}
	if dev := answers["created"].device(); dev["expiresAt"] != nil || dev["rotation"] != nil || dev["lastUsedAt"] != nil {
		t.Errorf("a new device without expiry or rotation: %v", dev)
	}
	if _, ok := answers["created"].device()["user"]; ok {
		t.Errorf("a device for no particular user shows a user member")
	}
}

// TestProblemTypesAreDocumented: every code the handler answers with has
// its problem type in the document's enum, and the enum has no other.
func TestProblemTypesAreDocumented(t *testing.T) {
	t.Parallel()
	codes := []apperr.Code{apperr.Invalid, apperr.NotFound, apperr.Conflict, apperr.LimitReached, apperr.Forbidden, apperr.PolicyViolation,
		apperr.Unauthenticated, apperr.StepUpRequired, apperr.RateLimited, apperr.TooLarge, apperr.UnsupportedMedia,
		apperr.Unavailable, apperr.Internal, "method_not_allowed"}
	for _, c := range codes {
		if !api.ProblemType(apigw.ProblemTypeBase + string(c)).Valid() {
			t.Errorf("problem type of %s is not documented", c)
		}
	}
	d := loadDoc(t)
	enum := obj(obj(obj(obj(obj(d["components"])["schemas"])["Problem"])["properties"])["type"])["enum"].([]any)
	if len(enum) != len(codes) {
		t.Errorf("the document lists %d problem types, the handler answers with %d", len(enum), len(codes))
	}
	if got := apigw.StatusOf(apperr.StepUpRequired); got != 401 {
		t.Errorf("step-up status %d", got)
	}
}

// TestPageSizeIsDocumented: the document's bound on limit is the domain's.
func TestPageSizeIsDocumented(t *testing.T) {
	t.Parallel()
	for _, rt := range api.Routes {
		for _, q := range rt.Query {
			if q.Name == api.QueryLimit && (q.Min != 1 || q.Max != device.MaxPageSize) {
				t.Errorf("%s: limit documented in [%d, %d], the domain pages up to %d", rt.Key(), q.Min, q.Max, device.MaxPageSize)
			}
		}
	}
}
