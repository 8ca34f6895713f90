package dovecot

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/devtools/dovecot"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
)

// The three answers an IMAP client can get to LOGIN.
const (
	accepted  = "OK"
	refused   = "NO [AUTHENTICATIONFAILED]"
	temporary = "NO [UNAVAILABLE]"
)

// clients counts the client addresses handed out.
var clients atomic.Int32

// client returns a loopback address no login came from yet. Linux routes
// all of 127/8 to loopback, so a client can come from another address than
// Dovecot listens on, and the allow-list sees Dovecot's remote address. A
// fresh address for every login also keeps Dovecot's penalty for repeated
// failures from one address (a growing wait before each further attempt)
// out of the tests.
func client() net.IP {
	n := clients.Add(1)
	return net.IPv4(127, 1, byte(n>>8), byte(n))
}

func TestPasswordAcceptedWrongOneRefused(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, _ := newMailbox(t)
		dev := newDevice(t, addr, nil)
		wantLogin(t, p, addr, dev.password, client(), accepted)
		wantLogin(t, p, addr, dev.password+"x", client(), refused)
		wantLogin(t, p, "nobody-"+addr, dev.password, client(), refused)
	})
}

func TestRegenerate(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, owner := newMailbox(t)
		dev := newDevice(t, addr, nil)
		from := client()
		wantLogin(t, p, addr, dev.password, from, accepted)
		changed := time.Now()
		a := do(t, "POST", "/v1/mailboxes/"+addr+"/devices/"+dev.id+"/password", owner, map[string]any{})
		if a.status != 200 {
			t.Fatalf("regenerate: %s", a)
		}
		var out struct{ Password string }
		a.decode(t, &out)
		handedOut.Add("password", out.Password)
		wantStopped(t, p, addr, dev.password, from, changed)
		wantLogin(t, p, addr, out.Password, client(), accepted)
	})
}

func TestRotationGrace(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, _ := newMailbox(t)
		dev := newDevice(t, addr, nil)
		if a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn}); a.status != 200 {
			t.Fatalf("POST /local/rotate: %s", a)
		}
		// The new password, as a consuming service reads it.
		sm := secretsmanager.NewFromConfig(runner.AWSConfig())
		got, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &dev.arn})
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Password string }
		if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &v); err != nil || v.Password == "" || v.Password == dev.password {
			t.Fatalf("no new password after the rotation (%v)", err)
		}
		handedOut.Add("password", v.Password)
		wantLogin(t, p, addr, v.Password, client(), accepted)
		wantLogin(t, p, addr, dev.password, client(), accepted) // inside the grace
	})
}

func TestDisabledDeviceRefused(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, owner := newMailbox(t)
		dev := newDevice(t, addr, nil)
		from := client()
		wantLogin(t, p, addr, dev.password, from, accepted)
		changed := time.Now()
		if a := do(t, "PATCH", "/v1/mailboxes/"+addr+"/devices/"+dev.id, owner, map[string]any{"status": "disabled"}); a.status != 200 {
			t.Fatalf("disable: %s", a)
		}
		wantStopped(t, p, addr, dev.password, from, changed)
	})
}

func TestScopes(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, _ := newMailbox(t)
		smtpOnly := newDevice(t, addr, map[string]any{"scopes": []string{"smtp"}})
		wantLogin(t, p, addr, smtpOnly.password, client(), refused)
		// Postfix's SMTP AUTH through Dovecot's SASL asks with service=smtp.
		wantSASL(t, p, "smtp", addr, smtpOnly.password, client(), true)
		wantSASL(t, p, "smtp", addr, smtpOnly.password+"x", client(), false)
		wantSASL(t, p, "imap", addr, smtpOnly.password, client(), false)

		imapOnly := newDevice(t, addr, map[string]any{"scopes": []string{"imap"}})
		wantLogin(t, p, addr, imapOnly.password, client(), accepted)
		wantSASL(t, p, "smtp", addr, imapOnly.password, client(), false)
	})
}

func TestAllowListOnDovecotsRemoteAddress(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, _ := newMailbox(t)
		allowed := client()
		dev := newDevice(t, addr, map[string]any{"allowIps": []string{allowed.String() + "/32"}})
		wantLogin(t, p, addr, dev.password, allowed, accepted)
		wantLogin(t, p, addr, dev.password, client(), refused)
		wantSASL(t, p, "smtp", addr, dev.password, allowed, true)
		wantSASL(t, p, "smtp", addr, dev.password, client(), false)
	})
}

// TestBadInputIsARefusal: what the endpoint answers with 400 is an
// authentication failure the client can act on, not a temporary one it
// retries forever.
func TestBadInputIsARefusal(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, _ := newMailbox(t)
		dev := newDevice(t, addr, nil)
		local, _, _ := strings.Cut(addr, "@")
		wantLogin(t, p, local, dev.password, client(), refused)
		wantLogin(t, p, addr, "", client(), refused)
		if !strings.Contains(p.log().String(), `answered 400 (field "mailbox")`) {
			t.Errorf("the %s log does not say why the user without a domain was refused", p.name)
		}
	})
}

