package localrun_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
)

// These tests stop Start before it starts any stand-in.

func TestStartRefusesWhileAnotherRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("pid=4242\nurl=http://127.0.0.1:8080\n"); err != nil {
		t.Fatal(err)
	}
	_, err = localrun.Start(context.Background(), localrun.Options{StateDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var are *localrun.AlreadyRunningError
	if !errors.As(err, &are) {
		t.Fatalf("Start = %v, want an *AlreadyRunningError", err)
	}
	for _, want := range []string{"already running", "pid 4242", "http://127.0.0.1:8080", "kill -INT 4242"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestStartRefusesABusyPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = localrun.Start(context.Background(), localrun.Options{StateDir: t.TempDir(), Port: port, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("Start on a busy port = %v, want an error saying it is in use and naming PORT", err)
	}
}
