package repocheck_test

import (
	"slices"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/repocheck"
)

// TestFunctionsLinkNoTooling is the fence between what ships and what does
// not: no function may link anything under shared/devtools, the testing
// package, infra/, jsii or the CDK.
func TestFunctionsLinkNoTooling(t *testing.T) {
	root, err := repocheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	fns, err := repocheck.GoList(root, "./functions/...")
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) < 6 {
		t.Fatalf("go list ./functions/... found %d functions: %v", len(fns), fns)
	}
	for _, fn := range fns {
		deps, err := repocheck.GoList(root, "-deps", fn)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(deps, repocheck.Module+"/shared/device") {
			t.Errorf("%s: the dependency list lacks shared/device; is go list -deps working?", fn)
		}
		for _, d := range deps {
			if why := repocheck.Forbidden(d); why != "" {
				t.Errorf("%s links %s: %s never ships in a Lambda (see docs/architecture.md, Packages)", fn, d, why)
			}
		}
	}
}

// TestTheFenceCatchesTooling proves the check above can fail: the local
// runner and the CDK app link what the functions must not, and the check
// sees each kind. The local runner itself links no testing package.
func TestTheFenceCatchesTooling(t *testing.T) {
	root, err := repocheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	deps, err := repocheck.GoList(root, "-deps", "./cmd/devicepass-local", "./infra")
	if err != nil {
		t.Fatal(err)
	}
	caught := map[string]bool{}
	for _, d := range deps {
		if why := repocheck.Forbidden(d); why != "" {
			caught[why] = true
		}
	}
	for _, want := range []string{"tooling under shared/devtools", "the CDK app (infra)", "the jsii runtime", "the CDK"} {
		if !caught[want] {
			t.Errorf("the local runner and the CDK app link no %s, by the check: the check is broken", want)
		}
	}
	for pkg, want := range map[string]bool{
		"testing": true, "testing/fstest": true, repocheck.Module + "/shared/devtools/devicetest": true,
		repocheck.Module + "/infra/stack": true, "github.com/aws/aws-cdk-go/awscdk/v2": true,
		repocheck.Module + "/shared/device": false, "github.com/aws/aws-sdk-go-v2/service/dynamodb": false,
		repocheck.Module + "/shared/devtoolsx": false, "net/http/httptest": false,
	} {
		if got := repocheck.Forbidden(pkg) != ""; got != want {
			t.Errorf("Forbidden(%s) = %v, want %v", pkg, got, want)
		}
	}
	local, err := repocheck.GoList(root, "-deps", "./cmd/devicepass-local")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(local, "testing") {
		t.Error("the local runner links the testing package: test helpers belong in packages only tests import")
	}
}
