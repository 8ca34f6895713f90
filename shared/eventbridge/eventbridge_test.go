package eventbridge_test

import (
	"testing"

	"github.com/devicepass/devicepass/shared/eventbridge"
)

// The adapter's calls to a bus are tested against moto through the stream
// handler (shared/stream), as the stream function runs them.
func TestNewRefusesMissingDependencies(t *testing.T) {
	if _, err := eventbridge.New(nil, "bus"); err == nil {
		t.Error("New without a client succeeded")
	}
}
