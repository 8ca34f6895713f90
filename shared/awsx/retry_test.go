package awsx_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicepass/devicepass/shared/awsx"
)

// TestRetryTruncatedResponse: a connection closed in the middle of a
// response (a proxy aborting its body copy, an idle connection closed
// under a request) is a transient connection error: the call is retried
// and succeeds instead of surfacing an error.
func TestRetryTruncatedResponse(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if hits.Add(1) == 1 {
			// Promise a body, send part of it, and drop the connection, as
			// httputil.ReverseProxy does when its upstream read fails.
			w.Header().Set("Content-Length", "64")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"TableNames":[`))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		_, _ = w.Write([]byte(`{"TableNames":["t"]}`))
	}))
	t.Cleanup(srv.Close)
	ddb := dynamodb.NewFromConfig(config(srv.URL), func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	out, err := ddb.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("a truncated response surfaced instead of being retried: %v", err)
	}
	if len(out.TableNames) != 1 || hits.Load() != 2 {
		t.Fatalf("tables %v after %d requests, want one table after 2", out.TableNames, hits.Load())
	}
}

// TestDeadlineEndsStalledCalls: a call to an endpoint that never answers
// ends at the margin before the context's deadline, or at the ceiling,
// whichever comes first, instead of waiting for the endpoint.
func TestDeadlineEndsStalledCalls(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	for name, tc := range map[string]struct {
		d        awsx.Deadline
		ctxAfter time.Duration // the caller's deadline; 0: none
	}{
		"margin before the function's deadline": {awsx.Deadline{Margin: 9*time.Second + 800*time.Millisecond}, 10 * time.Second},
		"ceiling without a deadline":            {awsx.Deadline{Ceiling: 200 * time.Millisecond}, 0},
		"ceiling before a far deadline":         {awsx.Deadline{Margin: time.Second, Ceiling: 200 * time.Millisecond}, time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config(srv.URL)
			tc.d.Install(&cfg)
			ctx := context.Background()
			if tc.ctxAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxAfter)
				defer cancel()
			}
			ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
			_, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a stalled call ended with %v, want its deadline exceeded", err)
			}
			if ctx.Err() != nil {
				t.Fatal("the call ran to the caller's own deadline: no time left to answer")
			}
		})
	}
}
