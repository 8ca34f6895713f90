package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/benchproxy"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// Injected latency: typical in-Region round trips of each service as a
// Lambda function sees them (docs/benchmarks.md says where they come from).
const (
	delaySecretsManager = 25 * time.Millisecond
	delayDynamoDB       = 6 * time.Millisecond
)

// delays maps an SDK service id to its injected latency.
var delays = map[string]time.Duration{
	awsx.ServiceSecretsManager: delaySecretsManager,
	awsx.ServiceDynamoDB:       delayDynamoDB,
}

// bench is one run: the stand-ins and what every section shares.
type bench struct {
	o        options
	progress io.Writer
	stack    *standins.Stack
	direct   aws.Config // clients reach the stand-ins directly
}

// run measures every section and returns the report.
func run(ctx context.Context, o options, progress io.Writer) (string, error) {
	b := &bench{o: o, progress: progress}
	began := time.Now()
	loadStart := loadAverage()
	b.logf("installing (first run only) and starting the stand-ins")
	if err := standins.Install(ctx, o.root); err != nil {
		return "", err
	}
	stack, err := standins.Start(ctx, o.root)
	if err != nil {
		return "", err
	}
	defer stack.Stop()
	b.stack = stack
	if b.direct, err = b.awsConfig(ctx, stack.DynamoEndpoint, stack.MotoEndpoint); err != nil {
		return "", err
	}

	r := &report{quick: o.quick, only: o.only, started: time.Now().UTC(), machine: describeMachine()}
	r.machine.loadStart = loadStart
	// The in-process benchmark runs first, while the stand-ins are idle;
	// the report lists the sections in their numbered order.
	steps := []struct {
		n    int
		what string
		run  func(context.Context) (section, error)
	}{
		{4, "4/5 verify hot path beside Argon2id", b.hotPath},
		{1, "1/5 counting AWS calls per operation", b.calls},
		// Before the bulk load of sections 3 and 5, which leaves moto
		// slow to answer the event bus and topic section 6 creates.
		{6, "6/6 capacity and cost from measured calls; a busy day simulated", b.capacitySection},
		{2, "2/5 cold start and binary size", b.coldStart},
		{3, "3/5 latency behind the latency-injecting proxy", b.latency},
		{5, "5/5 bulk creation under the Secrets Manager write quota", b.quota},
		// Last: it starts its own local runner and three Dovecots.
		{7, "7/7 mail login through a real Dovecot: passwd-file, checkpassword, verifyd", b.mailLogin},
	}
	byNumber := map[int]section{}
	for _, s := range steps {
		if !o.runs(s.n) {
			continue
		}
		b.logf("%s", s.what)
		pause := time.Second
		if o.quick {
			pause = 200 * time.Millisecond
		}
		settle(ctx, pause)
		t0 := time.Now()
		sec, err := s.run(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.what, err)
		}
		sec.took = time.Since(t0)
		byNumber[s.n] = sec
	}
	for n := 1; n <= 7; n++ {
		if sec, ok := byNumber[n]; ok {
			r.sections = append(r.sections, sec)
		}
	}
	r.took = time.Since(began)
	return r.markdown(), nil
}

// settle lets the previous section's garbage and the stand-ins' background
// work (DynamoDB Local's JVM, moto) die down before the next measurement.
func settle(ctx context.Context, d time.Duration) {
	runtime.GC()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "bench: "+format+"\n", args...)
}

// awsConfig returns an SDK configuration whose clients reach DynamoDB at
// ddb and Secrets Manager at sm, with the functions' retry policy and a
// connection pool large enough for the benchmark's concurrency (a Lambda
// instance serves one request at a time; this process plays many).
func (b *bench) awsConfig(ctx context.Context, ddb, sm string) (aws.Config, error) {
	cfg, err := standins.AWSConfig(ctx, &standins.Stack{DynamoEndpoint: ddb, MotoEndpoint: sm})
	if err != nil {
		return cfg, err
	}
	cfg.Retryer = awsx.NewRetryer
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 128
	})
	return cfg, nil
}

// proxies puts a latency-injecting proxy in front of each stand-in and
// returns an SDK configuration that goes through them.
func (b *bench) proxies(ctx context.Context, smThrottle *benchproxy.Throttle) (sm, ddb *benchproxy.Server, cfg aws.Config, err error) {
	if sm, err = benchproxy.Start(benchproxy.Options{Upstream: b.stack.MotoEndpoint, Delay: delaySecretsManager, Throttle: smThrottle}); err != nil {
		return nil, nil, cfg, err
	}
	if ddb, err = benchproxy.Start(benchproxy.Options{Upstream: b.stack.DynamoEndpoint, Delay: delayDynamoDB}); err != nil {
		sm.Close()
		return nil, nil, cfg, err
	}
	cfg, err = b.awsConfig(ctx, ddb.URL(), sm.URL())
	if err != nil {
		sm.Close()
		ddb.Close()
	}
	return sm, ddb, cfg, err
}

// rig is every use case wired from the functions' constructors
// (app.Build), on its own table, verifier key and secret prefix, with its
// AWS calls observed.
type rig struct {
	app      *app.App
	calls    *awsx.Counter
	trace    *tracer
	attempts *attempts
	warnings *lineCounter // log lines at warning level or above
}

// newRig provisions a fresh table and verifier key through awsCfg and
// builds the service on them.
func (b *bench) newRig(ctx context.Context, awsCfg aws.Config, dc device.Config) (*rig, error) {
	suffix := randHex(4)
	if dc.SecretPrefix == "" {
		dc.SecretPrefix = "bench-" + suffix
	}
	cfg := config.Config{
		TableName:           "devicepass-bench-" + suffix,
		VerifierKeySecretID: "devicepass-bench/key-" + suffix,
		Device:              dc,
	}
	if _, err := app.Provision(ctx, awsCfg, cfg.TableName, cfg.VerifierKeySecretID); err != nil {
		return nil, err
	}
	r := &rig{calls: &awsx.Counter{}, trace: &tracer{}, attempts: newAttempts(), warnings: &lineCounter{}}
	awsCfg.APIOptions = append([]func(*middleware.Stack) error(nil), awsCfg.APIOptions...)
	r.calls.Install(&awsCfg)
	r.trace.Install(&awsCfg)
	r.attempts.Install(&awsCfg)
	logger := slog.New(slog.NewJSONHandler(r.warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	if r.app, err = app.Build(ctx, cfg, awsCfg, logger, app.Options{Local: true}); err != nil {
		return nil, err
	}
	r.calls.Reset()
	r.trace.Reset()
	return r, nil
}

// The callers of the benchmark: a domain administrator and mailbox owners.
// Both logged in just now: registering a mailbox and creating a device
// demand a fresh login.
func benchAdmin() device.Caller {
	return device.Caller{Subject: "bench-admin", Groups: []string{"domain-admin:bench.example"}, AuthTime: time.Now()}
}

func owner(i int) device.Caller {
	return device.Caller{Subject: fmt.Sprintf("bench-owner-%d", i), AuthTime: time.Now()}
}

// mailbox registers a new mailbox owned by owner(i) and returns its address.
func (r *rig) mailbox(ctx context.Context, i int) (string, error) {
	addr := fmt.Sprintf("box-%d-%s@bench.example", i, randHex(3))
	_, _, err := r.app.Service.RegisterMailbox(ctx, benchAdmin(), addr, owner(i).Subject)
	return addr, err
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(strings.Count(string(p), "\n")))
	return len(p), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
