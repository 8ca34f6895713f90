package stack

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Reasons of the cfn-lint findings this design accepts. The template is
// checked with cfn-lint (pinned in tools/cfnlint-requirements.txt) by a
// test; each accepted finding is ignored on the one resource it concerns,
// through cfn-lint's resource metadata, with its reason next to it.
const (
	reasonDependsOnRole = "CDK makes a function depend on its role's construct, which renders as " +
		"DependsOn on the role and on the role's default policy. The role entry repeats what the " +
		"function's Role GetAtt already enforces and is harmless; the policy entry is needed, so that " +
		"the function never runs before its permissions exist."
)

// LintIgnoreMetadata is the resource metadata key cfn-lint reads its
// per-resource configuration from.
const LintIgnoreMetadata = "cfn-lint"

// ignoreLintChecks makes cfn-lint skip the given checks on the L1 resource
// behind c, and records why under "reasons" beside cfn-lint's own
// configuration (cfn-lint ignores keys it does not know), so that the
// reason ships in the template next to the suppression.
func ignoreLintChecks(c constructs.Construct, reasons map[string]string) {
	ids := make([]string, 0, len(reasons))
	for id := range reasons {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	c.Node().DefaultChild().(awscdk.CfnResource).AddMetadata(jsii.String(LintIgnoreMetadata), map[string]any{
		"config":  map[string]any{"ignore_checks": ids},
		"reasons": reasons,
	})
}
