// Package rie installs and runs AWS's Lambda Runtime Interface Emulator
// (aws-lambda-rie), which runs a built function binary (a provided.al2023
// `bootstrap`) behind the Lambda Invoke API on loopback, as Lambda runs it.
// The benchmark measures cold starts with it; the end-to-end tests invoke
// built functions through it.
package rie

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/logbuf"
)

// The emulator, pinned; installed into <root>/.tools/bin on first use.
const (
	Package = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
)

// InvokePath is the one function's Lambda Invoke API path on the emulator.
const InvokePath = "/2015-03-31/functions/function/invocations"

// Install puts the pinned emulator into <root>/.tools/bin (go install from
// the Go module proxy) unless it is there already, and returns its path.
func Install(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, ".tools", "bin")
	path := filepath.Join(bin, "aws-lambda-rie")
	stamp := filepath.Join(bin, ".aws-lambda-rie-"+Version)
	if _, err := os.Stat(stamp); err == nil {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	cmd := exec.CommandContext(ctx, "go", "install", Package+"@"+Version)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("install %s@%s: %w: %s", Package, Version, err, strings.TrimSpace(string(out)))
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// Emulator is a running emulator with one function.
type Emulator struct {
	cmd    *exec.Cmd
	addr   string
	out    *logbuf.Buffer
	waited chan struct{}
}

// Start runs the emulator at path (from Install) with the function binary
// bootstrap and the function's environment env (the emulator passes it on;
// it also reads LOG_LEVEL itself), on free loopback ports, and returns once
// it listens. The function starts lazily, inside the first invocation.
func Start(ctx context.Context, path, bootstrap string, env []string) (*Emulator, error) {
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	rtPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	e := &Emulator{addr: fmt.Sprintf("127.0.0.1:%d", apiPort), out: &logbuf.Buffer{}, waited: make(chan struct{})}
	e.cmd = exec.Command(path, "--log-level", "info", "--runtime-interface-emulator-address", e.addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", rtPort), bootstrap)
	e.cmd.Dir = filepath.Dir(bootstrap)
	e.cmd.Env = env
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	setGroup(e.cmd)
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = e.cmd.Wait(); close(e.waited) }()
	if err := WaitListening(ctx, e.addr, 10*time.Second); err != nil {
		e.Stop()
		return nil, fmt.Errorf("the emulator did not listen: %w; output:\n%s", err, e.out.Tail(10))
	}
	return e, nil
}

// InvokeURL returns the function's Lambda Invoke API URL.
func (e *Emulator) InvokeURL() string { return "http://" + e.addr + InvokePath }

// Output returns everything the emulator and the function printed so far.
func (e *Emulator) Output() *logbuf.Buffer { return e.out }

// Invoke invokes the function once with payload and returns its answer.
// An error answered by the function is an error here too.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.InvokeURL(), bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w; output:\n%s", err, e.out.Tail(10))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" || bytes.Contains(body, []byte(`"errorMessage"`)) {
		return body, fmt.Errorf("the function answered %s: %s", resp.Status, body)
	}
	return body, nil
}

// Stop ends the emulator and the function (their process group) and waits
// for the emulator to exit. It is safe to call more than once.
func (e *Emulator) Stop() {
	killGroup(e.cmd)
	<-e.waited
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitListening waits until addr accepts a TCP connection.
func WaitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
}
