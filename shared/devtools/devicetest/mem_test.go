package devicetest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

func TestMemStore(t *testing.T) {
	shared := devicetest.NewMemStore()
	devicetest.StoreSuite(t, func(*testing.T) devicetest.Store { return shared })
}

func TestMemSecrets(t *testing.T) {
	shared := devicetest.NewMemSecrets()
	devicetest.SecretsSuite(t, func(*testing.T) (device.Secrets, string) { return shared, "mem" })
}

// The refusals below are AWS's; moto is laxer, so the shared suite cannot
// assert them and they are checked on the fake alone.

func newSecret(t *testing.T, m *devicetest.MemSecrets) (name, token string, v device.SecretValue) {
	t.Helper()
	name, token = "p/a@b.example/"+devicetest.NewID(t), devicetest.NewVersion(t)
	v = device.SecretValue{Username: "a@b.example", Password: "one", Device: "x"}
	if _, err := m.Create(context.Background(), device.SecretInput{Name: name, Token: token, Value: v}); err != nil {
		t.Fatal(err)
	}
	return name, token, v
}

func TestMemSecretsPutPendingReusedVersion(t *testing.T) {
	ctx := context.Background()
	m := devicetest.NewMemSecrets()
	name, v1, val := newSecret(t, m)
	v2 := devicetest.NewVersion(t)
	two := val
	two.Password = "two"
	if err := m.PutPending(ctx, name, v2, two); err != nil {
		t.Fatal(err)
	}
	other := val
	other.Password = "other"
	devicetest.WantCode(t, m.PutPending(ctx, name, v2, other), apperr.Conflict)
	devicetest.WantCode(t, m.PutPending(ctx, name, v1, other), apperr.Conflict)
	if err := m.PutPending(ctx, name, v1, val); err != nil {
		t.Fatalf("repeating the current version's value: %v", err)
	}
	st, _ := m.State(name)
	if st.Current() != v1 || st.Pending() != v2 {
		t.Fatalf("stages = %v, want current %s pending %s", st.Versions, v1, v2)
	}
	sv, err := m.Read(ctx, name, v2)
	if err != nil || sv.Value.Password != "two" {
		t.Fatalf("pending value = %+v, %v; want the first one kept", sv, err)
	}
}

func TestMemSecretsDeletedRefusesWrites(t *testing.T) {
	ctx := context.Background()
	m := devicetest.NewMemSecrets()
	name, v1, val := newSecret(t, m)
	if err := m.ScheduleDeletion(ctx, name, 7); err != nil {
		t.Fatal(err)
	}
	if got := m.RecoveryDays(name); got != 7 {
		t.Fatalf("recovery window = %d, want 7", got)
	}
	v2 := devicetest.NewVersion(t)
	tests := map[string]error{
		"read":           func() error { _, err := m.Read(ctx, name, ""); return err }(),
		"put pending":    m.PutPending(ctx, name, v2, val),
		"move current":   m.MoveCurrent(ctx, name, v1, v1),
		"remove pending": m.RemovePending(ctx, name, v1),
		"set schedule":   m.SetSchedule(ctx, name, &device.RotationPolicy{EveryDays: 3}),
		"create again": func() error {
			_, err := m.Create(ctx, device.SecretInput{Name: name, Token: v1, Value: val})
			return err
		}(),
	}
	for op, err := range tests {
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("%s on a secret scheduled for deletion: %v, want conflict", op, err)
		}
	}
	if st, _ := m.State(name); !st.Deleted || st.Pending() != "" {
		t.Fatalf("state = %+v, want deleted and unchanged", st)
	}
	// AWS force-deletes a secret in its recovery window (moto refuses).
	if err := m.ForceDelete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.State(name); ok {
		t.Fatal("secret still exists after a forced deletion")
	}
}

func TestMemSecretsRecoveryWindowRange(t *testing.T) {
	m := devicetest.NewMemSecrets()
	name, _, _ := newSecret(t, m)
	for _, d := range []int{0, 6, 31} {
		devicetest.WantCode(t, m.ScheduleDeletion(context.Background(), name, d), apperr.Conflict)
	}
	if st, _ := m.State(name); st.Deleted {
		t.Fatal("an out-of-range window deleted the secret")
	}
}

