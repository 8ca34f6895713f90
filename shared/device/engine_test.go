package device_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

// snapshot is everything a rotation step may change.
type snapshot struct {
	Device  device.Device
	State   device.SecretState
	Current device.SecretValue
	Pending device.SecretValue
}

func (h *harness) snapshot(id string) snapshot {
	h.t.Helper()
	d := h.device(id)
	name := device.SecretName(prefix, mailbox, id)
	st, _ := h.secrets.State(name)
	s := snapshot{Device: d, State: st}
	s.Current, _, _ = h.secrets.CurrentValue(name)
	if p := st.Pending(); p != "" {
		sv, err := h.secrets.Read(context.Background(), name, p)
		if err != nil {
			h.t.Fatal(err)
		}
		s.Pending = sv.Value
	}
	return s
}

func (h *harness) wantUnchanged(what string, before snapshot) {
	h.t.Helper()
	if after := h.snapshot(before.Device.ID); !reflect.DeepEqual(before, after) {
		h.t.Fatalf("%s changed state:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

func TestEngineStepsAreIdempotent(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "server", Rotation: &device.RotationInput{EveryDays: 30}})
	id, arn, old := c.Device.ID, c.Device.SecretARN, c.Device.Current.Version
	e := h.svc.Engine()
	token := device.NewToken()
	var finishedAt time.Time
	for _, step := range device.Steps {
		h.clock.Advance(time.Second)
		before := h.snapshot(id)
		if err := e.Run(ctx, step, arn, token); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		after := h.snapshot(id)
		h.clock.Advance(time.Second)
		if err := e.Run(ctx, step, arn, token); err != nil {
			t.Fatalf("%s again: %v", step, err)
		}
		h.wantUnchanged(string(step)+" run twice", after)

		d, st := after.Device, after.State
		switch step {
		case device.StepCreate:
			if st.Pending() != token || st.Current() != old || d.Pending == nil || d.Pending.Version != token || d.PendingBase != old {
				t.Fatalf("after createSecret: stages %v, device pending %+v base %s", st.Versions, d.Pending, d.PendingBase)
			}
			if after.Pending.Username != mailbox || after.Pending.Device != id || after.Pending.Password == "" {
				t.Fatalf("pending value = %+v", after.Pending)
			}
			h.remember(after.Pending.Password)
		case device.StepSet:
			if d.Pending == nil || d.Pending.Hash != h.keyed.Password(after.Pending.Password) {
				t.Fatal("setSecret did not store the pending password's verifier")
			}
			if h.verify(after.Pending.Password) {
				t.Fatal("the pending password verifies before finishSecret")
			}
		case device.StepTest:
			if !reflect.DeepEqual(before, after) {
				t.Fatal("testSecret changed state")
			}
		case device.StepFinish:
			finishedAt = h.clock.Now().Add(-time.Second)
			// AWSPENDING stays on the new AWSCURRENT version: finished, for
			// Secrets Manager, without a third write.
			if st.Current() != token || st.InProgress() != "" || !hasStage(st.Versions[token], device.StagePending) || !hasStage(st.Versions[old], device.StagePrevious) {
				t.Fatalf("after finishSecret: stages %v", st.Versions)
			}
			if d.Current == nil || d.Current.Version != token || d.Previous == nil || d.Previous.Version != old || d.Pending != nil {
				t.Fatalf("after finishSecret: device current %+v previous %+v pending %+v", d.Current, d.Previous, d.Pending)
			}
			if !d.PreviousUntil.Equal(finishedAt.Add(2 * time.Hour)) {
				t.Fatalf("previous until %s, want the first finish plus the 2h grace", d.PreviousUntil)
			}
		}
		h.checkConsistent() // the AWSCURRENT password verifies after every step
	}
	newPW, _ := h.currentPassword(c.Device)
	if newPW == c.Password {
		t.Fatal("the rotation kept the password")
	}
	if !h.verify(c.Password) {
		t.Fatal("the replaced password stopped before its grace ended")
	}
	h.clock.Set(finishedAt.Add(2 * time.Hour))
	if h.verify(c.Password) {
		t.Fatal("the replaced password verifies after its grace")
	}
	if !h.verify(newPW) {
		t.Fatal("the new password does not verify")
	}
}

func hasStage(stages []string, s string) bool {
	for _, x := range stages {
		if x == s {
			return true
		}
	}
	return false
}

func TestEngineStepSpellings(t *testing.T) {
	for in, want := range map[string]device.Step{
		"createSecret": device.StepCreate, "create_secret": device.StepCreate,
		"setSecret": device.StepSet, "set_secret": device.StepSet,
		"testSecret": device.StepTest, "test_secret": device.StepTest,
		"finishSecret": device.StepFinish, "finish_secret": device.StepFinish,
	} {
		if got, err := device.ParseStep(in); err != nil || got != want {
			t.Errorf("ParseStep(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "create", "deleteSecret"} {
		if _, err := device.ParseStep(bad); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("ParseStep(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestParseSecretID(t *testing.T) {
	id := devicetest.NewID(t)
	name := prefix + "/" + mailbox + "/" + id
	tests := []struct {
		in string
		ok bool
	}{
		{name, true},
		{devicetest.ARNPrefix + name + "-AbCdEf", true},
		{"other/" + mailbox + "/" + id, false},
		{prefix + "/" + mailbox + "/short", false},
		{prefix + "/no-at-sign/" + id, false},
		{prefix + "/" + mailbox, false},
		{"arn:aws:secretsmanager:us-east-1:1:nope", false},
	}
	for _, tc := range tests {
		m, got, err := device.ParseSecretID(prefix, tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("ParseSecretID(%q) error %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (m != mailbox || got != id) {
			t.Errorf("ParseSecretID(%q) = %s %s", tc.in, m, got)
		}
	}
}

func TestEngineCallCounts(t *testing.T) {
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{Name: "server"})
	h.secrets.ResetCounts()
	h.store.ResetCounts()
	token, step, err := h.svc.Engine().RotateNow(context.Background(), c.Device.SecretARN)
	if err != nil {
		t.Fatalf("rotate now failed at %s: %v", step, err)
	}
	if st, _ := h.secrets.State(c.Device.SecretARN); st.Current() != token {
		t.Fatalf("AWSCURRENT = %s, want %s", st.Current(), token)
	}
	// docs/architecture.md: five Secrets Manager calls, two of them
	// writes (AWS's rotation template's floor), and four DynamoDB calls
	// for a full rotation (AWS's templates make 10 to 14 calls).
	wantSM := map[string]int{"Describe": 1, "PutPending": 1, "Read": 2, "MoveCurrent": 1}
	if got := h.secrets.Counts(); !reflect.DeepEqual(got, wantSM) {
		t.Errorf("Secrets Manager calls = %v, want %v", got, wantSM)
	}
	if n := h.secrets.Writes(); n != 2 {
		t.Errorf("Secrets Manager writes = %d, want 2", n)
	}
	wantDB := map[string]int{"BeginRotation": 1, "SetPending": 1, "Candidates": 1, "Promote": 1}
	if got := h.store.Counts(); !reflect.DeepEqual(got, wantDB) {
		t.Errorf("DynamoDB calls = %v, want %v", got, wantDB)
	}
	h.checkConsistent()
}

func TestEngineOlderTokensChangeNothing(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "server"})
	e := h.svc.Engine()
	var tokens []string
	for range 3 {
		h.clock.Advance(time.Hour)
		token, step, err := e.RotateNow(ctx, c.Device.SecretARN)
		if err != nil {
			t.Fatalf("rotation failed at %s: %v", step, err)
		}
		tokens = append(tokens, token)
	}
	h.clock.Advance(time.Minute)
	older := map[string]string{
		"two rotations ago (deprecated, unlabelled)":  tokens[0],
		"the previous rotation (AWSPREVIOUS)":         tokens[1],
		"the first version (created with the secret)": c.Device.Current.Version,
	}
	for what, token := range older {
		for _, step := range device.Steps {
			before := h.snapshot(c.Device.ID)
			err := e.Run(ctx, step, c.Device.SecretARN, token)
			if !apperr.Is(err, apperr.Conflict) {
				t.Errorf("%s of %s: %v, want conflict", step, what, err)
			}
			h.wantUnchanged(string(step)+" of "+what, before)
		}
	}
	// The current token's steps are no-op successes.
	for _, step := range device.Steps {
		before := h.snapshot(c.Device.ID)
		if err := e.Run(ctx, step, c.Device.SecretARN, tokens[2]); err != nil {
			t.Fatalf("%s of the current token: %v", step, err)
		}
		h.wantUnchanged(string(step)+" of the current token", before)
	}
	h.checkConsistent()
}

func TestEngineRefusesTokensNotPending(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "server"})
	e := h.svc.Engine()
	arn := c.Device.SecretARN

	// Later steps of a token createSecret never saw.
	unknown := device.NewToken()
	for _, step := range device.Steps[1:] {
		before := h.snapshot(c.Device.ID)
		wantCode(t, e.Run(ctx, step, arn, unknown), apperr.Conflict)
		h.wantUnchanged(string(step)+" of an unknown token", before)
	}

	// A second rotation while one is pending.
	first := device.NewToken()
	if err := e.Run(ctx, device.StepCreate, arn, first); err != nil {
		t.Fatal(err)
	}
	before := h.snapshot(c.Device.ID)
	wantCode(t, e.Run(ctx, device.StepCreate, arn, device.NewToken()), apperr.Conflict)
	h.wantUnchanged("createSecret while another rotation is pending", before)

	// Steps out of order: finish before set refuses and keeps the
	// passwords. (It may drop AWSPENDING from the unfinished version, as for
	// a superseded one; the next rotation then starts cleanly.)
	wantCode(t, e.Run(ctx, device.StepFinish, arn, first), apperr.Conflict)
	after := h.snapshot(c.Device.ID)
	if !reflect.DeepEqual(after.Device.Current, before.Device.Current) || after.Device.Previous != nil ||
		after.State.Current() != before.State.Current() || after.Current != before.Current {
		t.Fatalf("finishSecret before setSecret changed the passwords: %+v", after)
	}
	h.checkConsistent()
	if st := after.State; st.Pending() == "" {
		if _, step, err := e.RotateNow(ctx, arn); err != nil {
			t.Fatalf("the next rotation failed at %s: %v", step, err)
		}
	}

	// Bad input.
	wantCode(t, e.Run(ctx, device.StepCreate, "other/"+mailbox+"/"+c.Device.ID, first), apperr.Invalid)
	wantCode(t, e.Run(ctx, device.StepCreate, arn, ""), apperr.Invalid)
	wantCode(t, e.Run(ctx, device.Step("bogus"), arn, first), apperr.Invalid)
	h.checkConsistent()
}

func TestEngineRefusesEndedDevices(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		in    device.CreateInput
		setup func(h *harness, d device.Device)
	}{
		{"disabled", device.CreateInput{Name: "x"}, func(h *harness, d device.Device) {
			if _, err := h.svc.UpdateDevice(ctx, h.owner(), mailbox, d.ID, device.Patch{Status: ptr("disabled")}); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"revoked", device.CreateInput{Name: "x"}, func(h *harness, d device.Device) {
			if _, err := h.svc.Revoke(ctx, h.owner(), mailbox, d.ID); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"expired", device.CreateInput{Name: "x", ValidFor: "1h"}, func(h *harness, d device.Device) {
			h.clock.Advance(time.Hour)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, device.Config{})
			c := h.create(tc.in)
			tc.setup(h, c.Device)
			name := device.SecretName(prefix, mailbox, c.Device.ID)
			stBefore, _ := h.secrets.State(name)
			dBefore := h.device(c.Device.ID)
			wantCode(t, h.svc.Engine().Run(ctx, device.StepCreate, c.Device.SecretARN, device.NewToken()), apperr.Conflict)
			if st, _ := h.secrets.State(name); !reflect.DeepEqual(st, stBefore) {
				t.Fatalf("secret changed: %v", st.Versions)
			}
			if d := h.device(c.Device.ID); !reflect.DeepEqual(d, dBefore) {
				t.Fatalf("device changed: %+v", d)
			}
			if n := h.secrets.Count("PutPending"); n != 0 {
				t.Fatalf("%d versions put for a %s device", n, tc.name)
			}
		})
	}
}

func TestRegenerateTakesOverScheduledRotation(t *testing.T) {
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "server", Rotation: &device.RotationInput{EveryDays: 30}})
	e := h.svc.Engine()
	arn := c.Device.SecretARN
	rot := device.NewToken()
	for _, step := range device.Steps[:2] {
		if err := e.Run(ctx, step, arn, rot); err != nil {
			t.Fatal(err)
		}
	}
	sv, err := h.secrets.Read(ctx, arn, rot)
	if err != nil {
		t.Fatal(err)
	}
	rotPW := h.remember(sv.Value.Password)

	r, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.remember(r.Password)
	for _, step := range device.Steps[2:] {
		before := h.snapshot(c.Device.ID)
		wantCode(t, e.Run(ctx, step, arn, rot), apperr.Conflict)
		h.wantUnchanged(string(step)+" of the superseded rotation", before)
	}
	if !h.verify(r.Password) || h.verify(rotPW) || h.verify(c.Password) {
		t.Fatal("after a regenerate took over a rotation, want only the regenerated password")
	}
	st, _ := h.secrets.State(arn)
	if st.InProgress() != "" {
		t.Fatalf("AWSPENDING left on %s, which is not AWSCURRENT", st.InProgress())
	}
	// The next scheduled rotation runs normally.
	if _, step, err := e.RotateNow(ctx, arn); err != nil {
		t.Fatalf("next rotation failed at %s: %v", step, err)
	}
	h.checkConsistent()
}

