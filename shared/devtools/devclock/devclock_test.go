package devclock_test

import (
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/devclock"
)

func TestAdvance(t *testing.T) {
	var c devclock.Clock
	before := time.Now()
	if got := c.Now(); got.Before(before) {
		t.Fatalf("zero clock reads %s, before the real %s", got, before)
	}
	got := c.Advance(time.Hour)
	if got.Sub(before) < time.Hour {
		t.Errorf("after Advance(1h) the clock reads %s, less than an hour after %s", got, before)
	}
	back := c.Advance(-2 * time.Hour)
	if back.Before(got) {
		t.Errorf("a negative Advance moved the clock back to %s from %s", back, got)
	}
}

func TestAdvancePast(t *testing.T) {
	var c devclock.Clock
	target := time.Now().Add(48 * time.Hour)
	if got := c.AdvancePast(target); !got.After(target) {
		t.Errorf("AdvancePast(%s) = %s, want after it", target, got)
	}
	now := c.Now()
	if got := c.AdvancePast(now.Add(-time.Hour)); got.Before(now) {
		t.Errorf("AdvancePast of a past instant moved the clock back to %s from %s", got, now)
	}
}
