package secretset_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/devicepass/devicepass/shared/devtools/secretset"
)

func TestAddFromManyGoroutines(t *testing.T) {
	var s secretset.Set
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); s.Add("password", fmt.Sprintf("pw-%d", i)) }()
	}
	wg.Wait()
	s.Add("token", "") // ignored
	got := s.All()
	if len(got) != 50 || got["pw-7"] != "password" {
		t.Fatalf("All() = %d secrets (pw-7: %q), want 50, pw-7 a password", len(got), got["pw-7"])
	}
	got["pw-7"] = "changed"
	if s.All()["pw-7"] != "password" {
		t.Fatal("All() shares its map with the set")
	}
}
