// Package e2e holds the end-to-end tests: real HTTP against one local
// runner (shared/devtools/localrun: the local gateway, the API and verify
// handlers, the rotation scheduler, the stream poller) on DynamoDB Local
// and moto, which the runner installs and starts. Consumers' reads go through the AWS SDK with the
// runner's .local/env settings, as a consuming service's would.
//
// The tests run one after the other. After the last one, TestMain searches
// everything they left behind for secrets (scanForLeaks).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/devtools/devclock"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/devtools/secretset"
)

var (
	runner   *localrun.Runner
	stateDir string
	logs     = &logbuf.Buffer{}
	// clock is the runner's (service, gateway, issuer): tests step past an
	// expiry instead of sleeping until it.
	clock  = &devclock.Clock{}
	client = &http.Client{Timeout: 30 * time.Second}
	// handedOut collects every password and token the API handed out, for
	// the leak test.
	handedOut = &secretset.Set{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	stateDir, err = os.MkdirTemp("", "devicepass-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(stateDir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	runner, err = localrun.Start(ctx, localrun.Options{
		StateDir:          stateDir, // never a developer's .local
		Clock:             clock.Now,
		Logger:            logger,
		SchedulerInterval: -1, // the tests tick it themselves
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start the local runner:", err)
		return 1
	}
	defer runner.Stop()
	code := m.Run()
	// The leak scan runs after every test, not as a test that must sort
	// last: -run and -shuffle cannot skip or reorder it.
	if problems := scanForLeaks(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "FAIL: leak scan:", p)
		}
		code = 1
	} else {
		fmt.Fprintln(os.Stderr, "leak scan: no secret in the logs, the table or the event file")
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- last lines of the runner's log:\n%s\n", logs.Tail(40))
	}
	return code
}

// --- HTTP helpers

var seq atomic.Int64

// unique returns a name no other test uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, seq.Add(1))
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d %q is not a JSON object: %v", a.status, a.body, err)
	}
	return m
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

// do sends a request; body is JSON-encoded unless it is a string or []byte
// (sent as is). Content-Type is application/json unless hdr says otherwise.
func do(t *testing.T, method, path, token string, body any, hdr ...string) answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
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
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// token gets a dev token from POST /local/token.
func token(t *testing.T, req localauth.TokenRequest) string {
	t.Helper()
	a := do(t, "POST", "/local/token", "", req)
	if a.status != 200 {
		t.Fatalf("POST /local/token: %s", a)
	}
	tok, _ := a.json(t)["token"].(string)
	if tok == "" {
		t.Fatalf("POST /local/token: no token in %s", a)
	}
	handedOut.Add("token", tok)
	return tok
}

const domain = "example.com"

func adminToken(t *testing.T) string {
	t.Helper()
	return token(t, localauth.TokenRequest{Sub: unique("admin"), Email: "admin@" + domain, Groups: []string{"domain-admin:" + domain}})
}

func userToken(t *testing.T, sub string) string {
	t.Helper()
	return token(t, localauth.TokenRequest{Sub: sub, Email: sub + "@" + domain})
}

func mailServerToken(t *testing.T) string {
	t.Helper()
	return token(t, localauth.TokenRequest{Sub: "mx-1", Groups: []string{localgw.VerifyGroup}})
}

// newMailbox registers a fresh mailbox owned by owner and returns its address.
func newMailbox(t *testing.T, admin, owner string) string {
	t.Helper()
	addr := unique("box") + "@" + domain
	if a := do(t, "PUT", "/v1/mailboxes/"+addr, admin, map[string]string{"owner": owner}); a.status != 201 {
		t.Fatalf("PUT mailbox: %s, want 201", a)
	}
	return addr
}

type created struct {
	id, arn, password string
	device            map[string]any
}

// newDevice creates a device and returns it with its password.
func newDevice(t *testing.T, tok, addr string, body map[string]any, hdr ...string) created {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["name"]; !ok {
		body["name"] = "Device " + unique("d")
	}
	a := do(t, "POST", "/v1/mailboxes/"+addr+"/devices", tok, body, hdr...)
	if a.status != 201 {
		t.Fatalf("POST devices: %s, want 201", a)
	}
	return decodeCreated(t, a)
}

func decodeCreated(t *testing.T, a answer) created {
	t.Helper()
	m := a.json(t)
	d, _ := m["device"].(map[string]any)
	c := created{device: d}
	c.password, _ = m["password"].(string)
	c.id, _ = d["id"].(string)
	c.arn, _ = d["secretArn"].(string)
	if c.password == "" || c.id == "" || c.arn == "" {
		t.Fatalf("answer lacks password, id or secretArn: %s", a)
	}
	handedOut.Add("password", c.password)
	return c
}

// verify asks POST /v1/verify as a mail server.
func verify(t *testing.T, mx, addr, password string) bool {
	t.Helper()
	a := do(t, "POST", "/v1/verify", mx, map[string]string{"mailbox": addr, "password": password, "protocol": "imap", "clientIp": "192.0.2.10"})
	if a.status != 200 {
		t.Fatalf("POST /v1/verify: %s, want 200", a)
	}
	v, ok := a.json(t)["valid"].(bool)
	if !ok {
		t.Fatalf("POST /v1/verify: no boolean valid in %s", a)
	}
	return v
}

// --- consumers' view: the AWS SDK with the env file's settings

// envFile reads the runner's env file of export lines.
func envFile(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(runner.EnvFile())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok {
			t.Fatalf("env file line %q is not an export line", line)
		}
		k, v, _ := strings.Cut(kv, "=")
		env[k] = strings.Trim(v, "'")
	}
	return env
}

// consumerSecrets is a Secrets Manager client configured only from the env
// file, as a consuming service on the developer's machine would be.
func consumerSecrets(t *testing.T) *secretsmanager.Client {
	t.Helper()
	env := envFile(t)
	return secretsmanager.New(secretsmanager.Options{
		Region:       env["AWS_REGION"],
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
		BaseEndpoint: aws.String(env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]),
	})
}

type secretValue struct {
	version, username, password, device string
}

// currentSecret reads a secret's value as a consumer does: GetSecretValue
// with only the secret id, which AWS answers with the AWSCURRENT version.
func currentSecret(t *testing.T, sm *secretsmanager.Client, arn string) secretValue {
	t.Helper()
	out, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", arn, err)
	}
	current := false
	for _, s := range out.VersionStages {
		current = current || s == "AWSCURRENT"
	}
	if !current {
		t.Fatalf("GetSecretValue %s without a stage answered version %s with stages %v, not AWSCURRENT", arn, aws.ToString(out.VersionId), out.VersionStages)
	}
	var v struct{ Username, Password, Device string }
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		t.Fatalf("secret %s does not hold the username/password JSON", arn)
	}
	return secretValue{version: aws.ToString(out.VersionId), username: v.Username, password: v.Password, device: v.Device}
}
