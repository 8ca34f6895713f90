package standins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The stand-in for Secrets Manager (tools/moto_server.py) invokes rotation
// functions as AWS does, through the Lambda Invoke API, at the URL that the
// process serving the function registered for its ARN.

// registryPath is where tools/moto_server.py takes registrations.
const registryPath = "/_devicepass/lambda-functions"

// InvokePath is the Lambda Invoke API's path for a function, as the Lambda
// Runtime Interface Emulator serves it (it names every function "function").
const InvokePath = "/2015-03-31/functions/function/invocations"

// RegisterFunction tells the stack's Secrets Manager that the function
// functionARN is invoked at invokeURL (a Lambda Invoke API URL such as
// http://127.0.0.1:PORT/2015-03-31/functions/function/invocations). A
// RotateSecret naming an ARN nobody registered is refused, as AWS refuses a
// function it cannot invoke.
func (s *Stack) RegisterFunction(ctx context.Context, functionARN, invokeURL string) error {
	body, err := json.Marshal(map[string]string{"FunctionArn": functionARN, "InvokeURL": invokeURL})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.MotoEndpoint+registryPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("register function %s with the Secrets Manager stand-in: %w", functionARN, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("register function %s with the Secrets Manager stand-in: %s: %s", functionARN, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// FunctionHandler handles one invocation's payload, as a Lambda handler
// does; an error is the function's error.
type FunctionHandler func(ctx context.Context, payload []byte) ([]byte, error)

// FunctionServer serves one in-process function through the Lambda Invoke
// API on loopback, answering as Lambda does: 200 with the result, or 200
// with X-Amz-Function-Error and {"errorMessage", "errorType"} when the
// handler fails.
type FunctionServer struct {
	srv *http.Server
	url string
}

// maxPayload is Lambda's limit on a synchronous invocation's payload.
const maxPayload = 6 << 20

// ServeFunction starts a FunctionServer for h on a free loopback port.
func ServeFunction(h FunctionHandler) (*FunctionServer, error) {
	if h == nil {
		return nil, errors.New("standins: ServeFunction needs a handler")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve function: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
		if err != nil || len(payload) > maxPayload {
			http.Error(w, `{"message":"payload too large or unreadable"}`, http.StatusRequestEntityTooLarge)
			return
		}
		out, err := h(r.Context(), payload)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "errorString"})
			_, _ = w.Write(b)
			return
		}
		if out == nil {
			out = []byte("null")
		}
		_, _ = w.Write(out)
	})
	f := &FunctionServer{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + ln.Addr().String() + InvokePath,
	}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// InvokeURL returns the function's Lambda Invoke API URL.
func (f *FunctionServer) InvokeURL() string { return f.url }

// Close stops serving.
func (f *FunctionServer) Close() error { return f.srv.Close() }
