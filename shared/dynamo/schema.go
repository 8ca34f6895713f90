package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AdminAPI is the part of the DynamoDB client CreateTable calls.
type AdminAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates the table as the CDK stack does (keys, stream with
// new and old images, TTL on "ttl"), for local runs and tests, and waits
// until it is active. It returns the stream ARN.
func CreateTable(ctx context.Context, api AdminAPI, name string) (string, error) {
	_, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &name,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("SK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("expPK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("expMs"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String(ownerAttr), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(domainAttr), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(addressAttr), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(enrMailboxAttr), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(domainIndexPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(domainIndexSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(reconcilePK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("SK"), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(ExpiringIndex),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("expPK"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("expMs"), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, mailboxIndex(ByOwnerIndex, ownerAttr), mailboxIndex(ByDomainIndex, domainAttr), {
			IndexName:  aws.String(EnrollmentsIndex),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(enrMailboxAttr), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("expMs"), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(DomainIndex),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(domainIndexPK), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(domainIndexSK), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(ReconcileIndex),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(reconcilePK), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return "", fmt.Errorf("create table %s: %w", name, err)
	}
	var arn string
	for i := 0; ; i++ {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
		if err != nil {
			return "", fmt.Errorf("describe table %s: %w", name, err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			arn = aws.ToString(out.Table.LatestStreamArn)
			break
		}
		if i > 100 {
			return "", fmt.Errorf("table %s not active after 10s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &name,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)},
	})
	if err != nil && !errors.As(err, new(*types.ResourceInUseException)) {
		var ve interface{ ErrorCode() string }
		if !errors.As(err, &ve) || ve.ErrorCode() != "ValidationException" { // TTL already enabled
			return "", fmt.Errorf("enable TTL on %s: %w", name, err)
		}
	}
	return arn, nil
}

// mailboxIndex is one of the sparse indexes of mailbox items (only they
// carry the partition attribute), sorted by address. It projects every
// attribute: a mailbox item is a few hundred bytes, and a listing shows
// most of them.
func mailboxIndex(name, partition string) types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{
		IndexName:  aws.String(name),
		KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(partition), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(addressAttr), KeyType: types.KeyTypeRange}},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}
}
