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
)

// server answers like POST /v1/verify: valid only for the one password,
// and records what it was asked.
func server(t *testing.T, status int) (*httptest.Server, *verifyRequest) {
	t.Helper()
	var got verifyRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
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
		{"endpoint down", down.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"rate limited", limited.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"endpoint failing", broken.URL, "alice@example.com\x00right-password\x00", exitTemporary},
		{"no password field", ok.URL, "alice@example.com", exitMisuse},
		{"empty input", ok.URL, "", exitMisuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			got := run(env(tc.url, nil), creds(t, tc.input), nil, &stderr)
			if got != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "right-password") {
				t.Errorf("stderr holds the password: %q", stderr.String())
			}
		})
	}
}

func TestProtocolAndClientFromDovecot(t *testing.T) {
	srv, got := server(t, http.StatusOK)
	code := run(env(srv.URL, map[string]string{"SERVICE": "pop3", "TCPREMOTEIP": "192.0.2.7"}), creds(t, "alice@example.com\x00right-password\x00"), nil, &strings.Builder{})
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if got.Protocol != "pop" || got.ClientIP != "192.0.2.7" {
		t.Errorf("asked protocol %q client %q, want pop 192.0.2.7", got.Protocol, got.ClientIP)
	}
}

// TestRunsReplyProgram builds the program and runs it as Dovecot does: the
// credentials on fd 3 and checkpassword-reply as the argument, which must
// run with USER set only when the password is accepted.
func TestRunsReplyProgram(t *testing.T) {
	srv, _ := server(t, http.StatusOK)
	bin := filepath.Join(t.TempDir(), "checkpassword")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		password string
		wantCode int
		wantUser string
	}{{"right-password", 0, "alice@example.com"}, {"wrong", 1, ""}} {
		marker := filepath.Join(t.TempDir(), "user")
		cmd := exec.Command(bin, "/bin/sh", "-c", `printf %s "$USER" > `+marker)
		cmd.ExtraFiles = []*os.File{creds(t, "alice@example.com\x00"+tc.password+"\x00")}
		cmd.Env = append(os.Environ(), "DEVICEPASS_VERIFY_URL="+srv.URL, "DEVICEPASS_AUTH=bearer", "DEVICEPASS_TOKEN=tok")
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
