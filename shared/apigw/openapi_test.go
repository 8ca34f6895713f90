package apigw_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// spec is docs/openapi.yaml, parsed.
type spec struct {
	tb  testing.TB
	doc map[string]any
}

func loadSpec(tb testing.TB) *spec {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		tb.Fatalf("docs/openapi.yaml: %v", err)
	}
	return &spec{tb: tb, doc: doc}
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// resolve follows a local $ref.
func (s *spec) resolve(v any) map[string]any {
	m := obj(v)
	for i := 0; i < 10; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		cur := any(s.doc)
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = obj(cur)[part]
		}
		if cur == nil {
			s.tb.Fatalf("unresolved $ref %s", ref)
		}
		m = obj(cur)
	}
	return m
}

// types returns the JSON types a schema allows, following $ref and oneOf.
func (s *spec) types(schema map[string]any) []string {
	schema = s.resolve(schema)
	var out []string
	switch t := schema["type"].(type) {
	case string:
		out = append(out, t)
	case []any:
		for _, x := range t {
			out = append(out, x.(string))
		}
	}
	for _, alt := range anyList(schema["oneOf"]) {
		out = append(out, s.types(obj(alt))...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// objectAlternative returns the object schema among a schema's alternatives.
func (s *spec) objectAlternative(schema map[string]any) map[string]any {
	schema = s.resolve(schema)
	if schema["properties"] != nil {
		return schema
	}
	for _, alt := range anyList(schema["oneOf"]) {
		if o := s.objectAlternative(obj(alt)); o != nil {
			return o
		}
	}
	return nil
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

func stringList(v any) []string {
	var out []string
	for _, x := range anyList(v) {
		out = append(out, fmt.Sprint(x))
	}
	slices.Sort(out)
	return out
}

var httpMethods = []string{"get", "put", "post", "patch", "delete", "head", "options", "trace"}

// operations returns the document's operations by route key.
func (s *spec) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range obj(s.doc["paths"]) {
		for _, m := range httpMethods {
			if op := obj(obj(item)[m]); op != nil {
				op["x-path-item"] = item
				out[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return out
}

// parameters returns an operation's parameters of kind in ("path",
// "query", "header"), path-level ones included, by name.
func (s *spec) parameters(op map[string]any, in string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, list := range []any{obj(op["x-path-item"])["parameters"], op["parameters"]} {
		for _, p := range anyList(list) {
			p := s.resolve(p)
			if p["in"] == in {
				out[p["name"].(string)] = p
			}
		}
	}
	return out
}

var templateVar = regexp.MustCompile(`\{([^}]+)\}`)

func allRoutes() []apigw.Route { return append(slices.Clone(apigw.Routes), apigw.VerifyRoute) }

// TestOpenAPIMatchesRouter fails when docs/openapi.yaml and the router
// disagree on a route, a method, a parameter, a body member, its type or
// whether it is required.
func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	if s.doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", s.doc["openapi"])
	}
	ops := s.operations()
	var routerKeys []string
	for _, r := range allRoutes() {
		routerKeys = append(routerKeys, r.Key())
	}
	if got, want := slices.Sorted(maps.Keys(ops)), slices.Sorted(slices.Values(routerKeys)); !slices.Equal(got, want) {
		t.Fatalf("documented operations %v\nrouter's routes          %v", got, want)
	}

	for _, r := range allRoutes() {
		t.Run(r.Key(), func(t *testing.T) {
			op := ops[r.Key()]
			if op["operationId"] != r.Operation {
				t.Errorf("operationId = %v, want %s", op["operationId"], r.Operation)
			}
			var vars []string
			for _, m := range templateVar.FindAllStringSubmatch(r.Path, -1) {
				vars = append(vars, m[1])
			}
			if got := slices.Sorted(maps.Keys(s.parameters(op, "path"))); !slices.Equal(got, slices.Sorted(slices.Values(vars))) {
				t.Errorf("path parameters %v, router %v", got, vars)
			}
			if got := slices.Sorted(maps.Keys(s.parameters(op, "query"))); !slices.Equal(got, slices.Sorted(slices.Values(r.Query))) {
				t.Errorf("query parameters %v, router %v", got, r.Query)
			}
			_, idem := s.parameters(op, "header")["Idempotency-Key"]
			if idem != (r.Operation == apigw.OpCreateDevice) {
				t.Errorf("Idempotency-Key documented: %v", idem)
			}

			responses := obj(op["responses"])
			if r.StepUp {
				if ref := obj(responses["401"])["$ref"]; ref != "#/components/responses/UnauthorizedOrStepUp" {
					t.Errorf("a step-up route documents 401 as %v", ref)
				}
			}
			for _, status := range []string{"400", "500", "503"} {
				if responses[status] == nil {
					t.Errorf("no %s answer documented", status)
				}
			}

			rb := obj(op["requestBody"])
			if r.Body == nil {
				if rb != nil {
					t.Errorf("documents a request body the router refuses")
				}
				return
			}
			if rb == nil {
				t.Fatalf("no request body documented")
			}
			if rb["required"] != r.Body.Required {
				t.Errorf("requestBody.required = %v, router %v", rb["required"], r.Body.Required)
			}
			for _, status := range []string{"413", "415"} {
				if responses[status] == nil {
					t.Errorf("a route with a body documents no %s", status)
				}
			}
			content := obj(rb["content"])
			wantTypes := []string{"application/json"}
			if r.Method == "PATCH" {
				wantTypes = append(wantTypes, "application/merge-patch+json")
			}
			if got := slices.Sorted(maps.Keys(content)); !slices.Equal(got, wantTypes) {
				t.Errorf("body content types %v, want %v", got, wantTypes)
			}
			for ct, media := range content {
				s.compareFields(t, ct, s.resolve(obj(media)["schema"]), r.Body.Fields)
			}
		})
	}

	schemes := obj(obj(s.doc["components"])["securitySchemes"])
	if b := obj(schemes["bearerAuth"]); b["type"] != "http" || b["scheme"] != "bearer" || b["bearerFormat"] != "JWT" {
		t.Errorf("bearerAuth = %v", b)
	}
	if sig := obj(schemes["sigv4"]); sig["x-amazon-apigateway-authtype"] != "awsSigv4" {
		t.Errorf("sigv4 = %v", sig)
	}
	if sec := anyList(ops[apigw.VerifyRoute.Key()]["security"]); len(sec) != 1 || obj(sec[0])["sigv4"] == nil {
		t.Errorf("verify's security = %v, want sigv4", sec)
	}
	if sec := anyList(s.doc["security"]); len(sec) != 1 || obj(sec[0])["bearerAuth"] == nil {
		t.Errorf("default security = %v, want bearerAuth", sec)
	}
}

// compareFields checks a documented object schema against the router's
// fields: the same members, the same required ones, the same types.
func (s *spec) compareFields(t *testing.T, where string, schema map[string]any, fields []apigw.Field) {
	t.Helper()
	if schema["additionalProperties"] != false {
		t.Errorf("%s: additionalProperties is not false, but unknown members are refused", where)
	}
	props := obj(schema["properties"])
	var names, required []string
	for _, f := range fields {
		names = append(names, f.Name)
		if f.Required {
			required = append(required, f.Name)
		}
	}
	slices.Sort(names)
	slices.Sort(required)
	if got := slices.Sorted(maps.Keys(props)); !slices.Equal(got, names) {
		t.Errorf("%s: documented members %v, router %v", where, got, names)
	}
	if got := stringList(schema["required"]); !slices.Equal(got, required) {
		t.Errorf("%s: documented required %v, router %v", where, got, required)
	}
	for _, f := range fields {
		p := obj(props[f.Name])
		if p == nil {
			continue
		}
		want := []string{f.Type}
		if f.Nullable {
			want = append(want, "null")
		}
		slices.Sort(want)
		if got := s.types(p); !slices.Equal(got, want) {
			t.Errorf("%s.%s: documented types %v, router %v", where, f.Name, got, want)
		}
		if f.Type == apigw.TypeObject {
			if o := s.objectAlternative(p); o != nil {
				s.compareFields(t, where+"."+f.Name, o, f.Fields)
			}
		}
		if f.Type == apigw.TypeArray {
			if it := s.types(obj(s.resolve(p)["items"])); !slices.Equal(it, []string{"string"}) {
				t.Errorf("%s.%s: documented items %v, router strings", where, f.Name, it)
			}
		}
	}
}

// placeholder returns a JSON value of a documented type.
func placeholder(types []string, wrong bool) string {
	t := slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "null" })[0]
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

// TestOpenAPIRequiredFieldsAreEnforced sends, for every documented body,
// the body without each documented required member and with each
// documented member of the wrong type: the handler must name that member,
// so the document cannot list a member the handler does not know or
// require one it does not.
func TestOpenAPIRequiredFieldsAreEnforced(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	e := newEnv(t)
	e.registerMailbox()
	id, _ := e.createDevice("laptop")
	for key, op := range s.operations() {
		rb := obj(op["requestBody"])
		if rb == nil {
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		path = strings.NewReplacer("{address}", mailbox, "{id}", id).Replace(path)
		schema := s.resolve(obj(obj(obj(rb["content"])["application/json"])["schema"]))
		props := obj(schema["properties"])
		required := stringList(schema["required"])
		send := func(members map[string]string) result {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(members)) {
				parts = append(parts, strconv.Quote(k)+":"+members[k])
			}
			c := call{method: method, path: path, as: admin, body: "{" + strings.Join(parts, ",") + "}"}
			if key == apigw.VerifyRoute.Key() {
				return e.verifyCall(verifyEvent(t, c.body))
			}
			return e.do(c)
		}
		base := map[string]string{}
		for _, name := range required {
			base[name] = placeholder(s.types(obj(props[name])), false)
		}
		for _, name := range required {
			members := maps.Clone(base)
			delete(members, name)
			r := send(members)
			if r.status != 400 || r.str("field") != name {
				t.Errorf("%s without %s: %d %s, want 400 naming it", key, name, r.status, r.body)
			}
		}
		for name, p := range props {
			members := maps.Clone(base)
			members[name] = placeholder(s.types(obj(p)), true)
			r := send(members)
			if r.status != 400 || r.str("field") != name || strings.Contains(r.str("detail"), "not a known field") {
				t.Errorf("%s with %s of the wrong type: %d %s, want 400 naming its type", key, name, r.status, r.body)
			}
		}
	}
}

// TestOpenAPIResponseShapes compares the documented answers with the
// members the handler writes.
func TestOpenAPIResponseShapes(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	schemas := obj(obj(s.doc["components"])["schemas"])
	e := newEnv(t)
	e.registerMailbox()
	created := e.do(call{method: "POST", path: devicesPath, as: owner, body: `{"name":"a","user":"u-1","rotation":{"everyDays":5}}`}).want(t, 201)
	mbx := e.do(call{method: "GET", path: mailboxPath, as: owner}).want(t, 200)
	page := e.do(call{method: "GET", path: devicesPath, as: owner}).want(t, 200)
	all := e.do(call{method: "POST", path: devicesPath + "/revoke-all", as: owner}).want(t, 200)
	problem := e.do(call{method: "GET", path: mailboxPath, as: stranger, body: `{"x":1}`}).want(t, 400)
	enrolled := e.do(call{method: "POST", path: mailboxPath + "/enrollments", as: admin, body: `{"name":"b","validFor":"1h"}`}).want(t, 201)
	redeemed := e.do(call{method: "POST", path: "/v1/enrollments/" + enrolled.str("token") + "/device", as: stranger}).want(t, 201)
	exp := t0.Add(time.Hour)
	e.audit.add(lifecycle.Event{ID: "e1", Type: lifecycle.EnrollmentUsed, Time: t0, Mailbox: mailbox, DeviceID: "d", Enrollment: "x",
		Actor:          lifecycle.Actor{Kind: "user", Subject: "s"},
		Device:         &lifecycle.DeviceInfo{Name: "n", Status: "active", Scopes: []string{"imap"}, ExpiresAt: &exp},
		EnrollmentInfo: &lifecycle.EnrollmentInfo{Name: "n", Status: "used", ExpiresAt: exp}, Owner: "o"})
	audit := e.do(call{method: "GET", path: mailboxPath + "/audit", as: owner}).want(t, 200)
	entry, _ := audit.json["items"].([]any)[0].(map[string]any)
	check := func(name string, got map[string]any) {
		t.Helper()
		sc := obj(schemas[name])
		props := slices.Sorted(maps.Keys(obj(sc["properties"])))
		k := keys(got)
		// Every member written is documented; each answer here has every
		// optional member set, except a rotation's alternatives.
		if name == "Rotation" && !slices.ContainsFunc(k, func(m string) bool { return !slices.Contains(props, m) }) {
			k = props
		}
		if !slices.Equal(k, props) {
			t.Errorf("%s: the handler writes %v, the document has %v", name, k, props)
		}
		for _, req := range stringList(sc["required"]) {
			if _, ok := got[req]; !ok {
				t.Errorf("%s: required member %s missing from %v", name, req, got)
			}
		}
	}
	check("DeviceWithPassword", created.json)
	check("Device", created.device())
	check("Rotation", obj(created.device()["rotation"]))
	check("Mailbox", mbx.json)
	check("DevicePage", page.json)
	check("Revoked", all.json)
	check("Problem", problem.json)
	check("EnrollmentWithToken", enrolled.json)
	check("Enrollment", enrolled.enrollment())
	check("DeviceWithPassword", redeemed.json)
	check("AuditPage", audit.json)
	check("AuditEvent", entry)
	check("AuditActor", obj(entry["actor"]))
	check("AuditDevice", obj(entry["device"]))
	check("AuditEnrollment", obj(entry["enrollment"]))

	var types []string
	for _, c := range []apperr.Code{apperr.Invalid, apperr.NotFound, apperr.Conflict, apperr.LimitReached, apperr.Forbidden,
		apperr.Unauthenticated, apperr.StepUpRequired, apperr.RateLimited, apperr.TooLarge, apperr.UnsupportedMedia,
		apperr.Unavailable, apperr.Internal, "method_not_allowed"} {
		types = append(types, apigw.ProblemTypeBase+string(c))
	}
	slices.Sort(types)
	if got := stringList(obj(obj(obj(schemas["Problem"])["properties"])["type"])["enum"]); !slices.Equal(got, types) {
		t.Errorf("documented problem types %v, want %v", got, types)
	}
}
