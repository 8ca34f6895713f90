package localauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localauth/localauthtest"
)

// The test issuer and authorizer, as every test of the local runner builds
// them.
const testIssuerURL = localauthtest.IssuerURL

var (
	mustIssuer      = localauthtest.MustIssuer
	sharedKeyIssuer = localauthtest.SharedIssuer
	mustAuthorizer  = localauthtest.MustAuthorizer
)

func TestMintAndAuthorize(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	tok, err := iss.Mint(localauth.TokenRequest{Sub: "alice", Email: "alice@example.com", Groups: []string{"domain-admin:example.com", "staff"}, AuthAgeSeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	a := mustAuthorizer(t, iss, nil)
	claims, _, err := a.Authorize(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if got, want := claims["cognito:groups"], "[domain-admin:example.com staff]"; got != want {
		t.Errorf("cognito:groups = %q, want %q (API Gateway's flattening)", got, want)
	}
	for k, want := range map[string]string{"sub": "alice", "email": "alice@example.com", "iss": testIssuerURL, "aud": localauth.DefaultAudience, "token_use": "id"} {
		if claims[k] != want {
			t.Errorf("claim %s = %q, want %q", k, claims[k], want)
		}
	}
	iat, _ := strconv.ParseInt(claims["iat"], 10, 64)
	at, _ := strconv.ParseInt(claims["auth_time"], 10, 64)
	exp, _ := strconv.ParseInt(claims["exp"], 10, 64)
	if iat-at != 600 || exp-iat != 3600 {
		t.Errorf("iat %d, auth_time %d, exp %d: want auth_time = iat-600 and exp = iat+3600, in decimal text", iat, at, exp)
	}
	// The raw token without "Bearer " is accepted too, as API Gateway does.
	if _, _, err := a.Authorize(context.Background(), tok); err != nil {
		t.Errorf("token without Bearer prefix: %v", err)
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	t.Parallel()
	iss := sharedKeyIssuer(t)
	now := time.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": iss.URL(), "sub": "bob", "aud": iss.Audience(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	forger := mustIssuer(t, localauth.IssuerOptions{URL: iss.URL(), KID: iss.KID()}) // same kid, other key
	stranger := mustIssuer(t, localauth.IssuerOptions{URL: iss.URL(), KID: "other"})
	sign := func(i *localauth.Issuer, c jwt.MapClaims) string {
		s, err := i.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, base())
	hs.Header["kid"] = iss.KID()
	hsTok, _ := hs.SignedString([]byte("secret"))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, base())
	none.Header["kid"] = iss.KID()
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := []struct {
		name, header, desc string
	}{
		{"no token", "", ""},
		{"only the scheme", "Bearer ", ""},
		{"garbage", "Bearer abc.def.ghi", "the token is malformed"},
		{"expired", "Bearer " + sign(iss, with("exp", now.Add(-time.Minute).Unix())), "the token has expired"},
		{"no exp", "Bearer " + sign(iss, with("exp", nil)), "the token lacks a required claim"},
		{"not yet valid", "Bearer " + sign(iss, with("nbf", now.Add(time.Minute).Unix())), "the token is not valid yet"},
		{"issued in the future", "Bearer " + sign(iss, with("iat", now.Add(time.Minute).Unix())), "the token is not valid yet"},
		{"wrong issuer", "Bearer " + sign(iss, with("iss", "https://evil.example/")), "the token does not have a valid issuer"},
		{"wrong audience", "Bearer " + sign(iss, with("aud", "someone-else")), "the token does not have a valid audience"},
		{"no audience", "Bearer " + sign(iss, with("aud", nil)), "the token does not have a valid audience"},
		{"aud wins over client_id", "Bearer " + sign(iss, func() jwt.MapClaims { c := with("aud", "x"); c["client_id"] = iss.Audience(); return c }()), "the token does not have a valid audience"},
		{"bad signature, same kid", "Bearer " + sign(forger, base()), "the token does not have a valid signature"},
		{"unknown kid", "Bearer " + sign(stranger, base()), "the token does not have a valid signature"},
		{"HS256", "Bearer " + hsTok, "the token's signing method is not allowed"},
		{"alg none", "Bearer " + noneTok, "the token's signing method is not allowed"},
	}
	a := mustAuthorizer(t, iss, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := a.Authorize(context.Background(), tc.header)
			var ae *localauth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Authorize = %v, want an *AuthError", err)
			}
			if ae.Description != tc.desc {
				t.Errorf("description = %q, want %q (err %v)", ae.Description, tc.desc, err)
			}
		})
	}
	t.Run("client_id without aud", func(t *testing.T) {
		c := with("aud", nil)
		c["client_id"] = iss.Audience()
		c["scope"] = "aws.cognito.signin.user.admin openid"
		_, scopes, err := a.Authorize(context.Background(), "Bearer "+sign(iss, c))
		if err != nil {
			t.Fatalf("a Cognito access token (client_id, no aud) was refused: %v", err)
		}
		if strings.Join(scopes, " ") != "aws.cognito.signin.user.admin openid" {
			t.Errorf("scopes = %q", scopes)
		}
	})
}

func TestTokenRequestValidate(t *testing.T) {
	t.Parallel()
	neg, big, ok := int64(-1), int64(86401), int64(60)
	cases := []struct {
		name  string
		req   localauth.TokenRequest
		field string
	}{
		{"valid", localauth.TokenRequest{Sub: "a", Groups: []string{"g"}, ExpiresInSeconds: &ok}, ""},
		{"no sub", localauth.TokenRequest{}, "sub"},
		{"control in sub", localauth.TokenRequest{Sub: "a\nb"}, "sub"},
		{"long sub", localauth.TokenRequest{Sub: strings.Repeat("a", 129)}, "sub"},
		{"bad email", localauth.TokenRequest{Sub: "a", Email: "nope"}, "email"},
		{"empty group", localauth.TokenRequest{Sub: "a", Groups: []string{"ok", ""}}, "groups[1]"},
		{"negative auth age", localauth.TokenRequest{Sub: "a", AuthAgeSeconds: -1}, "authAgeSeconds"},
		{"negative expiry", localauth.TokenRequest{Sub: "a", ExpiresInSeconds: &neg}, "expiresInSeconds"},
		{"long expiry", localauth.TokenRequest{Sub: "a", ExpiresInSeconds: &big}, "expiresInSeconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Errorf("Validate = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

func TestFlattenClaims(t *testing.T) {
	t.Parallel()
	got := localauth.FlattenClaims(jwt.MapClaims{
		"s": "x", "n": json.Number("1700000000"), "f": json.Number("1.5"), "b": true,
		"a": []any{"g1", "g2"}, "o": map[string]any{"k": "v", "a": json.Number("1")},
	})
	want := map[string]string{"s": "x", "n": "1700000000", "f": "1.5", "b": "true", "a": "[g1 g2]", "o": "map[a:1 k:v]"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}