// TestEndpointDownIsTemporary is the other side: when the endpoint cannot
// answer, the client hears "try again later", not "wrong password". The
// checkpassword program reads its settings at every login, so changing the
// file is enough; the helper reads them at start, so it restarts.
func TestEndpointDownIsTemporary(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, _ := newMailbox(t)
		dev := newDevice(t, addr, nil)
		port, err := dovecot.FreePort() // nothing listens there any more
		if err != nil {
			t.Fatal(err)
		}
		down := bytes.Replace(settings, []byte(runner.URL()), []byte("http://127.0.0.1:"+strconv.Itoa(port)), 1)
		restore := p.setSettings(t, down)
		wantLogin(t, p, addr, dev.password, client(), temporary)
		wantSASL(t, p, "smtp", addr, dev.password, client(), false)
		restore()
		wantLogin(t, p, addr, dev.password, client(), accepted)
	})
}

// TestHelperDownIsTemporary: without devicepass-verifyd, the Lua passdb
// answers "try again later"; once the helper is back, the auth workers'
// next logins reconnect by themselves, with no Dovecot reload.
func TestHelperDownIsTemporary(t *testing.T) {
	addr, _ := newMailbox(t)
	dev := newDevice(t, addr, nil)
	p := fastPath
	wantLogin(t, p, addr, dev.password, client(), accepted) // a worker connects
	if err := helper.Stop(); err != nil {
		t.Errorf("devicepass-verifyd: %v", err)
	}
	wantLogin(t, p, addr, dev.password, client(), temporary)
	if err := helper.Start(settings); err != nil {
		t.Fatal(err)
	}
	for range 3 { // whichever workers answer, each reconnects
		wantLogin(t, p, addr, dev.password, client(), accepted)
	}
}

// TestRevocationWithin5s: a revoked device's password stops at its next
// login through checkpassword, and within 5 seconds through the fast path,
// whose helper keeps connections and credentials and may reuse an
// acceptance for its DEVICEPASS_ACCEPT_CACHE (2 s by default, 4 s at
// most). The logins before the revoke come from the address the later
// ones do, so a reused acceptance is what the fast path's first logins
// after the revoke meet.
func TestRevocationWithin5s(t *testing.T) {
	forEachPath(t, func(t *testing.T, p *path) {
		addr, owner := newMailbox(t)
		dev := newDevice(t, addr, nil)
		from := client()
		for range 4 { // several auth workers, each with its connection
			wantLogin(t, p, addr, dev.password, from, accepted)
		}
		changed := time.Now()
		if a := do(t, "DELETE", "/v1/mailboxes/"+addr+"/devices/"+dev.id, owner, nil); a.status != 200 {
			t.Fatalf("revoke: %s", a)
		}
		wantStopped(t, p, addr, dev.password, from, changed)
		wantSASL(t, p, "smtp", addr, dev.password, client(), false)
	})
}

// revocationBound is how long after a revoke, disable or regenerate a
// password may still log in through the fast path.
const revocationBound = 5 * time.Second

// wantStopped checks that password, accepted from the address from before
// a change made at changed, no longer logs in: at the first login through
// checkpassword, which asks devicepass every time; through the fast path
// at the latest revocationBound after the change, logging in again from
// the same address until it is refused (no sleeping: every try is a
// login).
func wantStopped(t *testing.T, p *path, user, password string, from net.IP, changed time.Time) {
	t.Helper()
	for tries := 1; ; tries++ {
		got, err := p.srv.IMAPLogin(user, password, from)
		if err != nil {
			t.Fatalf("IMAP LOGIN %s from %s: %v", user, from, err)
		}
		switch {
		case strings.HasPrefix(got, refused):
			if tries > 1 {
				t.Logf("%s: refused at login %d, %s after the change", p.name, tries, time.Since(changed).Round(time.Millisecond))
			}
			return
		case !strings.HasPrefix(got, accepted):
			t.Fatalf("IMAP LOGIN %s from %s: %q, want %s", user, from, got, refused)
		case p == slowPath:
			t.Fatalf("%s: the first login after the change was accepted", p.name)
		case time.Since(changed) > revocationBound:
			t.Fatalf("%s: still accepted %s after the change (%d logins)", p.name, time.Since(changed).Round(time.Millisecond), tries)
		}
	}
}

// TestAuthProcessLimit checks that the shipped vsz_limit is what Dovecot
// applies to its auth process, the limit the checkpassword logins ran
// under.
func TestAuthProcessLimit(t *testing.T) {
	pid, err := slowPath.srv.AuthPID()
	if err != nil {
		t.Fatal(err)
	}
	limits, err := os.ReadFile("/proc/" + pid + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max address space") {
			if f := strings.Fields(line); len(f) < 4 || f[3] != strconv.Itoa(2<<30) {
				t.Errorf("auth process: %q, want the shipped 2G", line)
			}
			return
		}
	}
	t.Errorf("no address space limit in /proc/%s/limits", pid)
}

