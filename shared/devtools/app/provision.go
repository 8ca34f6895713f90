package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/devicepass/devicepass/shared/dynamo"
)

// Provision creates what the CDK stack creates in AWS and the functions
// expect: the table (with its stream and TTL) and the verifier key's secret
// holding 32 random bytes. It is for the local runner and tests; existing
// resources are kept. It returns the table's stream ARN.
func Provision(ctx context.Context, awsCfg aws.Config, table, keySecretID string) (string, error) {
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	streamARN, err := dynamo.CreateTable(ctx, ddb, table)
	if err != nil {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	_, err = secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         &keySecretID,
		SecretString: aws.String(base64.StdEncoding.EncodeToString(key)),
		Description:  aws.String("devicepass verifier key (HMAC-SHA-256)"),
	})
	var exists *smtypes.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		return "", fmt.Errorf("create verifier key secret: %w", err)
	}
	return streamARN, nil
}
