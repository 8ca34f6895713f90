package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
)

// ProblemTypeBase prefixes every problem type: the type of a problem with
// code c is ProblemTypeBase + c.
const ProblemTypeBase = "https://devicepass.dev/problems/"

// codeMethodNotAllowed is the code of a 405 answer; the domain has no use
// for it, so it is not an apperr code.
const codeMethodNotAllowed apperr.Code = "method_not_allowed"

// statusInfo is how one code is answered.
type statusInfo struct {
	status int
	title  string
}

// statuses is the one table from error codes to HTTP statuses. Invalid is
// always 400: the domain does not tell syntax from semantics reliably, and
// one status is simpler for clients, who read the field member anyway.
var statuses = map[apperr.Code]statusInfo{
	apperr.Invalid:          {400, "Invalid request"},
	apperr.NotFound:         {404, "Not found"},
	apperr.Conflict:         {409, "Conflict"},
	apperr.LimitReached:     {409, "Limit reached"},
	apperr.Forbidden:        {403, "Forbidden"},
	apperr.PolicyViolation:  {403, "Forbidden by the domain's policy"},
	apperr.Unauthenticated:  {401, "Authentication required"},
	apperr.StepUpRequired:   {401, "Recent login required"},
	apperr.RateLimited:      {429, "Too many requests"},
	apperr.TooLarge:         {413, "Content too large"},
	apperr.UnsupportedMedia: {415, "Unsupported media type"},
	apperr.Unavailable:      {503, "Service unavailable"},
	apperr.Internal:         {500, "Internal error"},
	codeMethodNotAllowed:    {405, "Method not allowed"},
}

// StatusOf returns the HTTP status of an error code (500 for an unknown one).
func StatusOf(code apperr.Code) int {
	if s, ok := statuses[code]; ok {
		return s.status
	}
	return 500
}

// Retry-After values, in seconds, when the error itself does not say.
const (
	retryUnavailable = 2
	retryRateLimited = 60
)

// internalDetail is the only detail a 500 answer gives; the cause is logged
// with the request id.
const internalDetail = "an unexpected error occurred; retry later, and if it persists report the request id (instance)"

// dependencyDetail is the detail of an error a dependency's answer caused:
// it says what the client can do, never what the dependency said.
func dependencyDetail(code apperr.Code, title string) string {
	switch code {
	case apperr.Conflict:
		return "the resource changed or is in a state that does not allow this; read it again and retry"
	case apperr.NotFound:
		return "the resource does not exist (any more)"
	case apperr.Unavailable:
		return "a service devicepass depends on did not answer in time; retry later"
	case apperr.RateLimited:
		return "a service devicepass depends on is busy; retry later"
	}
	return title
}

// response is an answer before it becomes an API Gateway response.
type response struct {
	status  int
	headers map[string]string
	body    any
	err     error       // the error answered, for the log
	code    apperr.Code // its code
}

// problem turns err into a problem answer. Internal errors (and errors
// without a code) get a generic detail.
func problem(err error, requestID string) response {
	code := apperr.CodeOf(err)
	if code == apperr.Internal && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		code = apperr.Unavailable
	}
	info, ok := statuses[code]
	if !ok {
		code, info = apperr.Internal, statuses[apperr.Internal]
	}
	p := api.Problem{Type: api.ProblemType(ProblemTypeBase + string(code)), Title: info.title, Status: info.status, Instance: optString(requestID)}
	detail := info.title
	if e, ok := apperr.As(err); ok && code != apperr.Internal {
		switch {
		case e.Err != nil:
			// An adapter's translation of an AWS error: its message may
			// quote the SDK's (a resource name, an ARN, the service's own
			// wording), which is for the log. The client gets the code's
			// own detail.
			detail = dependencyDetail(code, info.title)
		case e.Message != "":
			detail = e.Message
		}
		p.Field = optString(e.Field)
	}
	if code == apperr.Internal {
		detail = internalDetail
	}
	p.Detail = &detail
	r := response{status: info.status, headers: map[string]string{"Content-Type": "application/problem+json"}, body: p, err: err, code: code}
	switch code {
	case apperr.Unauthenticated:
		r.headers["WWW-Authenticate"] = "Bearer"
	case apperr.Unavailable:
		r.headers["Retry-After"] = strconv.Itoa(retryUnavailable)
	case apperr.RateLimited:
		r.headers["Retry-After"] = strconv.Itoa(retryRateLimited)
	}
	return r
}

// reply returns a JSON answer.
func reply(status int, body any) response {
	return response{status: status, headers: map[string]string{"Content-Type": "application/json"}, body: body}
}

// event turns r into the API Gateway response. Every answer is private to
// its caller and some carry a password, so none may be cached.
func (r response) event() events.APIGatewayV2HTTPResponse {
	h := map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range r.headers {
		h[k] = v
	}
	b, err := json.Marshal(r.body)
	if err != nil {
		// The bodies are plain structs; this cannot happen, but an answer
		// must still be well-formed.
		b = []byte(`{"type":"` + ProblemTypeBase + `internal","title":"Internal error","status":500}`)
		r.status = 500
		h["Content-Type"] = "application/problem+json"
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: r.status, Headers: h, Body: string(b)}
}
