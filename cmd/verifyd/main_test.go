package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
)

// fakeVerifier answers like the endpoint for one mailbox and password, and
// records what it was asked.
type fakeVerifier struct {
	mu    sync.Mutex
	asked []mailverify.Request
	err   error
}

func (f *fakeVerifier) Verify(_ context.Context, in mailverify.Request) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, in)
	if f.err != nil {
		return false, f.err
	}
	return in.Mailbox == "alice@example.com" && in.Password == "right-password", nil
}

func netstrings(fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%d:%s,", len(f), f)
	}
	return b.String()
}

// start serves a fresh server on a socket in a temporary folder.
func start(t *testing.T, v verifier) (path string, logs *strings.Builder) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "verifyd.sock")
	l, err := listen(path, "")
	if err != nil {
		t.Fatal(err)
	}
	logs = &strings.Builder{}
	var mu sync.Mutex
	s := &server{client: v, fallback: "imap", now: time.Now, logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(logs, format+"\n", args...)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	return path, logs
}

func TestAnswersOnOneConnection(t *testing.T) {
	fake := &fakeVerifier{}
	path, _ := start(t, fake)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, tc := range []struct {
		user, password, service, ip, want string
	}{
		{"alice@example.com", "right-password", "imap", "192.0.2.7", "OK"},
		{"alice@example.com", "wrong, with: commas\nand a newline", "pop3", "", "NO"},
		{"alice@example.com", "right-password", "submission", "2001:db8::1", "OK"},
	} {
		if _, err := c.Write([]byte(netstrings(tc.user, tc.password, tc.service, tc.ip))); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != tc.want {
			t.Errorf("%s/%s: %q %v, want %s", tc.service, tc.ip, line, err, tc.want)
		}
	}
	want := []mailverify.Request{
		{Mailbox: "alice@example.com", Password: "right-password", Protocol: "imap", ClientIP: "192.0.2.7"},
		{Mailbox: "alice@example.com", Password: "wrong, with: commas\nand a newline", Protocol: "pop"},
		{Mailbox: "alice@example.com", Password: "right-password", Protocol: "smtp", ClientIP: "2001:db8::1"},
	}
	if fmt.Sprint(fake.asked) != fmt.Sprint(want) {
		t.Errorf("asked %+v, want %+v", fake.asked, want)
	}
}

func TestRefusalsAndFailures(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&mailverify.RefusedError{}, "NO "},
		{errors.New("the verify endpoint answered 503"), "TEMP the verify endpoint answered 503"},
	} {
		path, logs := start(t, &fakeVerifier{err: tc.err})
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(netstrings("alice@example.com", "s3cret-pw", "imap", "")))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, tc.want) {
			t.Errorf("%v: answered %q, want %q", tc.err, line, tc.want)
		}
		if strings.Contains(line+logs.String(), "s3cret-pw") {
			t.Errorf("the password is in the answer or the log")
		}
	}
}

// TestBadInputClosesTheConnection: anything that is not a request gets a
// temporary failure (the peer is broken, not the user) and never reaches
// the endpoint, and never echoes what was sent.
func TestBadInputClosesTheConnection(t *testing.T) {
	for _, in := range []string{
		"x:abc,",
		"3:abcX",
		"99999:" + strings.Repeat("a", 10),
		"2000:" + strings.Repeat("s3cret", 400) + ",",
		netstrings("alice@example.com", "s3cret") + "0:",
	} {
		fake := &fakeVerifier{}
		path, logs := start(t, fake)
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(in))
		if u, ok := c.(*net.UnixConn); ok {
			_ = u.CloseWrite()
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line != "TEMP bad request\n" {
			t.Errorf("%.20q: answered %q", in, line)
		}
		if len(fake.asked) != 0 {
			t.Errorf("%.20q: asked the endpoint", in)
		}
		if strings.Contains(logs.String(), "s3cret") {
			t.Errorf("%.20q: the log echoes the input: %s", in, logs.String())
		}
	}
}

func TestSocketIsClosedToOthers(t *testing.T) {
	path, _ := start(t, &fakeVerifier{})
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Errorf("socket mode %v, want 0660", perm)
	}
	// A second instance on the same socket refuses to start.
	if _, err := listen(path, ""); err == nil {
		t.Error("a second instance took over a live socket")
	}
}
