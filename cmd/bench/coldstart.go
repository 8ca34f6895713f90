package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/devtools/rie"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// Limits the functions are held to.
const (
	maxBinary = 12_000_000 // bytes
	maxInit   = 25 * time.Millisecond
)

// forbiddenModules must not be linked into a function.
var forbiddenModules = []string{"github.com/aws/aws-cdk-go", "github.com/aws/jsii-runtime-go", "github.com/aws/constructs-go", "github.com/cdklabs/"}

// buildFlags are `make build`'s.
var buildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// functions lists the folders under functions/ that hold a Go main package.
func functions(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(root, "functions", e.Name(), "*.go")); len(m) > 0 {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// goCmd runs the go command in root with extra environment.
func goCmd(ctx context.Context, root string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// forbiddenIn returns the forbidden modules among mods.
func forbiddenIn(mods []string) []string {
	var bad []string
	for _, m := range mods {
		for _, f := range forbiddenModules {
			if strings.HasPrefix(m, f) {
				bad = append(bad, m)
				break
			}
		}
	}
	return bad
}

// binaryModules lists the modules `go version -m` finds in a binary.
func binaryModules(ctx context.Context, root, bin string) ([]string, error) {
	out, err := goCmd(ctx, root, nil, "version", "-m", bin)
	if err != nil {
		return nil, err
	}
	var mods []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && (f[0] == "mod" || f[0] == "dep") {
			mods = append(mods, f[1])
		}
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("go version -m %s listed no modules", bin)
	}
	return mods, nil
}

// sourceModules lists the modules of a function's packages, from source.
func sourceModules(ctx context.Context, root, fn string) ([]string, error) {
	out, err := goCmd(ctx, root, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}, "list", "-tags", "lambda.norpc", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./functions/"+fn)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var mods []string
	for _, m := range strings.Fields(string(out)) {
		if !seen[m] {
			seen[m] = true
			mods = append(mods, m)
		}
	}
	return mods, nil
}

// coldStart builds every function as `make build` does and for this
// machine, and measures the host build's init duration.
func (b *bench) coldStart(ctx context.Context) (section, error) {
	root := b.o.root
	fns, err := functions(root)
	if err != nil {
		return section{}, err
	}
	runs := 7
	sec := section{
		title: titleColdStart,
		intro: fmt.Sprintf("Each function in `functions/` built as `make build` builds it (linux/arm64, `CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags \"-s -w\"`) "+
			"and with the same flags for this machine (%s/%s), which runs under the AWS Lambda Runtime Interface Emulator (`aws-lambda-rie`, %s). "+
			"Init duration is the emulator's `INIT REPORT` (INIT START, just before it starts the process, to INIT RTDONE, the runtime's first request "+
			"for an event), the span Lambda bills as init: the Go runtime's start, reading the configuration, loading the SDK configuration and reading the "+
			"verifier key from Secrets Manager (one `GetSecretValue`). Median of %d cold starts per function, each a fresh emulator and process, "+
			"first with the stand-ins on loopback, then with the same latency proxy as section 3 in front of them. The cross-check column times the same "+
			"span without the emulator: process start to its first `GET /2018-06-01/runtime/invocation/next` on a minimal Runtime API served by the benchmark. "+
			"Sizes in MB of 10^6 bytes; the 12 MB target applies to the arm64 binary Lambda runs; modules from `go version -m` of the arm64 binary.",
			runtime.GOOS, runtime.GOARCH, rie.Version, runs),
		table: table{head: []string{"function", "arm64 size (Lambda)", "host size", "CDK / jsii modules linked", "init p50, loopback (min-max)",
			"init p50, SM +25 ms / DDB +6 ms", "cross-check p50: start → first /next, loopback", "size ≤ 12 MB", "init ≤ 25 ms (loopback / with latency)"}},
	}
	var allBad []string
	if b.o.quick {
		sec.intro = "Quick run: nothing is built and no cold start is measured; only each function's dependencies are checked for CDK and jsii modules " +
			"(`go list -deps` for linux/arm64). Run `make bench` for sizes and init durations."
		for _, fn := range fns {
			mods, err := sourceModules(ctx, root, fn)
			if err != nil {
				return sec, err
			}
			bad := forbiddenIn(mods)
			sec.table.add(fn, "not built (-quick)", "not built (-quick)", listOrNone(bad), "not measured (-quick)", "not measured (-quick)", "not measured (-quick)", "—", "—")
			if len(bad) > 0 {
				sec.notes = append(sec.notes, fmt.Sprintf("%s links CDK or jsii code: %s", fn, strings.Join(bad, ", ")))
			}
			allBad = append(allBad, bad...)
		}
		sec.summary = append(sec.summary, []string{"CDK / jsii modules in any function (from source)", listOrNone(allBad), "none", verdict(len(allBad) == 0)})
		return sec, nil
	}

	tmp, err := os.MkdirTemp("", "devicepass-bench-")
	if err != nil {
		return sec, err
	}
	defer os.RemoveAll(tmp)
	armDir, hostDir := filepath.Join(tmp, "arm64")+"/", filepath.Join(tmp, "host")+"/"
	b.logf("  building %d functions for linux/arm64 and %s/%s", len(fns), runtime.GOOS, runtime.GOARCH)
	pkgs := make([]string, len(fns))
	for i, fn := range fns {
		pkgs[i] = "./functions/" + fn
	}
	if _, err := goCmd(ctx, root, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}, append(append([]string{"build", "-o", armDir}, buildFlags...), pkgs...)...); err != nil {
		return sec, err
	}
	if _, err := goCmd(ctx, root, []string{"CGO_ENABLED=0"}, append(append([]string{"build", "-o", hostDir}, buildFlags...), pkgs...)...); err != nil {
		return sec, err
	}

	measure, how, err := b.initMeasurer(ctx)
	if err != nil {
		return sec, err
	}
	if how != "" {
		sec.notes = append(sec.notes, how)
	}
	// What each function's environment points at.
	suffix := randHex(4)
	table, keyID := "devicepass-bench-cold-"+suffix, "devicepass-bench/cold-key-"+suffix
	if _, err := app.Provision(ctx, b.direct, table, keyID); err != nil {
		return sec, err
	}
	smProxy, ddbProxy, _, err := b.proxies(ctx, nil)
	if err != nil {
		return sec, err
	}
	defer smProxy.Close()
	defer ddbProxy.Close()
	envFor := func(ddb, sm string) []string {
		return []string{
			"PATH=" + os.Getenv("PATH"),
			"TABLE_NAME=" + table,
			"VERIFIER_KEY_SECRET_ID=" + keyID,
			"LOG_LEVEL=warn",
			"AWS_REGION=" + standins.Region,
			"AWS_ACCESS_KEY_ID=test",
			"AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL_DYNAMODB=" + ddb,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + sm,
			"AWS_EC2_METADATA_DISABLED=true",
			// No developer's ~/.aws: a Lambda function has none.
			"AWS_CONFIG_FILE=" + filepath.Join(tmp, "no-aws-config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(tmp, "no-aws-credentials"),
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
		}
	}
	type worst struct {
		fn string
		v  time.Duration
		n  int64
	}
	var bigBin, slowInit, slowProxied worst
	initFailed := false
	loopback := envFor(b.stack.DynamoEndpoint, b.stack.MotoEndpoint)
	proxied := envFor(ddbProxy.URL(), smProxy.URL())

	for _, fn := range fns {
		arm, host := filepath.Join(armDir, fn), filepath.Join(hostDir, fn)
		armSize, hostSize := fileSize(arm), fileSize(host)
		mods, err := binaryModules(ctx, root, arm)
		if err != nil {
			return sec, err
		}
		bad := forbiddenIn(mods)
		// Lambda's provided.al2023 runtime runs a file named bootstrap.
		dir := filepath.Join(tmp, "run-"+fn)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return sec, err
		}
		bootstrap := filepath.Join(dir, "bootstrap")
		if err := os.Rename(host, bootstrap); err != nil {
			return sec, err
		}
		b.logf("  %s: %d cold starts on loopback, %d behind the latency proxy, %d without the emulator", fn, runs, runs, runs)
		direct, derr := repeatInit(ctx, measure, bootstrap, loopback, eventFor(fn), runs)
		slow, serr := repeatInit(ctx, measure, bootstrap, proxied, eventFor(fn), runs)
		own, oerr := repeatInit(ctx, ownRuntimeInit, bootstrap, loopback, nil, runs)
		cell := func(ds []time.Duration, err error, spread bool) string {
			if err != nil {
				sec.notes = append(sec.notes, fmt.Sprintf("%s: %v", fn, err))
				return "failed (see notes)"
			}
			if spread {
				return fmt.Sprintf("%s (%s-%s)", ms(median(ds)), ms(percentile(ds, 0)), ms(percentile(ds, 100)))
			}
			return ms(median(ds))
		}
		small := armSize > 0 && armSize <= maxBinary
		fastDirect := derr == nil && median(direct) <= maxInit
		fastSlow := serr == nil && median(slow) <= maxInit
		sec.table.add(fn, mb(armSize), mb(hostSize), listOrNone(bad), cell(direct, derr, true), cell(slow, serr, false), cell(own, oerr, false),
			verdict(small), verdict(fastDirect)+" / "+verdict(fastSlow))
		allBad = append(allBad, bad...)
		if armSize > bigBin.n {
			bigBin = worst{fn: fn, n: armSize}
		}
		initFailed = initFailed || derr != nil || serr != nil
		if derr == nil && median(direct) > slowInit.v {
			slowInit = worst{fn: fn, v: median(direct)}
		}
		if serr == nil && median(slow) > slowProxied.v {
			slowProxied = worst{fn: fn, v: median(slow)}
		}
		if len(bad) > 0 {
			sec.notes = append(sec.notes, fmt.Sprintf("%s links CDK or jsii code: %s", fn, strings.Join(bad, ", ")))
		}
	}
	sec.summary = append(sec.summary,
		[]string{"largest function binary (linux/arm64)", fmt.Sprintf("%s (%s)", mb(bigBin.n), bigBin.fn), "≤ 12 MB", verdict(bigBin.n <= maxBinary)},
		[]string{"CDK / jsii modules in any function binary", listOrNone(allBad), "none", verdict(len(allBad) == 0)},
		[]string{"slowest init p50, stand-ins on loopback", fmt.Sprintf("%s (%s)", ms(slowInit.v), slowInit.fn), "≤ 25 ms", verdict(!initFailed && slowInit.v <= maxInit)},
		[]string{"slowest init p50, with SM +25 ms / DDB +6 ms", fmt.Sprintf("%s (%s), of which 25 ms is the injected delay of the verifier key's read", ms(slowProxied.v), slowProxied.fn), "≤ 25 ms", verdict(!initFailed && slowProxied.v <= maxInit)})
	sec.notes = append(sec.notes,
		"Behind the latency proxy, init includes one Secrets Manager round trip, the verifier key's `GetSecretValue` read once per cold start, "+
			"so the injected 25 ms alone uses the whole 25 ms budget: the loopback column is the code's own init time, the proxied one what Lambda "+
			"would report with typical in-Region latency.",
		"Lambda runs these on its own hardware (arm64 Graviton); the init figures are this machine's, for the host build.")
	return sec, nil
}

