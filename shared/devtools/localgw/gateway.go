// Package localgw is the local stand-in for API Gateway's HTTP API in
// front of the Lambda handlers: HTTP to payload v2 events, the JWT
// authorizer (with localauth's keys), IAM authorization of /v1/verify, and
// the /local routes of the development issuer and of rotation on demand.
// localrun starts it, with everything else, for `make run` and the
// end-to-end tests. Tooling only: no function links it.
//
// Routes only the local gateway serves (never deployed):
//
//	GET  /local/jwks.json                        the issuer's public keys
//	GET  /local/.well-known/openid-configuration the issuer's discovery document
//	POST /local/token                            a dev token (localauth.TokenRequest)
//	POST /local/rotate                           rotate one secret now
//
// The /local routes need no token; they answer loopback clients only (the
// runner listens on 127.0.0.1 anyway). Every other path outside /v1/ is
// the web console (GatewayOptions.Console), beside the API on one origin
// as CloudFront serves both deployed.
package localgw

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
)

// Handler is a Lambda handler of HTTP API payload v2 events, as
// shared/apigw's handlers are.
type Handler interface {
	Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
}

// Matcher finds the route of a request: its route key ("GET
// /v1/mailboxes/{address}") and path parameters.
type Matcher func(method, rawPath string) (routeKey string, params map[string]string, ok bool)

// APIRoutes matches the management API's routes (apigw.Routes).
func APIRoutes(method, rawPath string) (string, map[string]string, bool) {
	r, params, ok := apigw.Match(method, rawPath)
	if !ok {
		return "", nil, false
	}
	return r.Key(), params, true
}

// Identifiers of the local "API" in the events.
const (
	AccountID   = "000000000000"
	APIID       = "local"
	Stage       = "$default"
	VerifyGroup = "mail-server" // the group whose tokens stand in for SigV4 on /v1/verify
)

// Limits of the gateway.
const (
	// maxPayload is API Gateway's request payload limit (10 MB).
	maxPayload = 10 << 20
	// maxLocalBody bounds the bodies of the /local routes.
	maxLocalBody = 64 << 10
)

// Rotator runs a whole rotation of one secret now, for POST /local/rotate:
// the four steps in order with a fresh token, as Secrets Manager does. It
// returns the new version id, or the step that failed and why.
// localscheduler.HandlerRotator is one.
type Rotator interface {
	RotateNow(ctx context.Context, secretID string) (version string, failed device.Step, err error)
}

// Gateway is an http.Handler that serves the HTTP API as API Gateway does.
type Gateway struct {
	api         Handler
	verify      Handler
	credential  Handler
	match       Matcher
	issuer      *localauth.Issuer
	auth        *localauth.Authorizer
	rotator     Rotator
	console     http.Handler
	log         *slog.Logger
	now         func() time.Time
	groupsClaim string
}

// GatewayOptions configure NewGateway.
type GatewayOptions struct {
	API    Handler // the management API (JWT-authorized routes)
	Verify Handler // POST /v1/verify (IAM-authorized in AWS); nil: 404
	// Credential serves POST /v1/mailboxes/{address}/credential-changed,
	// IAM-authorized in AWS as verify is; nil: 404.
	Credential Handler
	Match      Matcher           // the API's routes (default APIRoutes)
	Issuer     *localauth.Issuer // serves /local/token and the JWKS
	Authorizer *localauth.Authorizer
	Rotator    Rotator // POST /local/rotate; nil: 404
	// Console serves every path outside /v1/ and /local/ (the web
	// console's files), as CloudFront does deployed; nil: 404.
	Console     http.Handler
	Logger      *slog.Logger
	Clock       func() time.Time // the events' time (default time.Now)
	GroupsClaim string           // default "cognito:groups"
}

