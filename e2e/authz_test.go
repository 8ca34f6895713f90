package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
)

// caller is one column of the authorization matrix.
type caller struct {
	name  string
	token func(t *testing.T, ownerSub string) string
	// kind says what the answer must be: "ok", "forbidden", "gateway" (the
	// JWT authorizer's 401), "stale" (ok, except 401 step-up on step-up
	// routes), "owner" (ok, except PUT mailbox: 403).
	kind string
}

// route is one row: the request, and its success status.
type route struct {
	method, path string // path with {address} and {id}
	body         any
	ok           int
	stepUp       bool
	needsDevice  bool
}

func TestAuthorizationMatrix(t *testing.T) {
	iss := runner.Issuer()
	forger, err := localauth.NewIssuer(localauth.IssuerOptions{URL: iss.URL(), KID: iss.KID()})
	if err != nil {
		t.Fatal(err)
	}
	signed := func(t *testing.T, c jwt.MapClaims) string {
		s, err := iss.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		handedOut.Add("token", s)
		return s
	}
	callers := []caller{
		{"owner", func(t *testing.T, o string) string { return userToken(t, o) }, "owner"},
		{"domain admin", func(t *testing.T, _ string) string { return adminToken(t) }, "ok"},
		{"admin of another domain", func(t *testing.T, _ string) string {
			return token(t, localauth.TokenRequest{Sub: unique("admin"), Groups: []string{"domain-admin:example.org"}})
		}, "forbidden"},
		{"another user", func(t *testing.T, _ string) string { return userToken(t, unique("stranger")) }, "forbidden"},
		{"no token", func(*testing.T, string) string { return "" }, "gateway"},
		{"expired token", func(t *testing.T, o string) string {
			now := time.Now()
			return signed(t, jwt.MapClaims{"iss": iss.URL(), "aud": iss.Audience(), "sub": o, "iat": now.Add(-2 * time.Hour).Unix(),
				"exp": now.Add(-time.Hour).Unix(), "auth_time": now.Add(-2 * time.Hour).Unix(), "cognito:groups": []string{"domain-admin:" + domain}})
		}, "gateway"},
		{"wrong audience", func(t *testing.T, o string) string {
			return token(t, localauth.TokenRequest{Sub: o, Groups: []string{"domain-admin:" + domain}, Audience: "another-app"})
		}, "gateway"},
		{"bad signature", func(t *testing.T, o string) string {
			s, err := forger.Mint(localauth.TokenRequest{Sub: o, Groups: []string{"domain-admin:" + domain}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, "gateway"},
		{"stale auth_time", func(t *testing.T, _ string) string {
			return token(t, localauth.TokenRequest{Sub: unique("admin"), Groups: []string{"domain-admin:" + domain}, AuthAgeSeconds: 3600})
		}, "stale"},
	}
	routes := []route{
		{"PUT", "/v1/mailboxes/{address}", nil, 200, true, false},
		{"GET", "/v1/mailboxes/{address}", nil, 200, false, false},
		{"POST", "/v1/mailboxes/{address}/devices", map[string]any{"name": "matrix"}, 201, true, false},
		{"GET", "/v1/mailboxes/{address}/devices", nil, 200, false, false},
		{"GET", "/v1/mailboxes/{address}/devices/{id}", nil, 200, false, true},
		{"PATCH", "/v1/mailboxes/{address}/devices/{id}", map[string]any{"note": "changed"}, 200, false, true},
		{"DELETE", "/v1/mailboxes/{address}/devices/{id}", nil, 200, false, true},
		{"POST", "/v1/mailboxes/{address}/devices/{id}/password", map[string]any{}, 200, true, true},
		{"POST", "/v1/mailboxes/{address}/devices/revoke-all", nil, 200, true, false},
	}
	admin := adminToken(t)
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				ownerSub := unique("owner")
				addr := newMailbox(t, admin, ownerSub)
				path := strings.ReplaceAll(rt.path, "{address}", addr)
				if rt.needsDevice {
					d := newDevice(t, admin, addr, nil)
					path = strings.ReplaceAll(path, "{id}", d.id)
				}
				body := rt.body
				if rt.method == "PUT" {
					body = map[string]string{"owner": ownerSub}
				}
				a := do(t, rt.method, path, c.token(t, ownerSub), body)
				if a.status >= 200 && a.status < 300 && strings.Contains(string(a.body), `"password"`) {
					decodeCreated(t, a) // remember the password for the leak test
				}
				want := c.kind
				switch {
				case want == "owner" && rt.method == "PUT":
					want = "forbidden" // only domain admins register mailboxes
				case want == "owner":
					want = "ok"
				case want == "stale" && rt.stepUp:
					want = "step-up"
				case want == "stale":
					want = "ok"
				}
				switch want {
				case "ok":
					if a.status != rt.ok {
						t.Errorf("%s, want %d", a, rt.ok)
					}
				case "forbidden":
					if a.status != 403 || a.header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("%s (%s), want a 403 problem", a, a.header.Get("Content-Type"))
					}
				case "gateway":
					if a.status != 401 || string(a.body) != `{"message":"Unauthorized"}` || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s (WWW-Authenticate %q), want the gateway's 401", a, a.header.Get("WWW-Authenticate"))
					}
				case "step-up":
					ch := a.header.Get("WWW-Authenticate")
					if a.status != 401 || !strings.Contains(ch, `error="insufficient_user_authentication"`) || !strings.Contains(ch, "max_age=300") {
						t.Errorf("%s (WWW-Authenticate %q), want 401 with the RFC 9470 challenge", a, ch)
					}
				}
			})
		}
	}
}

// TestVerifyAuthorization: /v1/verify is IAM-authorized in AWS; locally a
// mail-server token stands in for the signature, and everyone else gets
// API Gateway's 403.
func TestVerifyAuthorization(t *testing.T) {
	iss := runner.Issuer()
	expired, err := iss.Sign(jwt.MapClaims{"iss": iss.URL(), "aud": iss.Audience(), "sub": "mx", "iat": time.Now().Add(-2 * time.Hour).Unix(),
		"exp": time.Now().Add(-time.Hour).Unix(), "cognito:groups": []string{localgw.VerifyGroup}})
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]string{"mailbox": "nobody@" + domain, "password": "x", "protocol": "imap"}
	for name, tc := range map[string]struct {
		token  string
		status int
	}{
		"mail server":    {mailServerToken(t), 200},
		"domain admin":   {adminToken(t), 403},
		"no token":       {"", 403},
		"expired":        {expired, 403},
		"wrong audience": {token(t, localauth.TokenRequest{Sub: "mx", Groups: []string{localgw.VerifyGroup}, Audience: "x"}), 403},
	} {
		t.Run(name, func(t *testing.T) {
			a := do(t, "POST", "/v1/verify", tc.token, body)
			if a.status != tc.status {
				t.Errorf("%s, want %d", a, tc.status)
			}
			if tc.status == 403 && string(a.body) != `{"message":"Forbidden"}` {
				t.Errorf("body %s, want API Gateway's Forbidden", a.body)
			}
		})
	}
}
