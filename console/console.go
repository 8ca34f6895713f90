// Package console holds the web console's static files (www/) and the
// security headers they are served with, so the local runner and the CDK
// stack serve the same files under the same policy. The console is plain
// ES modules without a build step: what is in www/ is what the browser
// loads.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed www
var files embed.FS

// Files are the console's static files, rooted at www/.
func Files() fs.FS {
	sub, err := fs.Sub(files, "www")
	if err != nil {
		panic(err) // the embed directive above guarantees www exists
	}
	return sub
}

// ContentSecurityPolicy is the console's policy: scripts, styles and
// connections to its own origin only (no inline script or style, no eval),
// images also from data: and blob: URLs (the QR code), no framing, no
// plugins, forms posting nowhere else.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ContentSecurityPolicyConnecting is ContentSecurityPolicy letting the
// page also call origins (such as the identity provider's token
// endpoint, which the code flow's exchange calls from the browser).
func ContentSecurityPolicyConnecting(origins ...string) string {
	if len(origins) == 0 {
		return ContentSecurityPolicy
	}
	return strings.Replace(ContentSecurityPolicy, "connect-src 'self'", "connect-src 'self' "+strings.Join(origins, " "), 1)
}

// HSTS is the Strict-Transport-Security value of the deployed console.
// Browsers ignore it over plain HTTP, so the local runner does not send it.
const HSTS = "max-age=63072000; includeSubDomains"

// SecurityHeaders are the headers every console answer carries, locally
// and (through CloudFront's response headers policy) deployed; tls adds
// HSTS.
func SecurityHeaders(tls bool) map[string]string {
	h := map[string]string{
		"Content-Security-Policy":      ContentSecurityPolicy,
		"X-Content-Type-Options":       "nosniff",
		"X-Frame-Options":              "DENY",
		"Referrer-Policy":              "no-referrer",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=()",
	}
	if tls {
		h["Strict-Transport-Security"] = HSTS
	}
	return h
}

// Handler serves the console's files with SecurityHeaders, and config
// (a JSON document) at /config.json: what the browser needs to know of
// its deployment (sign-in mode, mail settings). Unknown paths are 404;
// the console routes inside the page with the URL fragment, so no path
// other than its files is ever asked for.
func Handler(config []byte, tls bool) http.Handler {
	static := http.FileServerFS(Files())
	headers := SecurityHeaders(tls)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/config.json" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = w.Write(config)
			return
		}
		// Files change with every version; the browser revalidates them.
		w.Header().Set("Cache-Control", "no-cache")
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		static.ServeHTTP(w, r)
	})
}
