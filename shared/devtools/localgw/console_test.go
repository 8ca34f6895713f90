package localgw_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/console"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
)

// TestConsoleBesideTheAPI: paths outside /v1/ and /local/ are the
// console's, with its security headers; /v1/ stays the API's, even for a
// path no route matches.
func TestConsoleBesideTheAPI(t *testing.T) {
	iss := sharedKeyIssuer(t)
	api := &fakeHandler{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200}}
	g, err := localgw.NewGateway(localgw.GatewayOptions{
		API: api, Issuer: iss, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authorizer: mustAuthorizer(t, iss, nil),
		Console:    console.Handler([]byte(`{"mode":"local"}`), false),
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	w := get("/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<script type="module" src="app.js">`) {
		t.Fatalf("GET / = %d %.200s", w.Code, w.Body.String())
	}
	for k, v := range console.SecurityHeaders(false) {
		if got := w.Header().Get(k); got != v {
			t.Errorf("GET /: %s = %q, want %q", k, got, v)
		}
	}
	if w := get("/config.json"); w.Code != 200 || !strings.Contains(w.Body.String(), `"local"`) {
		t.Errorf("GET /config.json = %d %s", w.Code, w.Body.String())
	}
	if w := get("/v1/nothing-here"); w.Code != http.StatusNotFound || w.Header().Get("Content-Security-Policy") != "" {
		t.Errorf("GET /v1/nothing-here went to the console: %d", w.Code)
	}
}
