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
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/dovecot"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/devtools/secretset"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

var (
	runner  *localrun.Runner
	runLogs = &logbuf.Buffer{}
	// settings is what both paths are configured with: the local runner's
	// URL and a mail-server token instead of SigV4.
	settings []byte
	host     *dovecot.MailHost
	// slowPath is checkpassword's Dovecot, fastPath the Lua passdb's.
	slowPath, fastPath *path
	helper             *dovecot.Helper
	handedOut          = &secretset.Set{}
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
	handedOut.Add("mail-server token", mx)
	settings = []byte(fmt.Sprintf("# local runner: a mail-server token instead of SigV4\nDEVICEPASS_VERIFY_URL=%s\nDEVICEPASS_AUTH=bearer\nDEVICEPASS_TOKEN=%s\n# a loaded test machine is slower than a mail host\nDEVICEPASS_TIMEOUT=30s\n", runner.URL()+"/v1/verify", mx))

	root, err := standins.Root()
	if err != nil {
		return fail("%v", err)
	}
	host, err = dovecot.StartMailHost(ctx, bin, root, tmp, settings)
	if err != nil {
		return fail("%v", err)
	}
	defer host.Stop()
	slowPath = &path{name: "checkpassword", srv: host.Checkpassword}
	fastPath = &path{name: "verifyd", srv: host.Verifyd}
	helper = host.Helper

	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- checkpassword's Dovecot log:\n%s\n--- the fast path's Dovecot log:\n%s\n--- devicepass-verifyd's log:\n%s\n--- last lines of the runner's log:\n%s\n",
			host.Checkpassword.Log.String(), host.Verifyd.Log.String(), helper.Log.String(), runLogs.Tail(30))
	}
	return code
}

// path is one way from Dovecot to devicepass.
type path struct {
	name string
	srv  *dovecot.Server
}

// log is where the path's program says why it refused or failed.
func (p *path) log() *logbuf.Buffer {
	if p == fastPath {
		return helper.Log
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
		restartHelper(t, content)
		restore = func() { once.Do(func() { restartHelper(t, settings) }) }
	} else {
		file := p.srv.InNamespace(dovecot.InstalledSettings)
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

// restartHelper restarts devicepass-verifyd with other settings.
func restartHelper(t *testing.T, settings []byte) {
	t.Helper()
	if err := helper.Stop(); err != nil {
		t.Errorf("devicepass-verifyd: %v", err)
	}
	if err := helper.Start(settings); err != nil {
		t.Fatal(err)
	}
}
