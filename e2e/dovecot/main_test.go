// Package dovecot tests the shipped Dovecot configuration,
// contrib/dovecot/90-devicepass.conf, with a real Dovecot 2.3 (Debian's
// dovecot-imapd; `make test` installs it) and the checkpassword program
// built as `make checkpassword` builds it, against the local stack
// (shared/devtools/localgw on DynamoDB Local and moto).
//
// Dovecot runs with exactly the shipped file, included by a small
// test-only configuration (listeners on free loopback ports, a temporary
// base_dir, a userdb). The shipped file names the install locations,
// /usr/local/bin/devicepass-checkpassword and
// /etc/devicepass/checkpassword.conf; so that nothing is installed on the
// machine, Dovecot runs in a private mount namespace in which the test's
// build is mounted at /usr/local/bin and its settings file under /etc (an
// overlay: the machine's /etc is unchanged). That needs root, as Dovecot's
// master does.
package dovecot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// The install locations the shipped file names, which the test checks it
// still does.
const (
	installedProgram  = "/usr/local/bin/devicepass-checkpassword"
	installedSettings = "/etc/devicepass/checkpassword.conf"
)

// sandboxEnv, when set, makes the test binary the mount namespace's first
// process: it mounts the test's install and execs Dovecot (see sandbox).
const sandboxEnv = "DEVICEPASS_DOVECOT_SANDBOX"

var (
	runner  *localrun.Runner
	dove    *dovecot
	runLogs = &logbuf.Buffer{}
	// program is the checkpassword build Dovecot runs.
	program   string
	handedOut = &secretSet{}
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(sandboxEnv); spec != "" {
		sandbox(spec) // does not return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
		return 1
	}
	if err := canSandbox(); err != nil {
		return fail("%v", err)
	}
	if os.Geteuid() != 0 {
		return fail("the Dovecot tests run Dovecot's master process, which needs root; run them as root")
	}
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
		if _, err := os.Stat(bin); err != nil {
			return fail("no dovecot: install it with `tools/ensure-debs.sh dovecot-imapd` (apt-get install -y --no-install-recommends dovecot-imapd)")
		}
	}
	// The shipped file is for Dovecot 2.3: 2.4 has no checkpassword passdb.
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "2.3.") {
		return fail("%s --version: %q (%v); the shipped configuration is for Dovecot 2.3 (Debian 12's dovecot-imapd)", bin, bytes.TrimSpace(out), err)
	}
	tmp, err := os.MkdirTemp("", "devicepass-dovecot-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
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

	dove, err = startDovecot(ctx, bin, tmp, runner.URL()+"/v1/verify", mx)
	if err != nil {
		return fail("start Dovecot: %v", err)
	}
	code := m.Run()
	if err := dove.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop Dovecot:", err)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- Dovecot's log:\n%s\n--- last lines of the runner's log:\n%s\n", dove.log.String(), runLogs.Tail(30))
	}
	return code
}

// dovecot is a running Dovecot master in its own mount namespace.
type dovecot struct {
	cmd      *exec.Cmd
	conf     string // the test-only top configuration
	imapPort int
	log      *logbuf.Buffer
	exited   chan error
}

