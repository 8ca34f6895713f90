package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestPolicyLocally is the README's "policies" walkthrough over the local
// runner, with second-long durations (make run's policy floor is 1s): an
// administrator sets a policy on a domain of its own, a device without
// expiry is refused, an unused device is warned, then revoked with reason
// inactive; an expiring one is reminded; each notice lands once in the
// event file however many sweeps run.
func TestPolicyLocally(t *testing.T) {
	ctx := context.Background()
	dom := unique("p") + ".example"
	admin := token(t, localauth.TokenRequest{Sub: unique("admin"), Email: "admin@" + dom, Groups: []string{"domain-admin:" + dom}})
	owner := unique("owner")
	ownerTok := token(t, localauth.TokenRequest{Sub: owner, Email: owner + "@" + dom})

	a := do(t, "PUT", "/v1/domains/"+dom+"/policy", admin, map[string]any{
		"requireExpiry": true, "maxLifetime": "720h",
		"inactivity":           map[string]any{"revokeAfter": "4s", "warnBefore": "2s"},
		"expiryReminderBefore": "3s",
	})
	if a.status != 200 {
		t.Fatalf("PUT policy: %s", a)
	}
	addr := unique("box") + "@" + dom
	if a := do(t, "PUT", "/v1/mailboxes/"+addr, admin, map[string]string{"owner": owner}); a.status != 201 {
		t.Fatalf("PUT mailbox: %s", a)
	}
	a = do(t, "POST", "/v1/mailboxes/"+addr+"/devices", ownerTok, map[string]any{"name": "no expiry"})
	if m := a.json(t); a.status != 403 || m["type"] != "https://devicepass.dev/problems/policy_violation" || m["field"] != "requireExpiry" {
		t.Fatalf("device without expiry: %s, want 403 policy_violation requireExpiry", a)
	}
	mb := do(t, "GET", "/v1/mailboxes/"+addr, ownerTok, nil).json(t)
	if lim, _ := mb["limits"].(map[string]any); lim["requireExpiry"] != true {
		t.Fatalf("the owner's mailbox shows limits %v", mb["limits"])
	}
	idle := newDevice(t, ownerTok, addr, map[string]any{"validFor": "1h"})
	handedOut.Add("password", idle.password)
	soon := newDevice(t, ownerTok, addr, map[string]any{"validFor": "5s"})
	handedOut.Add("password", soon.password)

	// Step the clock second by second and sweep each time, as the runner's
	// periodic sweep also does meanwhile.
	for i := 0; i < 6; i++ {
		clock.Advance(time.Second)
		if _, err := runner.SweepNow(ctx); err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	d := do(t, "GET", "/v1/mailboxes/"+addr+"/devices/"+idle.id, ownerTok, nil).json(t)
	if d["status"] != "revoked" {
		t.Fatalf("idle device is %v after 6s, want revoked for inactivity", d["status"])
	}
	for i := 0; i < 3; i++ {
		if _, err := runner.SweepNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	flushStream(t)
	n := eventsOf(sinkEvents(t), addr)
	for _, k := range []string{
		lifecycle.DeviceInactivityWarning + "/" + idle.id,
		lifecycle.DeviceRevoked + "/" + idle.id,
		lifecycle.DeviceExpiryReminder + "/" + soon.id,
	} {
		if n[k] != 1 {
			t.Errorf("%s: %d events, want exactly 1 (all: %v)", k, n[k], n)
		}
	}
	for _, ev := range sinkEvents(t) {
		if ev.Type == lifecycle.DeviceRevoked && ev.DeviceID == idle.id && ev.Reason != "inactive" {
			t.Errorf("revocation event reason %q, want inactive", ev.Reason)
		}
	}
	audit := do(t, "GET", "/v1/mailboxes/"+addr+"/audit", admin, nil)
	if audit.status != 200 {
		t.Fatalf("audit: %s", audit)
	}
}

// TestCredentialChangedLocally: the mail platform's report of a changed
// main password (a mail-server token locally, IAM in AWS) revokes every
// live device of the mailbox with reason credential-changed; anyone else
// gets 403, as from an IAM-authorized route.
func TestCredentialChangedLocally(t *testing.T) {
	admin := adminToken(t)
	owner := unique("owner")
	ownerTok := userToken(t, owner)
	addr := newMailbox(t, admin, owner)
	a := newDevice(t, ownerTok, addr, nil)
	b := newDevice(t, ownerTok, addr, nil)
	handedOut.Add("password", a.password)
	handedOut.Add("password", b.password)
	path := "/v1/mailboxes/" + addr + "/credential-changed"
	for _, tok := range []string{ownerTok, admin, ""} {
		if r := do(t, "POST", path, tok, nil); r.status != 403 {
			t.Fatalf("credential-changed without the mail server's authorization: %s, want 403", r)
		}
	}
	r := do(t, "POST", path, mailServerToken(t), nil)
	if m := r.json(t); r.status != 200 || m["revoked"] != float64(2) || m["applied"] != true {
		t.Fatalf("credential-changed: %s, want 2 revoked", r)
	}
	for _, d := range []created{a, b} {
		if s := do(t, "GET", "/v1/mailboxes/"+addr+"/devices/"+d.id, ownerTok, nil).json(t)["status"]; s != "revoked" {
			t.Errorf("device %s is %v, want revoked", d.id, s)
		}
	}
	flushStream(t)
	n := 0
	for _, ev := range sinkEvents(t) {
		if ev.Mailbox == addr && ev.Type == lifecycle.DeviceRevoked {
			n++
			if ev.Reason != "credential-changed" {
				t.Errorf("revocation reason %q, want credential-changed", ev.Reason)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d device.revoked events, want 2", n)
	}
}
