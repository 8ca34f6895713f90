package dovecot

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

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
	addr, _ := newMailbox(t)
	dev := newDevice(t, addr, nil)
	wantLogin(t, addr, dev.password, client(), accepted)
	wantLogin(t, addr, dev.password+"x", client(), refused)
	wantLogin(t, "nobody-"+addr, dev.password, client(), refused)
}

func TestRegenerate(t *testing.T) {
	addr, owner := newMailbox(t)
	dev := newDevice(t, addr, nil)
	wantLogin(t, addr, dev.password, client(), accepted)
	a := do(t, "POST", "/v1/mailboxes/"+addr+"/devices/"+dev.id+"/password", owner, map[string]any{})
	if a.status != 200 {
		t.Fatalf("regenerate: %s", a)
	}
	var out struct{ Password string }
	a.decode(t, &out)
	handedOut.add("password", out.Password)
	wantLogin(t, addr, dev.password, client(), refused)
	wantLogin(t, addr, out.Password, client(), accepted)
}

func TestRotationGrace(t *testing.T) {
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
	handedOut.add("password", v.Password)
	wantLogin(t, addr, v.Password, client(), accepted)
	wantLogin(t, addr, dev.password, client(), accepted) // inside the grace
}

func TestDisabledDeviceRefused(t *testing.T) {
	addr, owner := newMailbox(t)
	dev := newDevice(t, addr, nil)
	wantLogin(t, addr, dev.password, client(), accepted)
	if a := do(t, "PATCH", "/v1/mailboxes/"+addr+"/devices/"+dev.id, owner, map[string]any{"status": "disabled"}); a.status != 200 {
		t.Fatalf("disable: %s", a)
	}
	wantLogin(t, addr, dev.password, client(), refused)
}

func TestScopes(t *testing.T) {
	addr, _ := newMailbox(t)
	smtpOnly := newDevice(t, addr, map[string]any{"scopes": []string{"smtp"}})
	wantLogin(t, addr, smtpOnly.password, client(), refused)
	// Postfix's SMTP AUTH through Dovecot's SASL asks with service=smtp.
	wantSASL(t, "smtp", addr, smtpOnly.password, client(), true)
	wantSASL(t, "smtp", addr, smtpOnly.password+"x", client(), false)
	wantSASL(t, "imap", addr, smtpOnly.password, client(), false)

	imapOnly := newDevice(t, addr, map[string]any{"scopes": []string{"imap"}})
	wantLogin(t, addr, imapOnly.password, client(), accepted)
	wantSASL(t, "smtp", addr, imapOnly.password, client(), false)
}

func TestAllowListOnDovecotsRemoteAddress(t *testing.T) {
	addr, _ := newMailbox(t)
	allowed := client()
	dev := newDevice(t, addr, map[string]any{"allowIps": []string{allowed.String() + "/32"}})
	wantLogin(t, addr, dev.password, allowed, accepted)
	wantLogin(t, addr, dev.password, client(), refused)
	wantSASL(t, "smtp", addr, dev.password, allowed, true)
	wantSASL(t, "smtp", addr, dev.password, client(), false)
}

// TestBadInputIsARefusal: what the endpoint answers with 400 is an
// authentication failure the client can act on, not a temporary one it
// retries forever.
func TestBadInputIsARefusal(t *testing.T) {
	addr, _ := newMailbox(t)
	dev := newDevice(t, addr, nil)
	local, _, _ := strings.Cut(addr, "@")
	wantLogin(t, local, dev.password, client(), refused)
	wantLogin(t, addr, "", client(), refused)
	if !strings.Contains(dove.log.String(), `answered 400 (field "mailbox")`) {
		t.Errorf("Dovecot's log does not say why the user without a domain was refused")
	}
}