// NewGateway returns a Gateway.
func NewGateway(o GatewayOptions) (*Gateway, error) {
	if o.API == nil || o.Issuer == nil || o.Authorizer == nil || o.Logger == nil {
		return nil, errors.New("localgw: NewGateway needs the API handler, an issuer, an authorizer and a logger")
	}
	if o.Match == nil {
		o.Match = APIRoutes
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = apigw.DefaultGroupsClaim
	}
	return &Gateway{api: o.API, verify: o.Verify, credential: o.Credential, match: o.Match, issuer: o.Issuer, auth: o.Authorizer,
		rotator: o.Rotator, console: o.Console, log: o.Logger, now: o.Clock, groupsClaim: o.GroupsClaim}, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("Apigw-Requestid", reqID)
	path := r.URL.EscapedPath()
	switch {
	case path == "/local" || strings.HasPrefix(path, "/local/"):
		g.serveLocal(w, r, path)
	case r.Method == http.MethodPost && path == apigw.VerifyRoute.Path && g.verify != nil:
		g.serveVerify(w, r, reqID)
	case r.Method == http.MethodPost && g.credential != nil && credentialAddress(path) != "":
		g.serveIAM(w, r, reqID, apigw.CredentialRoute.Key(), map[string]string{"address": credentialAddress(path)}, g.credential)
	case g.console != nil && !strings.HasPrefix(path, "/v1/"):
		g.console.ServeHTTP(w, r)
	default:
		g.serveAPI(w, r, reqID, path)
	}
}

// message writes API Gateway's own answers: {"message": "..."}.
func message(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\"message\":%q}", msg)
}

func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request, reqID, path string) {
	routeKey, params, ok := g.match(r.Method, path)
	if !ok {
		message(w, http.StatusNotFound, "Not Found")
		return
	}
	claims, err := g.auth.Claims(r.Context(), r.Header.Get("Authorization"))
	if err != nil {
		var ae *localauth.AuthError
		challenge := "Bearer"
		if errors.As(err, &ae) && ae.Description != "" {
			challenge = fmt.Sprintf("Bearer scope=\"\" error=\"invalid_token\" error_description=%q", ae.Description)
		}
		g.log.InfoContext(r.Context(), "local gateway refused a token", "request_id", reqID, "route", routeKey, "reason", challengeReason(err))
		w.Header().Set("WWW-Authenticate", challenge)
		message(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	ev, err := g.event(r, reqID, routeKey, params)
	if err != nil {
		g.payloadError(w, err)
		return
	}
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: localauth.FlattenClaims(claims), Scopes: localauth.Scopes(claims)},
	}
	g.invoke(r.Context(), w, g.api, ev)
}

func challengeReason(err error) string {
	var ae *localauth.AuthError
	if errors.As(err, &ae) {
		if ae.Description == "" {
			return "no bearer token"
		}
		return ae.Description
	}
	return "invalid token"
}

// serveVerify stands in for IAM authorization: a valid token whose groups
// include VerifyGroup plays the part of a mail server's SigV4 signature.
// Like an IAM-authorized route, every refusal is 403 Forbidden.
func (g *Gateway) serveVerify(w http.ResponseWriter, r *http.Request, reqID string) {
	g.serveIAM(w, r, reqID, apigw.VerifyRoute.Key(), nil, g.verify)
}

// credentialAddress is the mailbox of a credential-changed path, or "".
func credentialAddress(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/mailboxes/")
	if !ok {
		return ""
	}
	enc, ok := strings.CutSuffix(rest, "/credential-changed")
	if !ok || enc == "" || strings.Contains(enc, "/") {
		return ""
	}
	addr, err := url.PathUnescape(enc)
	if err != nil {
		return ""
	}
	return addr
}

// serveIAM serves an IAM-authorized route: the mail-server token stands in
// for a SigV4 signature.
func (g *Gateway) serveIAM(w http.ResponseWriter, r *http.Request, reqID, routeKey string, params map[string]string, h Handler) {
	claims, err := g.auth.Claims(r.Context(), r.Header.Get("Authorization"))
	if err != nil || !hasGroup(claims[g.groupsClaim], VerifyGroup) {
		message(w, http.StatusForbidden, "Forbidden")
		return
	}
	ev, err := g.event(r, reqID, routeKey, params)
	if err != nil {
		g.payloadError(w, err)
		return
	}
	sub, _ := claims["sub"].(string)
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
			AccessKey: "LOCALDEVTOKEN",
			AccountID: AccountID,
			CallerID:  sub,
			UserARN:   "arn:aws:iam::" + AccountID + ":user/" + iamName(sub),
			UserID:    sub,
		},
	}
	g.invoke(r.Context(), w, h, ev)
}

