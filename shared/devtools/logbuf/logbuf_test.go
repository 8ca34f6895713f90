package logbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/logbuf"
)

func TestConcurrentWritesAllArrive(t *testing.T) {
	var b logbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "w") || strings.Count(l, "-") != 1 {
			t.Fatalf("interleaved line %q", l)
		}
	}
}

func TestTail(t *testing.T) {
	var b logbuf.Buffer
	if got := b.Tail(3); got != "" {
		t.Errorf("empty Tail = %q", got)
	}
	fmt.Fprint(&b, "a\nb\nc\nd\n")
	if got := b.Tail(2); got != "c\nd" {
		t.Errorf("Tail(2) = %q, want %q", got, "c\nd")
	}
	if got := b.Tail(10); got != "a\nb\nc\nd" {
		t.Errorf("Tail(10) = %q", got)
	}
}
