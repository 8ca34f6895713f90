package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/stream"
)

// The fakes record what the handler asks of its ports.

type fakeAudit struct {
	mu        sync.Mutex
	entries   map[string]bool // event id -> published
	putErr    error
	published []string
}

func (a *fakeAudit) PutAudit(_ context.Context, ev lifecycle.Event, retention time.Duration) (bool, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.putErr != nil {
		return false, false, a.putErr
	}
	if retention <= 0 {
		return false, false, errors.New("no retention")
	}
	if a.entries == nil {
		a.entries = map[string]bool{}
	}
	p, ok := a.entries[ev.ID]
	if ok {
		return false, p, nil
	}
	a.entries[ev.ID] = false
	return true, false, nil
}

func (a *fakeAudit) MarkPublished(_ context.Context, ev lifecycle.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries[ev.ID] = true
	a.published = append(a.published, ev.ID)
	return nil
}

type fakeExpirer struct{ expired []device.Device }

func (f *fakeExpirer) ExpireRemoved(_ context.Context, d device.Device) error {
	f.expired = append(f.expired, d)
	return nil
}

type fakeSink struct {
	events []lifecycle.Event
	err    error
}

func (f *fakeSink) Publish(_ context.Context, ev lifecycle.Event) error {
	if f.err != nil {
		return f.err
	}
	f.events = append(f.events, ev)
	return nil
}

func (f *fakeSink) Notify(ctx context.Context, ev lifecycle.Event) error { return f.Publish(ctx, ev) }

type fakes struct {
	audit   *fakeAudit
	expirer *fakeExpirer
	bus     *fakeSink
	notices *fakeSink
	h       *stream.Handler
}

func newFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{audit: &fakeAudit{}, expirer: &fakeExpirer{}, bus: &fakeSink{}, notices: &fakeSink{}}
	h, err := stream.New(stream.Options{Audit: f.audit, Expirer: f.expirer, Retention: time.Hour, Bus: f.bus, Notifier: f.notices,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func fixture(t *testing.T, name string) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func TestFromLambda(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file      string
		op        string
		ttl       bool
		old, newI bool
	}{
		{"insert.json", stream.OpInsert, false, false, true},
		{"ttl_remove.json", stream.OpRemove, true, true, false},
		{"remove.json", stream.OpRemove, false, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			r, err := stream.FromLambda(fixture(t, tc.file).Records[0])
			if err != nil {
				t.Fatal(err)
			}
			if r.EventName != tc.op || r.ByTTL != tc.ttl || (r.Old != nil) != tc.old || (r.New != nil) != tc.newI {
				t.Errorf("record %s ttl %v old %v new %v, want %s %v %v %v", r.EventName, r.ByTTL, r.Old != nil, r.New != nil, tc.op, tc.ttl, tc.old, tc.newI)
			}
			if r.SequenceNumber == "" || r.EventID == "" || !r.Time.Equal(time.Unix(1795770000, 0)) || len(r.Keys) != 2 {
				t.Errorf("record %+v lacks its id, sequence number, time or keys", r)
			}
		})
	}
}

func TestHandleDeviceInsert(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	resp, err := f.h.Handle(context.Background(), fixture(t, "insert.json"))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v, %+v", err, resp.BatchItemFailures)
	}
	if len(f.bus.events) != 1 {
		t.Fatalf("bus got %d events, want 1", len(f.bus.events))
	}
	ev := f.bus.events[0]
	want := lifecycle.Event{Version: "1", ID: "c4ca4238a0b923820dcc509a6f75849b", Type: lifecycle.DeviceCreated,
		Time: time.Date(2026, 11, 27, 9, 0, 0, 250e6, time.UTC), Mailbox: "alice@example.com", DeviceID: "aaaaaaaaaaaaaaaaaaaaaaaaaa",
		Actor: lifecycle.Actor{Kind: "user", Subject: "alice", SourceIP: "192.0.2.1", UserAgent: "curl/8.5", RequestID: "req-1"}}
	got := ev
	got.Device = nil
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		t.Errorf("time %s, want the item's createdAt %s", got.Time, want.Time)
	}
	got.Time = want.Time
	if got.ID != want.ID || got.Type != want.Type || got.Mailbox != want.Mailbox || got.DeviceID != want.DeviceID || got.Actor != want.Actor || got.Version != want.Version {
		t.Errorf("event %+v, want %+v", got, want)
	}
	if d := ev.Device; d == nil || d.Name != "Hotel PC" || d.ExpiresAt == nil || strings.Join(d.Scopes, ",") != "imap,smtp" || d.Version != "0b8a7f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b" {
		t.Errorf("device info %+v, want the item's metadata", ev.Device)
	}
	b, _ := json.Marshal(ev)
	if strings.Contains(string(b), "keyed-hash") {
		t.Errorf("the event holds the verifier: %s", b)
	}
	if len(f.notices.events) != 1 || len(f.audit.published) != 1 {
		t.Errorf("%d notices, %d marked published; want 1 and 1", len(f.notices.events), len(f.audit.published))
	}

	// Redelivered after it was published: nothing more.
	if _, err := f.h.Handle(context.Background(), fixture(t, "insert.json")); err != nil {
		t.Fatal(err)
	}
	if len(f.bus.events) != 1 || len(f.notices.events) != 1 {
		t.Errorf("redelivery published again: %d events, %d notices", len(f.bus.events), len(f.notices.events))
	}
}

