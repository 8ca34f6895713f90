package stack_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/infra/stack"
)

// statement is one Allow statement of a function's role, as synthesized.
type statement struct {
	sid       string
	actions   []string
	resources []any
	condition map[string]any
}

// roleStatements returns every statement of the policies attached to the
// function's role, failing on inline or managed policies.
func roleStatements(t *testing.T, s *synthed, fn string) []statement {
	t.Helper()
	roleID := s.ID(s.Functions[fn].Role())
	role := s.Prop(roleID)
	if role["ManagedPolicyArns"] != nil || role["Policies"] != nil {
		t.Errorf("role of %s has managed or inline policies: %s", fn, js(role))
	}
	trust := role["AssumeRolePolicyDocument"].(map[string]any)["Statement"]
	if want := []any{map[string]any{"Action": "sts:AssumeRole", "Effect": "Allow",
		"Principal": map[string]any{"Service": "lambda.amazonaws.com"}}}; !equalJSON(trust, want) {
		t.Errorf("role of %s trusts %s, want Lambda only", fn, js(trust))
	}
	var out []statement
	for _, pol := range s.Resources("AWS::IAM::Policy") {
		p := pol["Properties"].(map[string]any)
		if !equalJSON(p["Roles"], []any{ref(roleID)}) {
			continue
		}
		for _, st := range list(p["PolicyDocument"].(map[string]any)["Statement"]) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("%s: statement %s is not Allow", fn, js(st))
			}
			sid, _ := st["Sid"].(string)
			cond, _ := st["Condition"].(map[string]any)
			out = append(out, statement{sid, toStrings(st["Action"]), list(st["Resource"]), cond})
		}
	}
	return out
}

// grants maps each action to the set of resources (as JSON) it is allowed on.
type grants map[string]map[string]bool

func (g grants) add(resource any, actions ...string) {
	for _, a := range actions {
		if g[a] == nil {
			g[a] = map[string]bool{}
		}
		g[a][js(resource)] = true
	}
}

