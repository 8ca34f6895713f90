package stream_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestPublishFailureIsABatchItemFailure injects EventBridge failures into
// the handler's PutEvents: the record is reported as the batch item
// failure, its event is in the audit trail but not marked published, the
// records after it wait, and the retry from it publishes each event.
func TestPublishFailureIsABatchItemFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	svc := e.app.Service
	addr := "fail@" + e.domain
	owner := user("owner-" + e.domain)
	if _, _, err := svc.RegisterMailbox(ctx, e.admin(), addr, owner.Subject); err != nil {
		t.Fatal(err)
	}
	dev, err := svc.CreateDevice(ctx, owner, addr, device.CreateInput{Name: "Tablet"}, "")
	if err != nil {
		t.Fatal(err)
	}
	recs := e.streamRecords(t)
	if len(recs) < 2 {
		t.Fatalf("the stream holds %d records, want the mailbox's and the device's", len(recs))
	}

	// The bus refuses the first event (nothing sent).
	e.faults.Arm(1, awsx.FailBefore)
	resp, err := e.handler.Handle(ctx, lambdaEvent(recs))
	if err != nil {
		t.Fatalf("Handle returned a whole-batch error for one failed record: %v", err)
	}
	if hit, ok := e.faults.Hit(); !ok || hit.Operation != "PutEvents" {
		t.Fatalf("the injected fault hit %v (%v), want PutEvents", hit, ok)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[0].SequenceNumber {
		t.Fatalf("batch item failures %+v, want the first record's sequence number %s", resp.BatchItemFailures, recs[0].SequenceNumber)
	}
	items := e.auditItems(t)
	if len(items) != 1 {
		t.Fatalf("%d audit entries after the failure, want 1 (the records after the failed one wait)", len(items))
	}
	if p := items[0]["published"].(*types.AttributeValueMemberBOOL); p.Value {
		t.Error("the event whose publication failed is marked published")
	}
	if n := len(e.sinkEvents(t)); n != 0 {
		t.Errorf("the sink holds %d events after the bus refused the first", n)
	}
	if n := len(e.sqs.receiveAll(t, e.busQueue)); n != 0 {
		t.Errorf("%d events reached the bus", n)
	}

	// Lambda retries from the failed record.
	resp, err = e.handler.Handle(ctx, lambdaEvent(recs))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %v, failures %+v", err, resp.BatchItemFailures)
	}
	wants := []want{{lifecycle.MailboxRegistered, ""}, {lifecycle.DeviceCreated, dev.Device.ID}}
	assertEvents(t, "sink", e.sinkEvents(t), wants)
	assertEvents(t, "bus", busEvents(t, e.sqs.receiveAll(t, e.busQueue)), wants)
	for _, it := range e.auditItems(t) {
		if p := it["published"].(*types.AttributeValueMemberBOOL); !p.Value {
			t.Errorf("audit entry %v not published after the retry", it["SK"])
		}
	}

	// The bus takes the event but the answer is lost: the retry publishes
	// it again with the same id (consumers dedupe by id, docs/events.md);
	// the audit trail and the sink still hold it once.
	before := len(e.streamRecords(t))
	dev2, err := svc.CreateDevice(ctx, owner, addr, device.CreateInput{Name: "Watch"}, "")
	if err != nil {
		t.Fatal(err)
	}
	recs2 := e.streamRecords(t)[before:]
	e.faults.Arm(1, awsx.FailAfter)
	if resp, _ := e.handler.Handle(ctx, lambdaEvent(recs2)); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures %+v, want one", resp.BatchItemFailures)
	}
	if resp, err := e.handler.Handle(ctx, lambdaEvent(recs2)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %v, failures %+v", err, resp.BatchItemFailures)
	}
	onBus := busEvents(t, e.sqs.receiveAll(t, e.busQueue))
	if len(onBus) != 2 || onBus[0].ID != onBus[1].ID || onBus[0].DeviceID != dev2.Device.ID {
		t.Errorf("bus got %+v, want the device.created of %s twice with one id", onBus, dev2.Device.ID)
	}
	assertEvents(t, "sink", e.sinkEvents(t), append(wants, want{lifecycle.DeviceCreated, dev2.Device.ID}))

	// A record without a sequence number cannot be reported on its own.
	bad := lambdaEvent(recs[:1])
	bad.Records[0].Change.SequenceNumber = ""
	if _, err := e.handler.Handle(ctx, bad); err == nil {
		t.Error("a batch with a record lacking its sequence number did not fail as a whole")
	}
}

func busEvents(t *testing.T, bodies []string) []lifecycle.Event {
	t.Helper()
	var out []lifecycle.Event
	for _, b := range bodies {
		var env struct {
			Detail lifecycle.Event `json:"detail"`
		}
		if err := json.Unmarshal([]byte(b), &env); err != nil {
			t.Fatalf("bus message %q: %v", b, err)
		}
		out = append(out, env.Detail)
	}
	return out
}