func TestHandleRemovals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, status string
		wantExpire   bool
	}{
		{"ttl_remove.json", "active", true},
		{"ttl_remove.json", "disabled", true},
		{"ttl_remove.json", "revoked", false}, // ended devices carry no TTL; nothing was live
		{"remove.json", "active", false},      // not TTL: ending a device moves its item; nothing to do
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.status, func(t *testing.T) {
			t.Parallel()
			f := newFakes(t)
			ev := fixture(t, tc.file)
			ev.Records[0].Change.OldImage["status"] = events.NewStringAttribute(tc.status)
			resp, err := f.h.Handle(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Handle: %v, %+v", err, resp.BatchItemFailures)
			}
			if got := len(f.expirer.expired) == 1; got != tc.wantExpire {
				t.Fatalf("ExpireRemoved called %d times, want expiry %v", len(f.expirer.expired), tc.wantExpire)
			}
			if tc.wantExpire && (f.expirer.expired[0].ID != "aaaaaaaaaaaaaaaaaaaaaaaaaa" || f.expirer.expired[0].SecretARN == "") {
				t.Errorf("expired %+v, want the removed device with its secret", f.expirer.expired[0])
			}
			if len(f.bus.events) != 0 {
				t.Errorf("a removal published %d events itself (the re-put announces the expiry)", len(f.bus.events))
			}
		})
	}
}

func TestHandleStopsAtTheFirstFailure(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	ins := fixture(t, "insert.json").Records[0]
	second := ins
	second.EventID, second.Change.SequenceNumber = "second", "111100000000000000000009"
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{ins, second}}
	f.notices.err = errors.New("SNS is down")
	resp, err := f.h.Handle(context.Background(), batch)
	if err != nil {
		t.Fatalf("Handle returned a whole-batch error: %v", err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ins.Change.SequenceNumber {
		t.Fatalf("failures %+v, want the first record", resp.BatchItemFailures)
	}
	if len(f.audit.published) != 0 || len(f.audit.entries) != 1 {
		t.Errorf("published %v, entries %v: want one entry, unpublished, and the second record untouched", f.audit.published, f.audit.entries)
	}
	// The retry publishes the half-done event again and then the next.
	f.notices.err = nil
	resp, err = f.h.Handle(context.Background(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %v, %+v", err, resp.BatchItemFailures)
	}
	if len(f.bus.events) != 3 || f.bus.events[0].ID != f.bus.events[1].ID || len(f.audit.published) != 2 {
		t.Errorf("bus got %d events, %d published; want the first twice (same id), the second once", len(f.bus.events), len(f.audit.published))
	}

	// An audit failure fails the record before anything is published.
	g := newFakes(t)
	g.audit.putErr = errors.New("DynamoDB is busy")
	if resp, _ := g.h.Handle(context.Background(), batch); len(resp.BatchItemFailures) != 1 || len(g.bus.events) != 0 {
		t.Errorf("failures %+v, bus %d: want the first record failed and nothing published", resp.BatchItemFailures, len(g.bus.events))
	}
}

func TestHandleIgnoresOtherItems(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	ev := fixture(t, "insert.json")
	for _, kind := range []string{"audit", "idempotency", "failures"} {
		r := ev.Records[0]
		img := map[string]events.DynamoDBAttributeValue{}
		for k, v := range r.Change.NewImage {
			img[k] = v
		}
		img["kind"] = events.NewStringAttribute(kind)
		img["SK"] = events.NewStringAttribute("#X")
		r.Change.NewImage = img
		if resp, err := f.h.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{r}}); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s item: %v, %+v", kind, err, resp.BatchItemFailures)
		}
	}
	if len(f.bus.events) != 0 || len(f.audit.entries) != 0 {
		t.Errorf("other items made %d events", len(f.bus.events))
	}
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for name, o := range map[string]stream.Options{
		"no audit":     {Expirer: &fakeExpirer{}, Retention: time.Hour, Logger: log},
		"no expirer":   {Audit: &fakeAudit{}, Retention: time.Hour, Logger: log},
		"no retention": {Audit: &fakeAudit{}, Expirer: &fakeExpirer{}, Logger: log},
		"no logger":    {Audit: &fakeAudit{}, Expirer: &fakeExpirer{}, Retention: time.Hour},
	} {
		if _, err := stream.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := stream.New(stream.Options{Audit: &fakeAudit{}, Expirer: &fakeExpirer{}, Retention: time.Hour, Logger: log}); err != nil {
		t.Errorf("without sinks: %v (every sink is optional)", err)
	}
}
