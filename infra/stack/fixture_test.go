package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicepass/devicepass/infra/stack"
)

// Synthesis costs seconds, so every test of this binary shares one app
// holding three variants of the stack, synthesized once.
var (
	fixtureOnce sync.Once
	fixture     *fixtures
	fixtureErr  error
	buildDir    string
)

type fixtures struct {
	// App holds the three stacks below.
	App awscdk.App
	// Default is the stack with default props (Cognito).
	Default *synthed
	// OIDC uses another OIDC provider and non-default props.
	OIDC *synthed
	// Plus uses Cognito's Plus plan, a hosted domain and the code flow.
	Plus *synthed
}

// synthed is a stack with its synthesized template.
type synthed struct {
	*stack.DevicepassStack
	Template map[string]any
	// Annotations are cdk-nag's unsuppressed errors and warnings.
	NagErrors, NagWarnings []string
}

// Resources returns the template's resources of type typ by logical id.
func (s *synthed) Resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.Template["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// Prop returns the Properties of the resource with the logical id.
func (s *synthed) Prop(id string) map[string]any {
	r, ok := s.Template["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		return nil
	}
	p, _ := r["Properties"].(map[string]any)
	return p
}

// ID returns the logical id of a construct's default (L1) child.
func (s *synthed) ID(c constructs.Construct) string {
	el := c.Node().DefaultChild().(awscdk.CfnElement)
	return *s.GetLogicalId(el)
}

// Resolve turns a token (an ARN, a name) into its template JSON.
func (s *synthed) Resolve(v any) any { return norm(s.Stack.Resolve(v)) }

func norm(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func ref(id string) any          { return map[string]any{"Ref": id} }
func getAtt(id, attr string) any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }

// list returns v as a list: CloudFormation allows a single value or a list.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestMain(m *testing.M) {
	usePinnedNode()
	code := m.Run()
	jsii.Close()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// pinnedNode is where `make tools` installs the Node.js LTS of tools/node,
// relative to the module root.
const pinnedNode = ".tools/node/node_modules/node/bin/node"

// usePinnedNode runs jsii on the pinned Node.js, as `make test` does, unless
// JSII_NODE names another: the machine's own Node may be one that jsii warns
// about as past its end of life. Without the pinned one installed, jsii uses
// the machine's, which synthesizes the same templates.
func usePinnedNode() {
	if os.Getenv("JSII_NODE") != "" {
		return
	}
	root, err := moduleRoot()
	if err != nil {
		return
	}
	if node := filepath.Join(root, pinnedNode); fileExists(node) {
		os.Setenv("JSII_NODE", node)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// load synthesizes the fixtures once and fails tb if that failed.
func load(tb testing.TB) *fixtures {
	tb.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = synthesize() })
	if fixtureErr != nil {
		tb.Fatalf("synthesize: %v", fixtureErr)
	}
	return fixture
}

func synthesize() (*fixtures, error) {
	// A stand-in for the Makefile's output: the tests must not need a build.
	dir, err := os.MkdirTemp("", "devicepass-infra-test-")
	if err != nil {
		return nil, err
	}
	buildDir = dir
	for _, name := range stack.FunctionNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			return nil, err
		}
	}

	app := awscdk.NewApp(&awscdk.AppProps{AnalyticsReporting: jsii.Bool(false)})
	variants := []struct {
		id    string
		props stack.DevicepassStackProps
	}{
		{"Default", stack.DevicepassStackProps{BuildDir: dir}},
		{"OIDC", stack.DevicepassStackProps{
			BuildDir:            dir,
			SecretPrefix:        "acme/devicepass",
			JWTIssuer:           "https://login.example.com/realms/mail",
			JWTAudience:         []string{"mail-console", "portal"},
			AllowedOrigins:      []string{"https://console.example.com"},
			AlarmEmail:          "ops@example.com",
			VerifyConcurrency:   20,
			RotationConcurrency: -1,
			LogRetentionDays:    90,
		}},
		{"Plus", stack.DevicepassStackProps{
			BuildDir:                dir,
			CognitoThreatProtection: true,
			CognitoDomainPrefix:     "acme-devicepass",
			ConsoleDomain:           "console.example.com",
			ConsoleCertificateArn:   "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
			CallbackURLs:            []string{"https://console.example.com/callback"},
			LogoutURLs:              []string{"https://console.example.com/"},
		}},
	}
	stacks := map[string]*synthed{}
	for _, v := range variants {
		props := v.props
		s, err := stack.NewDevicepassStack(app, v.id, &props)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.id, err)
		}
		stacks[v.id] = &synthed{DevicepassStack: s}
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(nil), nil)

	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, s := range stacks {
		s.Template = *assertions.Template_FromStack(s.Stack, nil).ToJSON()
		ann := assertions.Annotations_FromStack(s.Stack)
		for _, m := range *ann.FindError(jsii.String("*"), nag) {
			s.NagErrors = append(s.NagErrors, message(m))
		}
		for _, m := range *ann.FindWarning(jsii.String("*"), nag) {
			s.NagWarnings = append(s.NagWarnings, message(m))
		}
	}
	return &fixtures{App: app, Default: stacks["Default"], OIDC: stacks["OIDC"], Plus: stacks["Plus"]}, nil
}

// message renders a synthesis message as "<construct path>: <text>",
// through JSON because the message type's Go fields are marked deprecated.
func message(m any) string {
	v, _ := norm(m).(map[string]any)
	entry, _ := v["entry"].(map[string]any)
	return fmt.Sprintf("%v: %v", v["id"], entry["data"])
}

// all returns the variants by name, for table-driven tests.
func (f *fixtures) all() map[string]*synthed {
	return map[string]*synthed{"Default": f.Default, "OIDC": f.OIDC, "Plus": f.Plus}
}

// equalJSON compares two JSON-shaped values.
func equalJSON(a, b any) bool { return reflect.DeepEqual(norm(a), norm(b)) }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func joinLines(s []string) string { return strings.Join(s, "\n") }
