package stack

import (
	"regexp"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Reasons of the cdk-nag suppressions, kept here so that a security
// reviewer reads them in one place (and docs/deploy.md can quote them).
const (
	reasonXRay = "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which " +
		"support no resource-level permissions (Resource must be *); they only send trace data."
	reasonReconcilerStar = "Actions without resource-level permissions, and nothing else: " +
		"X-Ray's PutTraceSegments/PutTelemetryRecords; secretsmanager:ListSecrets (AWS supports no " +
		"resource ARN for it; it returns metadata, never secret values, and the function keeps only " +
		"names under the device prefix). Its metrics go out as Embedded Metric Format log lines, so it " +
		"holds no cloudwatch:PutMetricData."
	reasonStreamStar = "Actions without resource-level permissions, and nothing else: " +
		"X-Ray's PutTraceSegments/PutTelemetryRecords; dynamodb:ListStreams, which the table stream's " +
		"event source mapping calls with this role (AWS supports no resource ARN for it; it lists stream " +
		"ARNs, never records, and reading records stays scoped to this table's stream)."
	reasonSecretPrefix = "One secret per device, created at run time as <prefix>/<mailbox>/<device id>: their " +
		"ARNs are not known at deploy time, so the grant is scoped to the configured name prefix " +
		"(the documented way to scope Secrets Manager access by name). The verifier key lives outside " +
		"the prefix and is granted by its own ARN."
	reasonVerifierKeyRotation = "This secret is the HMAC key of every stored password verifier and " +
		"enrollment token hash; rotating it on a schedule would invalidate all of them at once. It never " +
		"leaves AWS (read by the functions only, encrypted with the stack's CMK with rotation enabled), " +
		"and the device secrets themselves are rotated through the rotation Lambda."
	reasonDLQ = "This queue is itself the on-failure destination (dead-letter queue) of the table " +
		"stream's event source mapping; a DLQ of a DLQ adds nothing. The StreamDLQMessages alarm watches it."
	reasonCognitoPlus = "Cognito's Plus feature plan (threat protection) is priced per monthly active " +
		"user and is off by default; it can be turned on with the cognitoThreatProtection context key. " +
		"Without it: MFA (TOTP) is required for every user, self sign-up is disabled, the password " +
		"policy asks for 12 characters of every class, and user existence errors are hidden."
)

// suppress records the cdk-nag findings this design accepts, each with its
// reason, on the narrowest construct (and finding) possible.
func (s *DevicepassStack) suppress() {
	prefixFinding := "/^Resource::arn:.+:secretsmanager:.+:secret:" +
		regexp.QuoteMeta(s.Props.SecretPrefix) + `/\*$/`
	for _, name := range FunctionNames {
		star := reasonXRay
		switch name {
		case "reconciler":
			star = reasonReconcilerStar
		case "stream":
			star = reasonStreamStar
		}
		suppressions := []*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String(star),
			AppliesTo: &[]any{"Resource::*"},
		}}
		if name != "verify" && name != "rotationevents" { // neither touches a device secret
			suppressions = append(suppressions, &cdknag.NagPackSuppression{
				Id:        jsii.String("AwsSolutions-IAM5"),
				Reason:    jsii.String(reasonSecretPrefix),
				AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(prefixFinding)}},
			})
		}
		cdknag.NagSuppressions_AddResourceSuppressions(s.Functions[name].Role(), &suppressions, jsii.Bool(true))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(s.RotationSecretsPolicy, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String(reasonSecretPrefix),
		AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(prefixFinding)}},
	}}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(s.VerifierKey, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"), Reason: jsii.String(reasonVerifierKeyRotation),
	}}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(s.StreamDLQ, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SQS3"), Reason: jsii.String(reasonDLQ),
	}}, jsii.Bool(false))
	if s.UserPool != nil && !s.Props.CognitoThreatProtection {
		cdknag.NagSuppressions_AddResourceSuppressions(s.UserPool, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-COG8"), Reason: jsii.String(reasonCognitoPlus),
		}}, jsii.Bool(false))
	}
}
