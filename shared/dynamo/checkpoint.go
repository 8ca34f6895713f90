package dynamo

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/devicepass/devicepass/shared/device"
)

// The reconciler's checkpoint is one small item of its own partition,
// outside every mailbox's: kind "checkpoint", which the stream handler
// ignores, and no ttl, so it outlives any gap between runs.
const (
	checkpointPK = "RECONCILER"
	checkpointSK = "CHECKPOINT"
)

// CheckpointAPI is the part of the DynamoDB client a Checkpoint uses.
type CheckpointAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Checkpoint implements device.Checkpoint with one item of the table.
type Checkpoint struct {
	api   CheckpointAPI
	table string
}

var _ device.Checkpoint = (*Checkpoint)(nil)

// NewCheckpoint returns the reconciler's checkpoint in table.
func NewCheckpoint(api CheckpointAPI, table string) (*Checkpoint, error) {
	if api == nil || table == "" {
		return nil, errors.New("dynamo: NewCheckpoint needs a client and a table name")
	}
	return &Checkpoint{api: api, table: table}, nil
}

// LoadCursor implements device.Checkpoint: 0 when no run saved one yet.
// The read is strongly consistent: the previous run's save must be seen,
// or a slice would be done twice and another skipped for a pass.
func (c *Checkpoint) LoadCursor(ctx context.Context) (int, error) {
	out, err := c.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &c.table, Key: key(checkpointPK, checkpointSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, translate(err, "read reconciler checkpoint")
	}
	if out.Item == nil {
		return 0, nil
	}
	return int(getN(out.Item, "next")), nil
}

// SaveCursor implements device.Checkpoint.
func (c *Checkpoint) SaveCursor(ctx context.Context, next int) error {
	it := key(checkpointPK, checkpointSK)
	it["kind"] = str("checkpoint")
	it["next"] = num(int64(next))
	_, err := c.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &c.table, Item: it})
	return translate(err, "save reconciler checkpoint")
}