func TestRotationAfterRegenerateFinishedDoesNotOverwrite(t *testing.T) {
	// A rotation that began before a regenerate and whose finishSecret runs
	// after it (the regenerate took its pending version) must not move
	// AWSCURRENT back.
	h := newHarness(t, device.Config{})
	ctx := context.Background()
	c := h.create(device.CreateInput{Name: "server"})
	e := h.svc.Engine()
	arn := c.Device.SecretARN
	rot := device.NewToken()
	for _, step := range device.Steps[:3] {
		if err := e.Run(ctx, step, arn, rot); err != nil {
			t.Fatal(err)
		}
	}
	r, err := h.svc.Regenerate(ctx, h.owner(), mailbox, c.Device.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.remember(r.Password)
	before := h.snapshot(c.Device.ID)
	wantCode(t, e.Run(ctx, device.StepFinish, arn, rot), apperr.Conflict)
	h.wantUnchanged("finishSecret after a regenerate", before)
	if pw, _ := h.currentPassword(c.Device); pw != r.Password {
		t.Fatal("AWSCURRENT is not the regenerated password")
	}
	h.checkConsistent()
}

// TestRegenerateRoundTrips pins a regenerate's common path: four
// sequential round trips (read the device, put the new version, one
// conditional write, move AWSCURRENT), two of them Secrets Manager writes.
func TestRegenerateRoundTrips(t *testing.T) {
	h := newHarness(t, device.Config{})
	c := h.create(device.CreateInput{Name: "server"})
	h.faults.Clear()
	r, err := h.svc.Regenerate(context.Background(), h.owner(), mailbox, c.Device.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.remember(r.Password)
	want := []string{"Store.Lookup", "Secrets.PutPending", "Store.Replace", "Secrets.MoveCurrent"}
	if got := h.faults.Calls(); !slices.Equal(got, want) {
		t.Fatalf("regenerate calls = %v, want %v", got, want)
	}
	h.checkConsistent()
}

// TestRegenerateReplacesRotationFinishedMeanwhile: a rotation that
// finishes between a regenerate's read of the device and its write has
// its password replaced too (grace 0 ends both), whether or not the
// rotation had moved AWSCURRENT yet; the rotation's retried finish
// changes nothing.
func TestRegenerateReplacesRotationFinishedMeanwhile(t *testing.T) {
	for _, moved := range []bool{true, false} {
		t.Run(fmt.Sprintf("moved=%v", moved), func(t *testing.T) {
			h := newHarness(t, device.Config{})
			ctx := context.Background()
			c := h.create(device.CreateInput{Name: "server"})
			e := h.svc.Engine()
			arn := c.Device.SecretARN
			read := h.device(c.Device.ID) // the regenerate's read
			rot := device.NewToken()
			for _, step := range device.Steps[:3] {
				if err := e.Run(ctx, step, arn, rot); err != nil {
					t.Fatal(err)
				}
			}
			sv, err := h.secrets.Read(ctx, arn, rot)
			if err != nil {
				t.Fatal(err)
			}
			rotPW := h.remember(sv.Value.Password)
			if !moved {
				// finishSecret promotes in the table, then its move is lost.
				h.faults.FailCall(2, devicetest.FailBefore, nil)
			}
			err = e.Run(ctx, device.StepFinish, arn, rot)
			h.faults.Clear()
			if moved != (err == nil) {
				t.Fatalf("finishSecret: %v", err)
			}
			pw, out, err := e.Regenerate(ctx, read, 0)
			if err != nil {
				t.Fatal(err)
			}
			h.remember(pw)
			if out.Previous == nil || out.Previous.Version != rot {
				t.Fatalf("answered previous %+v, want the rotation's version %s", out.Previous, rot)
			}
			if cur, _ := h.currentPassword(c.Device); cur != pw || !h.verify(pw) {
				t.Fatal("the regenerated password is not AWSCURRENT or does not verify")
			}
			if h.verify(rotPW) || h.verify(c.Password) {
				t.Fatal("a replaced password still verifies after a regenerate without grace")
			}
			if st, _ := h.secrets.State(arn); st.InProgress() != "" {
				t.Fatalf("AWSPENDING left on %s, which is not AWSCURRENT", st.InProgress())
			}
			h.checkConsistent()
			before := h.snapshot(c.Device.ID)
			if err := e.Run(ctx, device.StepFinish, arn, rot); err == nil && !moved {
				t.Fatal("the rotation's retried finishSecret succeeded after the regenerate")
			}
			h.wantUnchanged("the rotation's retried finishSecret", before)
			if _, step, err := e.RotateNow(ctx, arn); err != nil {
				t.Fatalf("next rotation failed at %s: %v", step, err)
			}
			h.checkConsistent()
		})
	}
}
