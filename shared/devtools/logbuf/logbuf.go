// Package logbuf is a log sink that tests and tools can read back while
// other goroutines still write to it: a bytes.Buffer behind a mutex, with
// the last lines on demand for failure reports. Tooling only: no function
// links it.
package logbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects everything written to it; safe for concurrent use. The
// zero value is ready.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines written, without the final newline: what
// a failed test or run prints to say why.
func (b *Buffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
