package dynamo_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
	"github.com/devicepass/devicepass/shared/dynamo"
)

// stack is the package's one pair of stand-ins; a stand-in that cannot
// start fails the package (standinstest.Main never skips).
var stack *standins.Stack

func TestMain(m *testing.M) {
	standinstest.Main(m, func(s *standins.Stack) { stack = s })
}

// newTable creates a table with a unique name on DynamoDB Local and returns
// a store on it.
func newTable(t *testing.T) *dynamo.Store {
	s, _, _ := newTableWithClient(t)
	return s
}

// newTableWithClient is newTable, also answering the client and the table
// name for tests that read the items themselves.
func newTableWithClient(t *testing.T) (*dynamo.Store, *dynamodb.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	client := dynamodb.NewFromConfig(cfg, standins.DynamoOptions)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("devicepass-test-%x", b)
	if _, err := dynamo.CreateTable(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	s, err := dynamo.New(client, name)
	if err != nil {
		t.Fatal(err)
	}
	return s, client, name
}

func TestStoreSuite(t *testing.T) {
	s := newTable(t)
	devicetest.StoreSuite(t, func(*testing.T) devicetest.Store { return s })
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	if _, err := dynamo.New(nil, "table"); err == nil {
		t.Error("New(nil, table) succeeded")
	}
	if _, err := dynamo.New(&dynamodb.Client{}, ""); err == nil {
		t.Error("New(client, \"\") succeeded")
	}
}
