// Package localauthtest has the local token issuer and authorizer as tests
// build them: the same issuer URL everywhere, one RSA key shared by a whole
// test binary (key generation is slow), and constructors that fail the
// test instead of returning an error.
package localauthtest

import (
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/localauth"
)

// IssuerURL is the issuer of test tokens; nothing listens there.
const IssuerURL = "http://127.0.0.1:1/local"

// MustIssuer returns an issuer made with o, IssuerURL when o names none.
func MustIssuer(tb testing.TB, o localauth.IssuerOptions) *localauth.Issuer {
	tb.Helper()
	if o.URL == "" {
		o.URL = IssuerURL
	}
	i, err := localauth.NewIssuer(o)
	if err != nil {
		tb.Fatal(err)
	}
	return i
}

var (
	shared     *localauth.Issuer
	sharedErr  error
	sharedOnce sync.Once
)

// SharedIssuer returns the one issuer (key id "k1") of the test binary.
func SharedIssuer(tb testing.TB) *localauth.Issuer {
	tb.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = localauth.NewIssuer(localauth.IssuerOptions{URL: IssuerURL, KID: "k1"})
	})
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return shared
}

// MustAuthorizer returns an authorizer that trusts i's keys and audience,
// reading the time from now.
func MustAuthorizer(tb testing.TB, i *localauth.Issuer, now func() time.Time) *localauth.Authorizer {
	tb.Helper()
	a, err := localauth.NewAuthorizer(localauth.AuthorizerOptions{Issuer: i.URL(), Audiences: []string{i.Audience()}, Keys: i.JWKS(), Clock: now})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
