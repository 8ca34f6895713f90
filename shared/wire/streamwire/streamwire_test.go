package streamwire_test

import (
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/wire"
	"github.com/devicepass/devicepass/shared/wire/streamwire"
)

// A stream handler without its audit store or expirer would drop events or
// leave expired secrets alive; New refuses to build one.
func TestNewRefusesMissingParts(t *testing.T) {
	_, err := streamwire.New(wire.Env{}, streamwire.Parts{})
	if err == nil || !strings.Contains(err.Error(), "audit store and an expirer") {
		t.Fatalf("New without parts = %v, want an error naming what is missing", err)
	}
}
