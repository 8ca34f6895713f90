package dynamo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

// TestMailboxIndexes: the byOwner and byDomain indexes list exactly the
// mailboxes of one owner or one domain, in address order, page by page,
// with a prefix search, and follow an owner change.
func TestMailboxIndexes(t *testing.T) {
	ctx := context.Background()
	s := newTable(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dom := "ix" + devicetest.NewID(t)[:8] + ".example"
	other := "other" + devicetest.NewID(t)[:8] + ".example"
	save := func(addr, owner string) {
		t.Helper()
		if _, _, err := s.SaveMailbox(ctx, addr, owner, "admin", at); err != nil {
			t.Fatal(err)
		}
	}
	for _, local := range []string{"carol", "alice", "bob", "alain", "dave"} {
		save(local+"@"+dom, "sub-"+local)
	}
	save("alice@"+other, "sub-alice")
	save("zed@"+other, "sub-zed")

	// A device is in the mailbox's partition of the table, never in the
	// indexes (it carries neither owner nor mbxDomain).
	id := devicetest.NewID(t)
	d := device.Device{Mailbox: "alice@" + dom, ID: id, Name: "phone", Scopes: device.DefaultScopes(), Status: device.StatusActive,
		CreatedAt: at, CreatedBy: "sub-alice", UpdatedAt: at, RotatedAt: at, SecretARN: devicetest.ARNPrefix + "x/" + id,
		Current: &device.Verifier{Version: devicetest.NewVersion(t), Hash: "h"}, Grace: time.Hour, Version: 1}
	if err := s.CreateDevice(ctx, d, "sub-alice", 50, nil); err != nil {
		t.Fatal(err)
	}

	all := func(list func(cursor string) ([]device.Mailbox, string, error)) []device.Mailbox {
		t.Helper()
		var out []device.Mailbox
		cursor := ""
		for pages := 0; ; pages++ {
			ms, next, err := list(cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) > 2 {
				t.Fatalf("page of %d mailboxes, limit 2", len(ms))
			}
			out = append(out, ms...)
			if next == "" {
				return out
			}
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			cursor = next
		}
	}
	addrs := func(ms []device.Mailbox) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Address)
		}
		return out
	}

	got := all(func(c string) ([]device.Mailbox, string, error) { return s.MailboxesByDomain(ctx, dom, "", c, 2) })
	want := []string{"alain@" + dom, "alice@" + dom, "bob@" + dom, "carol@" + dom, "dave@" + dom}
	if !slices.Equal(addrs(got), want) {
		t.Fatalf("byDomain = %v, want %v", addrs(got), want)
	}
	for _, m := range got {
		if m.Owner == "" || m.CreatedAt.IsZero() || m.CreatedBy != "admin" {
			t.Errorf("listed mailbox lacks fields: %+v", m)
		}
		if m.Address == "alice@"+dom && m.Live != 1 {
			t.Errorf("alice's live count = %d, want 1", m.Live)
		}
	}

	got = all(func(c string) ([]device.Mailbox, string, error) { return s.MailboxesByDomain(ctx, dom, "al", c, 2) })
	if want := []string{"alain@" + dom, "alice@" + dom}; !slices.Equal(addrs(got), want) {
		t.Fatalf("byDomain prefix al = %v, want %v", addrs(got), want)
	}

	got = all(func(c string) ([]device.Mailbox, string, error) { return s.MailboxesByOwner(ctx, "sub-alice", c, 2) })
	if want := []string{"alice@" + dom, "alice@" + other}; !slices.Equal(addrs(got), want) {
		t.Fatalf("byOwner = %v, want %v", addrs(got), want)
	}

	// An owner change moves the mailbox between owners' listings.
	save("bob@"+dom, "sub-alice")
	got = all(func(c string) ([]device.Mailbox, string, error) { return s.MailboxesByOwner(ctx, "sub-alice", c, 2) })
	if want := []string{"alice@" + dom, "alice@" + other, "bob@" + dom}; !slices.Equal(addrs(got), want) {
		t.Fatalf("byOwner after change = %v, want %v", addrs(got), want)
	}
	if ms, _, err := s.MailboxesByOwner(ctx, "sub-bob", "", 10); err != nil || len(ms) != 0 {
		t.Fatalf("byOwner of the previous owner = %v, %v; want none", addrs(ms), err)
	}

	// Cursors are checked before DynamoDB sees them.
	_, next, err := s.MailboxesByDomain(ctx, dom, "", "", 1)
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v", next, err)
	}
	for _, bad := range []struct{ prefix, cursor string }{{"", "garbage!"}, {"", "bTE6bm90LWFuLWFkZHJlc3M"}, {"zz", next}} {
		_, _, err := s.MailboxesByDomain(ctx, dom, bad.prefix, bad.cursor, 2)
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Invalid || e.Field != "cursor" {
			t.Errorf("cursor %q with prefix %q: %v, want invalid cursor", bad.cursor, bad.prefix, err)
		}
	}
}
