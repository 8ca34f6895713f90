// Package localrun starts the whole local system for `make run` and the
// end-to-end tests: DynamoDB Local and moto (standins), the table, the
// verifier key, the event bus and notice topic, the API behind the local
// gateway (localgw) with the development issuer (localauth), the rotation
// scheduler (localscheduler), the stream poller feeding the stream handler
// (localstreams), the expiry sweep and the reconciler. It composes the
// same constructors the functions use. Tooling only: no function links it.
package localrun

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/console"
	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
	"github.com/devicepass/devicepass/shared/devtools/localscheduler"
	"github.com/devicepass/devicepass/shared/devtools/localstreams"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/rotation"
	"github.com/devicepass/devicepass/shared/rotationevents"
	"github.com/devicepass/devicepass/shared/stream"
)

// The local stack's fixed names.
const (
	TableName = "devicepass"
	// VerifierKeySecretID is outside the device prefix, as the deployed
	// key's generated name is: grants on <prefix>/* and the reconciler's
	// sweep of secrets without a device never reach it.
	VerifierKeySecretID = "devicepass-verifier-key"
	DefaultPort         = 8080
	// PortEnv overrides the port the API is served on.
	PortEnv = "PORT"
	// SchedulerIntervalEnv overrides the scheduler's period (a Go duration).
	SchedulerIntervalEnv = "DEVICEPASS_SCHEDULER_INTERVAL"
	// SweepIntervalEnv overrides the expiry sweep's period (a Go duration).
	SweepIntervalEnv = "DEVICEPASS_SWEEP_INTERVAL"
	// LocalPolicyMinDuration is the local runner's POLICY_MIN_DURATION
	// unless the environment sets one.
	LocalPolicyMinDuration = "1s"
	// EventBusName and NoticeTopicName are the EventBridge bus and the SNS
	// topic made in moto at start, as the CDK stack makes them in AWS.
	EventBusName    = "devicepass"
	NoticeTopicName = "devicepass-notices"
	// EventsFileName is the local event sink in the state directory: one
	// JSON event a line, emptied at each start (the tables start empty too).
	EventsFileName = "events.jsonl"
	// DefaultSweepInterval is how often the runner sweeps expired devices:
	// the local table has TTL off (see disableTTL), so the sweep is what
	// expires them locally.
	DefaultSweepInterval = 5 * time.Second
	// DefaultReconcileInterval is how often the runner reconciles secrets
	// and devices, and ReconcileMinAge how old a leftover must be.
	DefaultReconcileInterval = 5 * time.Minute
	ReconcileMinAge          = 5 * time.Minute

	// DefaultCallCeiling is the longest one AWS call may take locally: the
	// verify function's 5 s timeout less awsx.DefaultMargin.
	DefaultCallCeiling = 4 * time.Second
)

// EnvKeys are the variables only the local runner reads, beyond those of
// every function (shared/config); docs/architecture.md documents both.
var EnvKeys = []string{PortEnv, SchedulerIntervalEnv, SweepIntervalEnv}

// Options configure Start.
type Options struct {
	// Root is the repository root; the stand-ins are installed under
	// Root/.tools. Default: the nearest directory holding go.mod.
	Root string
	// StateDir holds the env file and the run lock; default Root/.local.
	// Tests give their own, so that they never meet a developer's `make run`.
	StateDir string
	// Port to serve on, on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives every log line of the runner, the handlers and the
	// scheduler; default JSON on stderr at LOG_LEVEL.
	Logger *slog.Logger
	// SchedulerInterval is the local rotation scheduler's period; default
	// localscheduler.DefaultSchedulerInterval; negative: no periodic ticks (Scheduler().Tick
	// still works).
	SchedulerInterval time.Duration
	// Clock is the service's, gateway's and scheduler's clock; default time.Now.
	Clock func() time.Time
	// Getenv supplies configuration variables (those of shared/config, such
	// as STEP_UP_MAX_AGE or ROTATION_GRACE); nil: the defaults only. The
	// table, the verifier key's secret and the rotation Lambda are always
	// the local ones.
	Getenv func(string) string
	// ConfigureAWS, if set, adjusts the SDK configuration before any client
	// is built (to install an awsx.Counter or awsx.Faults, say).
	ConfigureAWS func(*aws.Config)
	// SweepInterval is the expiry sweep's period; default
	// DefaultSweepInterval; negative: no periodic sweeps (SweepNow still
	// works).
	SweepInterval time.Duration
	// ReconcileInterval is the reconciler's period; default
	// DefaultReconcileInterval; negative: no periodic runs (ReconcileNow
	// still works).
	ReconcileInterval time.Duration
	// CallCeiling bounds every AWS call (awsx.Deadline); default
	// DefaultCallCeiling.
	CallCeiling time.Duration
}

