package devicetest

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// SecretsSuite runs the contract of device.Secrets against the adapters
// newSecrets returns, with secret names under prefix. It asserts only what
// AWS and moto agree on; AWS-only refusals that moto lacks (PutPending of a
// used version id with another value, writes to a secret scheduled for
// deletion) are tested on MemSecrets alone. Subtests run in parallel with
// their own secret names.
func SecretsSuite(t *testing.T, newSecrets func(t *testing.T) (device.Secrets, string)) {
	tests := []struct {
		name string
		run  func(t *testing.T, s device.Secrets, prefix string)
	}{
		{"CreateAndRead", testSecretCreateRead},
		{"CreateConflicts", testSecretCreateConflicts},
		{"NotFound", testSecretNotFound},
		{"RotationStages", testSecretRotation},
		{"PendingTakeover", testSecretTakeover},
		{"ScheduleDeletion", testSecretScheduleDeletion},
		{"ForceDelete", testSecretForceDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, prefix := newSecrets(t)
			tc.run(t, s, prefix)
		})
	}
}

type secretCase struct {
	name, mailbox, id, token string
	value                    device.SecretValue
}

func newSecretCase(t *testing.T, prefix string) secretCase {
	t.Helper()
	mbx, id := uniqueMailbox(t), NewID(t)
	return secretCase{
		name: device.SecretName(prefix, mbx, id), mailbox: mbx, id: id, token: NewVersion(t),
		value: device.SecretValue{Username: mbx, Password: "pw-" + randomHex(t, 12) + `"\ü`, Device: id},
	}
}

func (c secretCase) create(t *testing.T, s device.Secrets) device.SecretRef {
	t.Helper()
	ref, err := s.Create(context.Background(), device.SecretInput{Name: c.name, Token: c.token, Value: c.value, Tags: device.SecretTags(c.mailbox, c.id)})
	mustOK(t, err, "create secret")
	return ref
}

func describe(t *testing.T, s device.Secrets, id string) device.SecretState {
	t.Helper()
	st, err := s.Describe(context.Background(), id)
	mustOK(t, err, "describe")
	return st
}

func wantStages(t *testing.T, st device.SecretState, version string, want ...string) {
	t.Helper()
	got := append([]string(nil), st.Versions[version]...)
	sort.Strings(got)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stages of %s = %v, want %v (all: %v)", version, got, want, st.Versions)
	}
}

func readValue(t *testing.T, s device.Secrets, id, version string) device.SecretVersion {
	t.Helper()
	sv, err := s.Read(context.Background(), id, version)
	mustOK(t, err, "read "+version)
	return sv
}

func testSecretCreateRead(t *testing.T, s device.Secrets, prefix string) {
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	if ref.Version != c.token || ref.ARN == "" {
		t.Fatalf("create = %+v, want version %s and an ARN", ref, c.token)
	}
	for _, id := range []string{c.name, ref.ARN} {
		sv := readValue(t, s, id, "")
		if sv.Value != c.value || sv.Version != c.token || sv.Name != c.name || sv.ARN != ref.ARN || !sv.HasStage(device.StageCurrent) {
			t.Fatalf("read %s = %+v, want the created value as AWSCURRENT", id, sv)
		}
	}
	if sv := readValue(t, s, c.name, c.token); sv.Value != c.value {
		t.Fatalf("read by version = %+v", sv)
	}
	st := describe(t, s, ref.ARN)
	if st.Name != c.name || st.ARN != ref.ARN || st.Deleted || st.Current() != c.token || st.Pending() != "" {
		t.Fatalf("describe = %+v", st)
	}
	wantStages(t, st, c.token, device.StageCurrent)
	for k, v := range device.SecretTags(c.mailbox, c.id) {
		if st.Tags[k] != v {
			t.Fatalf("tag %s = %q, want %q", k, st.Tags[k], v)
		}
	}
}

func testSecretCreateConflicts(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)

	again, err := s.Create(ctx, device.SecretInput{Name: c.name, Token: c.token, Value: c.value, Tags: device.SecretTags(c.mailbox, c.id)})
	mustOK(t, err, "create with the same token and value")
	if again != ref {
		t.Fatalf("idempotent create = %+v, want %+v", again, ref)
	}
	other := c.value
	other.Password = "another password"
	tests := []struct {
		name  string
		token string
		value device.SecretValue
	}{
		{"same token, other value", c.token, other},
		{"other token, same value", NewVersion(t), c.value},
		{"other token, other value", NewVersion(t), other},
	}
	for _, tc := range tests {
		_, err := s.Create(ctx, device.SecretInput{Name: c.name, Token: tc.token, Value: tc.value})
		if !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("%s: error %v, want conflict", tc.name, err)
		}
	}
	if sv := readValue(t, s, c.name, ""); sv.Value != c.value || sv.Version != c.token {
		t.Fatalf("after refused creates the secret holds %+v", sv)
	}
}

func testSecretNotFound(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	missing := c.name
	existing := newSecretCase(t, prefix)
	existing.create(t, s)
	v := NewVersion(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"read a missing secret", func() error { _, err := s.Read(ctx, missing, ""); return err }},
		{"read a missing version", func() error { _, err := s.Read(ctx, existing.name, v); return err }},
		{"describe", func() error { _, err := s.Describe(ctx, missing); return err }},
		{"put pending", func() error { return s.PutPending(ctx, missing, v, c.value) }},
		{"move current", func() error { return s.MoveCurrent(ctx, missing, v, c.token) }},
		{"remove pending", func() error { return s.RemovePending(ctx, missing, v) }},
		{"schedule deletion", func() error { return s.ScheduleDeletion(ctx, missing, 7) }},
	}
	for _, tc := range tests {
		if err := tc.call(); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("%s: error %v, want not found", tc.name, err)
		}
	}
	mustOK(t, s.ForceDelete(ctx, missing), "force delete of a missing secret")
	if _, err := s.Describe(ctx, missing); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("a call on a missing secret created it (%v)", err)
	}
}

