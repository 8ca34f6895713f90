// Command verifyd is devicepass's resident verify helper for a mail host:
// Dovecot's Lua passdb (contrib/dovecot/devicepass.lua) hands it each
// login over a local unix socket, and it asks devicepass's verify endpoint
// over connections it keeps open, signing with credentials it keeps
// cached. A login then costs one local round trip and one HTTPS request on
// a warm connection, instead of starting a program, loading credentials
// and making a TLS handshake, which is what cmd/checkpassword does for
// every login. It reuses an acceptance for the same mailbox, password,
// protocol and client address for at most DEVICEPASS_ACCEPT_CACHE (default
// 2s, at most 4s, 0 turns it off), so that a mail client's burst of
// logins costs one request and a revoked, disabled or regenerated-away
// password stops within that time; a refusal is never reused.
//
// Usage, as contrib/systemd/devicepass-verifyd.service runs it:
//
//	devicepass-verifyd --config=/etc/devicepass/verifyd.conf \
//	    --socket=/run/devicepass/verifyd.sock [--socket-group=dovecot]
//
// The settings file is the one cmd/checkpassword reads (the same names,
// listed in cmd/internal/mailverify; an environment variable overrides a
// line); it is read once at start, so a change needs a restart.
//
// The socket speaks a small protocol, one request after another on a
// connection. A request is four netstrings ("<length>:<bytes>,", so that
// a field may hold any byte): the user, the password, Dovecot's service
// name and the client's IP address (may be empty). The answer is one line:
//
//	OK              the password is valid
//	NO [reason]     refused: wrong, unknown, or input that cannot be valid
//	TEMP reason     no answer (endpoint down, failing, rate limiting):
//	                the client should try again later
//
// Reasons never hold the password. The socket is created mode 0660 so that
// only its owner and group (Dovecot's) may ask.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
)

func main() {
	fs := flag.NewFlagSet("devicepass-verifyd", flag.ExitOnError)
	configPath := fs.String("config", "", "the settings file (NAME=value lines, as cmd/checkpassword's)")
	socketPath := fs.String("socket", "/run/devicepass/verifyd.sock", "the unix socket to listen on")
	socketGroup := fs.String("socket-group", "", "the group to give the socket (default: the process's)")
	_ = fs.Parse(os.Args[1:])

	logger := log.New(os.Stderr, "devicepass-verifyd: ", 0)
	set, err := mailverify.LoadSettings(*configPath, os.Getenv)
	if err != nil {
		logger.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	client, err := mailverify.NewClient(ctx, set)
	if err != nil {
		logger.Fatal(err)
	}
	l, err := listen(*socketPath, *socketGroup)
	if err != nil {
		logger.Fatal(err)
	}
	logger.Printf("listening on %s for %s", *socketPath, set.URL)
	go func() {
		<-ctx.Done()
		_ = l.Close()
	}()
	srv := &server{client: client, fallback: set.Protocol, logf: logger.Printf, now: time.Now}
	if set.AcceptCache > 0 {
		srv.cache = newAcceptCache(set.AcceptCache, time.Now)
	}
	// serve returns when the listener closes: on SIGTERM, or on an error.
	if err := srv.serve(ctx, l); ctx.Err() == nil {
		logger.Fatal(err)
	}
}

// listen makes the socket, replacing one a previous run left behind, with
// mode 0660 and, when group is set, that group.
func listen(path, group string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another instance is listening there", path)
		}
		_ = os.Remove(path)
	}
	// The umask keeps the socket closed to others from the start, not
	// only after a chmod.
	old := syscall.Umask(0o117)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(true)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			l.Close()
			return nil, err
		}
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// verifier is what the server needs of mailverify.Client.
type verifier interface {
	Verify(ctx context.Context, in mailverify.Request) (bool, error)
}

// server answers the socket's requests, each connection in its own
// goroutine: Dovecot's auth workers each keep one connection.
type server struct {
	client   verifier
	fallback string // the protocol for a service devicepass has no scope for
	logf     func(format string, args ...any)
	now      func() time.Time
	cache    *acceptCache // nil: every login asks the endpoint
}

func (s *server) serve(ctx context.Context, l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go s.handle(ctx, c)
	}
}

// Bounds on a request: Dovecot passes at most a few hundred bytes of user
// and password.
const (
	maxField  = 1024
	maxFields = 4
)

// handle answers requests on c until the peer closes it or sends something
// that is not a request.
func (s *server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriter(c)
	for {
		fields, err := readRequest(r)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			s.logf("bad request on the socket: %v", err)
			_, _ = w.WriteString("TEMP bad request\n")
			_ = w.Flush()
			return
		}
		_, _ = w.WriteString(s.answer(ctx, fields) + "\n")
		if w.Flush() != nil {
			return
		}
	}
}

// answer asks the endpoint about one login and returns the answer line.
func (s *server) answer(ctx context.Context, f [maxFields]string) string {
	req := mailverify.Request{Mailbox: f[0], Password: f[1], Protocol: mailverify.Protocol(f[2], s.fallback), ClientIP: f[3]}
	var key [32]byte
	if s.cache != nil {
		key = s.cache.sum(req)
		if s.cache.accepted(key) {
			return "OK"
		}
	}
	asked := s.now()
	valid, err := s.client.Verify(ctx, req)
	var refused *mailverify.RefusedError
	switch {
	case errors.As(err, &refused):
		s.logf("refused: %v", err)
		return "NO " + oneLine(err.Error())
	case err != nil:
		s.logf("temporary failure: %v", err)
		return "TEMP " + oneLine(err.Error())
	case !valid:
		return "NO"
	}
	if s.cache != nil {
		s.cache.add(key, asked)
	}
	return "OK"
}

// readRequest reads the four netstrings of one request. io.EOF means the
// peer closed the connection between requests.
func readRequest(r *bufio.Reader) ([maxFields]string, error) {
	var out [maxFields]string
	for i := range out {
		v, err := readNetstring(r)
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return out, err
		}
		out[i] = v
	}
	return out, nil
}

// readNetstring reads "<length>:<bytes>,".
func readNetstring(r *bufio.Reader) (string, error) {
	n := 0
	for digits := 0; ; digits++ {
		b, err := r.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if b == ':' && digits > 0 {
			break
		}
		if b < '0' || b > '9' || digits >= 4 {
			return "", errors.New("not a netstring length")
		}
		n = n*10 + int(b-'0')
	}
	if n > maxField {
		return "", fmt.Errorf("a field longer than %d bytes", maxField)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", io.ErrUnexpectedEOF
	}
	if buf[n] != ',' {
		return "", errors.New("a netstring without its closing comma")
	}
	return string(buf[:n]), nil
}

// oneLine keeps a reason on the answer's one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
