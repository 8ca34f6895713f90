// Command checkpassword lets Dovecot, or any server speaking the qmail
// checkpassword interface, accept devicepass device passwords: it reads the
// credentials from file descriptor 3 and asks devicepass's verify endpoint.
//
// Interface: fd 3 carries "user\0password\0" (and optionally a timestamp
// and more NUL-terminated fields). On success the program runs the command
// given as arguments (Dovecot's checkpassword-reply) with USER set, or
// exits 0 without arguments. It exits 1 when the password is refused, 2 on
// bad input, and 111 on a temporary failure (endpoint down, rate limited),
// so the server answers "try again later" rather than "wrong password".
//
// Configuration (environment):
//
//	DEVICEPASS_VERIFY_URL   the verify endpoint, e.g. https://api.example.com/v1/verify
//	DEVICEPASS_AUTH         "sigv4" (default: sign with the AWS credentials of the
//	                        environment, as an IAM-authorized route needs) or "bearer"
//	DEVICEPASS_TOKEN        the bearer token when DEVICEPASS_AUTH=bearer (local runs)
//	DEVICEPASS_PROTOCOL     the protocol when the server does not say (default imap)
//	DEVICEPASS_TIMEOUT      how long to wait for the endpoint (default 5s)
//
// Dovecot sets SERVICE (imap, pop3, submission, ...) and TCPREMOTEIP, which
// become the request's protocol and client IP.
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

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// The exit codes of the checkpassword interface.
const (
	exitOK        = 0
	exitRejected  = 1
	exitMisuse    = 2
	exitTemporary = 111
)

func main() {
	os.Exit(run(os.Getenv, os.NewFile(3, "credentials"), os.Args[1:], os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(getenv func(string) string, creds *os.File, next []string, stderr io.Writer) int {
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "checkpassword: "+format+"\n", args...) }
	if creds == nil {
		logf("no credentials on file descriptor 3")
		return exitMisuse
	}
	buf, err := io.ReadAll(io.LimitReader(creds, 1024))
	_ = creds.Close()
	if err != nil {
		logf("read credentials: %v", err)
		return exitMisuse
	}
	fields := bytes.Split(buf, []byte{0})
	if len(fields) < 2 || len(fields[0]) == 0 {
		logf("credentials are not user\\0password\\0")
		return exitMisuse
	}
	user, password := string(fields[0]), string(fields[1])
	req := verifyRequest{Mailbox: user, Password: password, Protocol: protocol(getenv), ClientIP: getenv("TCPREMOTEIP")}

	timeout := 5 * time.Second
	if s := getenv("DEVICEPASS_TIMEOUT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	valid, err := verify(ctx, getenv, req)
	var temp *temporaryError
	switch {
	case errors.As(err, &temp):
		logf("temporary failure: %v", err)
		return exitTemporary
	case err != nil:
		logf("%v", err)
		return exitTemporary
	case !valid:
		return exitRejected
	}
	if len(next) == 0 {
		return exitOK
	}
	// Dovecot's checkpassword-reply reads USER to learn who logged in.
	env := append(os.Environ(), "USER="+user)
	path, err := exec.LookPath(next[0])
	if err != nil {
		logf("cannot run %s: %v", next[0], err)
		return exitTemporary
	}
	if err := syscall.Exec(path, next, env); err != nil {
		logf("exec %s: %v", next[0], err)
		return exitTemporary
	}
	return exitOK
}

// protocol maps Dovecot's SERVICE to a devicepass scope.
func protocol(getenv func(string) string) string {
	switch s := strings.ToLower(getenv("SERVICE")); s {
	case "imap", "pop", "smtp", "caldav", "carddav":
		return s
	case "pop3":
		return "pop"
	case "submission", "lmtp", "smtps":
		return "smtp"
	}
	if p := getenv("DEVICEPASS_PROTOCOL"); p != "" {
		return p
	}
	return "imap"
}

type verifyRequest struct {
	Mailbox  string `json:"mailbox"`
	Password string `json:"password"`
	Protocol string `json:"protocol"`
	ClientIP string `json:"clientIp,omitempty"`
}

// temporaryError is a failure the mail server should report as temporary.
type temporaryError struct{ msg string }

func (e *temporaryError) Error() string { return e.msg }

func verify(ctx context.Context, getenv func(string) string, in verifyRequest) (bool, error) {
	url := getenv("DEVICEPASS_VERIFY_URL")
	if url == "" {
		return false, errors.New("DEVICEPASS_VERIFY_URL is not set")
	}
	body, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("bad DEVICEPASS_VERIFY_URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch getenv("DEVICEPASS_AUTH") {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+getenv("DEVICEPASS_TOKEN"))
	case "", "sigv4":
		if err := sign(ctx, req, body); err != nil {
			return false, &temporaryError{"sign request: " + err.Error()}
		}
	default:
		return false, errors.New("DEVICEPASS_AUTH must be sigv4 or bearer")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, &temporaryError{"verify endpoint unreachable: " + redact(err.Error(), in.Password)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return false, &temporaryError{"rate limited for this mailbox"}
	case resp.StatusCode >= 500:
		return false, &temporaryError{fmt.Sprintf("verify endpoint answered %d", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("verify endpoint answered %d (check the URL and credentials)", resp.StatusCode)
	}
	var out struct {
		Valid *bool `json:"valid"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out); err != nil || out.Valid == nil {
		return false, &temporaryError{"verify endpoint answered something other than {\"valid\": ...}"}
	}
	return *out.Valid, nil
}

// sign signs req with SigV4 for API Gateway (service execute-api) with the
// environment's AWS credentials.
func sign(ctx context.Context, req *http.Request, body []byte) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", cfg.Region, time.Now())
}

// redact removes the password from a message, in case a transport error
// ever quotes the body.
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "[redacted]")
}
