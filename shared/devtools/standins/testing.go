package standins

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// installTimeout bounds a first install (registry downloads included).
const installTimeout = 15 * time.Minute

// MustStart installs the stand-ins if needed and starts a stack for one test
// (or benchmark), stopped when it ends. It fails the test, never skips it,
// when a stand-in cannot be installed or started.
//
//	s := standins.MustStart(t)
func MustStart(tb testing.TB) *Stack {
	tb.Helper()
	s, err := installAndStart()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Main is a TestMain for a package whose tests share one stack: it installs
// the stand-ins if needed, starts a stack, passes it to use (to keep it in a
// package variable, create tables, ...), runs the tests, stops the stack and
// exits with the tests' status. A stand-in that cannot start fails the
// package.
//
//	var stack *standins.Stack
//
//	func TestMain(m *testing.M) {
//		standins.Main(m, func(s *standins.Stack) { stack = s })
//	}
func Main(m *testing.M, use func(*Stack)) {
	s, err := installAndStart()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: stand-ins:", err)
		os.Exit(1)
	}
	code := func() int {
		defer s.Stop()
		use(s)
		return m.Run()
	}()
	os.Exit(code)
}

func installAndStart() (*Stack, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	if err := Install(ctx, root); err != nil {
		return nil, err
	}
	return Start(ctx, root)
}