// Runner is a running local stack: the stand-ins, the table, the verifier
// key, the event bus and notice topic, the API behind the local gateway,
// the rotation scheduler, the stream poller feeding the stream handler,
// the expiry sweep and the reconciler.
type Runner struct {
	url     string
	envFile string
	stack   *standins.Stack
	awsCfg  aws.Config
	app     *app.App
	issuer  *localauth.Issuer
	sched   *localscheduler.Scheduler
	rotator localscheduler.Rotator
	// failures is the rotation-events handler failed rotations are
	// reported to; clock is the service's.
	failures *rotationevents.Handler
	clock    func() time.Time
	gateway  *localgw.Gateway
	server   *http.Server
	lock     *os.File
	log      *slog.Logger
	cancel   context.CancelFunc
	bg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
	served   chan error

	streamHandler   *stream.Handler
	poller          *localstreams.StreamPoller
	sink            *localstreams.FileSink
	noticeTopic     string
	rotationFn      *rotationFunction
	rotationHandler *rotation.Handler
}

// AlreadyRunningError is Start's answer while another runner holds the
// state directory's lock.
type AlreadyRunningError struct {
	PID     int
	URL     string
	LockDir string
}

func (e *AlreadyRunningError) Error() string {
	who := "another devicepass-local"
	if e.PID > 0 {
		who += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	where := ""
	if e.URL != "" {
		where = " at " + e.URL
	}
	stop := "stop it first (Ctrl-C in its terminal)"
	if e.PID > 0 {
		stop = fmt.Sprintf("stop it first (Ctrl-C in its terminal, or kill -INT %d)", e.PID)
	}
	return fmt.Sprintf("%s is already running%s for %s; use it, or %s", who, where, e.LockDir, stop)
}

// Start brings the local stack up and serves the API on 127.0.0.1. It
// returns once the API answers. Stop ends everything it started.
func Start(ctx context.Context, o Options) (_ *Runner, err error) {
	if o.Root == "" {
		if o.Root, err = standins.Root(); err != nil {
			return nil, err
		}
	}
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return nil, err
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.Root, ".local")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.SchedulerInterval == 0 {
		o.SchedulerInterval = localscheduler.DefaultSchedulerInterval
	}
	if o.SchedulerInterval > 0 && o.SchedulerInterval < time.Second {
		return nil, fmt.Errorf("scheduler interval %s is under 1s", o.SchedulerInterval)
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepInterval > 0 && o.SweepInterval < time.Second {
		return nil, fmt.Errorf("sweep interval %s is under 1s", o.SweepInterval)
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = DefaultReconcileInterval
	}
	if o.CallCeiling <= 0 {
		o.CallCeiling = DefaultCallCeiling
	}
	if o.ReconcileInterval > 0 && o.ReconcileInterval < time.Second {
		return nil, fmt.Errorf("reconcile interval %s is under 1s", o.ReconcileInterval)
	}
	cfg, err := localConfig(o.Getenv)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = app.NewLogger(os.Stderr, cfg.LogLevel)
	}
	r := &Runner{log: o.Logger, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			r.Stop()
		}
	}()

	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.StateDir, err)
	}
	if r.lock, err = takeLock(o.StateDir); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
	if err != nil {
		return nil, portError(o.Port, err)
	}
	defer func() {
		if err != nil {
			ln.Close() // unless Serve took it, Stop does not know it
		}
	}()
	r.url = "http://" + ln.Addr().String()
	if err := writeLock(r.lock, r.url); err != nil {
		return nil, err
	}

	o.Logger.InfoContext(ctx, "starting the local stand-ins (the first run installs them into .tools)", "root", o.Root)
	if err := standins.Install(ctx, o.Root); err != nil {
		return nil, err
	}
	if r.stack, err = standins.Start(ctx, o.Root); err != nil {
		return nil, err
	}
	if r.awsCfg, err = standins.AWSConfig(ctx, r.stack); err != nil {
		return nil, err
	}
	r.awsCfg.Retryer = awsx.NewRetryer
	// Local requests have no Lambda deadline to derive one from: a fixed
	// ceiling per call keeps a stalled stand-in from hanging a request.
	awsx.Deadline{Margin: awsx.DefaultMargin, Ceiling: o.CallCeiling}.Install(&r.awsCfg)
	if o.ConfigureAWS != nil {
		o.ConfigureAWS(&r.awsCfg)
	}
	streamARN, err := provision(ctx, r.awsCfg)
	if err != nil {
		return nil, err
	}
	if r.noticeTopic, err = provisionEvents(ctx, r.awsCfg); err != nil {
		return nil, err
	}
	cfg.EventBusName, cfg.NoticeTopicARN = EventBusName, r.noticeTopic
	if r.app, err = app.Build(ctx, cfg, r.awsCfg, o.Logger, app.Options{Clock: o.Clock, Local: true}); err != nil {
		return nil, fmt.Errorf("wire the service: %w", err)
	}
	if err := r.wire(o, cfg); err != nil {
		return nil, err
	}
	if err := r.wireStream(ctx, o, streamARN); err != nil {
		return nil, err
	}
	if err := r.serveRotation(ctx, r.rotationHandler); err != nil {
		return nil, err
	}

	r.server = &http.Server{Handler: r.gateway, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}
	go func() { r.served <- r.server.Serve(ln) }()
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	if o.SchedulerInterval > 0 {
		r.bg.Add(1)
		go func() { defer r.bg.Done(); r.sched.Run(bgCtx) }()
	}
	r.bg.Add(1)
	go func() { defer r.bg.Done(); r.poller.Run(bgCtx) }()
	if o.SweepInterval > 0 {
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			every(bgCtx, o.SweepInterval, func(ctx context.Context) { _, _ = r.SweepNow(ctx) })
		}()
	}
	if o.ReconcileInterval > 0 {
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			every(bgCtx, o.ReconcileInterval, func(ctx context.Context) { _, _ = r.ReconcileNow(ctx) })
		}()
	}
	r.envFile = filepath.Join(o.StateDir, "env")
	if err := writeEnvFile(r.envFile, r.Env()); err != nil {
		return nil, err
	}
	o.Logger.InfoContext(ctx, "devicepass local API serving", "url", r.url, "env_file", r.envFile,
		"dynamodb", r.stack.DynamoEndpoint, "moto", r.stack.MotoEndpoint, "scheduler_interval", o.SchedulerInterval.String(),
		"events_file", r.sink.Path(), "event_bus", EventBusName, "notice_topic", r.noticeTopic, "sweep_interval", o.SweepInterval.String())
	return r, nil
}

