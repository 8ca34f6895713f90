package stack_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/infra/stack"
)

// cfnLint is where `make tools` installs the pinned cfn-lint (its own venv,
// from tools/cfnlint-requirements.txt), relative to the module root.
const (
	cfnLint             = ".tools/cfnlint/venv/bin/cfn-lint"
	cfnLintRequirements = "tools/cfnlint-requirements.txt"
)

// moduleRoot is the folder of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// pinnedCfnLint returns the installed cfn-lint, failing (never skipping)
// when it is missing or is not the version pinned in the requirements.
func pinnedCfnLint(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, cfnLint)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("cfn-lint is not installed at %s: run `make tools` (%v)", cfnLint, err)
	}
	req, err := os.ReadFile(filepath.Join(root, cfnLintRequirements))
	if err != nil {
		t.Fatal(err)
	}
	var pinned string
	sc := bufio.NewScanner(bytes.NewReader(req))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "cfn-lint=="); ok {
			pinned = v
		}
	}
	if pinned == "" {
		t.Fatalf("%s pins no cfn-lint==<version>", cfnLintRequirements)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", cfnLint, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "cfn-lint "+pinned {
		t.Fatalf("installed %q, pinned cfn-lint %s: run `make tools`", got, pinned)
	}
	return bin
}

// lintMatch is one finding of cfn-lint's JSON output.
type lintMatch struct {
	Rule struct {
		ID string `json:"Id"`
	} `json:"Rule"`
	Level    string `json:"Level"`
	Message  string `json:"Message"`
	Filename string `json:"Filename"`
	Location struct {
		Path []any `json:"Path"`
	} `json:"Location"`
}

// TestCfnLint runs AWS's CloudFormation linter over every template the
// fixture app synthesizes (each variant of the stack): no error and no
// warning. A finding this design accepts is ignored in the template itself,
// on its one resource, with its reason (see TestCfnLintIgnoresAreExplained).
func TestCfnLint(t *testing.T) {
	bin := pinnedCfnLint(t)
	f := load(t)
	asm := f.App.Synth(nil)
	var templates []string
	for _, st := range *asm.Stacks() {
		templates = append(templates, *st.TemplateFullPath())
	}
	if len(templates) != len(f.all()) {
		t.Fatalf("%d templates synthesized, want %d", len(templates), len(f.all()))
	}

	// Only the template's own configuration counts: no .cfnlintrc from the
	// working directory or the home directory.
	cmd := exec.Command(bin, append([]string{"--format", "json", "--"}, templates...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+cmd.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Exit codes are a bit mask of the levels found (2 error, 4 warning,
	// 8 informational); 1 is a failure of cfn-lint itself.
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() == 1) {
		t.Fatalf("cfn-lint: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var matches []lintMatch
	if err := json.Unmarshal(stdout.Bytes(), &matches); err != nil {
		t.Fatalf("cfn-lint output is not JSON: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, m := range matches {
		t.Errorf("%s %s %s at %v: %s", filepath.Base(m.Filename), m.Level, m.Rule.ID, m.Location.Path, m.Message)
	}
	if err != nil && len(matches) == 0 {
		t.Errorf("cfn-lint exited with %v and reported nothing\n%s", err, stderr.String())
	}
}

// Every check a resource tells cfn-lint to ignore is a warning, never an
// error, and carries a reason a reviewer can weigh.
func TestCfnLintIgnoresAreExplained(t *testing.T) {
	f := load(t)
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			ignored := 0
			for id, r := range s.Template["Resources"].(map[string]any) {
				meta, _ := r.(map[string]any)["Metadata"].(map[string]any)
				lint, _ := meta[stack.LintIgnoreMetadata].(map[string]any)
				if lint == nil {
					continue
				}
				config, _ := lint["config"].(map[string]any)
				reasons, _ := lint["reasons"].(map[string]any)
				for _, check := range toStrings(config["ignore_checks"]) {
					ignored++
					if !strings.HasPrefix(check, "W") {
						t.Errorf("%s ignores %s: only warnings may be ignored", id, check)
					}
					if reason, _ := reasons[check].(string); len(reason) < 80 {
						t.Errorf("%s ignores %s with reason %q, too short to convince a reviewer", id, check, reason)
					}
				}
				if len(config) != 1 || len(lint) != 2 {
					t.Errorf("%s: cfn-lint metadata %s, want only config.ignore_checks and reasons", id, js(lint))
				}
			}
			// W3005 on each function and on CDK's console upload function
			// (see reasonDependsOnRole), nothing else.
			if want := len(stack.FunctionNames) + 1; ignored != want {
				t.Errorf("%d ignored cfn-lint checks, want %d", ignored, want)
			}
		})
	}
}
