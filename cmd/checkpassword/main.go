// Command checkpassword lets Dovecot, or any server speaking the qmail
// checkpassword interface, accept devicepass device passwords: it reads the
// credentials from file descriptor 3 and asks devicepass's verify endpoint.
//
// Usage, as contrib/dovecot/90-devicepass.conf runs it:
//
//	devicepass-checkpassword [--config=FILE] [reply-program ...]
//
// Interface: fd 3 carries "user\0password\0" (and optionally a timestamp
// and more NUL-terminated fields). On success the program runs the reply
// program Dovecot appends to its arguments (checkpassword-reply) with USER
// set, or exits 0 without one. Exit codes:
//
//	0    accepted
//	1    refused: a wrong or unknown credential, or input the endpoint
//	     answers cannot be valid (400, such as a user name without a
//	     domain or an empty password), so the client asks for the password
//	     again instead of retrying forever
//	111  temporary failure: the endpoint unreachable, failing (5xx) or
//	     rate limiting the mailbox (429); also a setup the operator has to
//	     fix (no URL or region, a settings file that cannot be read, the
//	     endpoint refusing the mail server itself), which is no user's
//	     wrong password
//
// Settings come from the file named by --config, NAME=value lines, and any
// environment variable of the same name overrides the file's line. Dovecot
// clears the environment of the programs it runs, which is why a file:
//
//	DEVICEPASS_VERIFY_URL   the verify endpoint (required), e.g.
//	                        https://API-ID.execute-api.REGION.amazonaws.com/v1/verify
//	AWS_REGION              the Region to sign for; default: the REGION of an
//	                        execute-api host name. Without either the program
//	                        refuses to run: SigV4 never signs for no Region.
//	AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE
//	                        where the signing credentials come from; default:
//	                        the AWS SDK's chain (an EC2 instance role, say)
//	DEVICEPASS_PROTOCOL     the scope asked for a SERVICE devicepass has no
//	                        scope for (default imap)
//	DEVICEPASS_TIMEOUT      how long to wait for the endpoint (default 5s)
//	DEVICEPASS_AUTH         sigv4 (default). LOCAL RUNS ONLY: bearer, which
//	                        sends DEVICEPASS_TOKEN, a `mail-server` group
//	                        token of the local runner (make run), in place
//	                        of a signature; deployed, the verify route takes
//	                        SigV4 only.
//	DEVICEPASS_TOKEN        the local runner's token for DEVICEPASS_AUTH=bearer
//
// Dovecot sets SERVICE (imap, pop3, submission, smtp for Postfix's SASL,
// ...) and TCPREMOTEIP, which become the request's protocol and client IP,
// so a device's scopes and IP allow-list apply.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// The exit codes of the checkpassword interface. Dovecot reads 2 as "a
// userdb-only program used as passdb", so this program never exits 2 on
// purpose; any failure that is not a refusal is 111.
const (
	exitOK        = 0
	exitRejected  = 1
	exitTemporary = 111
)

// maxInput bounds what is read from fd 3: Dovecot sends at most 512 bytes.
const maxInput = 1024

func main() {
	os.Exit(run(os.Getenv, os.NewFile(3, "credentials"), os.Args[1:], os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(getenv func(string) string, creds *os.File, args []string, stderr io.Writer) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "devicepass-checkpassword: "+format+"\n", args...)
	}
	configPath, next := splitArgs(args)
	set, err := loadSettings(configPath, getenv)
	if err != nil {
		logf("%v", err)
		return exitTemporary
	}
	if getenv("AUTHORIZED") != "" {
		// A userdb or credentials lookup: there is no password to check.
		logf("only checks passwords: configure it as a passdb for plaintext mechanisms, not as a userdb or for credentials lookups")
		return exitTemporary
	}
	if creds == nil {
		logf("no credentials on file descriptor 3")
		return exitTemporary
	}
	buf, err := io.ReadAll(io.LimitReader(creds, maxInput))
	_ = creds.Close()
	if err != nil {
		logf("read credentials: %v", err)
		return exitTemporary
	}
	fields := bytes.Split(buf, []byte{0})
	if len(fields) < 2 {
		logf("credentials on file descriptor 3 are not user\\0password\\0")
		return exitTemporary
	}
	user, password := string(fields[0]), string(fields[1])
	req := verifyRequest{Mailbox: user, Password: password, Protocol: protocol(getenv("SERVICE"), set.protocol), ClientIP: getenv("TCPREMOTEIP")}

	ctx, cancel := context.WithTimeout(context.Background(), set.timeout)
	defer cancel()
	valid, err := verify(ctx, set, req)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		logf("refused: %v", err)
		return exitRejected
	case err != nil:
		logf("temporary failure: %v", err)
		return exitTemporary
	case !valid:
		return exitRejected
	}
	if len(next) == 0 {
		return exitOK
	}
	path, err := exec.LookPath(next[0])
	if err != nil {
		logf("cannot run the reply program: %v", err)
		return exitTemporary
	}
	// Dovecot's checkpassword-reply reads USER to learn who logged in.
	if err := syscall.Exec(path, next, withEnv(os.Environ(), "USER", user)); err != nil {
		logf("exec %s: %v", next[0], err)
		return exitTemporary
	}
	return exitOK
}

