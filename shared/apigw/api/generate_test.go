package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/apigw/api/internal/apigen"
)

const specPath = "../../../docs/openapi.yaml"

// TestGeneratedFilesAreFresh regenerates the package from
// docs/openapi.yaml and fails when a generated file differs from the one
// committed: the document is the contract, and the code may not drift
// from it.
func TestGeneratedFilesAreFresh(t *testing.T) {
	t.Parallel()
	files, err := apigen.Generate(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("nothing generated")
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v; run go generate ./shared/apigw/api", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what docs/openapi.yaml gives (first difference at line %d); run go generate ./shared/apigw/api",
				name, firstDiffLine(got, want))
		}
	}
}

func firstDiffLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// TestCodegenVersionIsThePinnedOne: the header names the oapi-codegen
// version go.mod pins, so a bump of the module is a bump of the header.
func TestCodegenVersionIsThePinnedOne(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := apigen.CodegenModule + " " + apigen.CodegenVersion
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == apigen.CodegenModule {
			if got := f[0] + " " + f[1]; got != want {
				t.Errorf("go.mod pins %s, apigen.CodegenVersion says %s", got, want)
			}
			return
		}
	}
	t.Errorf("go.mod does not require %s", apigen.CodegenModule)
}

// TestImportsStayLight: the CDK stack imports this package for the route
// table, and the functions link it; it may depend only on the standard
// library and oapi-codegen's nullable type, never on aws-lambda-go, the
// SDK or the generator.
func TestImportsStayLight(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"github.com/devicepass/devicepass/shared/apigw/api": true, "github.com/oapi-codegen/nullable": true}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if !allowed[d] {
			t.Errorf("package api depends on %s", d)
		}
	}
	if len(deps) == 0 {
		t.Error("go list found no packages, not even this one")
	}
}
