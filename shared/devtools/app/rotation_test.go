package app_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
)

// made is a device made on the stand-ins, with what the tests need of it.
type made struct {
	mailbox, id, secret, password string
}

func (r *rig) makeDevice(t *testing.T, in device.CreateInput) made {
	t.Helper()
	mb := r.mailbox(t)
	if in.Name == "" {
		in.Name = "phone"
	}
	c, err := r.app.Service.CreateDevice(context.Background(), r.fresh(device.Caller{Subject: "owner-1"}), mb, in, "")
	if err != nil {
		t.Fatal(err)
	}
	return made{mailbox: mb, id: c.Device.ID, secret: c.Device.SecretARN, password: c.Password}
}

func (r *rig) verifies(t *testing.T, mailbox, pw string) bool {
	t.Helper()
	ok, err := r.app.Service.Verify(context.Background(), device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap"})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return ok
}

// current returns the AWSCURRENT password, as a consumer reads it.
func (r *rig) current(t *testing.T, m made) (string, string) {
	t.Helper()
	sv, err := r.app.Secrets.Read(context.Background(), m.secret, "")
	if err != nil {
		t.Fatal(err)
	}
	return sv.Value.Password, sv.Version
}

// invariant1 checks that the AWSCURRENT password verifies.
func (r *rig) invariant1(t *testing.T, m made, when string) string {
	t.Helper()
	pw, _ := r.current(t, m)
	if !r.verifies(t, m.mailbox, pw) {
		t.Fatalf("%s: the AWSCURRENT password does not verify", when)
	}
	return pw
}

// snapshot is the state a no-op step must leave untouched.
type snapshot struct {
	versions map[string][]string
	dev      device.Device
}

func (r *rig) snapshot(t *testing.T, m made) snapshot {
	t.Helper()
	st, err := r.app.Secrets.Describe(context.Background(), m.secret)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.app.Store.GetDevice(context.Background(), m.mailbox, m.id)
	if err != nil {
		t.Fatal(err)
	}
	// Verifying records the last use; that is not the rotation's doing.
	d.LastUsedAt, d.LastUsedProtocol, d.LastUsedIP = time.Time{}, "", ""
	return snapshot{versions: st.Versions, dev: d}
}

func TestRotationEachStepTwice(t *testing.T) {
	r := newRig(t)
	m := r.makeDevice(t, device.CreateInput{})
	eng := r.app.Service.Engine()
	token := device.NewToken()
	for _, step := range device.Steps {
		for i := 0; i < 2; i++ {
			if err := eng.Run(context.Background(), step, m.secret, token); err != nil {
				t.Fatalf("%s run %d: %v", step, i+1, err)
			}
			r.invariant1(t, m, string(step))
		}
	}
	pw, ver := r.current(t, m)
	if ver != token || pw == m.password {
		t.Fatalf("after rotation AWSCURRENT is %s, want %s with a new password", ver, token)
	}
	// AWSPENDING stays on the new AWSCURRENT version: a finished rotation
	// for Secrets Manager, without a third write removing it.
	st, _ := r.app.Secrets.Describe(context.Background(), m.secret)
	if p := st.Pending(); p != token {
		t.Errorf("AWSPENDING on %q, want it left on the new AWSCURRENT version %s", p, token)
	}
	// The previous password verifies during the grace (default 2 h) and not after.
	if !r.verifies(t, m.mailbox, m.password) {
		t.Error("previous password refused inside its grace")
	}
	r.clock.Advance(2*time.Hour + time.Second)
	if r.verifies(t, m.mailbox, m.password) {
		t.Error("previous password still verifies after its grace")
	}
	if !r.verifies(t, m.mailbox, pw) {
		t.Error("current password refused after the grace of the previous one")
	}
}

func TestRotationStaleAndForeignTokens(t *testing.T) {
	r := newRig(t)
	m := r.makeDevice(t, device.CreateInput{})
	eng := r.app.Service.Engine()
	ctx := context.Background()
	t1, _, err := eng.RotateNow(ctx, m.secret)
	if err != nil {
		t.Fatal(err)
	}
	t2, _, err := eng.RotateNow(ctx, m.secret)
	if err != nil {
		t.Fatal(err)
	}
	before := r.snapshot(t, m)
	for _, tc := range []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"older token after a newer rotation", t1, true},
		{"token of the finished rotation", t2, false}, // already AWSCURRENT: no-op success
		{"token never started", device.NewToken(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range device.Steps {
				if tc.token != t2 && step == device.StepCreate {
					continue // createSecret of a new token would start a rotation
				}
				err := eng.Run(ctx, step, m.secret, tc.token)
				if (err != nil) != tc.wantErr {
					t.Errorf("%s: err = %v, want error %v", step, err, tc.wantErr)
				}
			}
			if got := r.snapshot(t, m); !reflect.DeepEqual(got, before) {
				t.Errorf("state changed:\n got %+v\nwant %+v", got, before)
			}
			r.invariant1(t, m, tc.name)
		})
	}
	t.Run("createSecret of an older token", func(t *testing.T) {
		if err := eng.Run(ctx, device.StepCreate, m.secret, t1); err == nil {
			t.Error("createSecret of the AWSPREVIOUS version succeeded")
		}
		if got := r.snapshot(t, m); !reflect.DeepEqual(got, before) {
			t.Errorf("state changed:\n got %+v\nwant %+v", got, before)
		}
	})
	t.Run("createSecret while another rotation is pending", func(t *testing.T) {
		pending := device.NewToken()
		if err := eng.Run(ctx, device.StepCreate, m.secret, pending); err != nil {
			t.Fatal(err)
		}
		if err := eng.Run(ctx, device.StepCreate, m.secret, device.NewToken()); err == nil {
			t.Error("a second rotation began while one was pending")
		}
		for _, step := range device.Steps[1:] {
			if err := eng.Run(ctx, step, m.secret, pending); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
		r.invariant1(t, m, "after the pending rotation finished")
	})
}

