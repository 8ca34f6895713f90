package api

// Route is one operation of docs/openapi.yaml, as API Gateway routes it.
// Routes (routes.gen.go) lists them all; the API functions dispatch on
// them and the CDK stack creates exactly them, so the document is the one
// place a route is declared.
type Route struct {
	Method    string // HTTP method
	Path      string // path template in API Gateway syntax, e.g. /v1/mailboxes/{address}
	Operation string // the operationId
	Auth      Auth   // who authorizes the caller before the function runs
	// StepUp marks operations that need a recent login: the document
	// answers their 401 with the step-up challenge.
	StepUp bool
	// Query are the query parameters accepted; any other is refused.
	Query []QueryParam
	// Body says whether a JSON body is accepted, and whether it is required.
	Body BodyKind
	// MediaTypes are the accepted content types of a body.
	MediaTypes []string
}

// Key returns the route key API Gateway puts in RouteKey: "METHOD /path".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Auth is how API Gateway authorizes a route, from the operation's
// security requirement.
type Auth string

// The authorizations the document uses.
const (
	AuthJWT Auth = "jwt" // bearer JWT, validated by the JWT authorizer
	AuthIAM Auth = "iam" // AWS Signature Version 4 (IAM)
)

// BodyKind is whether an operation takes a request body.
type BodyKind int

// The body kinds. An operation without a body still accepts an empty one
// or {}, as API Gateway clients often send.
const (
	BodyNone BodyKind = iota
	BodyOptional
	BodyRequired
)

// QueryParam is one query parameter of an operation.
type QueryParam struct {
	Name string
	// Integer parameters must be a decimal integer in [Min, Max].
	Integer  bool
	Min, Max int64
}
