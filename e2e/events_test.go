package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// flushStream waits until the runner's stream poller has handed every
// change made so far to the stream handler.
func flushStream(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runner.StreamPoller().Flush(ctx); err != nil {
		t.Fatalf("flush the stream: %v", err)
	}
}

// sinkEvents reads the runner's event file, as `tail -f` shows it.
func sinkEvents(t *testing.T) []lifecycle.Event {
	t.Helper()
	f, err := os.Open(runner.EventsFile())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []lifecycle.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev lifecycle.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event file line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

func eventsOf(evs []lifecycle.Event, mailbox string) map[string]int {
	n := map[string]int{}
	for _, ev := range evs {
		if ev.Mailbox == mailbox {
			n[ev.Type+"/"+ev.DeviceID]++
		}
	}
	return n
}

// TestEventsLocally is the README's "watch events" walkthrough: the
// runner's stream poller feeds the stream handler from DynamoDB Local's
// stream, every change lands once in .local/events.jsonl (here in the
// test's state directory) and in moto's bus and topic, which the runner
// made; a two-second device stops verifying at its expiry and the
// runner's sweep expires it and schedules its secret's deletion.
func TestEventsLocally(t *testing.T) {
	ctx := context.Background()
	if got, want := runner.EventsFile(), filepath.Join(stateDir, localrun.EventsFileName); got != want {
		t.Errorf("events file %s, want %s", got, want)
	}
	if envFile(t)["DEVICEPASS_EVENTS_FILE"] != runner.EventsFile() || envFile(t)["DEVICEPASS_EVENT_BUS"] != localrun.EventBusName {
		t.Errorf("env file lacks the events file or the bus: %v", envFile(t))
	}
	cfg := runner.AWSConfig()
	if _, err := eventbridge.NewFromConfig(cfg).DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(localrun.EventBusName)}); err != nil {
		t.Errorf("the event bus is not in moto: %v", err)
	}
	if _, err := sns.NewFromConfig(cfg).GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(runner.NoticeTopicARN())}); err != nil {
		t.Errorf("the notice topic is not in moto: %v", err)
	}

	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	mx := mailServerToken(t)
	addr := newMailbox(t, admin, ownerSub)
	dev := newDevice(t, owner, addr, map[string]any{"name": "Desktop"})
	temp := newDevice(t, owner, addr, map[string]any{"name": "Hotel PC", "validFor": "2s"})
	if !verify(t, mx, addr, temp.password) {
		t.Fatal("the temporary device does not verify before its expiry")
	}
	if a := do(t, "PATCH", "/v1/mailboxes/"+addr+"/devices/"+dev.id, owner, map[string]any{"status": "disabled"}); a.status != 200 {
		t.Fatalf("disable: %s", a)
	}
	exp, err := time.Parse(time.RFC3339, temp.device["expiresAt"].(string))
	if err != nil {
		t.Fatal(err)
	}
	clock.AdvancePast(exp.Add(100 * time.Millisecond))
	if verify(t, mx, addr, temp.password) {
		t.Fatal("the temporary device verifies after its expiry")
	}
	if _, err := runner.SweepNow(ctx); err != nil { // the background sweep may have been first
		t.Fatal(err)
	}
	get := do(t, "GET", "/v1/mailboxes/"+addr+"/devices/"+temp.id, owner, nil)
	if get.status != 200 || get.json(t)["status"] != "expired" {
		t.Errorf("after the sweep the device is %s, want expired", get)
	}
	sec, err := consumerSecrets(t).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &temp.arn})
	if err != nil || sec.DeletedDate == nil {
		t.Errorf("after the sweep the secret is not scheduled for deletion: %v", err)
	}

	flushStream(t)
	got := eventsOf(sinkEvents(t), addr)
	want := map[string]int{
		lifecycle.MailboxRegistered + "/":      1,
		lifecycle.DeviceCreated + "/" + dev.id: 1, lifecycle.DeviceCreated + "/" + temp.id: 1,
		lifecycle.DeviceDisabled + "/" + dev.id: 1, lifecycle.DeviceExpired + "/" + temp.id: 1,
	}
	if len(got) != len(want) {
		t.Errorf("events of %s: %v, want %v", addr, got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("event %s appears %d times, want %d (all: %v)", k, got[k], n, got)
		}
	}
	trail, _, err := runner.App().Store.ListAudit(ctx, addr, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) != len(want) || trail[0].Type != lifecycle.DeviceExpired {
		t.Errorf("audit trail %d entries, newest %q; want %d, newest device.expired", len(trail), trail[0].Type, len(want))
	}
	// The owner reads the same trail over HTTP, a page at a time; a stranger cannot.
	var types []any
	for cursor := ""; ; {
		page := do(t, "GET", "/v1/mailboxes/"+addr+"/audit?limit=2"+cursor, owner, nil)
		if page.status != 200 {
			t.Fatalf("GET audit: %s", page)
		}
		body := page.json(t)
		for _, it := range body["items"].([]any) {
			types = append(types, it.(map[string]any)["type"])
		}
		next, _ := body["next"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if len(types) != len(want) || types[0] != lifecycle.DeviceExpired {
		t.Errorf("GET audit gave %v, want %d entries, newest device.expired", types, len(want))
	}
	if a := do(t, "GET", "/v1/mailboxes/"+addr+"/audit", userToken(t, unique("stranger")), nil); a.status != 403 {
		t.Errorf("a stranger reading the audit trail got %s, want 403", a)
	}
}
