package console_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/console"
)

func catalog(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(console.Files(), "i18n/"+lang+".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s.json: %v", lang, err)
	}
	return m
}

func sources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(console.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(console.Files(), p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCatalogs: English and French have the same keys, none empty, with
// the same placeholders; every key the code names exists; every key is
// used, directly or through a dynamic prefix such as `status.${...}`.
func TestCatalogs(t *testing.T) {
	en, fr := catalog(t, "en"), catalog(t, "fr")
	placeholder := regexp.MustCompile(`\{\w+\}`)
	for k, v := range en {
		w, ok := fr[k]
		if !ok {
			t.Errorf("key %q is missing in fr.json", k)
			continue
		}
		if v == "" || w == "" {
			t.Errorf("key %q is empty", k)
		}
		pe, pf := placeholder.FindAllString(v, -1), placeholder.FindAllString(w, -1)
		slices.Sort(pe)
		slices.Sort(pf)
		if !slices.Equal(pe, pf) {
			t.Errorf("key %q: placeholders %v in en, %v in fr", k, pe, pf)
		}
	}
	for k := range fr {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is missing in en.json", k)
		}
	}
	namespaces := map[string]bool{}
	for k := range en {
		ns, _, _ := strings.Cut(k, ".")
		namespaces[ns] = true
	}
	// Every quoted string of the form <namespace>.<name> is a key: this
	// catches keys chosen by a ternary or kept in an array, not only t('x').
	literal := regexp.MustCompile(`'([a-z][A-Za-z]*)\.([A-Za-z0-9.]+)'`)
	dynamic := regexp.MustCompile("\\bt\\(`([A-Za-z.]+)\\$\\{")
	used := map[string]bool{}
	var prefixes []string
	for name, src := range sources(t) {
		for _, m := range literal.FindAllStringSubmatch(src, -1) {
			if !namespaces[m[1]] {
				continue
			}
			key := m[1] + "." + m[2]
			used[key] = true
			if _, ok := en[key]; !ok {
				t.Errorf("%s names key %q, which the catalogs lack", name, key)
			}
		}
		for _, m := range dynamic.FindAllStringSubmatch(src, -1) {
			prefixes = append(prefixes, m[1])
		}
	}
	for k := range en {
		if used[k] || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		t.Errorf("key %q is in the catalogs but never used", k)
	}
	for _, p := range prefixes {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(en)), func(k string) bool { return strings.HasPrefix(k, p) }) {
			t.Errorf("dynamic prefix %q has no key", p)
		}
	}
}

// TestHandlerHeaders: every answer of the console carries the security
// headers; no page has an inline script or style the policy would refuse.
func TestHandlerHeaders(t *testing.T) {
	srv := httptest.NewServer(console.Handler([]byte(`{"mode":"local"}`), true))
	defer srv.Close()
	for _, path := range []string{"/", "/app.js", "/config.json", "/i18n/fr.json", "/nope"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for k, v := range console.SecurityHeaders(true) {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if path == "/app.js" && !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("app.js served as %q", res.Header.Get("Content-Type"))
		}
	}
	csp := console.ContentSecurityPolicy
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %s", csp)
	}
	if _, ok := console.SecurityHeaders(false)["Strict-Transport-Security"]; ok {
		t.Error("HSTS sent over plain HTTP")
	}
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\son[a-z]+=|style=`)
	_ = fs.WalkDir(console.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, _ := fs.ReadFile(console.Files(), p)
		if inline.Match(b) {
			t.Errorf("%s has inline script, style or event handler", p)
		}
		return nil
	})
	res, err := http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", res.StatusCode)
	}
}

// TestNoStorageOfSecrets: the console's code never touches the browser's
// persistent stores or cookies, where a token or password could outlive
// the page.
func TestNoStorageOfSecrets(t *testing.T) {
	banned := regexp.MustCompile(`localStorage|sessionStorage|document\.cookie|indexedDB|innerHTML|outerHTML|eval\(|new Function`)
	for name, src := range sources(t) {
		if m := banned.FindString(src); m != "" {
			t.Errorf("%s uses %s", name, m)
		}
	}
}

// TestVendoredQRLibrary: the QR library the console serves is exactly the
// pinned npm package's module (console/package-lock.json), so its version
// is kept by the lockfile and a change to it is a visible update.
func TestVendoredQRLibrary(t *testing.T) {
	pinned, err := os.ReadFile(filepath.Join("node_modules", "uqr", "dist", "index.mjs"))
	if err != nil {
		t.Fatalf("console/node_modules lacks uqr: run `make console-deps` (%v)", err)
	}
	vendored, err := fs.ReadFile(console.Files(), "vendor/uqr.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pinned, vendored) {
		t.Error("www/vendor/uqr.mjs differs from the pinned uqr package: copy node_modules/uqr/dist/index.mjs over it")
	}
}

// TestTypes: TypeScript checks the console's JSDoc types (tsconfig.json:
// strict, checkJs), so a wrong field name or a possibly-null answer fails
// here rather than in a browser.
func TestTypes(t *testing.T) {
	tsc := filepath.Join("node_modules", "typescript", "bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		t.Fatalf("console/node_modules lacks typescript: run `make console-deps` (%v)", err)
	}
	node := filepath.Join("..", ".tools", "node", "node_modules", "node", "bin", "node")
	if _, err := os.Stat(node); err != nil {
		node = "node"
	}
	out, err := exec.Command(node, tsc, "-p", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tsc -p console: %v\n%s", err, out)
	}
}
