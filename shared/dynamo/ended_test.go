package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/dynamo"
)

// queryMeter records what the Queries through it read: items evaluated
// (ScannedCount) and the size of the items returned.
type queryMeter struct {
	*dynamodb.Client
	items, bytes int
}

func (m *queryMeter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := m.Client.Query(ctx, in, opts...)
	if err == nil {
		m.items += int(out.ScannedCount)
		for _, it := range out.Items {
			m.bytes += itemSize(it)
		}
	}
	return out, err
}

// itemSize approximates DynamoDB's item size: attribute names plus values.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL:
		return 1
	case *types.AttributeValueMemberL:
		n := 0
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return itemSize(v.Value)
	}
	return 1
}

// TestEndedDevicesCostVerifyNothing: verification's read of a mailbox with
// live devices reads the same items, and the same bytes but for the
// mailbox item's version counter, after 200 more devices were added and
// ended; the listing and a read by id still show the ended ones.
func TestEndedDevicesCostVerifyNothing(t *testing.T) {
	_, client, table := newTableWithClient(t)
	meter := &queryMeter{Client: client}
	s, err := dynamo.New(meter, table)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const mbx = "history@example.com"
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, _, err := s.SaveMailbox(ctx, mbx, "owner", "admin", now); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := s.CreateDevice(ctx, devicetest.NewDevice(t, mbx), "owner", 1000, nil); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (items, bytes, devices int) {
		t.Helper()
		meter.items, meter.bytes = 0, 0
		c, err := s.Candidates(ctx, mbx)
		if err != nil {
			t.Fatal(err)
		}
		return meter.items, meter.bytes, len(c.Devices)
	}
	items0, bytes0, live0 := read()

	const ended = 200
	var last device.Device
	for i := range ended {
		d := devicetest.NewDevice(t, mbx)
		if err := s.CreateDevice(ctx, d, "owner", 1000, nil); err != nil {
			t.Fatal(err)
		}
		status := device.StatusRevoked
		if i%2 == 1 {
			status = device.StatusExpired
		}
		if last, err = s.EndDevice(ctx, d, status, "owner", now); err != nil {
			t.Fatal(err)
		}
	}
	items1, bytes1, live1 := read()
	if live0 != 5 || live1 != 5 {
		t.Fatalf("verification read %d then %d devices, want the 5 live ones", live0, live1)
	}
	if items1 != items0 {
		t.Fatalf("verification read %d items with %d ended devices, %d without; want the same", items1, ended, items0)
	}
	// The mailbox item's "ver" counted the 400 writes: at most 3 more digits.
	if bytes1 < bytes0 || bytes1 > bytes0+3 {
		t.Fatalf("verification read %d bytes with %d ended devices, %d without; want the same", bytes1, ended, bytes0)
	}

	got, err := s.GetDevice(ctx, mbx, last.ID)
	if err != nil || got.Status != device.StatusExpired || got.Current != nil {
		t.Fatalf("an ended device read by id = %+v, %v; want it expired without verifiers", got, err)
	}
	seen, cursor := 0, ""
	for {
		page, next, err := s.ListDevices(ctx, mbx, cursor, 50)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != 5+ended {
		t.Fatalf("the listing shows %d devices, want %d live and ended", seen, 5+ended)
	}
}
