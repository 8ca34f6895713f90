package apigw_test

import (
	"strings"
	"testing"
)

// TestMe: the caller's subject, email and administered domains, from the
// token alone: exactly the domains whose mailboxes the API lets them
// manage (a group naming a domain in Unicode does not, as IsAdmin compares
// the group with the A-label form).
func TestMe(t *testing.T) {
	e := newEnv(t)
	r := e.do(call{method: "GET", path: "/v1/me", as: &identity{sub: "admin-1", groups: "[domain-admin:Example.COM ops domain-admin:b\u00fccher.example domain-admin:example.com]"}}).want(t, 200)
	if r.str("subject") != "admin-1" || r.str("email") != "admin-1@example.net" {
		t.Errorf("me = %s", r.body)
	}
	doms, _ := r.json["adminDomains"].([]any)
	if len(doms) != 1 || doms[0] != "example.com" {
		t.Errorf("adminDomains = %v, want [example.com]", doms)
	}
	if r.headers["Cache-Control"] != "no-store" {
		t.Errorf("Cache-Control = %q", r.headers["Cache-Control"])
	}
	r = e.do(call{method: "GET", path: "/v1/me", as: owner}).want(t, 200)
	if d, ok := r.json["adminDomains"].([]any); !ok || len(d) != 0 {
		t.Errorf("owner's adminDomains = %v, want []", r.json["adminDomains"])
	}
	e.do(call{method: "GET", path: "/v1/me"}).want(t, 401)
	e.do(call{method: "GET", path: "/v1/me?x=1", as: owner}).want(t, 400)
}

// TestMailboxListings: an owner lists their own mailboxes; a domain's
// administrators list, search and page its mailboxes; anyone else is
// refused without learning anything.
func TestMailboxListings(t *testing.T) {
	e := newEnv(t)
	for _, m := range []struct{ addr, owner string }{
		{"alice@example.com", "owner-1"}, {"albert@example.com", "owner-2"}, {"bob@example.com", "owner-1"}, {"carl@example.com", "owner-3"},
	} {
		e.do(call{method: "PUT", path: "/v1/mailboxes/" + m.addr, body: `{"owner":"` + m.owner + `"}`, as: admin}).want(t, 201)
	}
	e.do(call{method: "PUT", path: "/v1/mailboxes/x@example.org", body: `{"owner":"owner-1"}`, as: otherAdmin}).want(t, 201)
	e.createDevice("phone")

	addrs := func(r result) []string {
		items, _ := r.json["items"].([]any)
		var out []string
		for _, it := range items {
			m, _ := it.(map[string]any)
			a, _ := m["address"].(string)
			out = append(out, a)
		}
		return out
	}
	r := e.do(call{method: "GET", path: "/v1/me/mailboxes", as: owner}).want(t, 200)
	if got := strings.Join(addrs(r), " "); got != "alice@example.com bob@example.com x@example.org" {
		t.Errorf("owner's mailboxes = %s", got)
	}
	items, _ := r.json["items"].([]any)
	if m, _ := items[0].(map[string]any); m["deviceCount"] != float64(1) || m["owner"] != "owner-1" || m["createdAt"] == "" {
		t.Errorf("first mailbox = %v, want owner-1 with 1 device", m)
	}

	r = e.do(call{method: "GET", path: "/v1/domains/example.com/mailboxes?limit=2", as: admin}).want(t, 200)
	if got := strings.Join(addrs(r), " "); got != "albert@example.com alice@example.com" {
		t.Errorf("page 1 = %s", got)
	}
	next := r.str("next")
	if next == "" {
		t.Fatal("no next cursor on a full page")
	}
	r = e.do(call{method: "GET", path: "/v1/domains/EXAMPLE.com/mailboxes?limit=2&cursor=" + next, as: admin}).want(t, 200)
	if got := strings.Join(addrs(r), " "); got != "bob@example.com carl@example.com" || r.json["next"] != nil {
		t.Errorf("page 2 = %s, next %v", got, r.json["next"])
	}
	r = e.do(call{method: "GET", path: "/v1/domains/example.com/mailboxes?prefix=al", as: admin}).want(t, 200)
	if got := strings.Join(addrs(r), " "); got != "albert@example.com alice@example.com" {
		t.Errorf("prefix al = %s", got)
	}

	// Not an administrator of the domain: the same 403 for a domain with
	// mailboxes and one without.
	a := e.do(call{method: "GET", path: "/v1/domains/example.com/mailboxes", as: owner}).want(t, 403)
	b := e.do(call{method: "GET", path: "/v1/domains/nothing.example/mailboxes", as: owner}).want(t, 403)
	if a.str("detail") != b.str("detail") {
		t.Errorf("403 details differ: %q vs %q", a.str("detail"), b.str("detail"))
	}
	e.do(call{method: "GET", path: "/v1/domains/example.com/mailboxes", as: otherAdmin}).want(t, 403)

	// Bad input: 400 naming the field, never echoing the value.
	for _, c := range []struct{ path, field string }{
		{"/v1/domains/not_a_domain!/mailboxes", "domain"},
		{"/v1/domains/example.com/mailboxes?limit=0", "limit"},
		{"/v1/domains/example.com/mailboxes?cursor=SECRETISH", "cursor"},
		{"/v1/domains/example.com/mailboxes?prefix=a%00b", "prefix"},
		{"/v1/me/mailboxes?limit=101", "limit"},
	} {
		r := e.do(call{method: "GET", path: c.path, as: admin}).want(t, 400)
		if r.str("field") != c.field {
			t.Errorf("%s: field %q, want %q", c.path, r.str("field"), c.field)
		}
		if strings.Contains(r.body, "not_a_domain") || strings.Contains(r.body, "SECRETISH") {
			t.Errorf("%s: the answer echoes the value: %s", c.path, r.body)
		}
	}
}

// TestListEnrollments: administrators see the open links of a mailbox,
// never a token; a cancelled link is gone from the list.
func TestListEnrollments(t *testing.T) {
	e := newEnv(t)
	e.registerMailbox()
	keep, keepToken := e.createEnrollment(`{"name":"phone"}`)
	gone, _ := e.createEnrollment(`{"name":"laptop","user":"intern"}`)
	e.do(call{method: "DELETE", path: mailboxPath + "/enrollments/" + gone, as: admin}).want(t, 200)
	r := e.do(call{method: "GET", path: mailboxPath + "/enrollments", as: admin}).want(t, 200)
	items, _ := r.json["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("open links = %s, want the one not cancelled", r.body)
	}
	if l, _ := items[0].(map[string]any); l["id"] != keep || l["status"] != "open" || l["name"] != "phone" {
		t.Errorf("listed link = %v", l)
	}
	if strings.Contains(r.body, keepToken) || r.headers["Cache-Control"] != "no-store" {
		t.Errorf("the listing shows a token or may be cached: %v %s", r.headers, r.body)
	}
	e.do(call{method: "GET", path: mailboxPath + "/enrollments?cursor=nope", as: admin}).want(t, 400)
}
