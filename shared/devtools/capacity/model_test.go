package capacity

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// measuredFixture is a measurement as section 6 takes it, small enough to
// reason about.
func measuredFixture() Measured {
	u := func(invocations int, api bool, events int, calls map[string]int) Usage {
		return Usage{Calls: calls, Invocations: invocations, DurationMs: 100, APIRequest: api, Events: events, ReadUnits: 1, WriteUnits: 1, ItemsWritten: 1}
	}
	return Measured{
		Ops: map[Op]Usage{
			OpCreate:        u(1, true, 1, map[string]int{"DynamoDB.BatchGetItem": 1, "Secrets Manager.CreateSecret": 1, "DynamoDB.TransactWriteItems": 1, "Secrets Manager.RotateSecret": 1}),
			OpRegenerate:    u(1, true, 1, map[string]int{"Secrets Manager.PutSecretValue": 1, "Secrets Manager.UpdateSecretVersionStage": 2}),
			OpRotation:      u(4, false, 1, map[string]int{"Secrets Manager.PutSecretValue": 1, "Secrets Manager.UpdateSecretVersionStage": 2, "Secrets Manager.GetSecretValue": 2}),
			OpVerifyFirst:   u(1, true, 0, map[string]int{"DynamoDB.Query": 1, "DynamoDB.UpdateItem": 1}),
			OpVerifyAgain:   u(1, true, 0, map[string]int{"DynamoDB.Query": 1}),
			OpVerifyFailure: u(1, true, 0, map[string]int{"DynamoDB.Query": 1, "DynamoDB.UpdateItem": 1}),
			OpRevoke:        u(1, true, 1, map[string]int{"Secrets Manager.DeleteSecret": 1}),
			OpList:          u(1, true, 0, map[string]int{"DynamoDB.Query": 1}),
			OpStreamEvent:   u(1, false, 0, map[string]int{"DynamoDB.PutItem": 1, "EventBridge.PutEvents": 1}),
			OpSweep:         u(1, false, 0, map[string]int{"DynamoDB.Query": 1}),
			OpReconcile:     u(1, false, 0, map[string]int{"Secrets Manager.ListSecrets": 1, "DynamoDB.Query": 1, "DynamoDB.BatchGetItem": 1}),
		},
		ReconcileDevices: 3, ListPageSize: 100, ReconcileTableBytes: 5000,
		DeviceItemBytes: 1000, MailboxItemBytes: 200, AuditItemBytes: 400,
		SecretsRoundTripSec: 0.025, ScanPageSec: 0.1,
	}
}

func fixtureModel() Model {
	return Model{Measured: measuredFixture(), Profile: DefaultProfile, Prices: USEast1,
		Stack: Stack{MemoryMB: 256, RotationConcurrency: 5, APIRateLimit: 50, VerifyRateLimit: 200, CreateRateLimit: 5, LogRetentionDays: 30, ReconcilerTimeoutSec: 300, SweepEveryMin: 5, ReconcileEveryMin: 15}}
}

func quota(t *testing.T, f Fleet, prefix string) Quota {
	t.Helper()
	for _, q := range f.Quotas {
		if len(q.Name) >= len(prefix) && q.Name[:len(prefix)] == prefix {
			return q
		}
	}
	t.Fatalf("no quota %q", prefix)
	return Quota{}
}

