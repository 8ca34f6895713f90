// Package benchproxy is a reverse proxy that puts realistic AWS behaviour in
// front of the local stand-ins for benchmarks: a fixed delay on every
// request (the in-Region round trip the stand-ins on loopback lack) and,
// optionally, a request-rate quota on chosen operations answered with the
// error AWS sends when a quota is exceeded.
//
// It understands the AWS JSON protocols (DynamoDB, Secrets Manager), whose
// operation is named by the X-Amz-Target header ("secretsmanager.CreateSecret",
// "DynamoDB_20120810.Query"). It is for loopback benchmarks only.
package benchproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SecretsManagerWrites are the Secrets Manager operations the device
// lifecycle writes with. AWS gives CreateSecret and DeleteSecret 50 requests
// per second each and makes PutSecretValue, UpdateSecretVersionStage and the
// other writes share another 50; Throttle pools the operations it names in
// one quota, which for a workload of one kind of write is the same.
var SecretsManagerWrites = []string{"CreateSecret", "PutSecretValue", "UpdateSecretVersionStage", "DeleteSecret"}

// Throttle is a request-rate quota over some operations.
type Throttle struct {
	// Operations are the operation names (the part of X-Amz-Target after
	// the dot) that share the quota.
	Operations []string
	// PerSecond is how many of them are admitted in any one-second window.
	PerSecond int
}

// Options configure New.
type Options struct {
	// Upstream is the stand-in's base URL, such as http://127.0.0.1:41234.
	Upstream string
	// Delay is added to every request, throttled ones included, before it
	// is forwarded (or refused): one in-Region round trip.
	Delay time.Duration
	// Throttle, if set, refuses the operations it names above its rate.
	Throttle *Throttle
}

// Proxy is an http.Handler forwarding to one stand-in.
type Proxy struct {
	rp       *httputil.ReverseProxy
	delay    atomic.Int64 // nanoseconds
	throttle *Throttle
	limited  map[string]bool

	mu       sync.Mutex
	started  time.Time
	window   []time.Time // admissions of limited operations in the last second, oldest first
	requests map[string]int
	refused  map[string]int
	admitted []time.Duration // when each limited operation was admitted, since started
}

// New returns a Proxy.
func New(o Options) (*Proxy, error) {
	u, err := url.Parse(o.Upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, errors.New("benchproxy: Upstream must be a base URL such as http://127.0.0.1:8000")
	}
	if o.Delay < 0 {
		return nil, errors.New("benchproxy: negative delay")
	}
	p := &Proxy{limited: map[string]bool{}, started: time.Now(), requests: map[string]int{}, refused: map[string]int{}}
	p.delay.Store(int64(o.Delay))
	if o.Throttle != nil {
		if o.Throttle.PerSecond < 1 || len(o.Throttle.Operations) == 0 {
			return nil, errors.New("benchproxy: a throttle needs operations and a positive rate")
		}
		t := *o.Throttle
		p.throttle = &t
		for _, op := range t.Operations {
			p.limited[op] = true
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConns = 256
	transport.MaxIdleConnsPerHost = 256
	// Close pooled connections well before a stand-in's own idle timeout
	// would, so a request is rarely sent on a connection being closed.
	transport.IdleConnTimeout = 5 * time.Second
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// Keep the Host the client signed.
			r.Out.Host = r.In.Host
		},
		Transport: wholeBody{transport},
	}
	return p, nil
}

// wholeBody reads each upstream response completely before the proxy
// answers. httputil.ReverseProxy streams the body after sending the
// status line, so an upstream connection that breaks mid-body ("use of
// closed network connection") used to reach the client as a 200 cut
// short, which an SDK cannot tell from a bad answer. Read first, a broken
// upstream is a round-trip error, answered 502 Bad Gateway: a status every
// AWS SDK retries. The stand-ins' answers are small.
type wholeBody struct{ rt http.RoundTripper }

func (w wholeBody) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := w.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("benchproxy: reading the upstream answer: %w", err)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.TransferEncoding = nil
	res.Header.Del("Transfer-Encoding")
	return res, nil
}

// SetDelay changes the delay of the requests that arrive from now on.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Delay returns the current delay.
func (p *Proxy) Delay() time.Duration { return time.Duration(p.delay.Load()) }

// Operation returns the operation a request names in X-Amz-Target, or "".
func Operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := Operation(r)
	if !sleep(r.Context(), p.Delay()) {
		return // the client gave up
	}
	if !p.admit(op) {
		// What AWS answers above a quota; the SDKs retry it with backoff.
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
		w.Header().Set("X-Amzn-RequestId", "benchproxy-throttled")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
		return
	}
	p.rp.ServeHTTP(w, r)
}

// admit counts the request and says whether the quota lets it through.
func (p *Proxy) admit(op string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[op]++
	if !p.limited[op] {
		return true
	}
	now := time.Now()
	cut := now.Add(-time.Second)
	i := 0
	for i < len(p.window) && !p.window[i].After(cut) {
		i++
	}
	p.window = p.window[i:]
	if len(p.window) >= p.throttle.PerSecond {
		p.refused[op]++
		return false
	}
	p.window = append(p.window, now)
	p.admitted = append(p.admitted, now.Sub(p.started))
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats is what the proxy saw since it started or was last reset.
type Stats struct {
	// Requests counts every request (attempt) by operation, refused ones
	// included.
	Requests map[string]int
	// Throttled counts the requests refused with ThrottlingException.
	Throttled map[string]int
	// Admitted holds, in order, when each request under the quota was let
	// through, as an offset from the reset.
	Admitted []time.Duration
}

// TotalThrottled returns the number of refused requests.
func (s Stats) TotalThrottled() int {
	n := 0
	for _, v := range s.Throttled {
		n += v
	}
	return n
}

// PerSecond returns how many requests under the quota were admitted in
// each whole second since the reset, up to the last admission.
func (s Stats) PerSecond() []int {
	if len(s.Admitted) == 0 {
		return nil
	}
	out := make([]int, int(s.Admitted[len(s.Admitted)-1]/time.Second)+1)
	for _, at := range s.Admitted {
		out[int(at/time.Second)]++
	}
	return out
}

// Operations returns the operations seen, sorted.
func (s Stats) Operations() []string {
	ops := make([]string, 0, len(s.Requests))
	for op := range s.Requests {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Requests: map[string]int{}, Throttled: map[string]int{}, Admitted: append([]time.Duration(nil), p.admitted...)}
	for k, v := range p.requests {
		s.Requests[k] = v
	}
	for k, v := range p.refused {
		s.Throttled[k] = v
	}
	return s
}

// Reset zeroes the counters and restarts the clock of Stats.Admitted. The
// quota's window is kept: a reset does not grant a fresh second.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = time.Now()
	p.requests, p.refused, p.admitted = map[string]int{}, map[string]int{}, nil
}

// Server is a Proxy listening on loopback.
type Server struct {
	*Proxy
	url string
	srv *http.Server
}

// Start serves a new Proxy on a free loopback port until Close.
func Start(o Options) (*Server, error) {
	p, err := New(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("benchproxy: %w", err)
	}
	s := &Server{Proxy: p, url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the proxy's base URL.
func (s *Server) URL() string { return s.url }

// Close stops listening and ends open connections.
func (s *Server) Close() error { return s.srv.Close() }
