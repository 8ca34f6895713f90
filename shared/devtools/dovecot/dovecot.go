// Package dovecot runs a real Dovecot 2.3 (Debian's dovecot-imapd) for the
// Dovecot tests (e2e/dovecot) and the mail-login benchmark (cmd/bench):
// on free loopback ports, with a temporary base_dir, in a private mount
// namespace in which the caller's builds appear at the install locations
// the shipped configuration names (/usr/local/bin, /etc through an
// overlay, /run/devicepass), so that nothing is installed on the machine.
// Dovecot's master needs root, and so does the namespace.
//
// A program using it calls Sandbox first thing in main (or TestMain): the
// namespace's first process is the same binary started again, which
// mounts the caller's folders and becomes Dovecot.
package dovecot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/logbuf"
)

// sandboxEnv, when set, makes the binary the mount namespace's first
// process (see Sandbox).
const sandboxEnv = "DEVICEPASS_DOVECOT_SANDBOX"

// Binary finds Dovecot 2.3, or fails saying how to install it.
func Binary() (string, error) {
	if err := canSandbox(); err != nil {
		return "", err
	}
	if os.Geteuid() != 0 {
		return "", errors.New("the Dovecot master process needs root; run as root")
	}
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
		if _, err := os.Stat(bin); err != nil {
			return "", errors.New("no dovecot: install it with `tools/ensure-debs.sh dovecot-imapd dovecot-auth-lua lua-socket`")
		}
	}
	// The shipped files are for Dovecot 2.3: 2.4 has no checkpassword
	// passdb and another Lua interface.
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "2.3.") {
		return "", fmt.Errorf("%s --version: %q (%v); the shipped configuration is for Dovecot 2.3 (Debian 12's dovecot-imapd)", bin, bytes.TrimSpace(out), err)
	}
	return bin, nil
}

// Options say what one Dovecot runs with.
type Options struct {
	Bin string // from Binary
	// Dir is the instance's own folder; it must not exist yet or be empty.
	// Dovecot's unprivileged processes must be able to traverse its parents.
	Dir string
	// Include is a configuration file to !include after the test's own
	// top configuration (a shipped drop-in), or empty.
	Include string
	// Extra is further top-level configuration, such as a passdb.
	Extra string
	// BinDir, when set, is mounted at /usr/local/bin.
	BinDir string
	// Etc holds files to lay over /etc, by their path under /etc, with
	// their mode; the files and their folders get the dovecot group.
	Etc map[string]File
	// RunDevicepass, when set, is mounted at /run/devicepass (on an empty
	// /run of the namespace's own).
	RunDevicepass string
}

// File is the content and mode of a file laid over /etc.
type File struct {
	Content []byte
	Mode    os.FileMode
}

// Server is a running Dovecot master in its own mount namespace.
type Server struct {
	Conf     string // the top configuration
	IMAPPort int
	Log      *logbuf.Buffer // everything Dovecot logged
	cmd      *exec.Cmd
	exited   chan error
}

// spec is what the namespace's first process is told to do.
type spec struct {
	BinDir, EtcUpper, EtcWork, RunDevicepass string
	Bin, Conf                                string
}