// TestProgramsAreStaticAndStripped: the mail host runs the builds as they
// are, and it may not have the C library they were built against.
func TestProgramsAreStaticAndStripped(t *testing.T) {
	for _, program := range []string{dovecot.InstalledCheckpassword, dovecot.InstalledVerifyd} {
		f, err := elf.Open(filepath.Join(host.BinDir, filepath.Base(program)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: dynamically linked (%v)", program, p.Type)
			}
		}
		if s := f.Section(".symtab"); s != nil {
			t.Errorf("%s: not stripped: it has a symbol table", program)
		}
	}
}

// TestZZNoSecretInDovecotsLog runs last (file order, then name order) and
// checks that no password or token reached Dovecot's logs or the helper's.
func TestZZNoSecretInDovecotsLog(t *testing.T) {
	logs := map[string]string{"checkpassword's Dovecot": slowPath.srv.Log.String(), "the fast path's Dovecot": fastPath.srv.Log.String(), "devicepass-verifyd's": helper.Log.String()}
	if !strings.Contains(logs["checkpassword's Dovecot"], "devicepass-checkpassword:") || !strings.Contains(logs["devicepass-verifyd's"], "devicepass-verifyd:") {
		t.Fatalf("the programs' messages are not in the logs, so this check proves nothing")
	}
	for name, log := range logs {
		for v, what := range handedOut.All() {
			if strings.Contains(log, v) {
				t.Errorf("%s log holds a %s", name, what)
			}
		}
	}
}

// --- IMAP and SASL

// wantLogin logs in over IMAP through p from the address from and checks
// the answer.
func wantLogin(t *testing.T, p *path, user, password string, from net.IP, want string) {
	t.Helper()
	got, err := p.srv.IMAPLogin(user, password, from)
	if err != nil {
		t.Fatalf("IMAP LOGIN %s from %s: %v", user, from, err)
	}
	if !strings.HasPrefix(got, want) {
		t.Errorf("IMAP LOGIN %s from %s: %q, want %s", user, from, got, want)
	}
}

// wantSASL authenticates through p's auth service as Postfix does, for
// service and the client address from.
func wantSASL(t *testing.T, p *path, service, user, password string, from net.IP, want bool) {
	t.Helper()
	ok, failed, out, err := p.srv.AuthTest(service, user, password, from)
	switch {
	case !ok && !failed:
		t.Fatalf("doveadm auth test: %v: %s", err, redactAll(out))
	case ok != want:
		t.Errorf("SASL service=%s %s from %s: succeeded %v, want %v: %s", service, user, from, ok, want, redactAll(out))
	}
}

// redactAll keeps handed-out secrets out of test output.
func redactAll(s string) string {
	for v := range handedOut.All() {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// --- the devicepass API

var seq atomic.Int64

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, seq.Add(1))
}

const domain = "example.com"

func token(t *testing.T, req localauth.TokenRequest) string {
	t.Helper()
	tok, err := runner.Issuer().Mint(req)
	if err != nil {
		t.Fatal(err)
	}
	handedOut.Add("token", tok)
	return tok
}

// newMailbox registers a fresh mailbox and returns it with its owner's token.
func newMailbox(t *testing.T) (addr, owner string) {
	t.Helper()
	admin := token(t, localauth.TokenRequest{Sub: unique("admin"), Email: "admin@" + domain, Groups: []string{"domain-admin:" + domain}})
	sub := unique("owner")
	owner = token(t, localauth.TokenRequest{Sub: sub, Email: sub + "@" + domain})
	addr = unique("box") + "@" + domain
	if a := do(t, "PUT", "/v1/mailboxes/"+addr, admin, map[string]string{"owner": sub}); a.status != 201 {
		t.Fatalf("PUT mailbox: %s", a)
	}
	return addr, owner
}

type device struct{ id, arn, password string }

// newDevice creates a device of addr as its owner would.
func newDevice(t *testing.T, addr string, body map[string]any) device {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["name"] = unique("Device")
	admin := token(t, localauth.TokenRequest{Sub: unique("admin"), Email: "admin@" + domain, Groups: []string{"domain-admin:" + domain}})
	a := do(t, "POST", "/v1/mailboxes/"+addr+"/devices", admin, body)
	if a.status != 201 {
		t.Fatalf("POST devices: %s", a)
	}
	var out struct {
		Device struct {
			ID        string `json:"id"`
			SecretArn string `json:"secretArn"`
		} `json:"device"`
		Password string `json:"password"`
	}
	a.decode(t, &out)
	if out.Password == "" || out.Device.ID == "" {
		t.Fatalf("POST devices answered no password or id: %s", a)
	}
	handedOut.Add("password", out.Password)
	return device{id: out.Device.ID, arn: out.Device.SecretArn, password: out.Password}
}

type answer struct {
	status int
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, redactAll(string(a.body))) }

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %s: %v", a, err)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func do(t *testing.T, method, path, tok string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, runner.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, body: b}
}
