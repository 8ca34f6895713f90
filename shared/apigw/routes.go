package apigw

import (
	"net/url"
	"sort"
	"strings"
)

// Route is one operation of the HTTP API. Routes and VerifyRoute are the
// router's source of truth; docs/openapi.yaml is kept in step with them by a
// test.
type Route struct {
	Method    string   // HTTP method
	Path      string   // path template in API Gateway syntax, e.g. /v1/mailboxes/{address}
	Operation string   // the operationId in docs/openapi.yaml
	Body      *Body    // the JSON body accepted; nil: none (an empty body or {})
	Query     []string // query parameters accepted; any other is refused
	StepUp    bool     // needs a recent login (F7)
}

// Key returns the route key API Gateway puts in RouteKey: "METHOD /path".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Body describes a JSON object request body.
type Body struct {
	Required bool    // an empty body is refused; when false every field is optional
	Fields   []Field // the members; any other member is refused
}

// Field is a member of a JSON object body.
type Field struct {
	Name     string
	Type     string // "string", "integer", "array" (of strings) or "object"
	Required bool
	Nullable bool    // null is accepted: in a PATCH it removes the value
	Fields   []Field // the members of an object
}

// Field types.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeArray   = "array"
	TypeObject  = "object"
)

var rotationFields = []Field{
	{Name: "everyDays", Type: TypeInteger},
	{Name: "schedule", Type: TypeString},
	{Name: "duration", Type: TypeString},
	{Name: "grace", Type: TypeString},
}

var (
	mailboxBody = &Body{Required: true, Fields: []Field{
		{Name: "owner", Type: TypeString, Required: true},
	}}
	createBody = &Body{Required: true, Fields: []Field{
		{Name: "name", Type: TypeString, Required: true},
		{Name: "note", Type: TypeString},
		{Name: "user", Type: TypeString},
		{Name: "scopes", Type: TypeArray},
		{Name: "allowIps", Type: TypeArray},
		{Name: "expiresAt", Type: TypeString},
		{Name: "validFor", Type: TypeString},
		{Name: "rotation", Type: TypeObject, Fields: rotationFields},
	}}
	patchBody = &Body{Required: true, Fields: []Field{
		{Name: "name", Type: TypeString},
		{Name: "note", Type: TypeString, Nullable: true},
		{Name: "status", Type: TypeString},
		{Name: "scopes", Type: TypeArray},
		{Name: "allowIps", Type: TypeArray, Nullable: true},
		{Name: "rotation", Type: TypeObject, Nullable: true, Fields: rotationFields},
	}}
	regenerateBody = &Body{Fields: []Field{
		{Name: "graceSeconds", Type: TypeInteger},
	}}
	enrollmentBody = &Body{Required: true, Fields: []Field{
		{Name: "name", Type: TypeString, Required: true},
		{Name: "user", Type: TypeString},
		{Name: "scopes", Type: TypeArray},
		{Name: "expiresAt", Type: TypeString},
		{Name: "validFor", Type: TypeString},
		{Name: "tokenValidFor", Type: TypeString},
	}}
	verifyBody = &Body{Required: true, Fields: []Field{
		{Name: "mailbox", Type: TypeString, Required: true},
		{Name: "password", Type: TypeString, Required: true},
		{Name: "protocol", Type: TypeString, Required: true},
		{Name: "clientIp", Type: TypeString},
	}}
)

// The operations, as named in docs/openapi.yaml.
const (
	OpPutMailbox   = "putMailbox"
	OpGetMailbox   = "getMailbox"
	OpCreateDevice = "createDevice"
	OpListDevices  = "listDevices"
	OpGetDevice    = "getDevice"
	OpUpdateDevice = "updateDevice"
	OpRevokeDevice = "revokeDevice"
	OpRegenerate   = "regeneratePassword"
	OpRevokeAll    = "revokeAllDevices"
	OpCreateEnroll = "createEnrollment"
	OpCancelEnroll = "cancelEnrollment"
	OpRedeemEnroll = "redeemEnrollment"
	OpListAudit    = "listAudit"
	OpVerify       = "verify"
)

const (
	mailboxPath     = "/v1/mailboxes/{address}"
	devicesPath     = mailboxPath + "/devices"
	devicePath      = devicesPath + "/{id}"
	passwordPath    = devicePath + "/password"
	revokeAllPath   = devicesPath + "/revoke-all"
	enrollmentsPath = mailboxPath + "/enrollments"
	enrollmentPath  = enrollmentsPath + "/{id}"
	auditPath       = mailboxPath + "/audit"
	// redeemPath carries the enrollment token: the handler logs the route
	// template only, and no answer ever repeats the path.
	redeemPath      = "/v1/enrollments/{token}/device"
	verifyRoutePath = "/v1/verify"
)