// localConfig is the service's configuration for the local stack.
func localConfig(getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(func(k string) string {
		switch k {
		case "TABLE_NAME":
			return TableName
		case "VERIFIER_KEY_SECRET_ID":
			return VerifierKeySecretID
		case "ROTATION_LAMBDA_ARN":
			// RotateSecret reaches the stand-in, which records the schedule
			// and runs the configuration test through the local rotation
			// function (rotationfn.go); the local scheduler still rotates
			// from the policies in the table.
			return RotationFunctionARN
		}
		v := ""
		if getenv != nil {
			v = getenv(k)
		}
		if k == "POLICY_MIN_DURATION" && v == "" {
			// Policies in seconds, so the walkthrough and the end-to-end
			// tests show inactivity and reminders without waiting hours.
			return LocalPolicyMinDuration
		}
		return v
	})
	if err != nil {
		return cfg, fmt.Errorf("local configuration: %w", err)
	}
	return cfg, nil
}

// provision creates the table and the verifier key's secret, and returns
// the table's stream ARN.
func provision(ctx context.Context, cfg aws.Config) (string, error) {
	ddb := dynamodb.NewFromConfig(cfg, standins.DynamoOptions)
	streamARN, err := dynamo.CreateTable(ctx, ddb, TableName)
	if err != nil {
		return "", err
	}
	if err := disableTTL(ctx, ddb, TableName); err != nil {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(VerifierKeySecretID),
		Description:  aws.String("devicepass verifier HMAC key (local, made at start-up)"),
		SecretString: aws.String(base64.StdEncoding.EncodeToString(key)),
	})
	if err != nil {
		return "", fmt.Errorf("create the verifier key secret: %w", err)
	}
	return streamARN, nil
}

// localConsoleConfig tells the console to sign in with the development
// issuer (its form posts to /local/token) and which mail settings to show
// beside a new password; "{domain}" stands for the mailbox's domain.
var localConsoleConfig = []byte(`{"mode":"local","mail":{"imapHost":"imap.{domain}","imapPort":993,"smtpHost":"smtp.{domain}","smtpPort":587}}`)