func hasGroup(v any, want string) bool {
	switch x := v.(type) {
	case []any:
		for _, g := range x {
			if s, ok := g.(string); ok && s == want {
				return true
			}
		}
	case string:
		return x == want
	}
	return false
}

// iamName maps a subject to the characters an IAM user name allows.
func iamName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "anonymous"
	}
	return string(b)
}

type payloadTooLarge struct{}

func (payloadTooLarge) Error() string { return "request payload too large" }

func (g *Gateway) payloadError(w http.ResponseWriter, err error) {
	if errors.Is(err, payloadTooLarge{}) {
		message(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	message(w, http.StatusBadRequest, "Bad Request")
}

// event builds the payload v2 event API Gateway sends for r.
func (g *Gateway) event(r *http.Request, reqID, routeKey string, params map[string]string) (events.APIGatewayV2HTTPRequest, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, err
	}
	if len(body) > maxPayload {
		return events.APIGatewayV2HTTPRequest{}, payloadTooLarge{}
	}
	now := g.now().UTC()
	sourceIP := remoteIP(r)
	headers := map[string]string{}
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	var cookies []string
	if c, ok := headers["cookie"]; ok {
		delete(headers, "cookie")
		for _, part := range strings.Split(c, ";") {
			if part = strings.TrimSpace(part); part != "" {
				cookies = append(cookies, part)
			}
		}
	}
	headers["host"] = r.Host
	if r.ContentLength > 0 {
		headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		headers["x-forwarded-port"] = port
	}
	headers["x-amzn-trace-id"] = fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(randomBytes(12)))
	var query map[string]string
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, err
		}
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	if len(params) == 0 {
		params = nil
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    AccountID,
			Stage:        Stage,
			RequestID:    reqID,
			APIID:        APIID,
			DomainName:   r.Host,
			DomainPrefix: APIID,
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.EscapedPath(),
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev, nil
}

// invoke calls h as Lambda would and writes its response as API Gateway
// does. An error or a panic is API Gateway's 500 Internal Server Error.
func (g *Gateway) invoke(ctx context.Context, w http.ResponseWriter, h Handler, ev events.APIGatewayV2HTTPRequest) {
	resp, err := func() (resp events.APIGatewayV2HTTPResponse, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("handler panicked: %v", p)
			}
		}()
		return h.Handle(ctx, ev)
	}()
	if err != nil {
		g.log.ErrorContext(ctx, "local gateway: the handler failed", "request_id", ev.RequestContext.RequestID, "route", ev.RouteKey, "error", err.Error())
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			g.log.ErrorContext(ctx, "local gateway: the handler's body is not base64", "request_id", ev.RequestContext.RequestID)
			message(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		g.log.ErrorContext(ctx, "local gateway: the handler answered no valid status", "request_id", ev.RequestContext.RequestID, "status", resp.StatusCode)
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	hdr := w.Header()
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		hdr.Add("Set-Cookie", c)
	}
	if _, ok := hdr["Content-Type"]; !ok && len(body) > 0 {
		hdr.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(remoteIP(r))
	return ip != nil && ip.IsLoopback()
}

func newRequestID() string {
	return base64.StdEncoding.EncodeToString(randomBytes(10))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return b
}

// serveLocal serves the routes only the local gateway has.
func (g *Gateway) serveLocal(w http.ResponseWriter, r *http.Request, path string) {
	if !isLoopback(r) {
		message(w, http.StatusForbidden, "Forbidden")
		return
	}
	switch {
	case path == "/local/jwks.json" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, g.issuer.JWKS())
	case path == "/local/.well-known/openid-configuration" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                g.issuer.URL(),
			"jwks_uri":                              g.issuer.URL() + "/jwks.json",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"subject_types_supported":               []string{"public"},
			"response_types_supported":              []string{"id_token"},
		})
	case path == "/local/token" && r.Method == http.MethodPost:
		g.serveToken(w, r)
	case path == "/local/rotate" && r.Method == http.MethodPost && g.rotator != nil:
		g.serveRotate(w, r)
	default:
		message(w, http.StatusNotFound, "Not Found")
	}
}

