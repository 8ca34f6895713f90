package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	addr := newMailbox(t, admin, ownerSub)
	devices := "/v1/mailboxes/" + addr + "/devices"

	cases := []struct {
		name   string
		body   any
		hdr    []string
		status int
		field  string
	}{
		{"body over 64 KiB", `{"name":"` + strings.Repeat("a", 65<<10) + `"}`, nil, 413, ""},
		{"wrong content type", `{"name":"x"}`, []string{"Content-Type", "text/plain"}, 415, ""},
		{"malformed JSON", `{"name":`, nil, 400, ""},
		{"unknown field", `{"name":"x","colour":"red"}`, nil, 400, "not a known field (6 characters"},
		{"wrong type", `{"name":42}`, nil, 400, "name"},
		{"bad scope", `{"name":"x","scopes":["telnet"]}`, nil, 400, "scopes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, "POST", devices, owner, tc.body, tc.hdr...)
			if a.status != tc.status {
				t.Fatalf("%s, want %d", a, tc.status)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q, want application/problem+json", ct)
			}
			p := a.json(t)
			if p["status"] != float64(tc.status) {
				t.Errorf("problem status %v, want %d", p["status"], tc.status)
			}
			if f, _ := p["field"].(string); tc.field != "" && !strings.Contains(f+" "+p["detail"].(string), tc.field) {
				t.Errorf("problem %s does not name %s", a.body, tc.field)
			}
		})
	}
	// Nothing was created by any of them.
	list := do(t, "GET", devices, owner, nil)
	if items, _ := list.json(t)["items"].([]any); len(items) != 0 {
		t.Errorf("bad requests created %d devices", len(items))
	}
}

// TestNoEnumeration: a stranger gets the same answer for a mailbox that
// does not exist as for another user's.
func TestNoEnumeration(t *testing.T) {
	admin := adminToken(t)
	addr := newMailbox(t, admin, unique("owner"))
	missing := unique("missing") + "@" + domain
	stranger := userToken(t, unique("stranger"))
	for _, path := range []string{"/v1/mailboxes/%s", "/v1/mailboxes/%s/devices", "/v1/mailboxes/%s/devices/aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		t.Run(path, func(t *testing.T) {
			a := do(t, "GET", strings.Replace(path, "%s", addr, 1), stranger, nil)
			b := do(t, "GET", strings.Replace(path, "%s", missing, 1), stranger, nil)
			if a.status != 403 || b.status != 403 {
				t.Fatalf("statuses %d and %d, want 403 for both", a.status, b.status)
			}
			if x, y := withoutInstance(t, a), withoutInstance(t, b); x != y {
				t.Errorf("answers differ:\n existing: %s\n missing:  %s", x, y)
			}
		})
	}
}

// withoutInstance is a problem document without its per-request member.
func withoutInstance(t *testing.T, a answer) string {
	t.Helper()
	m := a.json(t)
	delete(m, "instance")
	b, _ := json.Marshal(m)
	return string(b)
}