// TestLeastPrivilege checks every statement of every function's role
// against the actions that function calls, on exactly the resources it
// calls them on.
func TestLeastPrivilege(t *testing.T) {
	f := load(t)
	for name, s := range map[string]*synthed{"Default": f.Default, "OIDC": f.OIDC} {
		var (
			star     = "*"
			table    = s.Resolve(s.Table.TableArn())
			stream   = s.Resolve(s.Table.TableStreamArn())
			prefix   = s.Resolve(s.SecretPrefixARN())
			verifier = s.Resolve(s.VerifierKey.SecretArn())
			key      = s.Resolve(s.Key.KeyArn())
			expiring = s.Resolve(s.ExpiringIndexARN())
			domain   = s.Resolve(s.DomainIndexARN())
			rotation = s.Resolve(s.Functions["rotation"].Function().FunctionArn())
			kms      = []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
		)
		want := map[string]grants{}
		for _, fn := range stack.FunctionNames {
			g := grants{}
			g.add(getAtt(s.ID(s.Functions[fn].LogGroup()), "Arn"), "logs:CreateLogStream", "logs:PutLogEvents")
			g.add(star, "xray:PutTraceSegments", "xray:PutTelemetryRecords")
			g.add(key, kms...)
			// Only the functions that hash read the verifier key.
			if fn == "api" || fn == "verify" || fn == "rotation" {
				g.add(verifier, "secretsmanager:GetSecretValue")
			}
			want[fn] = g
		}
		want["api"].add(table, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
			"dynamodb:Query", "dynamodb:BatchGetItem")
		want["api"].add(prefix, "secretsmanager:CreateSecret", "secretsmanager:TagResource",
			"secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
			"secretsmanager:UpdateSecretVersionStage", "secretsmanager:DeleteSecret",
			"secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret", "secretsmanager:UpdateSecret")
		want["api"].add(rotation, "lambda:InvokeFunction")
		for _, ix := range s.ListingIndexARNs() {
			want["api"].add(s.Resolve(ix), "dynamodb:Query")
		}
		want["api"].add(domain, "dynamodb:Query")
		want["verify"].add(table, "dynamodb:Query", "dynamodb:UpdateItem")
		want["rotation"].add(table, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query")
		want["rotation"].add(prefix, "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
			"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage")
		want["stream"].add(table, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
		want["stream"].add(stream, "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
		want["stream"].add(star, "dynamodb:ListStreams")
		want["stream"].add(prefix, "secretsmanager:DeleteSecret")
		want["stream"].add(s.Resolve(s.EventBus.EventBusArn()), "events:PutEvents")
		want["stream"].add(s.Resolve(s.NoticeTopic.TopicArn()), "sns:Publish")
		want["stream"].add(s.Resolve(s.StreamDLQ.QueueArn()), "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
		want["sweep"].add(expiring, "dynamodb:Query")
		want["sweep"].add(domain, "dynamodb:Query")
		want["sweep"].add(table, "dynamodb:GetItem", "dynamodb:UpdateItem")
		want["sweep"].add(prefix, "secretsmanager:DeleteSecret")
		want["reconciler"].add(table, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem")
		want["reconciler"].add(s.Resolve(s.ReconcileIndexARN()), "dynamodb:Query")
		want["reconciler"].add(star, "secretsmanager:ListSecrets")
		want["reconciler"].add(prefix, "secretsmanager:DeleteSecret", "secretsmanager:UpdateSecretVersionStage",
			"secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret", "secretsmanager:UpdateSecret")
		want["reconciler"].add(rotation, "lambda:InvokeFunction")
		want["rotationevents"].add(table, "dynamodb:UpdateItem")

		for _, fn := range stack.FunctionNames {
			t.Run(name+"/"+fn, func(t *testing.T) {
				statements := roleStatements(t, s, fn)
				got := grants{}
				for _, st := range statements {
					for _, r := range st.resources {
						got.add(r, st.actions...)
					}
					checkStatement(t, s, st)
				}
				for _, a := range union(got, want[fn]) {
					if !equalJSON(sortedKeys(got[a]), sortedKeys(want[fn][a])) {
						t.Errorf("%s on %v, want on %v", a, sortedKeys(got[a]), sortedKeys(want[fn][a]))
					}
				}
			})
		}
	}
}

// checkStatement applies the rules every statement obeys whatever the
// function: no wildcard action; Resource "*" only for the actions that
// have no resource-level permissions; secrets only under the prefix or the
// verifier key; the key only through AWS services, bar stream records.
func checkStatement(t *testing.T, s *synthed, st statement) {
	t.Helper()
	starOK := map[string]bool{
		"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true,
		"secretsmanager:ListSecrets": true, "dynamodb:ListStreams": true,
	}
	prefix := js(s.Resolve(s.SecretPrefixARN()))
	verifier := js(s.Resolve(s.VerifierKey.SecretArn()))
	for _, a := range st.actions {
		if strings.Contains(a, "*") {
			t.Errorf("wildcard action %s", a)
		}
		for _, r := range st.resources {
			if r == "*" && !starOK[a] {
				t.Errorf("%s on every resource", a)
			}
			if strings.HasPrefix(a, "secretsmanager:") && a != "secretsmanager:ListSecrets" &&
				js(r) != prefix && js(r) != verifier {
				t.Errorf("%s on %s: want the secret prefix or the verifier key", a, js(r))
			}
		}
		switch {
		case strings.HasPrefix(a, "kms:") && st.sid != "DecryptStreamRecords":
			via, _ := st.condition["StringEquals"].(map[string]any)["kms:ViaService"]
			if len(list(via)) == 0 {
				t.Errorf("%s without a kms:ViaService condition", a)
			}
		}
	}
	if st.sid == "DecryptStreamRecords" && !equalJSON(st.actions, []string{"kms:Decrypt"}) {
		t.Errorf("DecryptStreamRecords allows %v, want kms:Decrypt only", st.actions)
	}
}

func union(a, b grants) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The prefix ARN is built from the configured prefix, for this account and
// Region only.
func TestSecretPrefixARN(t *testing.T) {
	f := load(t)
	for name, s := range map[string]*synthed{"Default": f.Default, "OIDC": f.OIDC} {
		got := flatten(s.Resolve(s.SecretPrefixARN()))
		want := "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:" + s.Props.SecretPrefix + "/*"
		if got != want {
			t.Errorf("%s: secret prefix ARN %s, want %s", name, got, want)
		}
	}
}

// flatten renders a Fn::Join of strings and Refs as one string.
func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range list(j[1]) {
				parts = append(parts, flatten(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	return js(v)
}

// The rotation function reaches a device secret only while that secret
// names it as its rotation function, as AWS's rotation templates require.
func TestRotationSecretsNameTheRotationFunction(t *testing.T) {
	f := load(t)
	for name, s := range map[string]*synthed{"Default": f.Default, "OIDC": f.OIDC} {
		t.Run(name, func(t *testing.T) {
			prefix := js(s.Resolve(s.SecretPrefixARN()))
			want := map[string]any{"StringEquals": map[string]any{
				"secretsmanager:resource/AllowRotationLambdaArn": s.Resolve(s.Functions["rotation"].Function().FunctionArn()),
			}}
			var onPrefix int
			for _, st := range roleStatements(t, s, "rotation") {
				for _, r := range st.resources {
					if js(r) != prefix {
						continue
					}
					onPrefix++
					if !equalJSON(st.condition, want) {
						t.Errorf("statement %s on the device secrets has condition %s, want %s", st.sid, js(st.condition), js(want))
					}
				}
			}
			if onPrefix != 1 {
				t.Errorf("%d rotation statements on the device secrets, want 1", onPrefix)
			}
			// In a policy of its own: the function's DependsOn lists its role's
			// default policy, so there the function's ARN would be a cycle.
			fnRes := s.Template["Resources"].(map[string]any)[s.ID(s.Functions["rotation"].Function())].(map[string]any)
			policyID := s.ID(s.RotationSecretsPolicy)
			for _, dep := range list(fnRes["DependsOn"]) {
				if dep == policyID {
					t.Errorf("rotation function depends on %s, which refers to its ARN", policyID)
				}
			}
		})
	}
}
