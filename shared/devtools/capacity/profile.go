package capacity

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/devicepass/devicepass/shared/lifecycle"
)

// Profile is the traffic an operator expects, per device. Every field has
// a documented default (DefaultProfile); docs/scale.md explains how to
// choose them.
type Profile struct {
	// DevicesPerMailbox sets how many devices a verification compares
	// against (it reads the whole mailbox partition).
	DevicesPerMailbox int
	// RotationEveryDays is the scheduled rotation interval of every device.
	RotationEveryDays float64
	// RegeneratesPerDeviceMonth and NewDevicesPerDeviceMonth are manual
	// regenerates and creates; RevokesPerDeviceMonth keeps the fleet
	// steady when it equals NewDevicesPerDeviceMonth.
	RegeneratesPerDeviceMonth float64
	NewDevicesPerDeviceMonth  float64
	RevokesPerDeviceMonth     float64
	// ListsPerDeviceMonth are console page views of a mailbox's devices.
	ListsPerDeviceMonth float64
	// VerifiesPerDeviceDay are logins the mail servers ask devicepass
	// about (after any auth cache of the mail server).
	VerifiesPerDeviceDay float64
	// LastUseWriteShare is the share of successful verifications that
	// record the last use (the first in 5 minutes for the device); the
	// rest only read.
	LastUseWriteShare float64
	// VerifyFailureShare is the share of verifications with a wrong
	// password.
	VerifyFailureShare float64
	// ConsumerReadsPerDeviceDay are GetSecretValue calls by consuming
	// services (not by devicepass) in the same account, averaged over
	// every device.
	ConsumerReadsPerDeviceDay float64
	// PeakToAverage is the busiest second's rate over the day's mean for
	// people-driven traffic (verifies, creates, regenerates, revokes,
	// lists, consumer reads).
	PeakToAverage float64
	// RotationPeakToAverage is the same for scheduled rotations, which
	// Secrets Manager spreads over each secret's window but which bunch
	// when many devices were created on the same day.
	RotationPeakToAverage float64
	// VerifierOnlyShare is the share of devices kept as a verifier only,
	// without a secret (a design under study, not built): they make no
	// Secrets Manager call and are not rotated.
	VerifierOnlyShare float64
}

// DefaultProfile is the profile the report and docs/scale.md use.
var DefaultProfile = Profile{
	DevicesPerMailbox:         3,
	RotationEveryDays:         30,
	RegeneratesPerDeviceMonth: 0.05,
	NewDevicesPerDeviceMonth:  0.03,
	RevokesPerDeviceMonth:     0.03,
	ListsPerDeviceMonth:       0.5,
	VerifiesPerDeviceDay:      12,
	LastUseWriteShare:         0.5,
	VerifyFailureShare:        0.01,
	ConsumerReadsPerDeviceDay: 2.4,
	PeakToAverage:             3,
	RotationPeakToAverage:     2,
}

// Stack is the part of the deployed stack's configuration that bounds
// capacity: the throttles, memory and reserved concurrency it sets.
type Stack struct {
	MemoryMB            int
	RotationConcurrency int
	APIRateLimit        float64 // every user route, per route
	VerifyRateLimit     float64 // POST /v1/verify
	CreateRateLimit     float64 // each route that makes devices or passwords, per route
	LogRetentionDays    int
	// ReconcilerTimeoutSec is the reconciler function's timeout; the
	// schedules run the sweep and the reconciler every so many minutes.
	ReconcilerTimeoutSec             float64
	SweepEveryMin, ReconcileEveryMin float64
	// Alarms the stack defines and custom metrics the reconciler emits.
	Alarms, CustomMetrics int
	// Source says where the figures were read.
	Source string
}

// ReadStack reads the stack's defaults (the Default constants of
// infra/stack/props.go under root) without linking the CDK: the file is
// parsed, not imported, so the benchmark stays free of jsii. An operator
// who deploys with other context values passes them over the result.
func ReadStack(root string) (Stack, error) {
	path := filepath.Join(root, "infra", "stack", "props.go")
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return Stack{}, fmt.Errorf("read the stack's defaults: %w", err)
	}
	consts := map[string]constant.Value{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && (lit.Kind == token.INT || lit.Kind == token.FLOAT) {
					consts[name.Name] = constant.MakeFromLiteral(lit.Value, lit.Kind, 0)
				}
			}
		}
	}
	num := func(name string) (float64, error) {
		v, ok := consts[name]
		if !ok {
			return 0, fmt.Errorf("read the stack's defaults: %s has no numeric constant %s", path, name)
		}
		x, _ := constant.Float64Val(constant.ToFloat(v))
		return x, nil
	}
	// The alarms (two per function of the stack's seven, four more) and
	// the reconciler's metrics, as infra/stack/alarms.go and
	// shared/lifecycle define them.
	s := Stack{Source: "infra/stack defaults", Alarms: 2*7 + 4, CustomMetrics: len(lifecycle.ReconcileMetrics)}
	var errs []string
	for _, x := range []struct {
		name string
		set  func(float64)
	}{
		{"DefaultMemoryMB", func(v float64) { s.MemoryMB = int(v) }},
		{"DefaultRotationConcurrency", func(v float64) { s.RotationConcurrency = int(v) }},
		{"DefaultAPIRateLimit", func(v float64) { s.APIRateLimit = v }},
		{"DefaultVerifyRateLimit", func(v float64) { s.VerifyRateLimit = v }},
		{"DefaultCreateRateLimit", func(v float64) { s.CreateRateLimit = v }},
		{"DefaultLogRetentionDays", func(v float64) { s.LogRetentionDays = int(v) }},
	} {
		v, err := num(x.name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		x.set(v)
	}
	// The function timeouts and schedules are literals in stack.go.
	stackGo := filepath.Join(root, "infra", "stack", "stack.go")
	src, err := os.ReadFile(stackGo)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, x := range []struct {
		re  *regexp.Regexp
		set *float64
	}{
		{regexp.MustCompile(`"reconciler":\s*\{"[^"]*",\s*(\d+)`), &s.ReconcilerTimeoutSec},
		{regexp.MustCompile(`\{"sweep",\s*(\d+)\}`), &s.SweepEveryMin},
		{regexp.MustCompile(`\{"reconciler",\s*(\d+)\}`), &s.ReconcileEveryMin},
	} {
		m := x.re.FindSubmatch(src)
		if m == nil {
			errs = append(errs, fmt.Sprintf("read the stack's schedules: %s does not match %s", stackGo, x.re))
			continue
		}
		*x.set, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return s, nil
}
