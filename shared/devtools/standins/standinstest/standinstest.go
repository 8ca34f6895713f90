// Package standinstest holds the helpers tests use to get the local AWS
// stand-ins: it alone imports the testing package, so standins itself
// (linked by the local runner) does not.
package standinstest

import (
	"fmt"
	"os"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// MustStart installs the stand-ins if needed and starts a stack for one test
// (or benchmark), stopped when it ends. It fails the test, never skips it,
// when a stand-in cannot be installed or started.
//
//	s := standinstest.MustStart(t)
func MustStart(tb testing.TB) *standins.Stack {
	tb.Helper()
	s, err := standins.InstallAndStart()
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
//		standinstest.Main(m, func(s *standins.Stack) { stack = s })
//	}
func Main(m *testing.M, use func(*standins.Stack)) {
	s, err := standins.InstallAndStart()
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
