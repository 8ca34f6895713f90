// Package dovecot tests the shipped Dovecot configurations with a real
// Dovecot 2.3 (Debian's dovecot-imapd, dovecot-auth-lua and lua-socket;
// `make test` installs them), through both login paths, against the local
// stack (shared/devtools/localgw on DynamoDB Local and moto):
//
//   - contrib/dovecot/90-devicepass.conf: the checkpassword program, built
//     as `make checkpassword` builds it;
//   - contrib/dovecot/90-devicepass-verifyd.conf with devicepass.lua: the
//     Lua passdb asking devicepass-verifyd, built as `make verifyd` builds
//     it, over its unix socket.
//
// Each runs in its own Dovecot with exactly the shipped files, included by
// a small test-only configuration (shared/devtools/dovecot), in a private
// mount namespace in which the test's builds and settings appear at the
// install locations the shipped files name, so that nothing is installed
// on the machine. That needs root, as Dovecot's master does.
package dovecot

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/dovecot"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// The install locations the shipped files name, which the test checks
// they still do.
const (
	installedCheckpassword = "/usr/local/bin/devicepass-checkpassword"
	installedSettings      = "/etc/devicepass/checkpassword.conf"
	installedVerifyd       = "/usr/local/bin/devicepass-verifyd"
	installedLua           = "/etc/dovecot/devicepass.lua"
	installedSocket        = "/run/devicepass/verifyd.sock"
)

var (
	runner  *localrun.Runner
	runLogs = &logbuf.Buffer{}
	// settings is what both paths are configured with: the local runner's
	// URL and a mail-server token instead of SigV4.
	settings []byte
	// binDir holds the builds, mounted at /usr/local/bin.
	binDir string
	// slowPath is checkpassword's Dovecot, fastPath the Lua passdb's.
	slowPath, fastPath *path
	helper             *helperProc
	handedOut          = &secretSet{}
)

func TestMain(m *testing.M) {
	dovecot.Sandbox()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
		return 1
	}
	bin, err := dovecot.Binary()
	if err != nil {
		return fail("%v", err)
	}
	tmp, err := os.MkdirTemp("", "devicepass-dovecot-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	// Dovecot's unprivileged processes traverse it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	runner, err = localrun.Start(ctx, localrun.Options{
		StateDir:          filepath.Join(tmp, "local"),
		Logger:            slog.New(slog.NewJSONHandler(runLogs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SchedulerInterval: -1,
	})
	if err != nil {
		return fail("start the local runner: %v", err)
	}
	defer runner.Stop()
	mx, err := runner.Issuer().Mint(localauth.TokenRequest{Sub: "mx-dovecot", Groups: []string{localgw.VerifyGroup}})
	if err != nil {
		return fail("mint the mail server's token: %v", err)
	}
	handedOut.add("mail-server token", mx)
	settings = []byte(fmt.Sprintf("# local runner: a mail-server token instead of SigV4\nDEVICEPASS_VERIFY_URL=%s\nDEVICEPASS_AUTH=bearer\nDEVICEPASS_TOKEN=%s\n# a loaded test machine is slower than a mail host\nDEVICEPASS_TIMEOUT=30s\n", runner.URL()+"/v1/verify", mx))

	root, err := standins.Root()
	if err != nil {
		return fail("%v", err)
	}
	if binDir, err = Install(ctx, root, filepath.Join(tmp, "usr-local-bin")); err != nil {
		return fail("%v", err)
	}
	slowConf, fastConf, lua, err := Shipped(root)
	if err != nil {
		return fail("%v", err)
	}
	runDir := filepath.Join(tmp, "run-devicepass")
	helper = &helperProc{bin: filepath.Join(binDir, filepath.Base(installedVerifyd)), conf: filepath.Join(tmp, "verifyd.conf"),
		socket: filepath.Join(runDir, filepath.Base(installedSocket)), log: &logbuf.Buffer{}}
	if err := os.Mkdir(runDir, 0o755); err != nil {
		return fail("%v", err)
	}
	if err := helper.startErr(settings); err != nil {
		return fail("start devicepass-verifyd: %v", err)
	}
	defer helper.stopErr()

	slow, err := dovecot.Start(ctx, dovecot.Options{Bin: bin, Dir: filepath.Join(tmp, "checkpassword"), Include: slowConf, BinDir: binDir,
		Etc: map[string]dovecot.File{strings.TrimPrefix(installedSettings, "/etc/"): {Content: settings, Mode: 0o640}}})
	if err != nil {
		return fail("start Dovecot with %s: %v", slowConf, err)
	}
	defer slow.Stop()
	fast, err := dovecot.Start(ctx, dovecot.Options{Bin: bin, Dir: filepath.Join(tmp, "verifyd"), Include: fastConf, BinDir: binDir,
		Etc: map[string]dovecot.File{strings.TrimPrefix(installedLua, "/etc/"): {Content: lua, Mode: 0o644}}, RunDevicepass: runDir})
	if err != nil {
		return fail("start Dovecot with %s: %v", fastConf, err)
	}
	defer fast.Stop()
	slowPath = &path{name: "checkpassword", srv: slow}
	fastPath = &path{name: "verifyd", srv: fast}

	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- checkpassword's Dovecot log:\n%s\n--- the fast path's Dovecot log:\n%s\n--- devicepass-verifyd's log:\n%s\n--- last lines of the runner's log:\n%s\n",
			slow.Log.String(), fast.Log.String(), helper.log.String(), runLogs.Tail(30))
	}
	return code
}