// TestEndpointDownIsTemporary is the other side: when the endpoint cannot
// answer, the client hears "try again later", not "wrong password". The
// program reads its settings at every login, so changing the file is
// enough.
func TestEndpointDownIsTemporary(t *testing.T) {
	addr, _ := newMailbox(t)
	dev := newDevice(t, addr, nil)
	path := dove.settingsPath()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, orig, 0o640); err != nil {
			t.Error(err)
		}
	})
	port, err := freePort() // nothing listens there any more
	if err != nil {
		t.Fatal(err)
	}
	down := bytes.Replace(orig, []byte(runner.URL()), []byte("http://127.0.0.1:"+strconv.Itoa(port)), 1)
	if err := os.WriteFile(path, down, 0o640); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, addr, dev.password, client(), temporary)
	wantSASL(t, "smtp", addr, dev.password, client(), false)
	if err := os.WriteFile(path, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, addr, dev.password, client(), accepted)
}

// TestAuthProcessLimit checks that the shipped vsz_limit is what Dovecot
// applies to its auth process, the limit every login above ran under.
func TestAuthProcessLimit(t *testing.T) {
	pid := authPID(t)
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

// TestProgramIsStaticAndStripped: Dovecot runs the build as is, on a mail
// host that may not have the C library it was built against.
func TestProgramIsStaticAndStripped(t *testing.T) {
	f, err := elf.Open(program)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("dynamically linked (%v)", p.Type)
		}
	}
	if s := f.Section(".symtab"); s != nil {
		t.Errorf("not stripped: it has a symbol table")
	}
}

// authPID finds the master's auth process.
func authPID(t *testing.T) string {
	t.Helper()
	master := strconv.Itoa(dove.cmd.Process.Pid)
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(auth") {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == master {
			return filepath.Base(filepath.Dir(p))
		}
	}
	t.Fatal("no auth process under the Dovecot master")
	return ""
}

// TestZZNoSecretInDovecotsLog runs last (file order, then name order) and
// checks that no password or token reached Dovecot's log.
func TestZZNoSecretInDovecotsLog(t *testing.T) {
	log := dove.log.String()
	if !strings.Contains(log, "devicepass-checkpassword:") {
		t.Fatalf("the program's messages are not in Dovecot's log, so this check proves nothing:\n%s", log)
	}
	for v, what := range handedOut.all() {
		if strings.Contains(log, v) {
			t.Errorf("Dovecot's log holds a %s", what)
		}
	}
}

// --- IMAP and SASL

// wantLogin logs in over IMAP from the address from and checks the answer.
func wantLogin(t *testing.T, user, password string, from net.IP, want string) {
	t.Helper()
	got, err := imapLogin(user, password, from)
	if err != nil {
		t.Fatalf("IMAP LOGIN %s from %s: %v", user, from, err)
	}
	if !strings.HasPrefix(got, want) {
		t.Errorf("IMAP LOGIN %s from %s: %q, want %s", user, from, got, want)
	}
}

// imapLogin returns the tagged answer to LOGIN, without its tag.
func imapLogin(user, password string, from net.IP) (string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", dove.imapAddr())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		return "", fmt.Errorf("greeting %q: %v", line, err)
	}
	if _, err := fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", quote(user), quote(password)); err != nil {
		return "", err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("no answer to LOGIN: %v", err)
		}
		if rest, ok := strings.CutPrefix(line, "a1 "); ok {
			_, _ = io.WriteString(c, "a2 LOGOUT\r\n")
			return strings.TrimSpace(rest), nil
		}
	}
}

// quote makes an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// wantSASL authenticates through Dovecot's auth service as Postfix does
// (doveadm auth test speaks the same auth protocol), for service and the
// client address from.
func wantSASL(t *testing.T, service, user, password string, from net.IP, want bool) {
	t.Helper()
	cmd := exec.Command("doveadm", "-c", dove.conf, "auth", "test", "-x", "service="+service, "-x", "rip="+from.String(), user, password)
	out, err := cmd.CombinedOutput()
	ok := err == nil && strings.Contains(string(out), "auth succeeded")
	failed := strings.Contains(string(out), "auth failed")
	switch {
	case !ok && !failed:
		t.Fatalf("doveadm auth test: %v: %s", err, redactAll(string(out)))
	case ok != want:
		t.Errorf("SASL service=%s %s from %s: succeeded %v, want %v: %s", service, user, from, ok, want, redactAll(string(out)))
	}
}

// redactAll keeps handed-out secrets out of test output.
func redactAll(s string) string {
	for v := range handedOut.all() {
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
	handedOut.add("token", tok)
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
	handedOut.add("password", out.Password)
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