func TestRotationRefusesInactiveDevices(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	owner := device.Caller{Subject: "owner-1"}
	disable := func(t *testing.T, m made) {
		s := "disabled"
		if _, err := r.app.Service.UpdateDevice(ctx, owner, m.mailbox, m.id, device.Patch{Status: &s}); err != nil {
			t.Fatal(err)
		}
	}
	revoke := func(t *testing.T, m made) {
		if _, err := r.app.Service.Revoke(ctx, owner, m.mailbox, m.id); err != nil {
			t.Fatal(err)
		}
	}
	expire := func(*testing.T, made) { r.clock.Advance(2 * time.Hour) }
	for _, tc := range []struct {
		name string
		in   device.CreateInput
		make func(*testing.T, made)
	}{
		{"disabled", device.CreateInput{}, disable},
		{"revoked", device.CreateInput{}, revoke},
		{"expired", device.CreateInput{ValidFor: "1h"}, expire},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := r.makeDevice(t, tc.in)
			tc.make(t, m)
			before := r.snapshot(t, m)
			_, step, err := r.app.Service.Engine().RotateNow(ctx, m.secret)
			if err == nil || step != device.StepCreate {
				t.Fatalf("rotation of a %s device: step %q err %v, want a refusal at createSecret", tc.name, step, err)
			}
			if got := r.snapshot(t, m); !reflect.DeepEqual(got.versions, before.versions) {
				t.Errorf("the secret gained a version: %v", got.versions)
			}
		})
	}
}

// TestRotationResumesAfterAFault fails each AWS call of a full rotation in
// turn, checks invariant 1 right after the failure, then lets Secrets
// Manager's retry run the failed step and the rest with the same token.
func TestRotationResumesAfterAFault(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	eng := r.app.Service.Engine()
	probe := r.makeDevice(t, device.CreateInput{})
	n, err := r.countCalls(func() error { _, _, err := eng.RotateNow(ctx, probe.secret); return err })
	if err != nil {
		t.Fatal(err)
	}
	for at := 1; at <= n; at++ {
		for _, mode := range []awsx.FaultMode{awsx.FailBefore, awsx.FailAfter} {
			m := r.makeDevice(t, device.CreateInput{})
			token := device.NewToken()
			r.faults.Arm(at, mode)
			failed := -1
			for i, step := range device.Steps {
				if err := eng.Run(ctx, step, m.secret, token); err != nil {
					failed = i
					break
				}
			}
			r.faults.Arm(0, awsx.FailBefore)
			r.invariant1(t, m, "right after the fault")
			if failed < 0 {
				failed = 0 // the fault hit a call whose failure the step absorbed; rerun all
			}
			for _, step := range device.Steps[failed:] {
				if err := eng.Run(ctx, step, m.secret, token); err != nil {
					t.Fatalf("call %d mode %d: retry of %s: %v", at, mode, step, err)
				}
			}
			if _, ver := r.current(t, m); ver != token {
				t.Errorf("call %d mode %d: AWSCURRENT %s, want %s", at, mode, ver, token)
			}
			r.checkConsistent(t, m.mailbox)
		}
	}
}