func (g *Gateway) serveToken(w http.ResponseWriter, r *http.Request) {
	var req localauth.TokenRequest
	if !decodeLocal(w, r, &req) {
		return
	}
	tok, err := g.issuer.Mint(req)
	if err != nil {
		writeProblem(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// RotateRequest is the body of POST /local/rotate.
type RotateRequest struct {
	SecretID string `json:"secretId"`
}

func (g *Gateway) serveRotate(w http.ResponseWriter, r *http.Request) {
	var req RotateRequest
	if !decodeLocal(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.SecretID) == "" {
		writeProblem(w, localauth.BadField("secretId", "is required: the secret's name or ARN"), "")
		return
	}
	version, step, err := g.rotator.RotateNow(r.Context(), req.SecretID)
	if err != nil {
		if step == device.StepCreate && apperr.Is(err, apperr.Invalid) {
			// Refused before any step ran: the id names no device secret.
			if e, ok := apperr.As(err); ok && e.Field == "SecretId" {
				writeProblem(w, localauth.BadField("secretId", "%s", e.Message), "")
				return
			}
		}
		// The id is the client's and may be anything (a password pasted
		// by mistake): the log describes it, never quotes it. An id the
		// engine refused never gets here, so the error names a device
		// secret at most.
		g.log.WarnContext(r.Context(), "local rotation failed", "secret", apperr.Describe(req.SecretID), "step", string(step), "error", err.Error())
		writeProblem(w, err, step)
		return
	}
	g.log.InfoContext(r.Context(), "local rotation done", "secret", req.SecretID, "version", version)
	writeJSON(w, http.StatusOK, map[string]string{"secretId": req.SecretID, "versionId": version})
}

// decodeLocal decodes a /local route's JSON body strictly, answering a
// problem when it cannot.
func decodeLocal(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		writeProblemStatus(w, http.StatusUnsupportedMediaType, "unsupported_media", "Unsupported media type", "send a JSON body with Content-Type: application/json", "", "")
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLocalBody+1))
	if err != nil {
		writeProblem(w, localauth.BadField("", "cannot read the body"), "")
		return false
	}
	if len(body) > maxLocalBody {
		writeProblemStatus(w, http.StatusRequestEntityTooLarge, "too_large", "Content too large", fmt.Sprintf("the body exceeds %d bytes", maxLocalBody), "", "")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			writeProblem(w, localauth.BadField(te.Field, "must be a JSON %s", te.Type.Kind()), "")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			writeProblem(w, localauth.BadField(f, "is not a known member"), "")
		default:
			writeProblem(w, localauth.BadField("", "the body is not a JSON object"), "")
		}
		return false
	}
	if dec.More() {
		writeProblem(w, localauth.BadField("", "the body holds more than one JSON value"), "")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeProblem answers err as an RFC 9457 problem document, with the
// rotation step that failed as an extension member when there is one.
func writeProblem(w http.ResponseWriter, err error, step device.Step) {
	var fe *localauth.FieldError
	if errors.As(err, &fe) {
		msg := fe.Message
		if fe.Field == "" {
			writeProblemStatus(w, http.StatusBadRequest, string(apperr.Invalid), "Invalid request", msg, "", "")
			return
		}
		writeProblemStatus(w, http.StatusBadRequest, string(apperr.Invalid), "Invalid request", fe.Field+": "+msg, fe.Field, "")
		return
	}
	code := apperr.CodeOf(err)
	status := http.StatusUnprocessableEntity
	switch code {
	case apperr.Conflict, apperr.LimitReached:
		status = http.StatusConflict
	case apperr.NotFound:
		status = http.StatusNotFound
	case apperr.Unavailable:
		status = http.StatusServiceUnavailable
	case apperr.Internal:
		status = http.StatusInternalServerError
	}
	detail := "the rotation failed; the runner's log says why"
	field := ""
	// An adapter's translation of an AWS error (it has a cause) may quote
	// the SDK's message: that stays in the log, as the API handler does.
	if e, ok := apperr.As(err); ok && code != apperr.Internal && e.Err == nil {
		detail, field = e.Message, e.Field
	}
	writeProblemStatus(w, status, string(code), http.StatusText(status), detail, field, step)
}

func writeProblemStatus(w http.ResponseWriter, status int, code, title, detail, field string, step device.Step) {
	p := map[string]any{"type": apigw.ProblemTypeBase + code, "title": title, "status": status, "detail": detail}
	if field != "" {
		p["field"] = field
	}
	if step != "" {
		p["failedStep"] = string(step)
	}
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
