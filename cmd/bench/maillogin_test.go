package main

import (
	"os"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/dovecot"
)

// TestMain lets section 7's Dovecot start: its mount namespace's first
// process is the test binary again.
func TestMain(m *testing.M) {
	dovecot.Sandbox()
	os.Exit(m.Run())
}