// Install builds the two mail host programs as `make checkpassword` and
// `make verifyd` build them (static, stripped) into dir, under their
// installed names, and returns dir.
func Install(ctx context.Context, root, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for pkg, name := range map[string]string{"./cmd/checkpassword": installedCheckpassword, "./cmd/verifyd": installedVerifyd} {
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, filepath.Base(name)), pkg)
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir, nil
}

// Shipped returns the two shipped drop-ins and the Lua script, after
// checking that they name the locations this test mounts.
func Shipped(root string) (slowConf, fastConf string, lua []byte, err error) {
	dir := filepath.Join(root, "contrib", "dovecot")
	slowConf, fastConf = filepath.Join(dir, "90-devicepass.conf"), filepath.Join(dir, "90-devicepass-verifyd.conf")
	for file, want := range map[string]string{
		slowConf:                             "args = " + installedCheckpassword + " --config=" + installedSettings,
		fastConf:                             "args = file=" + installedLua + " blocking=yes",
		filepath.Join(dir, "devicepass.lua"): `local SOCKET = "` + installedSocket + `"`,
	} {
		text, err := os.ReadFile(file)
		if err != nil {
			return "", "", nil, err
		}
		if !bytes.Contains(text, []byte(want)) {
			return "", "", nil, fmt.Errorf("%s no longer says %q: update the test's install layout", file, want)
		}
		if strings.HasSuffix(file, ".lua") {
			lua = text
		}
	}
	return slowConf, fastConf, lua, nil
}

// path is one way from Dovecot to devicepass.
type path struct {
	name string
	srv  *dovecot.Server
}

// log is where the path's program says why it refused or failed.
func (p *path) log() *logbuf.Buffer {
	if p == fastPath {
		return helper.log
	}
	return p.srv.Log
}

// setSettings gives the path's program other settings and returns how to
// put the test's back: checkpassword reads its file at every login, the
// helper at start.
func (p *path) setSettings(t *testing.T, content []byte) (restore func()) {
	t.Helper()
	var once sync.Once
	if p == fastPath {
		helper.stop(t)
		helper.start(t, content)
		restore = func() { once.Do(func() { helper.stop(t); helper.start(t, settings) }) }
	} else {
		file := p.srv.InNamespace(installedSettings)
		if err := os.WriteFile(file, content, 0o640); err != nil {
			t.Fatal(err)
		}
		restore = func() {
			once.Do(func() {
				if err := os.WriteFile(file, settings, 0o640); err != nil {
					t.Error(err)
				}
			})
		}
	}
	t.Cleanup(restore)
	return restore
}

// forEachPath runs fn as a subtest through each path.
func forEachPath(t *testing.T, fn func(t *testing.T, p *path)) {
	for _, p := range []*path{slowPath, fastPath} {
		t.Run(p.name, func(t *testing.T) { fn(t, p) })
	}
}

// helperProc is devicepass-verifyd, run as its systemd unit runs it (as
// root here, giving its socket to the dovecot group).
type helperProc struct {
	bin, conf, socket string
	log               *logbuf.Buffer
	cmd               *exec.Cmd
	exited            chan error
}

func (h *helperProc) startErr(content []byte) error {
	if err := os.WriteFile(h.conf, content, 0o600); err != nil {
		return err
	}
	h.cmd = exec.Command(h.bin, "--config="+h.conf, "--socket="+h.socket, "--socket-group=dovecot")
	h.cmd.Env = []string{} // as systemd's: the settings come from the file
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := h.cmd.Start(); err != nil {
		return err
	}
	h.exited = make(chan error, 1)
	go func() { h.exited <- h.cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("unix", h.socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-h.exited:
			return fmt.Errorf("exited: %v\n%s", err, h.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no socket at %s", h.socket)
		}
	}
}

func (h *helperProc) stopErr() error {
	if h.cmd == nil {
		return nil
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	err := <-h.exited
	h.cmd = nil
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() <= 0 {
		err = nil // ended by the signal
	}
	return err
}

func (h *helperProc) start(t *testing.T, content []byte) {
	t.Helper()
	if err := h.startErr(content); err != nil {
		t.Fatal(err)
	}
}

func (h *helperProc) stop(t *testing.T) {
	t.Helper()
	if err := h.stopErr(); err != nil {
		t.Errorf("devicepass-verifyd: %v", err)
	}
}

// secretSet collects every password and token handed out, for the leak
// check at the end.
type secretSet struct {
	mu   sync.Mutex
	vals map[string]string
}

func (s *secretSet) add(what, v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		s.vals = map[string]string{}
	}
	s.vals[v] = what
}

func (s *secretSet) all() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.vals))
	for k, v := range s.vals {
		out[k] = v
	}
	return out
}