// wire builds the handlers, the gateway and the scheduler.
func (r *Runner) wire(o Options, cfg config.Config) error {
	m := r.app.Management
	api, err := apigw.New(app.APIDeps(m), apigw.Options{Logger: o.Logger, Clock: o.Clock, GroupsClaim: cfg.GroupsClaim})
	if err != nil {
		return err
	}
	verify, err := app.VerifyHandler(r.app.Service.Verification, o.Logger)
	if err != nil {
		return err
	}
	rh, err := rotation.New(r.app.Service.Engine(), o.Logger)
	if err != nil {
		return err
	}
	// A failed rotation, whether scheduled or asked for on /local/rotate,
	// is reported as Secrets Manager reports it in AWS: a RotationFailed
	// event handed to the rotation-events function's handler, which
	// records it on the device for the stream to announce.
	failures, err := rotationevents.New(r.app.RotationFailures, o.Logger)
	if err != nil {
		return err
	}
	r.rotator = localscheduler.ReportingRotator{Rotator: localscheduler.HandlerRotator{Handler: rh}, Failures: failures,
		Account: AccountID, Region: standins.Region, Clock: o.Clock}
	r.failures, r.clock = failures, o.Clock
	r.rotationHandler = rh
	if r.issuer, err = localauth.NewIssuer(localauth.IssuerOptions{URL: r.url + "/local", Clock: o.Clock}); err != nil {
		return err
	}
	auth, err := localauth.NewAuthorizer(localauth.AuthorizerOptions{Issuer: r.issuer.URL(), Audiences: []string{r.issuer.Audience()}, Keys: r.issuer.JWKS(), Clock: o.Clock})
	if err != nil {
		return err
	}
	// As the api function serves it in AWS.
	credential, err := apigw.NewCredential(m.Devices, o.Logger)
	if err != nil {
		return err
	}
	if r.gateway, err = localgw.NewGateway(localgw.GatewayOptions{API: api, Verify: verify, Credential: credential, Issuer: r.issuer, Authorizer: auth,
		Rotator: r.rotator, Logger: o.Logger, Clock: o.Clock, GroupsClaim: cfg.GroupsClaim,
		Console: console.Handler(localConsoleConfig, false)}); err != nil {
		return err
	}
	interval := o.SchedulerInterval
	if interval < 0 {
		interval = localscheduler.DefaultSchedulerInterval
	}
	devices, err := dynamo.NewScanner(r.app.DynamoDB, cfg.TableName)
	if err != nil {
		return err
	}
	r.sched, err = localscheduler.NewScheduler(localscheduler.SchedulerOptions{
		Devices: devices, Rotator: r.rotator,
		Logger: o.Logger, Clock: o.Clock, Interval: interval,
	})
	return err
}

// URL returns the API's base URL, http://127.0.0.1:<port>.
func (r *Runner) URL() string { return r.url }

// EnvFile returns the path of the env file of `export` lines.
func (r *Runner) EnvFile() string { return r.envFile }

// Issuer returns the local token issuer.
func (r *Runner) Issuer() *localauth.Issuer { return r.issuer }

// Stack returns the running stand-ins.
func (r *Runner) Stack() *standins.Stack { return r.stack }

// AWSConfig returns the SDK configuration the service uses.
func (r *Runner) AWSConfig() aws.Config { return r.awsCfg }

// App returns the wired service.
func (r *Runner) App() *app.App { return r.app }

// StreamHandler returns the stream handler the poller feeds.
func (r *Runner) StreamHandler() *stream.Handler { return r.streamHandler }

// StreamPoller returns the poller of the table's stream.
func (r *Runner) StreamPoller() *localstreams.StreamPoller { return r.poller }

// EventsFile returns the path of the local event sink, one JSON event a line.
func (r *Runner) EventsFile() string { return r.sink.Path() }

// NoticeTopicARN returns the ARN of the owners' notice topic in moto.
func (r *Runner) NoticeTopicARN() string { return r.noticeTopic }

// Scheduler returns the local rotation scheduler.
func (r *Runner) Scheduler() *localscheduler.Scheduler { return r.sched }

// Rotator returns what /local/rotate and the scheduler rotate with.
func (r *Runner) Rotator() localscheduler.Rotator { return r.rotator }

