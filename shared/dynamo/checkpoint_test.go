package dynamo_test

import (
	"context"
	"testing"

	"github.com/devicepass/devicepass/shared/dynamo"
)

// TestCheckpoint: a table without a checkpoint starts at slice 0, and a
// saved cursor is what the next run loads, overwritten by each save.
func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	_, client, table := newTableWithClient(t)
	cp, err := dynamo.NewCheckpoint(client, table)
	if err != nil {
		t.Fatal(err)
	}
	if next, err := cp.LoadCursor(ctx); err != nil || next != 0 {
		t.Fatalf("fresh table: cursor %d, %v; want 0", next, err)
	}
	for _, want := range []int{7, 39, 0} {
		if err := cp.SaveCursor(ctx, want); err != nil {
			t.Fatal(err)
		}
		again, err := dynamo.NewCheckpoint(client, table) // a later run: nothing kept in memory
		if err != nil {
			t.Fatal(err)
		}
		if got, err := again.LoadCursor(ctx); err != nil || got != want {
			t.Errorf("after saving %d: loaded %d, %v", want, got, err)
		}
	}
	if _, err := dynamo.NewCheckpoint(nil, table); err == nil {
		t.Error("NewCheckpoint accepted a nil client")
	}
}
