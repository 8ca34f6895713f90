package dynamo

import (
	"testing"
	"time"
)

// TestBackoffIsJittered: every wait stays within its attempt's exponential
// ceiling, and the waits of one attempt differ (full jitter), so that
// callers throttled together spread their retries.
func TestBackoffIsJittered(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := 25 * time.Millisecond << min(attempt, 6)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(attempt)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, outside 0-%s", attempt, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("backoff(%d): %d distinct waits in 200, want jitter", attempt, len(seen))
		}
	}
	if c := 25 * time.Millisecond << min(10, 6); c != 1600*time.Millisecond {
		t.Errorf("ceiling of late attempts = %s, want 1.6s", c)
	}
}
