package standins

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Region is the AWS region every client of the stand-ins uses.
const Region = "us-east-1"

// Static credentials the stand-ins accept (they check signatures' shape, not
// their keys).
const (
	accessKeyID     = "test"
	secretAccessKey = "test"
)

// AWSConfig returns an SDK config whose clients reach the stack: DynamoDB and
// DynamoDB Streams go to DynamoDB Local, every other service to moto. It uses
// static credentials and Region, and reads nothing from the environment or
// ~/.aws, so a developer's AWS settings cannot send test traffic elsewhere.
//
//	cfg, err := standins.AWSConfig(ctx, stack)
//	ddb := dynamodb.NewFromConfig(cfg, standins.DynamoOptions)
//	sm := secretsmanager.NewFromConfig(cfg)
func AWSConfig(ctx context.Context, s *Stack) (aws.Config, error) {
	if err := ctx.Err(); err != nil {
		return aws.Config{}, err
	}
	if s == nil || s.DynamoEndpoint == "" || s.MotoEndpoint == "" {
		return aws.Config{}, errors.New("stand-ins AWS config: no running stack")
	}
	return aws.Config{
		Region: Region,
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(
			func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey, Source: "standins"}, nil
			})),
		BaseEndpoint: aws.String(s.MotoEndpoint),
		// Every service client asks its config sources for a
		// service-specific endpoint (the mechanism behind
		// AWS_ENDPOINT_URL_DYNAMODB) after taking BaseEndpoint; this source
		// answers for the two DynamoDB services, so a client built without
		// any option still reaches DynamoDB Local and never moto's DynamoDB.
		ConfigSources: []any{serviceEndpoints{
			"DynamoDB":         s.DynamoEndpoint,
			"DynamoDB Streams": s.DynamoEndpoint,
		}},
	}, nil
}

// serviceEndpoints maps an SDK service id to its base endpoint.
type serviceEndpoints map[string]string

// GetServiceBaseEndpoint implements the SDK's service endpoint provider.
func (e serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v, ok := e[sdkID]
	return v, ok, nil
}

// DynamoOptions is an option for dynamodb.NewFromConfig (or per operation)
// for clients of DynamoDB Local: it turns off validation of the response's
// CRC32, which DynamoDB Local's error responses fail harmlessly, making the
// SDK log "response did not match expected checksum" warnings.
func DynamoOptions(o *dynamodb.Options) {
	o.DisableValidateResponseChecksum = true
}

// Env returns the standard AWS variables, as KEY=value, that point the AWS
// CLI and SDKs (and a child process) at the stack.
func (s *Stack) Env() []string {
	return []string{
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + accessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
		"AWS_ENDPOINT_URL=" + s.MotoEndpoint,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoEndpoint,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS=" + s.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.MotoEndpoint,
	}
}
