package stack_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/infra/stack"
)

func TestNagFindsNothingUnsuppressed(t *testing.T) {
	f := load(t)
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			if len(s.NagErrors) > 0 {
				t.Errorf("cdk-nag errors:\n%s", joinLines(s.NagErrors))
			}
			if len(s.NagWarnings) > 0 {
				t.Errorf("cdk-nag warnings:\n%s", joinLines(s.NagWarnings))
			}
		})
	}
}

// Every suppression names a rule this design accepts, carries a reason, and
// IAM5 suppressions name the exact findings they cover.
func TestNagSuppressionsAreNarrowAndExplained(t *testing.T) {
	f := load(t)
	allowed := map[string]bool{
		"AwsSolutions-IAM5": true, "AwsSolutions-SMG4": true,
		"AwsSolutions-SQS3": true, "AwsSolutions-COG8": true,
		// The console's hosting (infra/stack/console.go says why).
		"AwsSolutions-S1": true, "AwsSolutions-CFR1": true, "AwsSolutions-CFR2": true,
		"AwsSolutions-CFR3": true, "AwsSolutions-CFR4": true,
		"AwsSolutions-L1": true, "AwsSolutions-IAM4": true,
	}
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			seen := map[string]bool{}
			for id, r := range s.Template["Resources"].(map[string]any) {
				meta, _ := r.(map[string]any)["Metadata"].(map[string]any)
				nag, _ := meta["cdk_nag"].(map[string]any)
				for _, rule := range list(nag["rules_to_suppress"]) {
					rule := rule.(map[string]any)
					rid, _ := rule["id"].(string)
					seen[rid] = true
					if !allowed[rid] {
						t.Errorf("%s suppresses %s", id, rid)
					}
					if reason, _ := rule["reason"].(string); len(reason) < 80 {
						t.Errorf("%s: %s reason %q is too short to convince a reviewer", id, rid, reason)
					}
					if rid == "AwsSolutions-IAM5" && rule["applies_to"] == nil {
						t.Errorf("%s: IAM5 suppressed for every finding, want applies_to", id)
					}
				}
			}
			if got, want := seen["AwsSolutions-COG8"], name == "Default"; got != want {
				t.Errorf("COG8 suppressed = %v, want %v (only a Cognito pool without the Plus plan)", got, want)
			}
			if got, want := seen["AwsSolutions-CFR4"], s.Props.ConsoleDomain == ""; got != want {
				t.Errorf("CFR4 suppressed = %v, want %v (only on the default certificate)", got, want)
			}
		})
	}
}

func TestResourceCounts(t *testing.T) {
	f := load(t)
	want := map[string]int{
		"AWS::Lambda::Function":                 8, // the seven functions and the console upload
		"AWS::DynamoDB::Table":                  1,
		"AWS::KMS::Key":                         1,
		"AWS::SecretsManager::Secret":           1,
		"AWS::Cognito::UserPool":                1,
		"AWS::Cognito::UserPoolClient":          1,
		"AWS::ApiGatewayV2::Api":                1,
		"AWS::ApiGatewayV2::Stage":              1,
		"AWS::ApiGatewayV2::Route":              len(stack.UserRoutes) + 2, // + verify, credential-changed
		"AWS::ApiGatewayV2::Authorizer":         1,
		"AWS::ApiGatewayV2::Integration":        2,
		"AWS::CloudWatch::Alarm":                2*len(stack.FunctionNames) + 4,
		"AWS::SNS::Topic":                       2,
		"AWS::Events::EventBus":                 1,
		"AWS::Events::Rule":                     3, // the two schedules, the failed rotations
		"AWS::Lambda::EventSourceMapping":       1,
		"AWS::SQS::Queue":                       1,
		"AWS::IAM::Role":                        8, // the functions' and the console upload's
		"AWS::IAM::ManagedPolicy":               0,
		"AWS::IAM::Policy":                      9, // one per role, and the rotation function's conditional grant
		"AWS::Logs::LogGroup":                   8,
		"AWS::SecretsManager::RotationSchedule": 0,
	}
	for typ, n := range want {
		if got := len(f.Default.Resources(typ)); got != n {
			t.Errorf("Default: %d %s, want %d", got, typ, n)
		}
	}
	if got := len(f.OIDC.Resources("AWS::Cognito::UserPool")); got != 0 {
		t.Errorf("OIDC: %d user pools, want 0 with another OIDC provider", got)
	}
	if got := len(f.Plus.Resources("AWS::Cognito::UserPoolDomain")); got != 1 {
		t.Errorf("Plus: %d user pool domains, want 1", got)
	}
}

