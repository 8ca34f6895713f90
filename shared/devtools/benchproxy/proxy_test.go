package benchproxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/devicepass/devicepass/shared/devtools/benchproxy"
)

// upstream answers every Secrets Manager call with a created secret and
// counts what reached it.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"ARN":"arn:aws:secretsmanager:us-east-1:000000000000:secret:x","Name":"x","VersionId":"v1"}`))
	}))
	t.Cleanup(s.Close)
	return s, &n
}

func client(url string, attempts int) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts }),
	})
}

func create(c *secretsmanager.Client) error {
	_, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("x"), SecretString: aws.String("s")})
	return err
}

func TestDelayIsAddedToEveryRequest(t *testing.T) {
	up, reached := upstream(t)
	p, err := benchproxy.Start(benchproxy.Options{Upstream: up.URL, Delay: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := client(p.URL(), 1)
	start := time.Now()
	for range 3 {
		if err := create(c); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 120*time.Millisecond {
		t.Errorf("3 requests took %s, want at least 3 x 40ms", took)
	}
	if reached.Load() != 3 {
		t.Errorf("upstream saw %d requests, want 3", reached.Load())
	}
	if got := p.Stats().Requests["CreateSecret"]; got != 3 {
		t.Errorf("stats count %d CreateSecret, want 3", got)
	}
	p.SetDelay(0)
	start = time.Now()
	if err := create(c); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= 40*time.Millisecond {
		t.Errorf("after SetDelay(0) a request took %s", took)
	}
}

// TestThrottleAnswersAsAWS checks that the quota admits exactly its rate
// in a second and that the SDK reads the refusal as AWS's throttling error,
// which its retryer backs off from.
func TestThrottleAnswersAsAWS(t *testing.T) {
	up, reached := upstream(t)
	p, err := benchproxy.Start(benchproxy.Options{Upstream: up.URL, Throttle: &benchproxy.Throttle{Operations: benchproxy.SecretsManagerWrites, PerSecond: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := client(p.URL(), 1)
	var throttled int
	for range 5 {
		err := create(c)
		if err == nil {
			continue
		}
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" || api.ErrorMessage() != "Rate exceeded" {
			t.Fatalf("refusal is %v, want ThrottlingException: Rate exceeded", err)
		}
		if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
			t.Fatalf("the SDK does not take %v for a throttle", err)
		}
		throttled++
	}
	if throttled != 2 || reached.Load() != 3 {
		t.Errorf("throttled %d and forwarded %d of 5 in one second at 3/s, want 2 and 3", throttled, reached.Load())
	}
	// Reads are not under the quota.
	if _, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")}); err != nil {
		t.Errorf("a read was refused: %v", err)
	}
	st := p.Stats()
	if st.TotalThrottled() != 2 || len(st.Admitted) != 3 || st.Requests["GetSecretValue"] != 1 {
		t.Errorf("stats %+v", st)
	}
	if ps := st.PerSecond(); len(ps) != 1 || ps[0] != 3 {
		t.Errorf("per second %v, want [3]", ps)
	}
	// A second later the window has room again.
	time.Sleep(time.Second)
	if err := create(c); err != nil {
		t.Errorf("after a second: %v", err)
	}
}

func TestRefusalHeaders(t *testing.T) {
	up, _ := upstream(t)
	p, err := benchproxy.New(benchproxy.Options{Upstream: up.URL, Throttle: &benchproxy.Throttle{Operations: []string{"CreateSecret"}, PerSecond: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var last *httptest.ResponseRecorder
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", "secretsmanager.CreateSecret")
		last = httptest.NewRecorder()
		p.ServeHTTP(last, r)
	}
	if last.Code != http.StatusBadRequest || last.Header().Get("X-Amzn-ErrorType") != "ThrottlingException" ||
		last.Body.String() != `{"__type":"ThrottlingException","message":"Rate exceeded"}` {
		t.Errorf("refusal: %d %v %s", last.Code, last.Header(), last.Body)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []benchproxy.Options{
		{Upstream: "not a url"},
		{Upstream: "http://127.0.0.1:1", Delay: -time.Second},
		{Upstream: "http://127.0.0.1:1", Throttle: &benchproxy.Throttle{PerSecond: 5}},
		{Upstream: "http://127.0.0.1:1", Throttle: &benchproxy.Throttle{Operations: []string{"CreateSecret"}}},
	} {
		if _, err := benchproxy.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestUpstreamCutMidBody: an upstream connection that breaks while the
// answer's body is read reaches the client as 502 Bad Gateway (which the
// SDKs retry), never as a 200 cut short; the retried call succeeds.
func TestUpstreamCutMidBody(t *testing.T) {
	var n atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "200")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"ARN":"arn:aws:secretsmanager:us-east-1:0`))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		_, _ = w.Write([]byte(`{"ARN":"arn:aws:secretsmanager:us-east-1:000000000000:secret:x","Name":"x","VersionId":"v1"}`))
	}))
	t.Cleanup(up.Close)
	p, err := benchproxy.Start(benchproxy.Options{Upstream: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	res, err := http.Post(p.URL(), "application/x-amz-json-1.1", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("a cut upstream answer reached the client as %d, want 502", res.StatusCode)
	}
	out, err := client(p.URL(), 3).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("x"), SecretString: aws.String("v")})
	if err != nil || aws.ToString(out.VersionId) != "v1" {
		t.Fatalf("the call after a cut answer = %v, %v; want it answered", out, err)
	}
}