// startDovecot builds the program, lays out the install the shipped file
// expects, writes the top configuration and starts Dovecot, returning once
// it answers IMAP.
func startDovecot(ctx context.Context, bin, tmp, verifyURL, token string) (*dovecot, error) {
	root, err := standins.Root()
	if err != nil {
		return nil, err
	}
	shipped := filepath.Join(root, "contrib", "dovecot", "90-devicepass.conf")
	text, err := os.ReadFile(shipped)
	if err != nil {
		return nil, err
	}
	// The shipped file must name the locations this test mounts.
	want := "args = " + installedProgram + " --config=" + installedSettings
	if !bytes.Contains(text, []byte(want)) {
		return nil, fmt.Errorf("%s no longer says %q: update the test's install layout", shipped, want)
	}
	dovecotGroup, err := user.LookupGroup("dovecot")
	if err != nil {
		return nil, fmt.Errorf("the dovecot group (made by the dovecot-core package): %w", err)
	}
	gid, _ := strconv.Atoi(dovecotGroup.Gid)

	// Everything lives under tmp, which Dovecot's unprivileged processes
	// (dovecot, dovenull, the mail user nobody) must be able to traverse.
	binDir := filepath.Join(tmp, "usr-local-bin")
	etcUpper := filepath.Join(tmp, "etc-upper")
	dirs := map[string]os.FileMode{tmp: 0o755, binDir: 0o755, etcUpper: 0o755, filepath.Join(tmp, "etc-work"): 0o700,
		filepath.Join(tmp, "run"): 0o755, filepath.Join(tmp, "state"): 0o750, filepath.Join(tmp, "home"): 0o777}
	for d, mode := range dirs {
		if err := os.MkdirAll(d, mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, mode); err != nil {
			return nil, err
		}
	}
	// Built as `make checkpassword` builds it: static and stripped.
	program = filepath.Join(binDir, filepath.Base(installedProgram))
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", program, "./cmd/checkpassword")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the checkpassword program: %v\n%s", err, out)
	}
	// The settings file as the shipped file's comment installs it: readable
	// by the dovecot group, whose auth process runs the program.
	settingsDir := filepath.Join(etcUpper, filepath.Base(filepath.Dir(installedSettings)))
	if err := os.Mkdir(settingsDir, 0o750); err != nil {
		return nil, err
	}
	settings := filepath.Join(settingsDir, filepath.Base(installedSettings))
	content := fmt.Sprintf("# local runner: a mail-server token instead of SigV4\nDEVICEPASS_VERIFY_URL=%s\nDEVICEPASS_AUTH=bearer\nDEVICEPASS_TOKEN=%s\n# a loaded test machine is slower than a mail host\nDEVICEPASS_TIMEOUT=30s\n", verifyURL, token)
	if err := os.WriteFile(settings, []byte(content), 0o640); err != nil {
		return nil, err
	}
	for _, p := range []string{settingsDir, settings} {
		if err := os.Chown(p, 0, gid); err != nil {
			return nil, err
		}
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(tmp, "dovecot.conf")
	top := fmt.Sprintf(`# Test only: what a mail host's own configuration provides, on loopback.
protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = /dev/stderr
ssl = no
disable_plaintext_auth = no
# Refusals answer at once; the delay only slows the tests down.
auth_failure_delay = 0
mail_location = maildir:~/Maildir
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/home/%%d/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}

!include %[3]s
`, tmp, port, shipped)
	if err := os.WriteFile(conf, []byte(top), 0o644); err != nil {
		return nil, err
	}

	d := &dovecot{conf: conf, imapPort: port, log: &logbuf.Buffer{}, exited: make(chan error, 1)}
	d.cmd = exec.Command(os.Args[0])
	d.cmd.Env = append(os.Environ(), sandboxEnv+"="+strings.Join([]string{binDir, etcUpper, filepath.Join(tmp, "etc-work"), bin, conf}, string(filepath.ListSeparator)))
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = namespaced()
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.exited <- d.cmd.Wait() }()
	if err := d.waitReady(ctx); err != nil {
		_ = d.stop()
		return nil, fmt.Errorf("%w\n%s", err, d.log.String())
	}
	return d, nil
}

// waitReady polls the IMAP listener until Dovecot greets.
func (d *dovecot) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case err := <-d.exited:
			d.exited <- err
			return fmt.Errorf("Dovecot exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", d.imapAddr(), time.Second)
		if err == nil {
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "* OK") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Dovecot did not answer IMAP on %s", d.imapAddr())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *dovecot) imapAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.imapPort)) }

// stop ends the master, which ends its children.
func (d *dovecot) stop() error {
	if d.cmd.Process == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("Dovecot did not stop on SIGTERM; killed")
	}
}

// settingsPath is the settings file as the namespace's processes see it,
// so that a test can change it: the program reads it at every login.
func (d *dovecot) settingsPath() string {
	return filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "root", installedSettings)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