// TestModelTakesCallsFromMeasurement changes one operation's measured
// calls and checks that the quota it loads, the cost and the saturation
// point move by exactly what the change implies.
func TestModelTakesCallsFromMeasurement(t *testing.T) {
	const n = 1_000_000
	base := fixtureModel()
	before := base.Fleet(n)

	changed := fixtureModel()
	regen := changed.Measured.Ops[OpRegenerate]
	regen.Calls = map[string]int{"Secrets Manager.PutSecretValue": 2, "Secrets Manager.UpdateSecretVersionStage": 2}
	changed.Measured.Ops[OpRegenerate] = regen
	after := changed.Fleet(n)

	name := "Secrets Manager: PutSecretValue"
	qb, qa := quota(t, before, name), quota(t, after, name)
	perSec := DefaultProfile.RegeneratesPerDeviceMonth / monthSeconds * n
	if got, want := qa.Avg-qb.Avg, perSec; math.Abs(got-want) > 1e-9 {
		t.Errorf("one more PutSecretValue per regenerate adds %.6f/s to the quota at the average, want %.6f/s", got, want)
	}
	if got, want := qa.Peak-qb.Peak, perSec*DefaultProfile.PeakToAverage; math.Abs(got-want) > 1e-9 {
		t.Errorf("at the peak: adds %.6f/s, want %.6f/s", got, want)
	}
	if !(qa.SaturatesAt < qb.SaturatesAt) {
		t.Errorf("saturation at %.0f devices before, %.0f after: a heavier regenerate must saturate sooner", qb.SaturatesAt, qa.SaturatesAt)
	}
	cost := func(f Fleet, what string) float64 {
		for _, l := range f.Cost {
			if l.What == what {
				return l.USD
			}
		}
		t.Fatalf("no cost line %q", what)
		return 0
	}
	api := "API calls (devicepass's and consumers' reads)"
	if got, want := cost(after, api)-cost(before, api), perSec*monthSeconds*USEast1.SecretsAPICall; math.Abs(got-want) > 1e-6 {
		t.Errorf("Secrets Manager API cost grew by $%.4f, want $%.4f", got, want)
	}

	// An operation that stops calling RotateSecret no longer loads its quota.
	noSchedule := fixtureModel()
	create := noSchedule.Measured.Ops[OpCreate]
	create.Calls = map[string]int{"DynamoDB.BatchGetItem": 1, "Secrets Manager.CreateSecret": 1, "DynamoDB.TransactWriteItems": 1}
	noSchedule.Measured.Ops[OpCreate] = create
	if q := quota(t, noSchedule.Fleet(n), "Secrets Manager: RotateSecret"); q.Peak != 0 || !math.IsInf(q.SaturatesAt, 1) {
		t.Errorf("create without RotateSecret: RotateSecret quota peak %.3f/s, saturates at %v", q.Peak, q.SaturatesAt)
	}
	if q := quota(t, before, "Secrets Manager: RotateSecret"); q.Peak <= 0 {
		t.Errorf("create with RotateSecret: RotateSecret quota unused")
	}
}

// TestVerifierOnlyDevicesDropSecretsManager checks the verifier-only
// variant: no secret stored, no Secrets Manager writes, for its share.
func TestVerifierOnlyDevicesDropSecretsManager(t *testing.T) {
	m := fixtureModel()
	m.Profile.VerifierOnlyShare = 1
	f := m.Fleet(1_000_000)
	if _, peak := m.WritesPerSecond(1_000_000); peak != 0 {
		t.Errorf("verifier-only fleet writes %.3f/s to Secrets Manager", peak)
	}
	if f.Cost[0].USD != USEast1.SecretMonth {
		t.Errorf("verifier-only fleet stores $%.2f of secrets, want only the verifier key", f.Cost[0].USD)
	}
	full := fixtureModel().Fleet(1_000_000)
	if !(f.Total() < full.Total()/10) {
		t.Errorf("verifier-only fleet costs $%.0f against $%.0f with secrets", f.Total(), full.Total())
	}
}

// TestReadStack reads the stack's real defaults without linking the CDK.
func TestReadStack(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "infra", "stack", "props.go")); err != nil {
		t.Fatal(err)
	}
	s, err := ReadStack(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryMB < 128 || s.VerifyRateLimit <= 0 || s.CreateRateLimit <= 0 || s.APIRateLimit <= 0 || s.RotationConcurrency <= 0 || s.LogRetentionDays <= 0 ||
		s.ReconcilerTimeoutSec <= 0 || s.SweepEveryMin <= 0 || s.ReconcileEveryMin <= 0 {
		t.Errorf("stack defaults not all read: %+v", s)
	}
	if _, err := ReadStack(t.TempDir()); err == nil {
		t.Error("ReadStack of a folder without the stack succeeded")
	}
}

