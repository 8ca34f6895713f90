// Package devicetest holds in-memory fakes of the device ports (MemStore,
// MemSecrets), a controllable Clock, a fault hook shared by the fakes, and
// the shared adapter suites (StoreSuite, SecretsSuite) that every
// implementation of a port must pass: the fakes here, DynamoDB Local and
// moto in the adapters' tests. The fakes follow AWS's documented behaviour
// where a stand-in is laxer, so domain tests cannot come to rely on the
// laxity.
package devicetest

import (
	"sync"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// FaultMode says when an injected fault strikes.
type FaultMode int

// The modes.
const (
	// FailBefore fails the call without doing anything, like a refused
	// connection.
	FailBefore FaultMode = iota
	// FailAfter does the call and then reports a failure, like a timeout
	// that hides a commit: the caller cannot know the outcome.
	FailAfter
)

func (m FaultMode) String() string {
	if m == FailAfter {
		return "after"
	}
	return "before"
}

// Faults counts the port calls of every fake that shares it, in order, and
// makes a chosen one fail. The zero value and a nil *Faults inject nothing.
type Faults struct {
	mu     sync.Mutex
	calls  []string
	failAt int // 1-based index into calls; 0: none
	mode   FaultMode
	err    error
}

// FailCall makes the nth call from now (1-based, counted across every fake
// sharing f) fail in mode with err, or with an Unavailable error when err is
// nil. It resets the call log.
func (f *Faults) FailCall(n int, mode FaultMode, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		err = apperr.New(apperr.Unavailable, "injected fault")
	}
	f.calls, f.failAt, f.mode, f.err = nil, n, mode, err
}

// Clear stops injecting faults and resets the call log.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.failAt, f.err = nil, 0, nil
}

// Calls returns the calls made since the last FailCall or Clear, such as
// "Store.Lookup" and "Secrets.Create".
func (f *Faults) Calls() []string {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// call records method and says whether it fails before or after taking
// effect.
func (f *Faults) call(method string) (before, after error) {
	if f == nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	if f.failAt == 0 || len(f.calls) != f.failAt {
		return nil, nil
	}
	if f.mode == FailAfter {
		return nil, f.err
	}
	return f.err, nil
}

// counter counts calls per method.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method]++
}

func (c *counter) get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

func (c *counter) all() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

// Clock is a controllable clock for the domain's Clock dependency: pass
// its Now method. It starts at the time given and moves only when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// settle makes a call that succeeded fail with its after-fault, if any: the
// change was made but the caller is told it failed.
func settle(err *error, after error) {
	if after != nil {
		*err = after
	}
}