// Routes are the management API's routes, served by Handler.
var Routes = []Route{
	{Method: "PUT", Path: mailboxPath, Operation: OpPutMailbox, Body: mailboxBody},
	{Method: "GET", Path: mailboxPath, Operation: OpGetMailbox},
	{Method: "POST", Path: devicesPath, Operation: OpCreateDevice, Body: createBody, StepUp: true},
	{Method: "GET", Path: devicesPath, Operation: OpListDevices, Query: []string{"limit", "cursor"}},
	{Method: "GET", Path: devicePath, Operation: OpGetDevice},
	{Method: "PATCH", Path: devicePath, Operation: OpUpdateDevice, Body: patchBody},
	{Method: "DELETE", Path: devicePath, Operation: OpRevokeDevice},
	{Method: "POST", Path: passwordPath, Operation: OpRegenerate, Body: regenerateBody, StepUp: true},
	{Method: "POST", Path: revokeAllPath, Operation: OpRevokeAll, StepUp: true},
	{Method: "POST", Path: enrollmentsPath, Operation: OpCreateEnroll, Body: enrollmentBody},
	{Method: "DELETE", Path: enrollmentPath, Operation: OpCancelEnroll},
	{Method: "POST", Path: redeemPath, Operation: OpRedeemEnroll},
	{Method: "GET", Path: auditPath, Operation: OpListAudit, Query: []string{"limit", "cursor"}},
}

// VerifyRoute is the mail servers' route, served by VerifyHandler in its own
// function (IAM-authorized, not JWT).
var VerifyRoute = Route{Method: "POST", Path: verifyRoutePath, Operation: OpVerify, Body: verifyBody}

// Match finds the route of Routes for a method and a raw (still escaped)
// request path, and its path parameters, URL-decoded as API Gateway decodes
// them. Literal segments beat variables, so /devices/revoke-all never
// matches {id}. It reports false when no route matches the path or none
// allows the method.
func Match(method, rawPath string) (Route, map[string]string, bool) {
	r, params, _, ok := match(Routes, method, rawPath)
	return r, params, ok
}

// match is Match over routes; when the path matches but the method does
// not, it returns the allowed methods.
func match(routes []Route, method, rawPath string) (Route, map[string]string, []string, bool) {
	segs, ok := splitPath(rawPath)
	if !ok {
		return Route{}, nil, nil, false
	}
	// The most specific template matching the path wins, whatever the
	// method: specificity is decided segment by segment from the left.
	best, bestParams := "", map[string]string(nil)
	var bestScore []bool
	for _, r := range routes {
		params, score, ok := matchTemplate(r.Path, segs)
		if !ok {
			continue
		}
		if best == "" || moreSpecific(score, bestScore) {
			best, bestParams, bestScore = r.Path, params, score
		}
	}
	if best == "" {
		return Route{}, nil, nil, false
	}
	var allowed []string
	for _, r := range routes {
		if r.Path != best {
			continue
		}
		if r.Method == method {
			return r, bestParams, nil, true
		}
		allowed = append(allowed, r.Method)
	}
	sort.Strings(allowed)
	return Route{}, nil, allowed, false
}

// splitPath splits a raw path into decoded segments.
func splitPath(rawPath string) ([]string, bool) {
	if !strings.HasPrefix(rawPath, "/") {
		return nil, false
	}
	parts := strings.Split(rawPath[1:], "/")
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = d
	}
	return parts, true
}

// matchTemplate matches decoded segments against a template; score[i] is
// true where segment i matched a literal.
func matchTemplate(tmpl string, segs []string) (map[string]string, []bool, bool) {
	tsegs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	if len(tsegs) != len(segs) {
		return nil, nil, false
	}
	params := map[string]string{}
	score := make([]bool, len(segs))
	for i, t := range tsegs {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if segs[i] == "" {
				return nil, nil, false
			}
			params[t[1:len(t)-1]] = segs[i]
			continue
		}
		if t != segs[i] {
			return nil, nil, false
		}
		score[i] = true
	}
	return params, score, true
}

// moreSpecific reports whether a has a literal where b has a variable at
// the first position where they differ.
func moreSpecific(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return false
}

// templateParams returns the variable names of a template.
func templateParams(tmpl string) []string {
	var out []string
	for _, t := range strings.Split(tmpl, "/") {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			out = append(out, t[1:len(t)-1])
		}
	}
	return out
}

// routeByKey finds a route by its API Gateway route key.
func routeByKey(routes []Route, key string) (Route, bool) {
	for _, r := range routes {
		if r.Key() == key {
			return r, true
		}
	}
	return Route{}, false
}
