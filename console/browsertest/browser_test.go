// Package browsertest runs the console's whole flow in a real Chromium
// (Debian's package, driven by playwright-core under node's test runner)
// against the local runner, with axe-core on every page and dialog, and
// then checks that no password it was shown reached a log.
package browsertest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
)

// Chromium is where Debian's chromium package puts the browser; `make
// test` installs it with tools/ensure-debs.sh when it is missing.
const Chromium = "/usr/bin/chromium"

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// node is the pinned Node.js of .tools when installed, else the machine's.
func node(root string) string {
	pinned := filepath.Join(root, ".tools", "node", "node_modules", "node", "bin", "node")
	if _, err := os.Stat(pinned); err == nil {
		return pinned
	}
	return "node"
}

func TestConsoleInChromium(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is missing: install it with `tools/ensure-debs.sh chromium` (make test does)", Chromium)
	}
	if _, err := os.Stat(filepath.Join(root, "console", "node_modules", "playwright-core")); err != nil {
		t.Fatal("console/node_modules lacks playwright-core: run `make console-deps` (make test does)")
	}
	logs := &logbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := localrun.Start(ctx, localrun.Options{
		StateDir:          t.TempDir(),
		Logger:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SchedulerInterval: -1,
		SweepInterval:     -1,
		ReconcileInterval: -1,
	})
	if err != nil {
		t.Fatalf("start the local runner: %v", err)
	}
	defer r.Stop()

	// A fresh folder: the screenshots are this run's only.
	artifacts := filepath.Join(root, "test-artifacts", "console")
	if err := os.RemoveAll(artifacts); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	// The script writes every password and token it was shown here, and
	// nowhere else, so that this test can look for them in the logs.
	secretsFile := filepath.Join(t.TempDir(), "secrets")
	cmd := exec.CommandContext(ctx, node(root), "--test", "--test-reporter=spec", "flow.test.mjs")
	cmd.Env = append(os.Environ(),
		"CONSOLE_URL="+r.URL(),
		"CHROMIUM="+Chromium,
		"ARTIFACTS="+artifacts,
		"SECRETS_FILE="+secretsFile,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, testWriter{t}), io.MultiWriter(&out, testWriter{t})
	if err := cmd.Run(); err != nil {
		t.Fatalf("the browser flow failed: %v", err)
	}

	b, err := os.ReadFile(secretsFile)
	if err != nil {
		t.Fatalf("the flow recorded no secret: %v", err)
	}
	secrets := strings.Fields(string(b))
	if len(secrets) < 4 {
		t.Fatalf("the flow recorded %d secrets, want at least 4 (passwords and the link's token)", len(secrets))
	}
	all := logs.String() + out.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a secret the console showed appears in the logs or the test output")
		}
	}
}

// testWriter sends the script's output to the test log as it comes.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
