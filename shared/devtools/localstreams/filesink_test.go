package localstreams_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/localstreams"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

func TestFileSink(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "events.jsonl")
	s, err := localstreams.NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Publish(context.Background(), lifecycle.Event{ID: id, Type: lifecycle.DeviceCreated}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), lifecycle.Event{ID: "c"}); err == nil {
		t.Error("Publish after Close succeeded")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"id":"a"`) || !strings.Contains(lines[1], `"id":"b"`) {
		t.Errorf("sink file %q, want two JSON lines", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