func TestMemSecretsDescribeOmitsDeprecatedVersions(t *testing.T) {
	ctx := context.Background()
	m := devicetest.NewMemSecrets()
	name, v1, val := newSecret(t, m)
	for range 2 {
		next := devicetest.NewVersion(t)
		val.Password += "x"
		cur, _ := m.State(name)
		if err := m.PutPending(ctx, name, next, val); err != nil {
			t.Fatal(err)
		}
		if err := m.MoveCurrent(ctx, name, next, cur.Current()); err != nil {
			t.Fatal(err)
		}
		if err := m.RemovePending(ctx, name, next); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := m.State(name)
	if _, listed := st.Versions[v1]; listed || len(st.Versions) != 2 {
		t.Fatalf("versions = %v, want only AWSCURRENT and AWSPREVIOUS (AWS omits unlabeled ones)", st.Versions)
	}
	if sv, err := m.Read(ctx, name, v1); err != nil || len(sv.Stages) != 0 {
		t.Fatalf("deprecated version read = %+v, %v; want readable without stages", sv, err)
	}
}

func TestMemSecretsScheduleAndCounts(t *testing.T) {
	ctx := context.Background()
	m := devicetest.NewMemSecrets()
	name, _, _ := newSecret(t, m)
	p := &device.RotationPolicy{EveryDays: 30, Grace: time.Hour}
	if err := m.SetSchedule(ctx, name, p); err != nil {
		t.Fatal(err)
	}
	if got := m.Schedule(name); got == nil || *got != *p {
		t.Fatalf("schedule = %+v, want %+v", got, p)
	}
	if err := m.SetSchedule(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	if got := m.Schedule(name); got != nil {
		t.Fatalf("schedule = %+v after cancel", got)
	}
	devicetest.WantCode(t, m.SetSchedule(ctx, "p/missing", p), apperr.NotFound)
	if got := m.Count("SetSchedule"); got != 3 {
		t.Fatalf("SetSchedule count = %d, want 3", got)
	}
	if got := m.Count("Create"); got != 1 {
		t.Fatalf("Create count = %d, want 1", got)
	}
	if got := m.Writes(); got != 4 {
		t.Fatalf("writes = %d, want 4", got)
	}
	_, _ = m.Read(ctx, name, "")
	if got := m.Writes(); got != 4 {
		t.Fatalf("a read counted as a write: %d", got)
	}
}

func TestFaultsBeforeAndAfter(t *testing.T) {
	ctx := context.Background()
	f := &devicetest.Faults{}
	s := devicetest.NewMemStore()
	m := devicetest.NewMemSecrets()
	s.Faults, m.Faults = f, f

	// Fail the second call, before it takes effect.
	f.FailCall(2, devicetest.FailBefore, nil)
	if _, _, err := s.SaveMailbox(ctx, "a@b.example", "o", "x", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := m.Create(ctx, device.SecretInput{Name: "p/one", Token: devicetest.NewVersion(t)})
	devicetest.WantCode(t, err, apperr.Unavailable)
	if len(m.Names()) != 0 {
		t.Fatal("a call failed before taking effect made a secret")
	}
	if got, want := f.Calls(), []string{"Store.SaveMailbox", "Secrets.Create"}; !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}

	// Fail the first call after it takes effect.
	f.FailCall(1, devicetest.FailAfter, nil)
	_, err = m.Create(ctx, device.SecretInput{Name: "p/two", Token: devicetest.NewVersion(t)})
	devicetest.WantCode(t, err, apperr.Unavailable)
	if got := m.Names(); !slices.Equal(got, []string{"p/two"}) {
		t.Fatalf("secrets = %v, want the one whose answer was lost", got)
	}

	f.Clear()
	if _, err := m.Create(ctx, device.SecretInput{Name: "p/three", Token: devicetest.NewVersion(t)}); err != nil {
		t.Fatalf("after Clear: %v", err)
	}
}

func TestClock(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := devicetest.NewClock(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("now = %s", c.Now())
	}
	if got := c.Advance(90 * time.Second); !got.Equal(t0.Add(90*time.Second)) || !c.Now().Equal(got) {
		t.Fatalf("advance = %s, now %s", got, c.Now())
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("set: now = %s", c.Now())
	}
}
