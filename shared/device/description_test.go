package device_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

func TestSecretDescription(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Phone", `devicepass device "Phone" of alice@example.com`},
		{`  Bob's "work"  laptop `, `devicepass device "Bob's 'work' laptop" of alice@example.com`},
		{"a\tb\nc\x00d\\e", `devicepass device "a b c d'e" of alice@example.com`},
		{"Téléphone", `devicepass device "Téléphone" of alice@example.com`},
	}
	for _, tc := range tests {
		if got := device.SecretDescription(tc.name, mailbox); got != tc.want {
			t.Errorf("SecretDescription(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	long := device.SecretDescription(strings.Repeat("é", 500), mailbox)
	if n := utf8.RuneCountInString(long); n > 200 || !strings.HasSuffix(long, `…" of alice@example.com`) {
		t.Errorf("a 500-character name gives %d characters: %q", n, long)
	}
}

// TestSecretNamesItsDevice: create passes the Description in CreateSecret
// (no extra call); a rename updates it with exactly one Secrets Manager
// call, and other changes make none.
func TestSecretNamesItsDevice(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	h.secrets.ResetCounts()
	c := h.create(device.CreateInput{Name: "Phone"})
	if got := h.secrets.Counts(); len(got) != 1 || got["Create"] != 1 {
		t.Fatalf("create made Secrets Manager calls %v, want Create only", got)
	}
	name := device.SecretName(prefix, mailbox, c.Device.ID)
	if d := h.secrets.Description(name); d != `devicepass device "Phone" of alice@example.com` {
		t.Fatalf("description after create = %q", d)
	}

	h.secrets.ResetCounts()
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Note: ptr("kitchen")}); err != nil {
		t.Fatal(err)
	}
	if got := h.secrets.Counts(); len(got) != 0 {
		t.Fatalf("a note change made Secrets Manager calls %v", got)
	}
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Name: ptr("Old phone")}); err != nil {
		t.Fatal(err)
	}
	if got := h.secrets.Counts(); len(got) != 1 || got["SetDescription"] != 1 {
		t.Fatalf("a rename made Secrets Manager calls %v, want one SetDescription", got)
	}
	if d := h.secrets.Description(name); d != `devicepass device "Old phone" of alice@example.com` {
		t.Fatalf("description after the rename = %q", d)
	}

	// A rename whose update fails stands; the reconciler repairs it.
	h.faults.Clear()
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Name: ptr("probe")}); err != nil {
		t.Fatal(err)
	}
	at := slices.Index(h.faults.Calls(), "Secrets.SetDescription") + 1
	h.faults.FailCall(at, devicetest.FailBefore, nil)
	if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, c.Device.ID, device.Patch{Name: ptr("Tablet")}); err != nil {
		t.Fatalf("a rename whose description update failed: %v", err)
	}
	h.faults.Clear()
	if d := h.device(c.Device.ID); d.Name != "Tablet" {
		t.Fatalf("name = %q, want Tablet", d.Name)
	}
	h.clock.Advance(6 * time.Minute)
	if rep := h.reconcile(5 * time.Minute); rep.DescriptionsRepaired != 1 || rep.Failures != 0 {
		t.Fatalf("report %+v, want one description repaired", rep)
	}
	if d := h.secrets.Description(name); d != `devicepass device "Tablet" of alice@example.com` {
		t.Fatalf("description after the reconciler = %q", d)
	}
	if rep := h.reconcile(5 * time.Minute); rep.DescriptionsRepaired != 0 {
		t.Fatalf("second run %+v, want nothing repaired", rep)
	}
}
