package awsx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
