package apigw

import (
	"net/url"
	"sort"
	"strings"

	"github.com/devicepass/devicepass/shared/apigw/api"
)

// Route is one operation of the HTTP API, from the route table generated
// from docs/openapi.yaml.
type Route = api.Route

// Routes are the management API's routes, served by Handler: the
// document's routes that API Gateway's JWT authorizer guards.
var Routes = routesOf(api.AuthJWT)

// VerifyRoute is the mail servers' route, served by VerifyHandler in its own
// function (IAM-authorized, not JWT).
var VerifyRoute = routeOf(api.OpVerify)

func routesOf(auth api.Auth) []Route {
	var out []Route
	for _, r := range api.Routes {
		if r.Auth == auth {
			out = append(out, r)
		}
	}
	return out
}

// routeOf returns the route of an operation the handlers are written for;
// generated constants name them, so it is there.
func routeOf(op string) Route {
	for _, r := range api.Routes {
		if r.Operation == op {
			return r
		}
	}
	panic("apigw: the route table has no operation " + op)
}

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
