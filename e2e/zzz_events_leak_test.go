package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestZZZEventsHoldNoSecrets runs after every other test (file order):
// once the stream has caught up, the event file holds each change once
// (no event id twice, as many events as audit entries) and none of the
// passwords, tokens or idempotency keys the API handed out.
func TestZZZEventsHoldNoSecrets(t *testing.T) {
	flushStream(t)
	evs := sinkEvents(t)
	if len(evs) < 10 {
		t.Fatalf("the event file holds %d events after the whole suite", len(evs))
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if seen[ev.ID] {
			t.Errorf("event %s (%s) appears twice", ev.ID, ev.Type)
		}
		seen[ev.ID] = true
	}
	table := scanAll(t)
	if n := strings.Count(table, `"kind":"audit"`); n != len(evs) {
		t.Errorf("%d audit entries for %d events", n, len(evs))
	}
	b, err := os.ReadFile(runner.EventsFile())
	if err != nil {
		t.Fatal(err)
	}
	for s, what := range handedOut.all() {
		if len(s) >= 8 && strings.Contains(string(b), s) {
			t.Errorf("the event file holds a %s", what)
		}
	}
}
