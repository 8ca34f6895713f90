// Package secretset collects every secret a test hands out (passwords,
// tokens, idempotency keys), so that a scan at the end can prove none of
// them reached a log, a listing, an event or the table.
package secretset

import "sync"

// Set is the secrets handed out so far, each with what it is; safe for
// concurrent use. The zero value is ready.
type Set struct {
	mu   sync.Mutex
	vals map[string]string // value -> what it is
}

// Add records v as a secret of kind what; an empty v is ignored.
func (s *Set) Add(what, v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		s.vals = map[string]string{}
	}
	s.vals[v] = what
}

// All returns a copy of the secrets, each mapped to what it is.
func (s *Set) All() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.vals))
	for k, v := range s.vals {
		out[k] = v
	}
	return out
}
