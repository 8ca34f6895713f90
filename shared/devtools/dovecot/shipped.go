package dovecot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/logbuf"
)

// The install locations the shipped files name; Shipped checks that they
// still do.
const (
	InstalledCheckpassword = "/usr/local/bin/devicepass-checkpassword"
	InstalledSettings      = "/etc/devicepass/checkpassword.conf"
	InstalledVerifyd       = "/usr/local/bin/devicepass-verifyd"
	InstalledLua           = "/etc/dovecot/devicepass.lua"
	InstalledSocket        = "/run/devicepass/verifyd.sock"
)

// Install builds the two mail host programs as `make checkpassword` and
// `make verifyd` build them (static, stripped) into dir, under their
// installed names.
func Install(ctx context.Context, root, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for pkg, name := range map[string]string{"./cmd/checkpassword": InstalledCheckpassword, "./cmd/verifyd": InstalledVerifyd} {
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, filepath.Base(name)), pkg)
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// ShippedFiles are the shipped drop-ins and the Lua script.
type ShippedFiles struct {
	// Checkpassword and Verifyd are the paths of the two drop-ins.
	Checkpassword, Verifyd string
	// Lua is the script's content.
	Lua []byte
}

// Shipped returns the shipped files under root/contrib/dovecot after
// checking that they name the install locations above.
func Shipped(root string) (ShippedFiles, error) {
	dir := filepath.Join(root, "contrib", "dovecot")
	f := ShippedFiles{Checkpassword: filepath.Join(dir, "90-devicepass.conf"), Verifyd: filepath.Join(dir, "90-devicepass-verifyd.conf")}
	lua := filepath.Join(dir, "devicepass.lua")
	for file, want := range map[string]string{
		f.Checkpassword: "args = " + InstalledCheckpassword + " --config=" + InstalledSettings,
		f.Verifyd:       "args = file=" + InstalledLua + " blocking=yes",
		lua:             `local SOCKET = "` + InstalledSocket + `"`,
	} {
		text, err := os.ReadFile(file)
		if err != nil {
			return f, err
		}
		if !bytes.Contains(text, []byte(want)) {
			return f, fmt.Errorf("%s no longer says %q: update the install layout of shared/devtools/dovecot", file, want)
		}
		if file == lua {
			f.Lua = text
		}
	}
	return f, nil
}

// MailHost is a mail host with both login paths: a Dovecot with the
// checkpassword drop-in, and one with the Lua drop-in asking the
// devicepass-verifyd Helper.
type MailHost struct {
	Checkpassword, Verifyd *Server
	Helper                 *Helper
	// BinDir holds the builds, mounted at /usr/local/bin.
	BinDir string
}

// StartMailHost builds the programs and starts the helper and the two
// Dovecots under dir, both programs configured with settings (the
// settings file's content).
func StartMailHost(ctx context.Context, bin, root, dir string, settings []byte) (*MailHost, error) {
	shipped, err := Shipped(root)
	if err != nil {
		return nil, err
	}
	h := &MailHost{BinDir: filepath.Join(dir, "usr-local-bin")}
	if err := Install(ctx, root, h.BinDir); err != nil {
		return nil, err
	}
	runDir := filepath.Join(dir, "run-devicepass")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	h.Helper = &Helper{bin: filepath.Join(h.BinDir, filepath.Base(InstalledVerifyd)), conf: filepath.Join(dir, "verifyd.conf"),
		socket: filepath.Join(runDir, filepath.Base(InstalledSocket)), Log: &logbuf.Buffer{}}
	if err := h.Helper.Start(settings); err != nil {
		return nil, fmt.Errorf("start devicepass-verifyd: %w", err)
	}
	h.Checkpassword, err = Start(ctx, Options{Bin: bin, Dir: filepath.Join(dir, "checkpassword"), Include: shipped.Checkpassword, BinDir: h.BinDir,
		Etc: map[string]File{strings.TrimPrefix(InstalledSettings, "/etc/"): {Content: settings, Mode: 0o640}}})
	if err != nil {
		h.Stop()
		return nil, fmt.Errorf("start Dovecot with %s: %w", shipped.Checkpassword, err)
	}
	h.Verifyd, err = Start(ctx, Options{Bin: bin, Dir: filepath.Join(dir, "verifyd"), Include: shipped.Verifyd, BinDir: h.BinDir,
		Etc: map[string]File{strings.TrimPrefix(InstalledLua, "/etc/"): {Content: shipped.Lua, Mode: 0o644}}, RunDevicepass: runDir})
	if err != nil {
		h.Stop()
		return nil, fmt.Errorf("start Dovecot with %s: %w", shipped.Verifyd, err)
	}
	return h, nil
}

// Stop stops whatever of the host runs.
func (h *MailHost) Stop() {
	for _, s := range []*Server{h.Checkpassword, h.Verifyd} {
		if s != nil {
			_ = s.Stop()
		}
	}
	if h.Helper != nil {
		_ = h.Helper.Stop()
	}
}

// Helper is devicepass-verifyd as its systemd unit runs it (as root here,
// giving its socket to the dovecot group).
type Helper struct {
	Log               *logbuf.Buffer // what it logged, across restarts
	bin, conf, socket string
	cmd               *exec.Cmd
	exited            chan error
}

// Start writes settings to its settings file and starts it, returning once
// its socket answers.
func (h *Helper) Start(settings []byte) error {
	if h.cmd != nil {
		return errors.New("already running")
	}
	if err := os.WriteFile(h.conf, settings, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(h.bin, "--config="+h.conf, "--socket="+h.socket, "--socket-group=dovecot")
	cmd.Env = []string{} // as systemd's: the settings come from the file
	cmd.Stdout, cmd.Stderr = h.Log, h.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	h.cmd, h.exited = cmd, exited
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("unix", h.socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			h.cmd = nil
			return fmt.Errorf("exited: %v\n%s", err, h.Log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = h.Stop()
			return fmt.Errorf("no socket at %s", h.socket)
		}
	}
}

// Stop ends it with SIGTERM, as systemd does.
func (h *Helper) Stop() error {
	if h.cmd == nil {
		return nil
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	err := <-h.exited
	h.cmd = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() <= 0 {
		err = nil // ended by the signal
	}
	return err
}
