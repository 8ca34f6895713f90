// Package localauth is the local stand-in for the identity side of AWS:
// a Cognito-like issuer of development tokens with its JWKS, and the JWT
// authorizer of API Gateway's HTTP API that validates them. Tooling only:
// no function links it.
package localauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultAudience is the audience of local dev tokens and of the local JWT
// authorizer, standing in for the Cognito app client id.
const DefaultAudience = "devicepass-local"

// rsaBits is the size of the local issuer's key (Cognito's keys are 2048-bit).
const rsaBits = 2048

// Issuer is the local identity provider: it signs dev tokens with an RSA
// key made at start-up and publishes the public half as a JWKS. It stands in
// for a Cognito user pool, whose ID tokens carry the same claims.
type Issuer struct {
	url      string
	audience string
	kid      string
	key      *rsa.PrivateKey
	now      func() time.Time
}

// IssuerOptions configure NewIssuer.
type IssuerOptions struct {
	// URL is the issuer (the "iss" claim), e.g. http://127.0.0.1:8080/local.
	URL string
	// Audience is the default "aud" (DefaultAudience when empty).
	Audience string
	// KID names the key in the JWKS; random when empty. Tests give another
	// issuer the same KID to forge a token the gateway must refuse.
	KID string
	// Key signs tokens; a fresh RSA key when nil.
	Key *rsa.PrivateKey
	// Clock stamps iat, exp and auth_time (default time.Now).
	Clock func() time.Time
}

// NewIssuer returns an Issuer.
func NewIssuer(o IssuerOptions) (*Issuer, error) {
	if o.URL == "" {
		return nil, errors.New("localauth: NewIssuer needs the issuer URL")
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Key == nil {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("localauth: generate issuer key: %w", err)
		}
		o.Key = k
	}
	if o.KID == "" {
		o.KID = "local-" + randomHex(8)
	}
	return &Issuer{url: o.URL, audience: o.Audience, kid: o.KID, key: o.Key, now: o.Clock}, nil
}

// URL returns the issuer ("iss").
func (i *Issuer) URL() string { return i.url }

// Audience returns the default audience.
func (i *Issuer) Audience() string { return i.audience }

// KID returns the key id.
func (i *Issuer) KID() string { return i.kid }

