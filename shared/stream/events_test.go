package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/stream"
)

// want is an expected event: its type and the device it names.
type want struct{ typ, device string }

func (w want) String() string { return w.typ + "/" + w.device }

// TestEveryChangeMakesOneEvent drives a full lifecycle through the service
// on DynamoDB Local and moto, reads the real stream with the local runner's
// poller, and checks that each committed change made exactly one event of
// the documented shape, in the local sink, the audit trail and (through a
// rule delivering to SQS) on the EventBridge bus; that the owner got a
// notice for each device added and each enrollment used; that handing the
// whole stream over again publishes nothing twice; and that no password,
// token or verifier reached any event, audit entry, notice or log line.
func TestEveryChangeMakesOneEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	svc := e.app.Service
	admin, alice, bob := e.admin(), user("alice-"+e.domain), user("bob-"+e.domain)
	addr := "alice@" + e.domain
	var wants []want
	secrets := map[string]string{} // value -> what it is
	hashes := func(id string) {
		d, err := e.app.Store.GetDevice(ctx, addr, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []*device.Verifier{d.Current, d.Previous, d.Pending} {
			if v != nil {
				secrets[string(v.Hash)] = "verifier of " + id
			}
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	_, _, err := svc.RegisterMailbox(ctx, admin, addr, alice.Subject)
	must(err)
	wants = append(wants, want{lifecycle.MailboxRegistered, ""})

	laptop, err := svc.CreateDevice(ctx, alice, addr, device.CreateInput{Name: "Laptop"}, "")
	must(err)
	id := laptop.Device.ID
	secrets[laptop.Password] = "laptop password"
	hashes(id)
	wants = append(wants, want{lifecycle.DeviceCreated, id})

	name, note := "Work laptop", "the intern's"
	_, err = svc.UpdateDevice(ctx, alice, addr, id, device.Patch{Name: &name, Note: &note})
	must(err)
	wants = append(wants, want{lifecycle.DeviceUpdated, id})
	disabled, active := "disabled", "active"
	_, err = svc.UpdateDevice(ctx, alice, addr, id, device.Patch{Status: &disabled})
	must(err)
	wants = append(wants, want{lifecycle.DeviceDisabled, id})
	_, err = svc.UpdateDevice(ctx, alice, addr, id, device.Patch{Status: &active})
	must(err)
	wants = append(wants, want{lifecycle.DeviceEnabled, id})

	regen, err := svc.Regenerate(ctx, alice, addr, id, 0)
	must(err)
	secrets[regen.Password] = "regenerated password"
	hashes(id)
	wants = append(wants, want{lifecycle.PasswordRegenerated, id})

	if _, step, err := svc.Engine().RotateNow(ctx, laptop.Device.SecretARN); err != nil {
		t.Fatalf("scheduled rotation failed at %s: %v", step, err)
	}
	cur, err := e.app.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &laptop.Device.SecretARN})
	must(err)
	var sv device.SecretValue
	must(json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &sv))
	secrets[sv.Password] = "rotated password"
	hashes(id)
	wants = append(wants, want{lifecycle.PasswordRotated, id})

	_, err = svc.Revoke(ctx, alice, addr, id)
	must(err)
	wants = append(wants, want{lifecycle.DeviceRevoked, id})

	// A temporary device that DynamoDB's TTL removes: the removal reaches
	// the handler as a REMOVE record made by the TTL service.
	temp, err := svc.CreateDevice(ctx, alice, addr, device.CreateInput{Name: "Kiosk", ValidFor: "1s"}, "")
	must(err)
	secrets[temp.Password] = "temporary password"
	hashes(temp.Device.ID)
	wants = append(wants, want{lifecycle.DeviceCreated, temp.Device.ID})

	// Enrollment links: one used, one cancelled.
	enr, token, err := svc.CreateEnrollment(ctx, admin, addr, device.EnrollmentInput{Name: "Bob's phone", User: bob.Subject, ValidFor: "720h"})
	must(err)
	secrets[token] = "enrollment token"
	wants = append(wants, want{lifecycle.EnrollmentCreated, ""})
	redeemed, err := svc.RedeemEnrollment(ctx, bob, token)
	must(err)
	secrets[redeemed.Password] = "enrolled password"
	hashes(redeemed.Device.ID)
	wants = append(wants, want{lifecycle.DeviceCreated, redeemed.Device.ID}, want{lifecycle.EnrollmentUsed, redeemed.Device.ID})
	if _, err := svc.RedeemEnrollment(ctx, bob, token); err == nil {
		t.Error("an enrollment token worked twice")
	}
	enr2, token2, err := svc.CreateEnrollment(ctx, admin, addr, device.EnrollmentInput{Name: "Spare"})
	must(err)
	secrets[token2] = "enrollment token"
	wants = append(wants, want{lifecycle.EnrollmentCreated, ""})
	_, err = svc.CancelEnrollment(ctx, admin, addr, enr2.ID)
	must(err)
	wants = append(wants, want{lifecycle.EnrollmentCancelled, ""})

	_, _, err = svc.RegisterMailbox(ctx, admin, addr, bob.Subject)
	must(err)
	wants = append(wants, want{lifecycle.MailboxOwnerChanged, ""})
	e.flush(t)

	// TTL: the item goes (as TTL deletes it, some time after its expiry),
	// and the stream record of the removal carries TTL's identity.
	e.clock.AdvancePast(temp.Device.ExpiresAt)
	key := map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "MBX#" + addr}, "SK": &types.AttributeValueMemberS{Value: "DEV#" + temp.Device.ID}}
	del, err := e.app.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &e.table, Key: key, ReturnValues: types.ReturnValueAllOld})
	must(err)
	if del.Attributes == nil {
		t.Fatal("the temporary device's item was gone before the simulated TTL removal")
	}
	removal := stream.Record{EventID: "ttl-" + temp.Device.ID, EventName: stream.OpRemove, SequenceNumber: "999000000000000000001",
		Time: time.Now().UTC().Truncate(time.Second), Keys: key, Old: del.Attributes}
	ttl := &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	for range 2 { // a redelivered removal changes nothing more
		resp, err := e.handler.Handle(ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{toLambda(removal, ttl)}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("TTL removal: %v, failures %v\n%s", err, resp.BatchItemFailures, e.logs.Tail(10))
		}
	}
	wants = append(wants, want{lifecycle.DeviceExpired, temp.Device.ID})
	if _, err := e.app.Store.GetDevice(ctx, addr, temp.Device.ID); err != nil {
		t.Fatalf("the TTL-removed device was not put back: %v", err)
	}
	e.flush(t)
	back, err := e.app.Store.GetDevice(ctx, addr, temp.Device.ID)
	if err != nil {
		t.Fatalf("the device put back after TTL removed it is gone after the stream ran: %v", err)
	}
	if back.Status != device.StatusExpired || back.Current != nil {
		t.Errorf("after TTL removed it the device is %s (verifier %v), want expired without verifiers", back.Status, back.Current)
	}
	if !e.secretDeleted(t, temp.Device.SecretARN) {
		t.Error("the TTL-removed device's secret is not scheduled for deletion")
	}
	mbx, err := svc.GetMailbox(ctx, admin, addr)
	must(err)
	if mbx.Live != 1 {
		t.Errorf("mailbox counts %d live devices, want 1 (the enrolled one)", mbx.Live)
	}

	// The sink: exactly the expected events, each once.
	sink := e.sinkEvents(t)
	assertEvents(t, "sink", sink, wants)
	ids := map[string]lifecycle.Event{}
	for _, ev := range sink {
		ids[ev.ID] = ev
		assertShape(t, ev, addr)
	}
	if ev := findType(sink, lifecycle.EnrollmentUsed); ev.Enrollment != enr.ID || ev.EnrollmentInfo == nil || ev.EnrollmentInfo.UsedBy != bob.Subject {
		t.Errorf("enrollment.used %+v: want the enrollment's id and who used it", ev)
	}
	if ev := findType(sink, lifecycle.MailboxOwnerChanged); ev.Owner != bob.Subject || ev.PreviousOwner != alice.Subject || ev.Actor.Subject != admin.Subject {
		t.Errorf("mailbox.owner_changed %+v: want new and previous owner and the admin", ev)
	}
	if ev := findType(sink, lifecycle.DeviceUpdated); ev.Actor.SourceIP != alice.SourceIP || ev.Actor.UserAgent != alice.UserAgent || ev.Actor.Subject != alice.Subject {
		t.Errorf("device.updated actor %+v: want who, from where, with what", ev.Actor)
	}

	// The audit trail: the same events, newest first, all published.
	trail := e.audit(t, addr)
	assertEvents(t, "audit trail", trail, wants)
	for i := 1; i < len(trail); i++ {
		if trail[i].Time.After(trail[i-1].Time) {
			t.Errorf("audit trail not newest first at %d: %s after %s", i, trail[i].Time, trail[i-1].Time)
		}
	}
	items := e.auditItems(t)
	for _, it := range items {
		if p, _ := it["published"].(*types.AttributeValueMemberBOOL); p == nil || !p.Value {
			t.Errorf("audit entry %v is not marked published", it["SK"])
		}
	}

	// EventBridge, through the rule to SQS: the same events, once each.
	bus := e.sqs.receiveAll(t, e.busQueue)
	var onBus []lifecycle.Event
	for _, b := range bus {
		var env struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     lifecycle.Event `json:"detail"`
		}
		if err := json.Unmarshal([]byte(b), &env); err != nil {
			t.Fatalf("bus message %q: %v", b, err)
		}
		if env.Source != "devicepass" || env.DetailType != env.Detail.Type {
			t.Errorf("bus message source %q detail-type %q for a %s event", env.Source, env.DetailType, env.Detail.Type)
		}
		onBus = append(onBus, env.Detail)
	}
	assertEvents(t, "event bus", onBus, wants)

	// SNS, through a subscription to SQS: a notice per device added and
	// enrollment used.
	notices := e.sqs.receiveAll(t, e.noticeQ)
	var noticed []want
	for _, b := range notices {
		var n struct{ Subject, Message string }
		if err := json.Unmarshal([]byte(b), &n); err != nil {
			t.Fatalf("notice %q: %v", b, err)
		}
		var ev lifecycle.Event
		if err := json.Unmarshal([]byte(n.Message), &ev); err != nil {
			t.Fatalf("notice message %q: %v", n.Message, err)
		}
		if !strings.Contains(n.Subject, addr) || ev.Mailbox != addr {
			t.Errorf("notice subject %q for mailbox %s, want it to name %s", n.Subject, ev.Mailbox, addr)
		}
		noticed = append(noticed, want{ev.Type, ev.DeviceID})
	}
	var wantNotices []want
	for _, w := range wants {
		if lifecycle.Notify(w.typ) {
			wantNotices = append(wantNotices, w)
		}
	}
	if got, exp := sortedStrings(noticed), sortedStrings(wantNotices); got != exp {
		t.Errorf("notices:\n got %s\nwant %s", got, exp)
	}

	// Redelivery: the whole stream handed over again publishes nothing.
	recs := e.streamRecords(t)
	if len(recs) < len(wants) {
		t.Fatalf("the stream holds %d records, fewer than the %d changes", len(recs), len(wants))
	}
	if done, err := e.handler.HandleRecords(ctx, recs); err != nil || done != len(recs) {
		t.Fatalf("redelivery: %d of %d done, %v", done, len(recs), err)
	}
	if resp, err := e.handler.Handle(ctx, lambdaEvent(recs)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery as a Lambda event: %v, failures %v", err, resp.BatchItemFailures)
	}
	e.flush(t)
	assertEvents(t, "sink after redelivery", e.sinkEvents(t), wants)
	if n := len(e.sqs.receiveAll(t, e.busQueue)); n != 0 {
		t.Errorf("redelivery put %d more events on the bus", n)
	}
	if n := len(e.sqs.receiveAll(t, e.noticeQ)); n != 0 {
		t.Errorf("redelivery sent %d more notices", n)
	}
	if n := len(e.auditItems(t)); n != len(items) {
		t.Errorf("redelivery changed the audit trail from %d to %d entries", len(items), n)
	}

	// No secret anywhere the events went, nor in the logs.
	var everything strings.Builder
	for _, it := range items {
		everything.WriteString(it["ev"].(*types.AttributeValueMemberS).Value)
	}
	for _, part := range [][]string{bus, notices} {
		everything.WriteString(strings.Join(part, "\n"))
	}
	sinkText, logText := readFile(t, e.sinkPath), e.logs.String()
	if len(secrets) < 10 || len(logText) == 0 {
		t.Fatalf("too little to search: %d secrets, %d log bytes", len(secrets), len(logText))
	}
	for s, what := range secrets {
		for where, text := range map[string]string{"an event or notice": everything.String(), "the sink": sinkText, "the logs": logText} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a %s", where, what)
			}
		}
	}
}

