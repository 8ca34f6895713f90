package standins_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
)

// stack is shared by the package's tests, started by Main.
var stack *standins.Stack

func TestMain(m *testing.M) {
	standinstest.Main(m, func(s *standins.Stack) { stack = s })
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestEndpointsAreLoopback(t *testing.T) {
	for name, endpoint := range map[string]string{"dynamo": stack.DynamoEndpoint, "moto": stack.MotoEndpoint} {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatalf("%s endpoint %q: %v", name, endpoint, err)
		}
		if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
			t.Errorf("%s endpoint = %q, want http://127.0.0.1:<port>", name, endpoint)
		}
	}
	if stack.DynamoEndpoint == stack.MotoEndpoint {
		t.Errorf("both stand-ins on %s", stack.DynamoEndpoint)
	}
}

func TestDynamoDBReachesDynamoDBLocal(t *testing.T) {
	ctx := testContext(t)
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	// A client built with no endpoint option must reach DynamoDB Local, not
	// moto's own DynamoDB emulation.
	ddb := dynamodb.NewFromConfig(cfg, standins.DynamoOptions)
	const table = "standins-routing"
	_, err = ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}

	tables := func(endpoint string) []string {
		t.Helper()
		c := dynamodb.NewFromConfig(cfg, standins.DynamoOptions, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
		out, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			t.Fatalf("ListTables on %s: %v", endpoint, err)
		}
		return out.TableNames
	}
	if got := tables(stack.DynamoEndpoint); !contains(got, table) {
		t.Errorf("DynamoDB Local tables = %v, want %q among them", got, table)
	}
	if got := tables(stack.MotoEndpoint); contains(got, table) {
		t.Errorf("moto tables = %v, want no %q: DynamoDB traffic went to moto", got, table)
	}

	// DynamoDB Local behaves as AWS for conditional writes.
	put := &dynamodb.PutItemInput{
		TableName:           aws.String(table),
		Item:                map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}
	if _, err := ddb.PutItem(ctx, put); err != nil {
		t.Fatalf("first PutItem: %v", err)
	}
	var ccf *types.ConditionalCheckFailedException
	if _, err := ddb.PutItem(ctx, put); !errors.As(err, &ccf) {
		t.Errorf("second PutItem error = %v, want ConditionalCheckFailedException", err)
	}
}

func TestSecretsManagerReachesMoto(t *testing.T) {
	ctx := testContext(t)
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	const name, value = "devicepass/standins@example.com/dev1", `{"password":"p"}`
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if aws.ToString(got.SecretString) != value || aws.ToString(got.Name) != name {
		t.Errorf("GetSecretValue = %q %q, want %q %q", aws.ToString(got.Name), aws.ToString(got.SecretString), name, value)
	}
	if !contains(got.VersionStages, "AWSCURRENT") {
		t.Errorf("version stages = %v, want AWSCURRENT", got.VersionStages)
	}
}

func TestEnv(t *testing.T) {
	env := strings.Join(stack.Env(), "\n")
	for _, want := range []string{
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL_DYNAMODB=" + stack.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + stack.MotoEndpoint,
	} {
		if !strings.Contains(env, want+"\n") && !strings.HasSuffix(env, want) {
			t.Errorf("Env() lacks %q:\n%s", want, env)
		}
	}
}

func TestAWSConfigNeedsStack(t *testing.T) {
	if _, err := standins.AWSConfig(context.Background(), nil); err == nil {
		t.Error("AWSConfig(nil) succeeded, want an error")
	}
}

func TestStopFreesPorts(t *testing.T) {
	s := standinstest.MustStart(t)
	if s.DynamoEndpoint == stack.DynamoEndpoint || s.MotoEndpoint == stack.MotoEndpoint {
		t.Fatalf("second stack shares an endpoint with the first: %+v", s)
	}
	s.Stop()
	s.Stop() // a second Stop (and the Cleanup's) must be harmless
	for _, endpoint := range []string{s.DynamoEndpoint, s.MotoEndpoint} {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", ":"+u.Port())
		if err != nil {
			t.Errorf("port of %s still taken after Stop: %v", endpoint, err)
			continue
		}
		l.Close()
	}
}

func TestStartFailsWithoutTools(t *testing.T) {
	ctx := testContext(t)
	s, err := standins.Start(ctx, t.TempDir())
	if err == nil {
		s.Stop()
		t.Fatal("Start in an empty folder succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "make tools") {
		t.Errorf("error = %q, want it to say how to install (make tools)", err)
	}
}

func TestInstallIsIdempotent(t *testing.T) {
	ctx := testContext(t)
	root, err := standins.Root()
	if err != nil {
		t.Fatal(err)
	}
	// Main installed already, so this must only read the stamps.
	began := time.Now()
	if err := standins.Install(ctx, root); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("second Install took %s, want it to skip installed tools", took)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestMotoReadsMovedCurrent checks the fix tools/moto_server.py applies: a
// GetSecretValue without a stage answers the version AWSCURRENT was moved
// to with UpdateSecretVersionStage, as AWS does.
func TestMotoReadsMovedCurrent(t *testing.T) {
	ctx := testContext(t)
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("devicepass/moved@example.com/dev1"), SecretString: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	const next = "22222222-2222-4222-8222-222222222222"
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, ClientRequestToken: aws.String(next), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: created.ARN, VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(next), RemoveFromVersionId: created.VersionId}); err != nil {
		t.Fatal(err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.SecretString) != "v2" || aws.ToString(got.VersionId) != next {
		t.Errorf("GetSecretValue after moving AWSCURRENT = %q (version %s), want v2 (%s)", aws.ToString(got.SecretString), aws.ToString(got.VersionId), next)
	}
}