// TestBusyDayThrottlesAboveTheQuota offers more Secrets Manager writes
// than the quota admits and checks that the simulation refuses the excess
// as the proxy does, retries it, and never admits more than the quota.
func TestBusyDayThrottlesAboveTheQuota(t *testing.T) {
	seq, err := Calibrate(3)
	if err != nil {
		t.Fatal(err)
	}
	d := BusyDay{Devices: 0, Regenerates: 3000, PeakStart: 0, PeakShare: 1, WriteQuota: 50, RotationConcurrency: 5,
		SecretsLatency: DefaultSecretsLatency, DynamoLatency: DefaultDynamoLatency, VerifyRate: 1, VerifyBurst: 1, Seq: seq, Seed: 7}
	// 3000 regenerates of 2 writes in an hour is 1.7 writes/s: no throttle.
	r, err := Simulate(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Throttles != 0 || r.Done[OpRegenerate] != 3000 {
		t.Fatalf("an hour of 3000 regenerates: %d throttles, %d done", r.Throttles, r.Done[OpRegenerate])
	}
	// 1000 in a minute: 33 writes/s offered on average, more in bursts.
	d.PeakShare, d.Regenerates = 1, 1000
	d.PeakStart = 0
	d.PeakLength = time.Minute
	r, err = Simulate(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Throttles == 0 || r.MaxWritesPerSecond > 50 {
		t.Errorf("1000 regenerates in a minute: %d throttles, at most %d writes in a second", r.Throttles, r.MaxWritesPerSecond)
	}
	if r.Retried[OpRegenerate] == 0 || r.Percentile(OpRegenerate, 99) <= r.Percentile(OpRegenerate, 1) {
		t.Errorf("throttled regenerates were not retried with backoff: %d retried, p1 %s p99 %s", r.Retried[OpRegenerate], r.Percentile(OpRegenerate, 1), r.Percentile(OpRegenerate, 99))
	}
	if r.Done[OpRegenerate]+r.Failed[OpRegenerate] != 1000 {
		t.Errorf("%d regenerates done and %d failed, of 1000", r.Done[OpRegenerate], r.Failed[OpRegenerate])
	}
	if got := r.Calls["Secrets Manager.UpdateSecretVersionStage"]; got < r.Done[OpRegenerate] {
		t.Errorf("%d UpdateSecretVersionStage admitted for %d regenerates done (1 each)", got, r.Done[OpRegenerate])
	}
}

// TestBusyDayRotationsMissANarrowWindow packs more rotations into a
// window than the rotation function's reserved concurrency can finish and
// checks that every rotation is accounted for and the late ones counted.
func TestBusyDayRotationsMissANarrowWindow(t *testing.T) {
	seq, err := Calibrate(3)
	if err != nil {
		t.Fatal(err)
	}
	d := BusyDay{Devices: 6000, RotationEveryDays: 1, RotationWindow: 2 * time.Minute, WriteQuota: 50, RotationConcurrency: 5,
		SecretsLatency: DefaultSecretsLatency, DynamoLatency: DefaultDynamoLatency, VerifyRate: 1, VerifyBurst: 1, Seq: seq, Seed: 11}
	r, err := Simulate(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Done[OpRotation]+r.Failed[OpRotation] != 6000 {
		t.Fatalf("%d rotations done and %d failed, of 6000 due", r.Done[OpRotation], r.Failed[OpRotation])
	}
	// Five slots of about 174 ms a rotation finish about 29 a second:
	// 6000 take minutes, not the window's two.
	if r.RotationsLate == 0 || r.MaxRotationWait < time.Minute {
		t.Errorf("6000 rotations in a 2-minute window on 5 slots: %d late, longest wait %s", r.RotationsLate, r.MaxRotationWait)
	}
	// A wide window finishes them all in time.
	d.RotationWindow = 24 * time.Hour
	if r, err = Simulate(d); err != nil {
		t.Fatal(err)
	}
	if r.RotationsLate != 0 || r.Done[OpRotation] != 6000 {
		t.Errorf("6000 rotations over a day: %d late, %d done", r.RotationsLate, r.Done[OpRotation])
	}
}