func lambdaEvent(recs []stream.Record) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	for _, r := range recs {
		ev.Records = append(ev.Records, toLambda(r, nil))
	}
	return ev
}

// assertEvents checks that evs are exactly wants, each once, with distinct ids.
func assertEvents(t *testing.T, where string, evs []lifecycle.Event, wants []want) {
	t.Helper()
	got := make([]want, len(evs))
	seen := map[string]bool{}
	for i, ev := range evs {
		got[i] = want{ev.Type, ev.DeviceID}
		if seen[ev.ID] {
			t.Errorf("%s: event id %s appears twice", where, ev.ID)
		}
		seen[ev.ID] = true
	}
	if g, w := sortedStrings(got), sortedStrings(wants); g != w {
		t.Errorf("%s:\n got %s\nwant %s", where, g, w)
	}
}

// assertShape checks the documented fields of an event.
func assertShape(t *testing.T, ev lifecycle.Event, mailbox string) {
	t.Helper()
	if ev.Version != "1" || ev.ID == "" || ev.Time.IsZero() || ev.Mailbox != mailbox || ev.Actor.Kind == "" {
		t.Errorf("event %+v lacks a documented field", ev)
	}
	switch {
	case strings.HasPrefix(ev.Type, "device.") || strings.HasPrefix(ev.Type, "password."):
		if ev.Device == nil || ev.DeviceID == "" || ev.Device.Name == "" || ev.Device.Status == "" {
			t.Errorf("%s event %s lacks the device", ev.Type, ev.ID)
		}
	case strings.HasPrefix(ev.Type, "enrollment."):
		if ev.Enrollment == "" || ev.EnrollmentInfo == nil {
			t.Errorf("%s event %s lacks the enrollment", ev.Type, ev.ID)
		}
	case strings.HasPrefix(ev.Type, "mailbox."):
		if ev.Owner == "" {
			t.Errorf("%s event %s lacks the owner", ev.Type, ev.ID)
		}
	default:
		t.Errorf("undocumented event type %q", ev.Type)
	}
	if ev.Type == lifecycle.DeviceExpired && (ev.Actor.Kind != device.ActorSystem) {
		t.Errorf("device.expired by %+v, want the system", ev.Actor)
	}
}

func findType(evs []lifecycle.Event, typ string) lifecycle.Event {
	for _, ev := range evs {
		if ev.Type == typ {
			return ev
		}
	}
	return lifecycle.Event{}
}

func sortedStrings[T fmt.Stringer](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}