// TestRegenerateRacesRotation runs a manual regenerate concurrently with a
// scheduled rotation of the same device, many times (invariant 4).
func TestRegenerateRacesRotation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	owner := r.fresh(device.Caller{Subject: "owner-1"})
	for i := 0; i < 12; i++ {
		m := r.makeDevice(t, device.CreateInput{})
		var (
			wg       sync.WaitGroup
			regen    device.Created
			regenErr error
			rotErr   error
		)
		wg.Add(2)
		go func() { defer wg.Done(); regen, regenErr = r.app.Service.Regenerate(ctx, owner, m.mailbox, m.id, 0) }()
		go func() { defer wg.Done(); _, _, rotErr = r.app.Service.Engine().RotateNow(ctx, m.secret) }()
		wg.Wait()
		if regenErr != nil && rotErr != nil {
			t.Fatalf("iteration %d: both failed: regenerate %v; rotation %v", i, regenErr, rotErr)
		}
		st, err := r.app.Secrets.Describe(ctx, m.secret)
		if err != nil {
			t.Fatal(err)
		}
		if p := st.Pending(); p != "" && p != st.Current() {
			t.Errorf("iteration %d: AWSPENDING left on %s", i, p)
		}
		d, _ := r.app.Store.GetDevice(ctx, m.mailbox, m.id)
		if d.Current == nil || d.Current.Version != st.Current() {
			t.Errorf("iteration %d: table's current %v, AWSCURRENT %s", i, d.Current, st.Current())
		}
		cur := r.invariant1(t, m, "after the race")
		if regenErr == nil && regen.Password != cur {
			// Only a rotation that finished after the regenerate may replace
			// its password, and then as AWSPREVIOUS.
			if rotErr != nil || !r.verifies(t, m.mailbox, regen.Password) {
				t.Errorf("iteration %d: the regenerated password is neither current nor in grace after a later rotation", i)
			}
		}
	}
}

func TestRegenerateGrace(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	owner := device.Caller{Subject: "owner-1"}
	for _, tc := range []struct {
		grace time.Duration
	}{{0}, {90 * time.Second}} {
		m := r.makeDevice(t, device.CreateInput{})
		c, err := r.app.Service.Regenerate(ctx, r.fresh(owner), m.mailbox, m.id, tc.grace)
		if err != nil {
			t.Fatal(err)
		}
		if !r.verifies(t, m.mailbox, c.Password) {
			t.Errorf("grace %s: new password refused", tc.grace)
		}
		if got := r.verifies(t, m.mailbox, m.password); got != (tc.grace > 0) {
			t.Errorf("grace %s: old password verifies = %v right after", tc.grace, got)
		}
		r.clock.Advance(tc.grace + time.Second)
		if r.verifies(t, m.mailbox, m.password) {
			t.Errorf("grace %s: old password verifies after the grace", tc.grace)
		}
		if pw, _ := r.current(t, m); pw != c.Password {
			t.Errorf("grace %s: AWSCURRENT is not the password regenerate returned", tc.grace)
		}
	}
}

