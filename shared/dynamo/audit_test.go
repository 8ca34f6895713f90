package dynamo_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

func auditEvent(mailbox, id string, at time.Time) lifecycle.Event {
	return lifecycle.Event{Version: lifecycle.SchemaVersion, ID: id, Type: lifecycle.DeviceCreated, Time: at, Mailbox: mailbox,
		DeviceID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Actor: lifecycle.Actor{Kind: "user", Subject: "alice", SourceIP: "192.0.2.1"}}
}

func TestAuditPutIsConditional(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, client, table := newTableWithClient(t)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ev := auditEvent("alice@example.com", "rec-1", at)
	retention := 30 * 24 * time.Hour

	if err := s.MarkPublished(ctx, ev); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("MarkPublished before PutAudit = %v, want NotFound", err)
	}
	steps := []struct {
		mark                       bool
		wantCreated, wantPublished bool
	}{
		{false, true, false},  // first delivery
		{false, false, false}, // redelivered before it was published
		{true, false, true},   // redelivered after it was published
	}
	for i, st := range steps {
		if st.mark {
			if err := s.MarkPublished(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		created, published, err := s.PutAudit(ctx, ev, retention)
		if err != nil {
			t.Fatal(err)
		}
		if created != st.wantCreated || published != st.wantPublished {
			t.Errorf("step %d: PutAudit = created %v, published %v; want %v, %v", i, created, published, st.wantCreated, st.wantPublished)
		}
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "AUD#alice@example.com"},
		"SK": &types.AttributeValueMemberS{Value: "2026-11-27T10:00:00.000000000Z#rec-1"},
	}})
	if err != nil || out.Item == nil {
		t.Fatalf("the audit entry is not at its documented key: %v", err)
	}
	ttl, _ := out.Item["ttl"].(*types.AttributeValueMemberN)
	if ttl == nil || ttl.Value != strconv.FormatInt(at.Add(retention).Unix(), 10) {
		t.Errorf("ttl = %v, want the event's time plus the retention", out.Item["ttl"])
	}
	if k, _ := out.Item["kind"].(*types.AttributeValueMemberS); k == nil || k.Value != "audit" {
		t.Errorf("kind = %v, want audit (the stream handler skips audit items)", out.Item["kind"])
	}
	if _, _, err := s.PutAudit(ctx, lifecycle.Event{ID: "x"}, retention); err == nil {
		t.Error("PutAudit of an event without mailbox, type and time succeeded")
	}
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := newTableWithClient(t)
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	// Whole seconds and fractions mixed: RFC 3339's shortest form would sort
	// "10:00:01Z" after "10:00:01.5Z".
	offsets := []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second, 2*time.Second + 1}
	for i, off := range offsets {
		for _, mbx := range []string{"alice@example.com", "bob@example.com"} {
			if _, _, err := s.PutAudit(ctx, auditEvent(mbx, fmt.Sprintf("e%d", i), base.Add(off)), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		evs, next, err := s.ListAudit(ctx, "alice@example.com", cursor, 4)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ev := range evs {
			if ev.Mailbox != "alice@example.com" {
				t.Fatalf("alice's trail holds an event of %s", ev.Mailbox)
			}
			got = append(got, ev.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := "e5 e4 e3 e2 e1 e0"
	if fmt.Sprint(got) != "["+want+"]" || pages != 2 {
		t.Errorf("pages of 4 gave %v in %d pages, want [%s] newest first in 2", got, pages, want)
	}

	// A cursor of alice's trail, used on bob's, stays in bob's partition.
	_, next, err := s.ListAudit(ctx, "alice@example.com", "", 2)
	if err != nil || next == "" {
		t.Fatalf("first page: %v, next %q", err, next)
	}
	evs, _, err := s.ListAudit(ctx, "bob@example.com", next, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Mailbox != "bob@example.com" {
			t.Fatalf("a cursor reached %s's trail from bob's", ev.Mailbox)
		}
	}
	if len(evs) != 4 {
		t.Errorf("bob's trail after the cursor holds %d events, want 4", len(evs))
	}
	for _, bad := range []string{"x", "YTE6", "ZDE6YWFhYQ", "YTE6bm90LWEtdGltZSNpZA"} {
		if _, _, err := s.ListAudit(ctx, "alice@example.com", bad, 10); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("cursor %q: %v, want Invalid", bad, err)
		}
	}
	if evs, next, err := s.ListAudit(ctx, "nobody@example.com", "", 10); err != nil || len(evs) != 0 || next != "" {
		t.Errorf("empty trail = %v, %q, %v; want nothing", evs, next, err)
	}
}