func TestTable(t *testing.T) {
	f := load(t)
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			id := s.ID(s.Table)
			res := s.Resources("AWS::DynamoDB::Table")[id]
			p := s.Prop(id)
			checks := []struct {
				what      string
				got, want any
			}{
				{"billing", p["BillingMode"], "PAY_PER_REQUEST"},
				{"key schema", p["KeySchema"], []any{
					map[string]any{"AttributeName": "PK", "KeyType": "HASH"},
					map[string]any{"AttributeName": "SK", "KeyType": "RANGE"},
				}},
				{"attributes", p["AttributeDefinitions"], []any{
					map[string]any{"AttributeName": "PK", "AttributeType": "S"},
					map[string]any{"AttributeName": "SK", "AttributeType": "S"},
					map[string]any{"AttributeName": "expPK", "AttributeType": "S"},
					map[string]any{"AttributeName": "expMs", "AttributeType": "N"},
					map[string]any{"AttributeName": "owner", "AttributeType": "S"},
					map[string]any{"AttributeName": "address", "AttributeType": "S"},
					map[string]any{"AttributeName": "mbxDomain", "AttributeType": "S"},
					map[string]any{"AttributeName": "enrMbx", "AttributeType": "S"},
					map[string]any{"AttributeName": "domPK", "AttributeType": "S"},
					map[string]any{"AttributeName": "domSK", "AttributeType": "S"},
					map[string]any{"AttributeName": "recPK", "AttributeType": "S"},
				}},
				{"indexes", p["GlobalSecondaryIndexes"], []any{map[string]any{
					"IndexName": "expiring",
					"KeySchema": []any{
						map[string]any{"AttributeName": "expPK", "KeyType": "HASH"},
						map[string]any{"AttributeName": "expMs", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}, map[string]any{
					"IndexName": "byOwner",
					"KeySchema": []any{
						map[string]any{"AttributeName": "owner", "KeyType": "HASH"},
						map[string]any{"AttributeName": "address", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}, map[string]any{
					"IndexName": "byDomain",
					"KeySchema": []any{
						map[string]any{"AttributeName": "mbxDomain", "KeyType": "HASH"},
						map[string]any{"AttributeName": "address", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}, map[string]any{
					"IndexName": "enrollments",
					"KeySchema": []any{
						map[string]any{"AttributeName": "enrMbx", "KeyType": "HASH"},
						map[string]any{"AttributeName": "expMs", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}, map[string]any{
					"IndexName": "domain",
					"KeySchema": []any{
						map[string]any{"AttributeName": "domPK", "KeyType": "HASH"},
						map[string]any{"AttributeName": "domSK", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}, map[string]any{
					"IndexName":  "reconcile",
					"KeySchema":  []any{map[string]any{"AttributeName": "recPK", "KeyType": "HASH"}},
					"Projection": map[string]any{"ProjectionType": "KEYS_ONLY"},
				}}},
				{"encryption", p["SSESpecification"], map[string]any{
					"SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": s.Resolve(s.Key.KeyArn()),
				}},
				{"PITR", p["PointInTimeRecoverySpecification"], map[string]any{"PointInTimeRecoveryEnabled": true}},
				{"deletion protection", p["DeletionProtectionEnabled"], true},
				{"stream", p["StreamSpecification"], map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"}},
				{"TTL", p["TimeToLiveSpecification"], map[string]any{"AttributeName": "ttl", "Enabled": true}},
				{"deletion policy", res["DeletionPolicy"], "Retain"},
			}
			for _, c := range checks {
				if !equalJSON(c.got, c.want) {
					t.Errorf("%s = %s, want %s", c.what, js(c.got), js(c.want))
				}
			}
		})
	}
}

func TestKeyAndVerifierSecret(t *testing.T) {
	s := load(t).Default
	key := s.Resources("AWS::KMS::Key")[s.ID(s.Key)]
	if got := s.Prop(s.ID(s.Key))["EnableKeyRotation"]; got != true {
		t.Errorf("key rotation = %v, want true", got)
	}
	if got := key["DeletionPolicy"]; got != "Retain" {
		t.Errorf("key deletion policy = %v, want Retain", got)
	}
	// The key policy lets principals of the account use the key through
	// Secrets Manager (their IAM policies still decide who may).
	viaSecretsManager := false
	for _, st := range list(s.Prop(s.ID(s.Key))["KeyPolicy"].(map[string]any)["Statement"]) {
		cond, _ := st.(map[string]any)["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		if strings.Contains(js(eq["kms:ViaService"]), "secretsmanager.") && contains(toStrings(st.(map[string]any)["Action"]), "kms:Decrypt") {
			viaSecretsManager = true
		}
	}
	if !viaSecretsManager {
		t.Error("key policy: no statement allowing kms:Decrypt via Secrets Manager")
	}

	id := s.ID(s.VerifierKey)
	p := s.Prop(id)
	if !equalJSON(p["KmsKeyId"], s.Resolve(s.Key.KeyArn())) {
		t.Errorf("verifier key KmsKeyId = %s, want the stack's key", js(p["KmsKeyId"]))
	}
	gen, _ := p["GenerateSecretString"].(map[string]any)
	if gen["PasswordLength"] != 64.0 {
		t.Errorf("verifier key length = %v, want 64", gen["PasswordLength"])
	}
	if p["Name"] != nil {
		t.Errorf("verifier key has fixed name %v; a generated name keeps it outside the device prefix", p["Name"])
	}
	if got := s.Resources("AWS::SecretsManager::Secret")[id]["DeletionPolicy"]; got != "Retain" {
		t.Errorf("verifier key deletion policy = %v, want Retain", got)
	}
}

func TestUserPool(t *testing.T) {
	f := load(t)
	for name, s := range map[string]*synthed{"Default": f.Default, "Plus": f.Plus} {
		t.Run(name, func(t *testing.T) {
			p := s.Prop(s.ID(s.UserPool))
			checks := []struct {
				what      string
				got, want any
			}{
				{"MFA", p["MfaConfiguration"], "ON"},
				{"MFA factors", p["EnabledMfas"], []any{"SOFTWARE_TOKEN_MFA"}},
				{"self sign-up", p["AdminCreateUserConfig"].(map[string]any)["AllowAdminCreateUserOnly"], true},
				{"password policy", pick(p["Policies"].(map[string]any)["PasswordPolicy"], "MinimumLength",
					"RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"),
					map[string]any{"MinimumLength": 12, "RequireLowercase": true, "RequireUppercase": true,
						"RequireNumbers": true, "RequireSymbols": true}},
			}
			tier, threat := "ESSENTIALS", any(nil)
			if name == "Plus" {
				tier, threat = "PLUS", map[string]any{"AdvancedSecurityMode": "ENFORCED"}
			}
			checks = append(checks, []struct {
				what      string
				got, want any
			}{
				{"tier", p["UserPoolTier"], tier},
				{"threat protection", p["UserPoolAddOns"], threat},
			}...)
			for _, c := range checks {
				if !equalJSON(c.got, c.want) {
					t.Errorf("%s = %s, want %s", c.what, js(c.got), js(c.want))
				}
			}

			c := s.Prop(s.ID(s.UserPoolClient))
			if c["GenerateSecret"] != false {
				t.Errorf("client secret = %v, want none (browser app)", c["GenerateSecret"])
			}
			flows := toStrings(c["ExplicitAuthFlows"])
			sort.Strings(flows)
			if want := []string{"ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"}; !equalJSON(flows, want) {
				t.Errorf("auth flows = %v, want %v", flows, want)
			}
			// The console signs in with the code flow (PKCE) in every
			// variant with a user pool.
			wantOAuth := []string{"code"}
			if got := toStrings(c["AllowedOAuthFlows"]); !equalJSON(got, wantOAuth) {
				t.Errorf("OAuth flows = %v, want %v", got, wantOAuth)
			}
		})
	}
}

func TestRoutesAndAuthorizers(t *testing.T) {
	f := load(t)
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			authorizers := s.Resources("AWS::ApiGatewayV2::Authorizer")
			if len(authorizers) != 1 {
				t.Fatalf("%d authorizers, want 1 (JWT)", len(authorizers))
			}
			var authID string
			for id, a := range authorizers {
				authID = id
				p := a["Properties"].(map[string]any)
				if p["AuthorizerType"] != "JWT" {
					t.Errorf("authorizer type = %v, want JWT", p["AuthorizerType"])
				}
				jwt := p["JwtConfiguration"].(map[string]any)
				var wantIssuer, wantAudience any
				if name == "OIDC" {
					wantIssuer, wantAudience = "https://login.example.com/realms/mail", []any{"mail-console", "portal"}
				} else {
					wantIssuer = map[string]any{"Fn::Join": []any{"", []any{
						"https://cognito-idp.", ref("AWS::Region"), ".amazonaws.com/", ref(s.ID(s.UserPool)),
					}}}
					wantAudience = []any{ref(s.ID(s.UserPoolClient))}
				}
				if !equalJSON(jwt["Issuer"], wantIssuer) || !equalJSON(jwt["Audience"], wantAudience) {
					t.Errorf("JWT issuer, audience = %s, %s; want %s, %s",
						js(jwt["Issuer"]), js(jwt["Audience"]), js(wantIssuer), js(wantAudience))
				}
			}

			integrationOf := map[string]string{} // integration id -> function name
			for id, in := range s.Resources("AWS::ApiGatewayV2::Integration") {
				uri := in["Properties"].(map[string]any)["IntegrationUri"]
				for _, fn := range []string{"api", "verify"} {
					if equalJSON(uri, s.Resolve(s.Functions[fn].Function().FunctionArn())) {
						integrationOf[id] = fn
					}
				}
			}

			got := map[string]string{}
			for _, r := range s.Resources("AWS::ApiGatewayV2::Route") {
				p := r["Properties"].(map[string]any)
				key := p["RouteKey"].(string)
				target := p["Target"].(map[string]any)["Fn::Join"].([]any)[1].([]any)
				fn := integrationOf[target[1].(map[string]any)["Ref"].(string)]
				auth := p["AuthorizationType"].(string)
				if auth == "JWT" && !equalJSON(p["AuthorizerId"], ref(authID)) {
					auth += " (another authorizer)"
				}
				got[key] = fn + " " + auth
			}
			want := map[string]string{stack.VerifyRoute.Key(): "verify AWS_IAM", stack.CredentialRoute.Key(): "api AWS_IAM"}
			for _, r := range stack.UserRoutes {
				want[r.Key()] = "api JWT"
			}
			if !equalJSON(got, want) {
				t.Errorf("routes (function, authorization):\n got %s\nwant %s", js(got), js(want))
			}
		})
	}
}

func TestStage(t *testing.T) {
	f := load(t)
	s := f.Default
	stages := s.Resources("AWS::ApiGatewayV2::Stage")
	id := s.ID(s.Stage)
	p := s.Prop(id)
	if p["StageName"] != "$default" || p["AutoDeploy"] != true {
		t.Errorf("stage %v, auto deploy %v; want $default, true", p["StageName"], p["AutoDeploy"])
	}
	wantDefault := map[string]any{"ThrottlingRateLimit": stack.DefaultAPIRateLimit, "ThrottlingBurstLimit": stack.DefaultAPIBurstLimit}
	if !equalJSON(p["DefaultRouteSettings"], wantDefault) {
		t.Errorf("default route settings = %s, want %s", js(p["DefaultRouteSettings"]), js(wantDefault))
	}
	wantRoutes := map[string]any{stack.VerifyRoute.Key(): map[string]any{
		"ThrottlingRateLimit": stack.DefaultVerifyRateLimit, "ThrottlingBurstLimit": stack.DefaultVerifyBurstLimit,
	}}
	for _, r := range stack.UserRoutes {
		if r.Create {
			wantRoutes[r.Key()] = map[string]any{
				"ThrottlingRateLimit": stack.DefaultCreateRateLimit, "ThrottlingBurstLimit": stack.DefaultCreateBurstLimit,
			}
		}
	}
	if len(wantRoutes) != 7 {
		t.Errorf("%d throttled routes, want verify and the 6 create routes", len(wantRoutes))
	}
	if !equalJSON(p["RouteSettings"], wantRoutes) {
		t.Errorf("route settings = %s\nwant %s", js(p["RouteSettings"]), js(wantRoutes))
	}
	// Route settings fail to deploy unless the routes exist first.
	deps := toStrings(stages[id]["DependsOn"])
	for rid := range s.Resources("AWS::ApiGatewayV2::Route") {
		if !contains(deps, rid) {
			t.Errorf("stage does not depend on route %s", rid)
		}
	}

	logs := p["AccessLogSettings"].(map[string]any)
	dest, _ := logs["DestinationArn"].(map[string]any)["Fn::GetAtt"].([]any)
	if dest == nil || s.Resources("AWS::Logs::LogGroup")[dest[0].(string)] == nil {
		t.Errorf("access log destination = %s, want a log group of the stack", js(logs["DestinationArn"]))
	}
	format := logs["Format"].(string)
	var fields map[string]any
	if err := json.Unmarshal([]byte(format), &fields); err != nil {
		t.Fatalf("access log format is not JSON: %v", err)
	}
	for _, k := range []string{"requestId", "ip", "routeKey", "status", "errors"} {
		if fields[k] == nil {
			t.Errorf("access log format lacks %q", k)
		}
	}
	// The path may hold an enrollment token; bodies and headers hold
	// passwords and bearer tokens.
	for _, bad := range []string{"$context.path", "$request", "$input", "body", "header", "authorization"} {
		if strings.Contains(strings.ToLower(format), strings.ToLower(bad)) {
			t.Errorf("access log format mentions %q", bad)
		}
	}

	if cors := s.Prop(s.ID(s.API))["CorsConfiguration"]; cors != nil {
		t.Errorf("Default: CORS %s, want none without allowed origins", js(cors))
	}
	cors, _ := f.OIDC.Prop(f.OIDC.ID(f.OIDC.API))["CorsConfiguration"].(map[string]any)
	if !equalJSON(cors["AllowOrigins"], []string{"https://console.example.com"}) ||
		!contains(toStrings(cors["AllowHeaders"]), "Idempotency-Key") || cors["AllowCredentials"] == true {
		t.Errorf("OIDC: CORS %s, want the configured origin, Idempotency-Key allowed, no credentials", js(cors))
	}
}

func TestFunctions(t *testing.T) {
	f := load(t)
	timeouts := map[string]float64{"api": 10, "verify": 5, "rotation": 30, "stream": 60, "sweep": 60, "reconciler": 300, "rotationevents": 10}
	for name, s := range map[string]*synthed{"Default": f.Default, "OIDC": f.OIDC} {
		for _, fn := range stack.FunctionNames {
			t.Run(name+"/"+fn, func(t *testing.T) {
				g := s.Functions[fn]
				p := s.Prop(s.ID(g.Function()))
				wantConcurrency := map[string]any{"Default/rotation": 5.0, "OIDC/verify": 20.0}[name+"/"+fn]
				checks := []struct {
					what      string
					got, want any
				}{
					{"runtime", p["Runtime"], "provided.al2023"},
					{"architectures", p["Architectures"], []any{"arm64"}},
					{"handler", p["Handler"], "bootstrap"},
					{"tracing", p["TracingConfig"], map[string]any{"Mode": "Active"}},
					{"memory", p["MemorySize"], 256.0},
					{"timeout", p["Timeout"], timeouts[fn]},
					{"role", p["Role"], getAtt(s.ID(g.Role()), "Arn")},
					{"log group", p["LoggingConfig"], map[string]any{"LogGroup": ref(s.ID(g.LogGroup()))}},
					{"reserved concurrency", p["ReservedConcurrentExecutions"], wantConcurrency},
					{"environment", p["Environment"].(map[string]any)["Variables"], wantEnv(s, fn)},
				}
				retention := map[string]float64{"Default": 30, "OIDC": 90}[name]
				checks = append(checks, struct {
					what      string
					got, want any
				}{"log retention", s.Prop(s.ID(g.LogGroup()))["RetentionInDays"], retention})
				for _, c := range checks {
					if !equalJSON(c.got, c.want) {
						t.Errorf("%s = %s, want %s", c.what, js(c.got), js(c.want))
					}
				}
			})
		}
	}
}

// wantEnv is the configuration table of docs/architecture.md.
func wantEnv(s *synthed, fn string) map[string]any {
	env := map[string]any{
		"TABLE_NAME":             s.Resolve(s.Table.TableName()),
		"SECRET_PREFIX":          s.Props.SecretPrefix,
		"KMS_KEY_ID":             s.Resolve(s.Key.KeyArn()),
		"VERIFIER_KEY_SECRET_ID": s.Resolve(s.VerifierKey.SecretArn()),
		"ADMIN_GROUP_CLAIM":      "cognito:groups",
		"ADMIN_GROUP_PATTERN":    "domain-admin:{domain}",
		"STEP_UP_MAX_AGE":        "5m",
		"MAX_LIVE_DEVICES":       "50",
		"RECOVERY_WINDOW_DAYS":   "7",
		"ROTATION_GRACE":         "2h",
		"AUDIT_RETENTION_DAYS":   "365",
		"LOG_LEVEL":              "info",
	}
	switch fn {
	case "api", "reconciler":
		env["ROTATION_LAMBDA_ARN"] = s.Resolve(s.Functions["rotation"].Function().FunctionArn())
	case "stream":
		env["EVENT_BUS_NAME"] = s.Resolve(s.EventBus.EventBusName())
		env["NOTICE_TOPIC_ARN"] = s.Resolve(s.NoticeTopic.TopicArn())
	}
	return env
}

func TestRotationInvokePermission(t *testing.T) {
	s := load(t).Default
	var found []map[string]any
	for _, r := range s.Resources("AWS::Lambda::Permission") {
		p := r["Properties"].(map[string]any)
		if p["Principal"] == "secretsmanager.amazonaws.com" {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d permissions for secretsmanager.amazonaws.com, want 1", len(found))
	}
	want := map[string]any{
		"Action":        "lambda:InvokeFunction",
		"FunctionName":  s.Resolve(s.Functions["rotation"].Function().FunctionArn()),
		"Principal":     "secretsmanager.amazonaws.com",
		"SourceAccount": ref("AWS::AccountId"),
	}
	if !equalJSON(found[0], want) {
		t.Errorf("rotation permission = %s, want %s", js(found[0]), js(want))
	}
}

func TestStreamSourceAndSchedules(t *testing.T) {
	s := load(t).Default
	for _, r := range s.Resources("AWS::Lambda::EventSourceMapping") {
		p := r["Properties"].(map[string]any)
		want := map[string]any{
			"EventSourceArn":             s.Resolve(s.Table.TableStreamArn()),
			"FunctionName":               ref(s.ID(s.Functions["stream"].Function())),
			"BatchSize":                  100,
			"BisectBatchOnFunctionError": true,
			"MaximumRetryAttempts":       5,
			"MaximumRecordAgeInSeconds":  86400,
			"FunctionResponseTypes":      []string{"ReportBatchItemFailures"},
			"StartingPosition":           "TRIM_HORIZON",
			"DestinationConfig": map[string]any{"OnFailure": map[string]any{
				"Destination": s.Resolve(s.StreamDLQ.QueueArn()),
			}},
		}
		if !equalJSON(p, want) {
			t.Errorf("stream event source = %s\nwant %s", js(p), js(want))
		}
	}
	dlq := s.Prop(s.ID(s.StreamDLQ))
	if dlq["SqsManagedSseEnabled"] != true {
		t.Errorf("stream DLQ encryption = %s, want SQS-managed", js(dlq))
	}

	got := map[string]string{}
	for _, r := range s.Resources("AWS::Events::Rule") {
		p := r["Properties"].(map[string]any)
		for _, target := range list(p["Targets"]) {
			for _, fn := range stack.FunctionNames {
				if se, ok := p["ScheduleExpression"].(string); ok && equalJSON(target.(map[string]any)["Arn"], s.Resolve(s.Functions[fn].Function().FunctionArn())) {
					got[fn] = se
				}
			}
		}
	}
	want := map[string]string{"sweep": "rate(5 minutes)", "reconciler": "rate(15 minutes)"}
	if !equalJSON(got, want) {
		t.Errorf("schedules = %v, want %v", got, want)
	}
}

func TestMessaging(t *testing.T) {
	f := load(t)
	s := f.Default
	if name := s.Prop(s.ID(s.EventBus))["Name"]; name != "devicepass" {
		t.Errorf("event bus name = %v, want devicepass", name)
	}
	if got := s.Prop(s.ID(s.NoticeTopic))["KmsMasterKeyId"]; !equalJSON(got, s.Resolve(s.Key.KeyArn())) {
		t.Errorf("notice topic key = %s, want the stack's key", js(got))
	}
	sslOnly := func(policy map[string]any) bool {
		for _, st := range list(policy["Statement"]) {
			st := st.(map[string]any)
			everyone := st["Principal"] == "*" || equalJSON(st["Principal"], map[string]any{"AWS": "*"})
			if st["Effect"] == "Deny" && everyone &&
				equalJSON(st["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
				return true
			}
		}
		return false
	}
	for _, topic := range []string{s.ID(s.NoticeTopic), s.ID(s.AlarmTopic)} {
		ok := false
		for _, tp := range s.Resources("AWS::SNS::TopicPolicy") {
			p := tp["Properties"].(map[string]any)
			if equalJSON(p["Topics"], []any{ref(topic)}) && sslOnly(p["PolicyDocument"].(map[string]any)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("topic %s does not deny publishing without SSL", topic)
		}
	}
	for _, qp := range s.Resources("AWS::SQS::QueuePolicy") {
		if !sslOnly(qp["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)) {
			t.Error("stream DLQ does not deny requests without SSL")
		}
	}

	if n := len(s.Resources("AWS::SNS::Subscription")); n != 0 {
		t.Errorf("Default: %d subscriptions, want none without an alarm email", n)
	}
	subs := f.OIDC.Resources("AWS::SNS::Subscription")
	for _, sub := range subs {
		p := sub["Properties"].(map[string]any)
		if p["Protocol"] != "email" || p["Endpoint"] != "ops@example.com" || !equalJSON(p["TopicArn"], ref(f.OIDC.ID(f.OIDC.AlarmTopic))) {
			t.Errorf("OIDC: subscription %s, want ops@example.com on the alarm topic", js(p))
		}
	}
	if len(subs) != 1 {
		t.Errorf("OIDC: %d subscriptions, want 1", len(subs))
	}
}

func TestAlarms(t *testing.T) {
	s := load(t).Default
	alarms := s.Resources("AWS::CloudWatch::Alarm")
	type key struct{ namespace, metric, dimension string }
	got := map[key]bool{}
	for id, a := range alarms {
		p := a["Properties"].(map[string]any)
		if !equalJSON(p["AlarmActions"], []any{ref(s.ID(s.AlarmTopic))}) {
			t.Errorf("alarm %s actions = %s, want the alarm topic", id, js(p["AlarmActions"]))
		}
		var dim string
		for _, d := range list(p["Dimensions"]) {
			dim += js(d.(map[string]any)["Value"])
		}
		got[key{p["Namespace"].(string), p["MetricName"].(string), dim}] = true
	}
	want := []key{
		{"AWS/ApiGateway", "5xx", js(ref(s.ID(s.API))) + js("$default")},
		{"AWS/Lambda", "IteratorAge", js(ref(s.ID(s.Functions["stream"].Function())))},
		{"AWS/SQS", "ApproximateNumberOfMessagesVisible", js(getAtt(s.ID(s.StreamDLQ), "QueueName"))},
		{stack.MetricNamespace, "Failures", ""},
	}
	for _, fn := range stack.FunctionNames {
		dim := js(ref(s.ID(s.Functions[fn].Function())))
		want = append(want, key{"AWS/Lambda", "Errors", dim}, key{"AWS/Lambda", "Throttles", dim})
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("no alarm on %s %s %s", k.namespace, k.metric, k.dimension)
		}
	}
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d", len(alarms), len(want))
	}
}

func TestOutputs(t *testing.T) {
	f := load(t)
	common := []string{"AlarmTopicArn", "ApiUrl", "ConsoleUrl", "EventBusName", "KeyArn", "NoticeTopicArn",
		"RotationFunctionArn", "SecretPrefix", "TableName"}
	for name, s := range f.all() {
		want := append([]string{}, common...)
		if name != "OIDC" {
			want = append(want, "UserPoolClientId", "UserPoolId")
		}
		if s.Props.ConsoleDomain != "" {
			want = append(want, "ConsoleDnsTarget")
		}
		sort.Strings(want)
		outputs := s.Template["Outputs"].(map[string]any)
		if got := sortedKeys(outputs); !equalJSON(got, want) {
			t.Errorf("%s: outputs %v, want %v", name, got, want)
		}
		if got := outputs["SecretPrefix"].(map[string]any)["Value"]; got != s.Props.SecretPrefix {
			t.Errorf("%s: SecretPrefix output %v, want %s", name, got, s.Props.SecretPrefix)
		}
	}
}

// pick returns the named fields of a JSON object.
func pick(v any, keys ...string) map[string]any {
	m, _ := v.(map[string]any)
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func toStrings(v any) []string {
	var out []string
	for _, x := range list(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestConsoleHosting: a private bucket read by CloudFront through OAC, one
// distribution serving the console and routing /v1/* to the HTTP API
// uncached, the console's security headers on every answer, and the
// Cognito client's callback on the console.
func TestConsoleHosting(t *testing.T) {
	f := load(t)
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			b := s.Prop(s.ID(s.ConsoleBucket))
			if !equalJSON(b["PublicAccessBlockConfiguration"], map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			}) {
				t.Errorf("bucket public access block = %s", js(b["PublicAccessBlockConfiguration"]))
			}
			if n := len(s.Resources("AWS::CloudFront::OriginAccessControl")); n != 1 {
				t.Errorf("%d origin access controls, want 1", n)
			}
			d := s.Prop(s.ID(s.Distribution))["DistributionConfig"].(map[string]any)
			if d["DefaultRootObject"] != "index.html" {
				t.Errorf("default root object = %v", d["DefaultRootObject"])
			}
			behaviors := list(d["CacheBehaviors"])
			if len(behaviors) != 1 {
				t.Fatalf("cache behaviors = %s, want /v1/* only", js(behaviors))
			}
			api := behaviors[0].(map[string]any)
			if api["PathPattern"] != "/v1/*" || api["CachePolicyId"] != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" {
				t.Errorf("/v1/* behavior = %s, want the API uncached (CachingDisabled)", js(api))
			}
			if !equalJSON(api["AllowedMethods"], []any{"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}) {
				t.Errorf("/v1/* methods = %s", js(api["AllowedMethods"]))
			}
			var policies []map[string]any
			for _, r := range s.Resources("AWS::CloudFront::ResponseHeadersPolicy") {
				policies = append(policies, r["Properties"].(map[string]any)["ResponseHeadersPolicyConfig"].(map[string]any))
			}
			if len(policies) != 1 {
				t.Fatalf("%d response headers policies, want 1", len(policies))
			}
			sec := policies[0]["SecurityHeadersConfig"].(map[string]any)
			// With a Cognito domain the policy joins in the region (Fn::Join).
			csp := js(sec["ContentSecurityPolicy"].(map[string]any)["ContentSecurityPolicy"])
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
				if !strings.Contains(csp, want) || strings.Contains(csp, "unsafe-") {
					t.Errorf("CSP %q lacks %q or allows unsafe sources", csp, want)
				}
			}
			if sec["ReferrerPolicy"].(map[string]any)["ReferrerPolicy"] != "no-referrer" ||
				sec["FrameOptions"].(map[string]any)["FrameOption"] != "DENY" ||
				sec["StrictTransportSecurity"].(map[string]any)["AccessControlMaxAgeSec"] != float64(63072000) {
				t.Errorf("security headers = %s", js(sec))
			}
			if s.UserPoolClient != nil {
				c := s.Prop(s.ID(s.UserPoolClient))
				cb := js(c["CallbackURLs"])
				if s.Props.ConsoleDomain == "" && (!strings.Contains(cb, "/callback.html") || !strings.Contains(cb, s.ID(s.Distribution))) {
					t.Errorf("callback URLs %s lack the console's", cb)
				}
			}
		})
	}
}

// TestRotationFailureRule: the rule matches exactly Secrets Manager's
// failed-rotation service events of secrets under the device prefix and
// targets the rotation-events function, retrying for a day.
func TestRotationFailureRule(t *testing.T) {
	s := load(t).Default
	p := s.Prop(s.ID(s.RotationFailureRule))
	prefix := s.Resolve(s.SecretARNPrefix())
	if !strings.HasSuffix(js(prefix), `:secret:devicepass/"]]}`) {
		t.Errorf("secret ARN prefix = %s, want it to end in :secret:devicepass/", js(prefix))
	}
	wantPattern := map[string]any{
		"source":      []any{"aws.secretsmanager"},
		"detail-type": []any{"AWS Service Event via CloudTrail"},
		"detail": map[string]any{
			"eventSource":         []any{"secretsmanager.amazonaws.com"},
			"eventName":           []any{"RotationFailed", "RotationAbandoned", "TestRotationFailed"},
			"additionalEventData": map[string]any{"SecretId": []any{map[string]any{"prefix": prefix}}},
		},
	}
	if !equalJSON(p["EventPattern"], wantPattern) {
		t.Errorf("event pattern = %s\nwant %s", js(p["EventPattern"]), js(wantPattern))
	}
	if p["EventBusName"] != nil {
		t.Errorf("rule on bus %v; AWS delivers service events to the default bus", p["EventBusName"])
	}
	targets := list(p["Targets"])
	if len(targets) != 1 {
		t.Fatalf("targets = %s, want the rotation-events function", js(targets))
	}
	tg := targets[0].(map[string]any)
	if !equalJSON(tg["Arn"], s.Resolve(s.Functions["rotationevents"].Function().FunctionArn())) {
		t.Errorf("target = %s, want the rotation-events function", js(tg["Arn"]))
	}
	if !equalJSON(tg["RetryPolicy"], map[string]any{"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400}) {
		t.Errorf("retry policy = %s", js(tg["RetryPolicy"]))
	}
	// EventBridge may invoke the function, from this rule only.
	var allowed bool
	for _, r := range s.Resources("AWS::Lambda::Permission") {
		pp := r["Properties"].(map[string]any)
		if pp["Principal"] == "events.amazonaws.com" && equalJSON(pp["SourceArn"], s.Resolve(s.RotationFailureRule.RuleArn())) &&
			equalJSON(pp["FunctionName"], s.Resolve(s.Functions["rotationevents"].Function().FunctionArn())) {
			allowed = true
		}
	}
	if !allowed {
		t.Error("no permission for the rule to invoke the rotation-events function")
	}
}

// TestConsoleDomain: without a custom domain the distribution keeps
// CloudFront's certificate and name; with one it serves that name with the
// given ACM certificate and a TLS 1.2 minimum, and every console URL (the
// output, Cognito's callback and sign-out URLs) is on that name, with the
// distribution's own name output as the DNS record's target.
func TestConsoleDomain(t *testing.T) {
	f := load(t)
	for name, s := range f.all() {
		t.Run(name, func(t *testing.T) {
			d := s.Prop(s.ID(s.Distribution))["DistributionConfig"].(map[string]any)
			outputs := s.Template["Outputs"].(map[string]any)
			consoleURL := js(outputs["ConsoleUrl"].(map[string]any)["Value"])
			if s.Props.ConsoleDomain == "" {
				if d["Aliases"] != nil || d["ViewerCertificate"] != nil {
					t.Errorf("aliases %s, viewer certificate %s; want CloudFront's default", js(d["Aliases"]), js(d["ViewerCertificate"]))
				}
				if !strings.Contains(consoleURL, s.ID(s.Distribution)) {
					t.Errorf("ConsoleUrl = %s, want the distribution's domain name", consoleURL)
				}
				return
			}
			if !equalJSON(d["Aliases"], []any{s.Props.ConsoleDomain}) {
				t.Errorf("aliases = %s, want [%s]", js(d["Aliases"]), s.Props.ConsoleDomain)
			}
			want := map[string]any{
				"AcmCertificateArn":      s.Props.ConsoleCertificateArn,
				"MinimumProtocolVersion": "TLSv1.2_2021",
				"SslSupportMethod":       "sni-only",
			}
			if !equalJSON(d["ViewerCertificate"], want) {
				t.Errorf("viewer certificate = %s\nwant %s", js(d["ViewerCertificate"]), js(want))
			}
			base := "https://" + s.Props.ConsoleDomain
			if got := outputs["ConsoleUrl"].(map[string]any)["Value"]; got != base+"/" {
				t.Errorf("ConsoleUrl = %s, want %s/", js(got), base)
			}
			target := outputs["ConsoleDnsTarget"].(map[string]any)["Value"]
			if !equalJSON(target, s.Resolve(s.Distribution.DistributionDomainName())) {
				t.Errorf("ConsoleDnsTarget = %s, want the distribution's domain name", js(target))
			}
			c := s.Prop(s.ID(s.UserPoolClient))
			wantCallbacks := append([]any{base + stack.ConsoleCallbackPath}, anys(s.Props.CallbackURLs)...)
			wantLogouts := append([]any{base + "/"}, anys(s.Props.LogoutURLs)...)
			if !equalJSON(c["CallbackURLs"], wantCallbacks) || !equalJSON(c["LogoutURLs"], wantLogouts) {
				t.Errorf("callback URLs %s, logout URLs %s; want %s, %s", js(c["CallbackURLs"]), js(c["LogoutURLs"]), js(wantCallbacks), js(wantLogouts))
			}
			// Nothing still points at the *.cloudfront.net name but the DNS target.
			for _, k := range []string{"CallbackURLs", "LogoutURLs"} {
				if strings.Contains(js(c[k]), s.ID(s.Distribution)) {
					t.Errorf("%s %s name the distribution's own domain", k, js(c[k]))
				}
			}
		})
	}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