// TestCallBudget counts AWS calls: a full scheduled rotation makes at most 5
// Secrets Manager calls, 2 of them writes (AWS's rotation template's
// floor), and 4 DynamoDB calls; a regenerate makes 4 sequential calls, 2
// of them Secrets Manager writes; a successful verify makes no Secrets
// Manager call, one DynamoDB read and the rate limit's conditional write
// (plus the coalesced last-use write).
func TestCallBudget(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	m := r.makeDevice(t, device.CreateInput{})
	r.calls.Reset()
	if _, _, err := r.app.Service.Engine().RotateNow(ctx, m.secret); err != nil {
		t.Fatal(err)
	}
	if sm, ddb := r.calls.Count(awsx.ServiceSecretsManager), r.calls.Count(awsx.ServiceDynamoDB); sm > 5 || ddb > 4 {
		t.Errorf("rotation made %d Secrets Manager and %d DynamoDB calls (%v), want at most 5 and 4", sm, ddb, r.calls.Summary())
	}
	if w := r.calls.SecretsManagerWrites(); w != 2 {
		t.Errorf("rotation made %d Secrets Manager writes (%v), want 2", w, r.calls.Summary())
	}
	r.calls.Reset()
	if _, err := r.app.Service.Regenerate(ctx, r.fresh(device.Caller{Subject: "owner-1"}), m.mailbox, m.id, 0); err != nil {
		t.Fatal(err)
	}
	if n, w := r.calls.RoundTrips(), r.calls.SecretsManagerWrites(); n != 4 || w != 2 {
		t.Errorf("regenerate made %d sequential round trips and %d Secrets Manager writes (%v), want 4 and 2", n, w, r.calls.Summary())
	}
	pw, _ := r.current(t, m)
	// Every verification reads the partition and passes its network's
	// counter; the first success also records the last use, the second is
	// coalesced.
	for i, wantDDB := range []int{3, 2} {
		r.calls.Reset()
		if !r.verifies(t, m.mailbox, pw) {
			t.Fatal("current password refused")
		}
		if sm, ddb := r.calls.Count(awsx.ServiceSecretsManager), r.calls.Count(awsx.ServiceDynamoDB); sm != 0 || ddb != wantDDB {
			t.Errorf("verify %d made %d Secrets Manager and %d DynamoDB calls (%v), want 0 and %d", i+1, sm, ddb, r.calls.Summary(), wantDDB)
		}
	}
}

// TestRegenerateReplacesRotationFinishedMeanwhile runs, on the stand-ins,
// a regenerate whose device read predates a rotation that then promoted
// in the table (and moved AWSCURRENT, or lost that call): the regenerate
// replaces the rotation's password too, Secrets Manager and the table
// agree, and no AWSPENDING is left apart from AWSCURRENT.
func TestRegenerateReplacesRotationFinishedMeanwhile(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	eng := r.app.Service.Engine()
	for _, moved := range []bool{true, false} {
		m := r.makeDevice(t, device.CreateInput{})
		read, err := r.app.Store.GetDevice(ctx, m.mailbox, m.id) // the regenerate's read
		if err != nil {
			t.Fatal(err)
		}
		token := device.NewToken()
		for _, step := range device.Steps[:3] {
			if err := eng.Run(ctx, step, m.secret, token); err != nil {
				t.Fatal(err)
			}
		}
		sv, err := r.app.Secrets.Read(ctx, m.secret, token)
		if err != nil {
			t.Fatal(err)
		}
		if !moved {
			r.faults.Arm(2, awsx.FailBefore) // finishSecret: the promotion, then the lost move
		}
		err = eng.Run(ctx, device.StepFinish, m.secret, token)
		r.faults.Arm(0, awsx.FailBefore)
		if moved != (err == nil) {
			t.Fatalf("moved=%v: finishSecret: %v", moved, err)
		}
		pw, _, err := eng.Regenerate(ctx, read, 0)
		if err != nil {
			t.Fatalf("moved=%v: regenerate: %v", moved, err)
		}
		if cur := r.invariant1(t, m, "after the regenerate"); cur != pw {
			t.Fatalf("moved=%v: AWSCURRENT is not the regenerated password", moved)
		}
		if r.verifies(t, m.mailbox, sv.Value.Password) || r.verifies(t, m.mailbox, m.password) {
			t.Fatalf("moved=%v: a replaced password still verifies after a regenerate without grace", moved)
		}
		st, err := r.app.Secrets.Describe(ctx, m.secret)
		if err != nil {
			t.Fatal(err)
		}
		if p := st.InProgress(); p != "" {
			t.Errorf("moved=%v: AWSPENDING left on %s, which is not AWSCURRENT", moved, p)
		}
		r.checkConsistent(t, m.mailbox)
		if _, step, err := eng.RotateNow(ctx, m.secret); err != nil {
			t.Fatalf("moved=%v: the next rotation failed at %s: %v", moved, step, err)
		}
		r.checkConsistent(t, m.mailbox)
	}
}