// Env returns the variables of the env file, as KEY=value: the standard
// AWS variables a consumer needs (AWS CLI v1 and v2, every SDK: both
// region variables, static credentials, per-service endpoints, and
// AWS_ENDPOINT_URL for any other service moto serves), plus the API's URL
// and the table's name.
func (r *Runner) Env() []string {
	moto, ddb := r.stack.MotoEndpoint, r.stack.DynamoEndpoint
	return []string{
		"AWS_REGION=" + standins.Region,
		"AWS_DEFAULT_REGION=" + standins.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL=" + moto,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + moto,
		"AWS_ENDPOINT_URL_DYNAMODB=" + ddb,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS=" + ddb,
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + moto,
		"AWS_ENDPOINT_URL_SNS=" + moto,
		"DEVICEPASS_API_URL=" + r.url,
		"DEVICEPASS_TABLE=" + TableName,
		"DEVICEPASS_EVENT_BUS=" + EventBusName,
		"DEVICEPASS_NOTICE_TOPIC_ARN=" + r.noticeTopic,
		"DEVICEPASS_EVENTS_FILE=" + r.sink.Path(),
	}
}

// Done receives the server's error when serving stops: a failure, or
// http.ErrServerClosed after Stop.
func (r *Runner) Done() <-chan error { return r.served }

// Stop stops the scheduler, the server and the stand-ins, removes the env
// file (its endpoints are gone) and releases the lock. It is safe to call
// more than once.
func (r *Runner) Stop() error {
	r.stopOnce.Do(func() {
		var errs []error
		if r.cancel != nil {
			r.cancel()
		}
		if r.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := r.server.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop the HTTP server: %w", err))
			}
			cancel()
		}
		r.bg.Wait()
		if r.rotationFn != nil {
			_ = r.rotationFn.server.Close()
		}
		if r.sink != nil {
			if err := r.sink.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if r.stack != nil {
			r.stack.Stop()
		}
		if r.envFile != "" {
			if err := os.Remove(r.envFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if r.lock != nil {
			_ = r.lock.Truncate(0)
			_ = syscall.Flock(int(r.lock.Fd()), syscall.LOCK_UN)
			r.lock.Close()
		}
		r.stopErr = errors.Join(errs...)
	})
	return r.stopErr
}

// takeLock takes the state directory's run lock, or reports who holds it.
// The lock is an flock, so it dies with its process: a crashed runner
// never blocks the next one.
func takeLock(dir string) (*os.File, error) {
	path := filepath.Join(dir, "run.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			e := &AlreadyRunningError{LockDir: dir}
			if b, rerr := os.ReadFile(path); rerr == nil {
				for _, line := range strings.Split(string(b), "\n") {
					k, v, _ := strings.Cut(line, "=")
					switch k {
					case "pid":
						e.PID, _ = strconv.Atoi(v)
					case "url":
						e.URL = v
					}
				}
			}
			return nil, e
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func writeLock(f *os.File, url string) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(fmt.Sprintf("pid=%d\nurl=%s\n", os.Getpid(), url)), 0)
	return err
}

// portError explains a port that cannot be bound, naming a devicepass
// gateway that already serves it.
func portError(port int, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &http.Client{Timeout: time.Second}
	if resp, herr := c.Get(url + "/local/.well-known/openid-configuration"); herr == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return fmt.Errorf("port %d is in use by another devicepass-local (%s), perhaps of another checkout; stop it or set PORT to another port", port, url)
		}
	}
	return fmt.Errorf("port %d is in use (by another program, or by a devicepass-local of another checkout still starting); stop it or set PORT to another port: %w", port, err)
}

// writeEnvFile writes the env file (mode 0600) atomically.
func writeEnvFile(path string, env []string) error {
	var b strings.Builder
	b.WriteString("# Written by devicepass-local (make run) while it runs; removed when it stops.\n")
	b.WriteString("# Point the AWS CLI and SDKs at the local stand-ins:  . " + filepath.Base(filepath.Dir(path)) + "/env\n")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes v for a POSIX shell when it needs quoting.
func shellQuote(v string) string {
	safe := v != ""
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@,+%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// reportFailure reports a failed invocation of the local rotation
// function by the Secrets Manager stand-in as a CloudTrail event of kind,
// through the rotation-events handler; a report that fails is logged (the
// stand-in's caller has its own error already).
func (r *Runner) reportFailure(ctx context.Context, kind, secretID string, step device.Step) {
	now := time.Now
	if r.clock != nil {
		now = r.clock
	}
	ev, err := localscheduler.FailureEvent(kind, secretID, step, AccountID, standins.Region, device.NewToken(), now())
	if err == nil {
		err = r.failures.Handle(ctx, ev)
	}
	if err != nil {
		r.log.WarnContext(ctx, "reporting a failed rotation failed", "kind", kind, "step", string(step), "error", err.Error())
	}
}