func testSecretRotation(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	v1, v2, v3 := c.token, NewVersion(t), NewVersion(t)
	val2, val3 := c.value, c.value
	val2.Password, val3.Password = "second-"+randomHex(t, 8), "third-"+randomHex(t, 8)

	mustOK(t, s.PutPending(ctx, ref.ARN, v2, val2), "put pending")
	st := describe(t, s, c.name)
	if st.Current() != v1 || st.Pending() != v2 {
		t.Fatalf("after put pending: current %s pending %s, want %s %s", st.Current(), st.Pending(), v1, v2)
	}
	if sv := readValue(t, s, c.name, v2); sv.Value != val2 || !sv.HasStage(device.StagePending) || sv.HasStage(device.StageCurrent) {
		t.Fatalf("pending version = %+v", sv)
	}
	if sv := readValue(t, s, c.name, ""); sv.Value != c.value {
		t.Fatalf("AWSCURRENT moved on put pending: %+v", sv)
	}
	mustOK(t, s.PutPending(ctx, ref.ARN, v2, val2), "put pending again (same value)")
	wantStages(t, describe(t, s, c.name), v2, device.StagePending)

	// The compare-and-swap: from must hold AWSCURRENT.
	WantCode(t, s.MoveCurrent(ctx, ref.ARN, v2, v2), apperr.Conflict)
	st = describe(t, s, c.name)
	if st.Current() != v1 || st.Pending() != v2 {
		t.Fatalf("a refused move changed the stages: %v", st.Versions)
	}

	mustOK(t, s.MoveCurrent(ctx, ref.ARN, v2, v1), "move current")
	st = describe(t, s, c.name)
	wantStages(t, st, v2, device.StageCurrent, device.StagePending)
	wantStages(t, st, v1, device.StagePrevious)
	if sv := readValue(t, s, c.name, ""); sv.Value != val2 || sv.Version != v2 {
		t.Fatalf("AWSCURRENT after move = %+v", sv)
	}
	WantCode(t, s.MoveCurrent(ctx, ref.ARN, v2, v1), apperr.Conflict)

	mustOK(t, s.RemovePending(ctx, ref.ARN, v2), "remove pending")
	st = describe(t, s, c.name)
	wantStages(t, st, v2, device.StageCurrent)
	if st.Pending() != "" {
		t.Fatalf("pending = %s after remove", st.Pending())
	}
	WantCode(t, s.RemovePending(ctx, ref.ARN, v2), apperr.Conflict)

	// A second rotation moves AWSPREVIOUS along.
	mustOK(t, s.PutPending(ctx, c.name, v3, val3), "put pending v3")
	mustOK(t, s.MoveCurrent(ctx, c.name, v3, v2), "move current to v3")
	mustOK(t, s.RemovePending(ctx, c.name, v3), "remove pending v3")
	st = describe(t, s, c.name)
	wantStages(t, st, v3, device.StageCurrent)
	wantStages(t, st, v2, device.StagePrevious)
	wantStages(t, st, v1)
	if sv := readValue(t, s, c.name, ""); sv.Value != val3 {
		t.Fatalf("AWSCURRENT after second rotation = %+v", sv)
	}
}

func testSecretTakeover(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	c.create(t, s)
	v2, v3 := NewVersion(t), NewVersion(t)
	val2, val3 := c.value, c.value
	val2.Password, val3.Password = "second", "third"
	mustOK(t, s.PutPending(ctx, c.name, v2, val2), "put v2")
	mustOK(t, s.PutPending(ctx, c.name, v3, val3), "put v3")
	st := describe(t, s, c.name)
	if st.Pending() != v3 || st.Current() != c.token {
		t.Fatalf("after a second put: pending %s current %s, want %s %s", st.Pending(), st.Current(), v3, c.token)
	}
	wantStages(t, st, v2)
	WantCode(t, s.RemovePending(ctx, c.name, v2), apperr.Conflict)
	if sv := readValue(t, s, c.name, v2); sv.HasStage(device.StagePending) {
		t.Fatalf("superseded version still pending: %+v", sv)
	}
}

func testSecretScheduleDeletion(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	mustOK(t, s.ScheduleDeletion(ctx, ref.ARN, 7), "schedule deletion")
	if st := describe(t, s, c.name); !st.Deleted {
		t.Fatalf("describe after deletion = %+v, want Deleted", st)
	}
	mustOK(t, s.ScheduleDeletion(ctx, ref.ARN, 7), "schedule deletion again")
	mustOK(t, s.ScheduleDeletion(ctx, c.name, 30), "schedule deletion again by name")

	_, err := s.Read(ctx, c.name, "")
	WantCode(t, err, apperr.Conflict)
	_, err = s.Create(ctx, device.SecretInput{Name: c.name, Token: NewVersion(t), Value: c.value})
	WantCode(t, err, apperr.Conflict)
}

func testSecretForceDelete(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	mustOK(t, s.ForceDelete(ctx, ref.ARN), "force delete")
	_, err := s.Describe(ctx, c.name)
	WantCode(t, err, apperr.NotFound)
	_, err = s.Read(ctx, ref.ARN, "")
	WantCode(t, err, apperr.NotFound)
	mustOK(t, s.ForceDelete(ctx, c.name), "force delete again")
}
