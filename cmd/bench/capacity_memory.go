package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// memoryRequests is how many real requests each function serves before
// its peak memory is read.
const memoryRequests = 50

// invocation is one event handed to a function and what its answer must
// contain.
type invocation struct {
	event []byte
	want  string
}

// functionMemory builds the api and verify functions for this machine as
// `make build` builds them, runs each as Lambda would (its bootstrap under
// a minimal Runtime API, with the environment a deployed function has,
// against the capacity section's table and verifier key) for real
// requests, checks every answer, and returns each process's peak resident
// memory (VmHWM) in bytes: what the function needs of its configured
// memory.
func (b *bench) functionMemory(ctx context.Context, table, keyID string, work map[string][]invocation) (map[string]int64, error) {
	tmp, err := os.MkdirTemp("", "devicepass-capacity-mem-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var pkgs []string
	for fn := range work {
		pkgs = append(pkgs, "./functions/"+fn)
	}
	if _, err := goCmd(ctx, b.o.root, []string{"CGO_ENABLED=0"}, append(append([]string{"build", "-o", tmp + "/"}, buildFlags...), pkgs...)...); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"TABLE_NAME=" + table,
		"VERIFIER_KEY_SECRET_ID=" + keyID,
		"LOG_LEVEL=info",
		"AWS_REGION=" + standins.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_DYNAMODB=" + b.stack.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + b.stack.MotoEndpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(tmp, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(tmp, "no-aws-credentials"),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	}
	out := map[string]int64{}
	for fn, invs := range work {
		hwm, err := runForMemory(ctx, filepath.Join(tmp, fn), env, invs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out[fn] = hwm
	}
	return out, nil
}

// runForMemory serves invs to bootstrap one at a time through a minimal
// Lambda Runtime API and, when it asks for the next event after the last,
// reads its peak resident memory.
func runForMemory(ctx context.Context, bootstrap string, env []string, invs []invocation) (int64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	var (
		mu      sync.Mutex
		next    int
		answers = make([]string, len(invs))
		pid     int
	)
	result := make(chan error, 1)
	hwm := make(chan int64, 1)
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix = "/2018-06-01/runtime/invocation/"
		switch {
		case r.URL.Path == prefix+"next":
			mu.Lock()
			i := next
			next++
			p := pid
			mu.Unlock()
			if i >= len(invs) {
				n, err := peakRSS(p)
				if err != nil {
					result <- err
				} else {
					hwm <- n
				}
				<-done // hold the request: no more events
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", fmt.Sprintf("mem-%d", i))
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:devicepass")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
			_, _ = w.Write(invs[i].event)
		case strings.HasPrefix(r.URL.Path, prefix) && strings.HasSuffix(r.URL.Path, "/response"):
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix+"mem-"), "/response")
			body, _ := io.ReadAll(r.Body)
			if i, err := strconv.Atoi(id); err == nil && i < len(answers) {
				mu.Lock()
				answers[i] = string(body)
				mu.Unlock()
			}
			w.WriteHeader(http.StatusAccepted)
		default: // init or invocation errors
			body, _ := io.ReadAll(r.Body)
			select {
			case result <- fmt.Errorf("the function reported an error at %s: %s", r.URL.Path, truncate(string(body), 300)):
			default:
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer close(done)
	fn, err := startBootstrap(bootstrap, env, ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer fn.stop()
	logs, exited := fn.out, fn.exited
	mu.Lock()
	pid = fn.cmd.Process.Pid
	mu.Unlock()
	select {
	case n := <-hwm:
		mu.Lock()
		defer mu.Unlock()
		for i, a := range answers {
			if !strings.Contains(a, invs[i].want) {
				return 0, fmt.Errorf("request %d answered %s, want %q in it", i, truncate(a, 300), invs[i].want)
			}
		}
		return n, nil
	case err := <-result:
		return 0, err
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("exited (%v):\n%s", err, logs.Tail(8))
	case <-time.After(2 * time.Minute):
		return 0, errors.New("the requests did not finish within 2 minutes")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// peakRSS reads a process's peak resident set size (VmHWM) from /proc.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the function's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == "VmHWM" {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// verifyEvent is a POST /v1/verify as API Gateway hands it to the verify
// function after its IAM authorizer.
func verifyEvent(mailbox, password string, i int) []byte {
	body, _ := json.Marshal(map[string]string{"mailbox": mailbox, "password": password, "protocol": "imap", "clientIp": "192.0.2.10"})
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /v1/verify", RawPath: "/v1/verify",
		Headers: map[string]string{"content-type": "application/json"}, Body: string(body),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "POST /v1/verify", RequestID: fmt.Sprintf("verify-%d", i),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/verify", SourceIP: "192.0.2.10"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{AccountID: "123456789012", UserARN: "arn:aws:iam::123456789012:role/mail-server"},
			},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

// listEvent is a GET of a mailbox's devices as API Gateway hands it to the
// api function after its JWT authorizer.
func listEvent(mailbox, subject string, i int) []byte {
	path := "/v1/mailboxes/" + mailbox + "/devices"
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /v1/mailboxes/{address}/devices", RawPath: path,
		Headers: map[string]string{}, PathParameters: map[string]string{"address": mailbox},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "GET /v1/mailboxes/{address}/devices", RequestID: fmt.Sprintf("list-%d", i),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path, SourceIP: "192.0.2.10"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": subject}},
			},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}