func listOrNone(mods []string) string {
	if len(mods) == 0 {
		return "none"
	}
	return strings.Join(mods, ", ")
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// eventFor returns an event the function answers without calling AWS: the
// API and verify handlers refuse an unauthorized request.
func eventFor(fn string) []byte {
	switch fn {
	case "api":
		return []byte(`{"version":"2.0","routeKey":"$default","rawPath":"/v1/mailboxes/cold@bench.example","headers":{},` +
			`"requestContext":{"http":{"method":"GET","path":"/v1/mailboxes/cold@bench.example","sourceIp":"127.0.0.1"},"requestId":"cold-start"},"isBase64Encoded":false}`)
	case "verify":
		return []byte(`{"version":"2.0","routeKey":"$default","rawPath":"/v1/verify","headers":{"content-type":"application/json"},"body":"{}",` +
			`"requestContext":{"http":{"method":"POST","path":"/v1/verify","sourceIp":"127.0.0.1"},"requestId":"cold-start"},"isBase64Encoded":false}`)
	}
	return []byte(`{}`)
}

// initMeasure measures one cold start of bootstrap with env.
type initMeasure func(ctx context.Context, bootstrap string, env []string, event []byte) (time.Duration, error)

func repeatInit(ctx context.Context, m initMeasure, bootstrap string, env []string, event []byte, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for range n {
		d, err := m(ctx, bootstrap, env, event)
		if err != nil {
			return ds, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// initMeasurer returns the emulator's measurement, installing the emulator
// if needed; if it cannot be installed, a measurement by a minimal Runtime
// API of our own, and a note saying so.
func (b *bench) initMeasurer(ctx context.Context) (initMeasure, string, error) {
	path, err := rie.Install(ctx, b.o.root)
	if err != nil {
		b.logf("  could not install the emulator; measuring with a minimal Runtime API instead: %v", err)
		return ownRuntimeInit, "The Runtime Interface Emulator could not be installed here (" + firstLine(err.Error()) + "); init was measured instead as the time " +
			"from starting the process to its first `GET /2018-06-01/runtime/invocation/next` on a minimal Runtime API served by the benchmark, which is the span Lambda reports as init.", nil
	}
	return func(ctx context.Context, bootstrap string, env []string, event []byte) (time.Duration, error) {
		return rieInit(ctx, path, bootstrap, env, event)
	}, "", nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// initReportRE matches the emulator's report of the init phase. Its REPORT
// line's "Init Duration" is not used: this emulator runs init lazily inside
// the first invoke and reports about 0.02 ms there.
var initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// rieInit starts the emulator with bootstrap, invokes it once and returns
// the init duration it reports: from INIT START (just before it starts the
// process) to INIT RTDONE (the runtime's first request for an event).
func rieInit(ctx context.Context, path, bootstrap string, env []string, event []byte) (time.Duration, error) {
	em, err := rie.Start(ctx, path, bootstrap, env)
	if err != nil {
		return 0, err
	}
	defer em.Stop()
	out := em.Output()
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The answer does not matter (an init failure shows in the output).
	_, _ = em.Invoke(ictx, event)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := out.String()
		if strings.Contains(s, "INIT RTDONE(status: error)") || strings.Contains(s, "Init failed") {
			return 0, fmt.Errorf("init failed under the emulator:\n%s", out.Tail(8))
		}
		if m := initReportRE.FindStringSubmatch(s); m != nil && strings.Contains(s, "INIT RTDONE(status: success)") {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(v * float64(time.Millisecond)), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no init report; output:\n%s", out.Tail(8))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ownRuntimeInit serves a minimal Lambda Runtime API and returns the time
// from starting bootstrap to its first request for an event.
func ownRuntimeInit(ctx context.Context, bootstrap string, env []string, _ []byte) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	asked := make(chan time.Time, 1)
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/2018-06-01/runtime/invocation/next" {
			select {
			case asked <- time.Now():
			default:
			}
			<-done // hold the request: no event comes
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer close(done)
	start := time.Now()
	fn, err := startBootstrap(bootstrap, env, ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer fn.stop()
	out, exited := fn.out, fn.exited
	select {
	case t := <-asked:
		return t.Sub(start), nil
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("exited before asking for an event (%v):\n%s", err, out.Tail(8))
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("no request for an event within 10s:\n%s", out.Tail(8))
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// bootstrapProcess is a built function's bootstrap running against a
// Runtime API the benchmark serves itself.
type bootstrapProcess struct {
	cmd    *exec.Cmd
	out    *logbuf.Buffer
	exited chan error // receives the exit once; put it back to read it twice
}

// startBootstrap starts bootstrap with env and AWS_LAMBDA_RUNTIME_API set
// to runtimeAPI, in its own process group.
func startBootstrap(bootstrap string, env []string, runtimeAPI string) (*bootstrapProcess, error) {
	cmd := exec.Command(bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+runtimeAPI)
	out := &logbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &bootstrapProcess{cmd: cmd, out: out, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	return p, nil
}

// stop kills the process group and waits for the exit.
func (p *bootstrapProcess) stop() {
	killGroup(p.cmd)
	<-p.exited
}
