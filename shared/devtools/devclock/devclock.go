// Package devclock is a clock for tests against real stand-ins: the real
// time plus an offset that only moves forward when a test says so. Time
// keeps flowing (timestamps stay unique and ordered, as the stand-ins and
// the stream expect), yet a test can step past an expiry at once instead
// of sleeping until it. Tooling only: no function links it.
package devclock

import (
	"sync"
	"time"
)

// Clock reads time.Now plus its offset. The zero value reads the real time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's time; pass the method value as a Clock dependency.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d (a negative d is ignored: the
// clock never goes back) and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	if d > 0 {
		c.offset += d
	}
	c.mu.Unlock()
	return c.Now()
}

// AdvancePast moves the clock just past t, if it is not there yet: what a
// test does instead of sleeping until an expiry.
func (c *Clock) AdvancePast(t time.Time) time.Time {
	return c.Advance(t.Sub(c.Now()) + time.Millisecond)
}