// Start writes the top configuration and starts Dovecot, returning once it
// answers IMAP.
func Start(ctx context.Context, o Options) (*Server, error) {
	group, err := user.LookupGroup("dovecot")
	if err != nil {
		return nil, fmt.Errorf("the dovecot group (made by the dovecot-core package): %w", err)
	}
	gid, _ := strconv.Atoi(group.Gid)
	sp := spec{Bin: o.Bin, BinDir: o.BinDir, RunDevicepass: o.RunDevicepass}
	dirs := map[string]os.FileMode{o.Dir: 0o755, filepath.Join(o.Dir, "run"): 0o755,
		filepath.Join(o.Dir, "state"): 0o750, filepath.Join(o.Dir, "home"): 0o777}
	if len(o.Etc) > 0 {
		sp.EtcUpper, sp.EtcWork = filepath.Join(o.Dir, "etc-upper"), filepath.Join(o.Dir, "etc-work")
		dirs[sp.EtcUpper], dirs[sp.EtcWork] = 0o755, 0o700
	}
	for d, mode := range dirs {
		if err := os.MkdirAll(d, mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, mode); err != nil {
			return nil, err
		}
	}
	for name, f := range o.Etc {
		p := filepath.Join(sp.EtcUpper, name)
		if dir := filepath.Dir(p); dir != sp.EtcUpper {
			if _, err := os.Stat(filepath.Join("/etc", filepath.Dir(name))); err != nil {
				// A folder /etc does not have: the install makes it 0750
				// for the dovecot group.
				if err := os.MkdirAll(dir, 0o750); err != nil {
					return nil, err
				}
				if err := os.Chown(dir, 0, gid); err != nil {
					return nil, err
				}
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		if err := os.WriteFile(p, f.Content, f.Mode); err != nil {
			return nil, err
		}
		if err := os.Chown(p, 0, gid); err != nil {
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	include := ""
	if o.Include != "" {
		include = "!include " + o.Include
	}
	sp.Conf = filepath.Join(o.Dir, "dovecot.conf")
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
%[3]s
%[4]s
`, o.Dir, port, o.Extra, include)
	if err := os.WriteFile(sp.Conf, []byte(top), 0o644); err != nil {
		return nil, err
	}
	js, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	s := &Server{Conf: sp.Conf, IMAPPort: port, Log: &logbuf.Buffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(os.Args[0])
	s.cmd.Env = append(os.Environ(), sandboxEnv+"="+string(js))
	s.cmd.Stdout, s.cmd.Stderr = s.Log, s.Log
	s.cmd.SysProcAttr = namespaced()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.exited <- s.cmd.Wait() }()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.Log.String())
	}
	return s, nil
}

// Sandbox returns at once unless this process is to be the namespace's
// first process; then it mounts what the spec says and becomes Dovecot.
func Sandbox() {
	if js := os.Getenv(sandboxEnv); js != "" {
		var sp spec
		if err := json.Unmarshal([]byte(js), &sp); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: bad %s: %v\n", sandboxEnv, err)
			os.Exit(1)
		}
		sandbox(sp) // does not return
	}
}

// waitReady polls the IMAP listener until Dovecot greets.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("the Dovecot master exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", s.IMAPAddr(), time.Second)
		if err == nil {
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "* OK") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no IMAP greeting from Dovecot on %s", s.IMAPAddr())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// IMAPAddr is where Dovecot listens for IMAP.
func (s *Server) IMAPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.IMAPPort)) }

// Pid is the master's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// InNamespace is path as the namespace's processes see it, so that a test
// can change a file the namespace lays over /etc.
func (s *Server) InNamespace(path string) string {
	return filepath.Join("/proc", strconv.Itoa(s.Pid()), "root", path)
}

// Stop ends the master, which ends its children.
func (s *Server) Stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the Dovecot master did not stop on SIGTERM; killed")
	}
}

// AuthPID finds the master's auth process.
func (s *Server) AuthPID() (string, error) {
	master := strconv.Itoa(s.Pid())
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		st := string(stat)
		i := strings.LastIndexByte(st, ')')
		if i < 0 || !strings.HasSuffix(st[:i], "(auth") {
			continue
		}
		if f := strings.Fields(st[i+1:]); len(f) > 1 && f[1] == master {
			return filepath.Base(filepath.Dir(p)), nil
		}
	}
	return "", errors.New("no auth process under the Dovecot master")
}

// IMAPLogin connects from the loopback address from (nil: any), logs in
// and returns the tagged answer to LOGIN, without its tag.
func (s *Server) IMAPLogin(user, password string, from net.IP) (string, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	c, err := d.Dial("tcp", s.IMAPAddr())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		return "", fmt.Errorf("greeting %q: %v", line, err)
	}
	if _, err := fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", quote(user), quote(password)); err != nil {
		return "", err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("no answer to LOGIN: %v", err)
		}
		if rest, ok := strings.CutPrefix(line, "a1 "); ok {
			_, _ = io.WriteString(c, "a2 LOGOUT\r\n")
			return strings.TrimSpace(rest), nil
		}
	}
}

// quote makes an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// AuthTest authenticates through Dovecot's auth service as Postfix does
// (doveadm auth test speaks the same auth protocol), for service and the
// client address from. ok and failed are false both when Dovecot could
// not answer (a temporary failure); out is doveadm's output.
func (s *Server) AuthTest(service, user, password string, from net.IP) (ok, failed bool, out string, err error) {
	cmd := exec.Command("doveadm", "-c", s.Conf, "auth", "test", "-x", "service="+service, "-x", "rip="+from.String(), user, password)
	b, err := cmd.CombinedOutput()
	out = string(b)
	ok = err == nil && strings.Contains(out, "auth succeeded")
	failed = strings.Contains(out, "auth failed")
	return ok, failed, out, err
}

// FreePort returns a loopback TCP port nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
