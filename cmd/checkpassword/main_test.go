package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
)

// server answers like POST /v1/verify: valid only for the one password,
// and records what it was asked.
func server(t *testing.T, status int) (*httptest.Server, *mailverify.Request) {
	t.Helper()
	var got mailverify.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// As the API: input that cannot be valid is a 400 problem naming the field.
		for field, bad := range map[string]bool{"mailbox": !strings.Contains(got.Mailbox, "@"), "password": got.Password == ""} {
			if bad {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"type": "about:blank", "title": "Bad Request", "field": field})
				return
			}
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]bool{"valid": got.Mailbox == "alice@example.com" && got.Password == "right-password"})
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// creds returns a file holding the checkpassword input.
func creds(t *testing.T, s string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(s); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

func env(url string, extra map[string]string) func(string) string {
	m := map[string]string{"DEVICEPASS_VERIFY_URL": url, "DEVICEPASS_AUTH": "bearer", "DEVICEPASS_TOKEN": "tok"}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestExitCodes(t *testing.T) {
	ok, _ := server(t, http.StatusOK)
	limited, _ := server(t, http.StatusTooManyRequests)
	broken, _ := server(t, http.StatusInternalServerError)
	unavailable, _ := server(t, http.StatusServiceUnavailable)
	forbidden, _ := server(t, http.StatusForbidden)
	notFound, _ := server(t, http.StatusNotFound)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more

	for _, tc := range []struct {
		name  string
		url   string
		input string
		want  int
	}{
		{"accepted", ok.URL, "alice@example.com\x00right-password\x00123\x00", exitOK},
		{"wrong password", ok.URL, "alice@example.com\x00wrong\x00123\x00", exitRejected},
		{"unknown mailbox", ok.URL, "bob@example.com\x00right-password\x00", exitRejected},
		// 400: input that cannot be valid is a refusal, not a reason to retry.
		{"user without a domain", ok.URL, "alice\x00right-password\x00", exitRejected},
		{"empty password", ok.URL, "alice@example.com\x00\x00", exitRejected},
		{"empty user", ok.URL, "\x00right-password\x00", exitRejected},
		{"endpoint down", down.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"rate limited", limited.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"endpoint failing", broken.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"endpoint unavailable", unavailable.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		// The mail server's own setup is at fault, not the user's password.
		{"mail server not allowed", forbidden.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"wrong URL", notFound.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"no password field", ok.URL, "alice@example.com", exitTemporary},
		{"empty input", ok.URL, "", exitTemporary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			got := run(env(tc.url, nil), creds(t, tc.input), nil, &stderr)
			if got != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "right-password") || strings.Contains(stderr.String(), "tok") {
				t.Errorf("stderr holds the password or the token: %q", stderr.String())
			}
		})
	}
}

// TestBadRequestLogsTheField checks that a 400 is logged with the field the
// endpoint named, so the operator sees why a login was refused.
func TestBadRequestLogsTheField(t *testing.T) {
	srv, _ := server(t, http.StatusOK)
	var stderr strings.Builder
	if code := run(env(srv.URL, nil), creds(t, "alice\x00right-password\x00"), nil, &stderr); code != exitRejected {
		t.Fatalf("exit %d, want %d", code, exitRejected)
	}
	if !strings.Contains(stderr.String(), `400 (field "mailbox")`) {
		t.Errorf("stderr %q does not name the field", stderr.String())
	}
}

func TestUserdbUseIsRefused(t *testing.T) {
	srv, got := server(t, http.StatusOK)
	var stderr strings.Builder
	code := run(env(srv.URL, map[string]string{"AUTHORIZED": "1"}), creds(t, "alice@example.com\x00\x00"), nil, &stderr)
	if code != exitTemporary || !strings.Contains(stderr.String(), "passdb") {
		t.Errorf("exit %d, stderr %q; want 111 and a word on configuring it as a passdb", code, stderr.String())
	}
	if got.Mailbox != "" {
		t.Errorf("asked the endpoint about %q", got.Mailbox)
	}
}

func TestProtocolAndClientFromDovecot(t *testing.T) {
	srv, got := server(t, http.StatusOK)
	for _, tc := range []struct{ service, fallback, want string }{
		{"pop3", "", "pop"},
		{"imap", "", "imap"},
		{"submission", "", "smtp"},
		{"smtp", "", "smtp"}, // Postfix through Dovecot's SASL
		{"managesieve", "", "imap"},
		{"managesieve", "smtp", "smtp"},
	} {
		code := run(env(srv.URL, map[string]string{"SERVICE": tc.service, "DEVICEPASS_PROTOCOL": tc.fallback, "TCPREMOTEIP": "192.0.2.7"}), creds(t, "alice@example.com\x00right-password\x00"), nil, &strings.Builder{})
		if code != exitOK {
			t.Fatalf("SERVICE=%s: exit %d", tc.service, code)
		}
		if got.Protocol != tc.want || got.ClientIP != "192.0.2.7" {
			t.Errorf("SERVICE=%s DEVICEPASS_PROTOCOL=%s: asked protocol %q client %q, want %s 192.0.2.7", tc.service, tc.fallback, got.Protocol, got.ClientIP, tc.want)
		}
	}
}

// TestRunsReplyProgram builds the program as `make checkpassword` does and
// runs it as Dovecot does: an emptied environment, the settings in the
// file --config names, the credentials on fd 3 and checkpassword-reply as
// the last argument, which must run with USER set only when the password
// is accepted.
func TestRunsReplyProgram(t *testing.T) {
	srv, _ := server(t, http.StatusOK)
	dir := t.TempDir()
	bin := filepath.Join(dir, "checkpassword")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "checkpassword.conf")
	writeFile(t, conf, "# as an operator writes it\nDEVICEPASS_VERIFY_URL="+srv.URL+"\nDEVICEPASS_AUTH=bearer\nDEVICEPASS_TOKEN='tok'\n")
	for _, tc := range []struct {
		password string
		wantCode int
		wantUser string
	}{{"right-password", 0, "alice@example.com"}, {"wrong", 1, ""}} {
		marker := filepath.Join(t.TempDir(), "user")
		cmd := exec.Command(bin, "--config="+conf, "/bin/sh", "-c", `printf %s "$USER" > `+marker)
		cmd.ExtraFiles = []*os.File{creds(t, "alice@example.com\x00"+tc.password+"\x00")}
		// What Dovecot leaves: its own variables only, USER among them.
		cmd.Env = []string{"USER=dovecot", "SERVICE=imap", "TCPREMOTEIP=127.0.0.1"}
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.wantCode {
			t.Errorf("password %q: exit %d, want %d", tc.password, code, tc.wantCode)
		}
		user, _ := os.ReadFile(marker)
		if string(user) != tc.wantUser {
			t.Errorf("password %q: reply program saw USER=%q, want %q", tc.password, user, tc.wantUser)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