// splitArgs takes the program's own --config=FILE off the front of args;
// the rest is the reply program Dovecot appends.
func splitArgs(args []string) (configPath string, next []string) {
	for len(args) > 0 {
		v, ok := strings.CutPrefix(args[0], "--config=")
		if !ok {
			break
		}
		configPath, args = v, args[1:]
	}
	return configPath, args
}

// withEnv returns env with name set to value, replacing any earlier entry:
// C programs read the first of duplicate entries.
func withEnv(env []string, name, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}

// protocol maps Dovecot's SERVICE to a devicepass scope; fallback answers
// for a service devicepass has no scope for.
func protocol(service, fallback string) string {
	switch s := strings.ToLower(service); s {
	case "imap", "pop", "smtp", "caldav", "carddav":
		return s
	case "pop3":
		return "pop"
	case "submission", "lmtp", "smtps":
		return "smtp"
	}
	if fallback != "" {
		return fallback
	}
	return "imap"
}

type verifyRequest struct {
	Mailbox  string `json:"mailbox"`
	Password string `json:"password"`
	Protocol string `json:"protocol"`
	ClientIP string `json:"clientIp,omitempty"`
}

// refusedError is an answer that the credentials cannot be valid (400):
// a refusal like a wrong password, logged with the field the endpoint named.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func verify(ctx context.Context, set settings, in verifyRequest) (bool, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, set.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s: %w", keyURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if set.bearer {
		req.Header.Set("Authorization", "Bearer "+set.token)
	} else if err := sign(ctx, set, req, body); err != nil {
		return false, fmt.Errorf("sign the request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("verify endpoint unreachable: %s", redact(err.Error(), in.Password))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return false, &refusedError{"the verify endpoint answered 400" + problemField(resp.Body)}
	case resp.StatusCode == http.StatusTooManyRequests:
		return false, errors.New("the verify endpoint rate limits this mailbox (429)")
	case resp.StatusCode >= 500:
		return false, fmt.Errorf("the verify endpoint answered %d", resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Errorf("the verify endpoint refused this mail server (%d): check its credentials and their execute-api:Invoke permission", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("the verify endpoint answered %d: check %s", resp.StatusCode, keyURL)
	}
	var out struct {
		Valid *bool `json:"valid"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out); err != nil || out.Valid == nil {
		return false, errors.New(`the verify endpoint answered something other than {"valid": ...}`)
	}
	return *out.Valid, nil
}

// problemField names the field of a problem document, which says what was
// wrong without quoting the value.
func problemField(body io.Reader) string {
	var p struct {
		Field string `json:"field"`
	}
	if json.NewDecoder(io.LimitReader(body, 4096)).Decode(&p) != nil || p.Field == "" || len(p.Field) > 64 {
		return ""
	}
	return fmt.Sprintf(" (field %q)", p.Field)
}

// sign signs req with SigV4 for API Gateway (service execute-api) in the
// configured Region, with the credentials of the AWS SDK's chain.
func sign(ctx context.Context, set settings, req *http.Request, body []byte) error {
	opts := []func(*config.LoadOptions) error{config.WithRegion(set.region)}
	if set.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(set.profile))
	}
	if set.configFile != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{set.configFile}))
	}
	if set.credentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{set.credentialsFile}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	return signWith(ctx, creds, set.region, req, body, time.Now())
}

func signWith(ctx context.Context, creds aws.Credentials, region string, req *http.Request, body []byte, now time.Time) error {
	if region == "" {
		return errors.New("no Region to sign for")
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", region, now)
}

// redact removes the password from a message, in case a transport error
// ever quotes the body.
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "[redacted]")
}
