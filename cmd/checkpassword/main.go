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
// Settings (cmd/internal/mailverify, shared with devicepass-verifyd) come
// from the file named by --config, NAME=value lines, and any
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
//	DEVICEPASS_ACCEPT_CACHE read by devicepass-verifyd only (cmd/verifyd);
//	                        a program started per login has nothing to reuse
//
// Dovecot sets SERVICE (imap, pop3, submission, smtp for Postfix's SASL,
// ...) and TCPREMOTEIP, which become the request's protocol and client IP,
// so a device's scopes and IP allow-list apply.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
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
	set, err := mailverify.LoadSettings(configPath, getenv)
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
	req := mailverify.Request{Mailbox: user, Password: password, Protocol: mailverify.Protocol(getenv("SERVICE"), set.Protocol), ClientIP: getenv("TCPREMOTEIP")}

	client, err := mailverify.NewClient(context.Background(), set)
	if err != nil {
		logf("temporary failure: %v", err)
		return exitTemporary
	}
	valid, err := client.Verify(context.Background(), req)
	var refused *mailverify.RefusedError
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