// JWKS returns the public key set the JWT authorizer validates against.
func (i *Issuer) JWKS() JWKS {
	pub := i.key.PublicKey
	return JWKS{Keys: []JWK{{
		Kty: "RSA",
		Kid: i.kid,
		Use: "sig",
		Alg: "RS256",
		N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
}

// TokenRequest is the body of POST /local/token.
type TokenRequest struct {
	Sub              string   `json:"sub"`
	Email            string   `json:"email"`
	Groups           []string `json:"groups"`
	AuthAgeSeconds   int64    `json:"authAgeSeconds"`
	ExpiresInSeconds *int64   `json:"expiresInSeconds"`
	Audience         string   `json:"audience"`
}

// Limits of a token request.
const (
	maxSubjectLen  = 128
	maxGroups      = 50
	maxGroupLen    = 256
	maxAuthAge     = 30 * 24 * 3600
	maxExpiresIn   = 24 * 3600
	defaultExpires = 3600
)

// FieldError is a bad field of a local request; the local gateway answers
// it as a 400 problem naming the field ("" for the body as a whole).
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// BadField returns a *FieldError with a formatted message.
func BadField(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks a token request; the error names the field.
func (r TokenRequest) Validate() error {
	if r.Sub == "" {
		return BadField("sub", "is required: the user's subject")
	}
	if len(r.Sub) > maxSubjectLen || !printable(r.Sub) {
		return BadField("sub", "must be 1-%d printable characters", maxSubjectLen)
	}
	if r.Email != "" && (len(r.Email) > 254 || !printable(r.Email) || !strings.Contains(r.Email, "@")) {
		return BadField("email", "must be an email address")
	}
	if len(r.Groups) > maxGroups {
		return BadField("groups", "must list at most %d groups", maxGroups)
	}
	for i, g := range r.Groups {
		if g == "" || len(g) > maxGroupLen || !printable(g) || strings.ContainsAny(g, " ") {
			return BadField(fmt.Sprintf("groups[%d]", i), "must be 1-%d printable characters without spaces", maxGroupLen)
		}
	}
	if r.AuthAgeSeconds < 0 || r.AuthAgeSeconds > maxAuthAge {
		return BadField("authAgeSeconds", "must be between 0 and %d", maxAuthAge)
	}
	if r.ExpiresInSeconds != nil && (*r.ExpiresInSeconds < 1 || *r.ExpiresInSeconds > maxExpiresIn) {
		return BadField("expiresInSeconds", "must be between 1 and %d", maxExpiresIn)
	}
	if len(r.Audience) > 256 || !printable(r.Audience) {
		return BadField("audience", "must be at most 256 printable characters")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// Mint returns a signed ID token for r, shaped like a Cognito ID token:
// iss, sub, aud, iat, exp, auth_time, token_use, email, cognito:groups.
func (i *Issuer) Mint(r TokenRequest) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	now := i.now().UTC().Truncate(time.Second)
	exp := int64(defaultExpires)
	if r.ExpiresInSeconds != nil {
		exp = *r.ExpiresInSeconds
	}
	aud := r.Audience
	if aud == "" {
		aud = i.audience
	}
	claims := jwt.MapClaims{
		"iss":       i.url,
		"sub":       r.Sub,
		"aud":       aud,
		"iat":       now.Unix(),
		"exp":       now.Add(time.Duration(exp) * time.Second).Unix(),
		"auth_time": now.Add(-time.Duration(r.AuthAgeSeconds) * time.Second).Unix(),
		"token_use": "id",
		"jti":       randomHex(16),
	}
	if r.Email != "" {
		claims["email"] = r.Email
	}
	if len(r.Groups) > 0 {
		claims["cognito:groups"] = r.Groups
	}
	return i.Sign(claims)
}

// Sign signs arbitrary claims with the issuer's key and kid (RS256). Tests
// use it for tokens Mint refuses to make (expired, not yet valid, ...).
func (i *Issuer) Sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("localauth: sign token: %w", err)
	}
	return s, nil
}

// JWK is one key of a JWKS (RFC 7517); only RSA keys are used.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is a JSON Web Key Set, as a JWT authorizer fetches it.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// ErrUnknownKID means no key of the set has the token's kid.
var ErrUnknownKID = errors.New("no key with the token's kid")

// Key returns the RSA public key named kid.
func (s JWKS) Key(_ context.Context, kid string) (*rsa.PublicKey, error) {
	for _, k := range s.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Kty != "RSA" {
			return nil, fmt.Errorf("key %q is %s, not RSA", kid, k.Kty)
		}
		return k.rsa()
	}
	return nil, ErrUnknownKID
}

func (k JWK) rsa() (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	if err != nil || len(n) == 0 {
		return nil, fmt.Errorf("key %q: bad modulus", k.Kid)
	}
	e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("key %q: bad exponent", k.Kid)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if pub.N.BitLen() < 2048 || pub.E < 3 {
		return nil, fmt.Errorf("key %q: too weak", k.Kid)
	}
	return pub, nil
}

// KeySource finds the public key a token's kid names.
type KeySource interface {
	Key(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// Authorizer validates bearer tokens as API Gateway's HTTP API JWT
// authorizer does: the signature (RS256 only) against the issuer's key named
// by kid, then iss, aud (or, for Cognito access tokens without aud,
// client_id), exp, nbf and iat.
type Authorizer struct {
	issuer    string
	audiences []string
	keys      KeySource
	leeway    time.Duration
	now       func() time.Time
}

// AuthorizerOptions configure NewAuthorizer.
type AuthorizerOptions struct {
	Issuer    string
	Audiences []string
	Keys      KeySource
	// Leeway is the clock skew tolerated on exp, nbf and iat (default 0;
	// at most a few seconds, as API Gateway allows none).
	Leeway time.Duration
	Clock  func() time.Time
}

// NewAuthorizer returns an Authorizer.
func NewAuthorizer(o AuthorizerOptions) (*Authorizer, error) {
	if o.Issuer == "" || len(o.Audiences) == 0 || o.Keys == nil {
		return nil, errors.New("localauth: NewAuthorizer needs an issuer, audiences and keys")
	}
	if o.Leeway < 0 || o.Leeway > 5*time.Second {
		return nil, errors.New("localauth: authorizer leeway must be 0-5s")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Authorizer{issuer: o.Issuer, audiences: o.Audiences, keys: o.Keys, leeway: o.Leeway, now: o.Clock}, nil
}

// AuthError is a refused token. Description is what API Gateway puts in its
// WWW-Authenticate challenge; empty when no token was presented.
type AuthError struct {
	Description string
	Err         error
}

func (e *AuthError) Error() string {
	if e.Description == "" {
		return "no bearer token"
	}
	if e.Err != nil {
		return e.Description + ": " + e.Err.Error()
	}
	return e.Description
}

func (e *AuthError) Unwrap() error { return e.Err }

// Authorize validates the Authorization header's token and returns its
// claims, flattened as API Gateway passes them to the integration, and its
// scopes.
func (a *Authorizer) Authorize(ctx context.Context, authorization string) (map[string]string, []string, error) {
	c, err := a.Claims(ctx, authorization)
	if err != nil {
		return nil, nil, err
	}
	return FlattenClaims(c), Scopes(c), nil
}

// Claims validates the token and returns its claims as they are (groups as
// a JSON array, say), for checks on a claim's structure.
func (a *Authorizer) Claims(ctx context.Context, authorization string) (jwt.MapClaims, error) {
	raw := strings.TrimSpace(authorization)
	if scheme, rest, _ := strings.Cut(raw, " "); strings.EqualFold(scheme, "bearer") {
		raw = strings.TrimSpace(rest)
	}
	if raw == "" {
		return nil, &AuthError{}
	}
	var keyErr error
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithJSONNumber(),
		jwt.WithIssuer(a.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(a.leeway),
		jwt.WithTimeFunc(a.now),
	)
	claims := jwt.MapClaims{}
	tok, err := p.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			keyErr = errors.New("the token has no kid")
			return nil, keyErr
		}
		k, err := a.keys.Key(ctx, kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		return k, nil
	})
	if err != nil {
		desc := describe(err, keyErr)
		if tok != nil && tok.Method != nil && tok.Method.Alg() != jwt.SigningMethodRS256.Alg() {
			desc = "the token's signing method is not allowed"
		}
		return nil, &AuthError{Description: desc, Err: err}
	}
	if !a.audienceOK(claims) {
		return nil, &AuthError{Description: "the token does not have a valid audience"}
	}
	return claims, nil
}

// describe words a refusal the way API Gateway's challenges do.
func describe(err, keyErr error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token does not have a valid issuer"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), keyErr != nil:
		return "the token does not have a valid signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signing method is not allowed"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim"
	}
	return "the token is not valid"
}

// audienceOK checks aud, or client_id when aud is absent (Cognito access
// tokens), against the configured audiences.
func (a *Authorizer) audienceOK(c jwt.MapClaims) bool {
	var got []string
	if _, ok := c["aud"]; ok {
		aud, err := c.GetAudience()
		if err != nil {
			return false
		}
		got = aud
	} else if id, ok := c["client_id"].(string); ok {
		got = []string{id}
	}
	for _, g := range got {
		for _, w := range a.audiences {
			if g == w {
				return true
			}
		}
	}
	return false
}

// Scopes returns the space-separated "scope" (or "scp") claim's scopes.
func Scopes(c jwt.MapClaims) []string {
	for _, k := range []string{"scope", "scp"} {
		switch v := c[k].(type) {
		case string:
			return strings.Fields(v)
		case []any:
			var out []string
			for _, s := range v {
				out = append(out, fmt.Sprint(s))
			}
			return out
		}
	}
	return nil
}

// FlattenClaims turns claims into the string map API Gateway hands the
// integration: strings as they are, numbers as their decimal text, arrays
// as "[a b]" (how "cognito:groups" arrives), objects as "map[k:v]".
func FlattenClaims(c jwt.MapClaims) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = flatten(v)
	}
	return out
}

func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = flatten(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + flatten(x[k])
		}
		return "map[" + strings.Join(parts, " ") + "]"
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
