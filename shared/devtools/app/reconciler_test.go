package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/secrets"
)

// strike arms a fault on the at-th AWS call of op, runs op, and checks the
// fault struck the call named want ("Service.Operation"): the scenario
// stops exactly where it claims to.
func (r *rig) strike(t *testing.T, at int, mode awsx.FaultMode, want string, op func() error) error {
	t.Helper()
	r.faults.Arm(at, mode)
	err := op()
	hit, struck := r.faults.Hit()
	r.faults.Arm(0, awsx.FailBefore)
	if !struck || hit.String() != want {
		t.Fatalf("the fault struck %v (struck %v), want %s", hit, struck, want)
	}
	if !errors.Is(err, awsx.ErrInjected) {
		t.Fatalf("the operation answered %v, not the injected fault", err)
	}
	return err
}

// secretState describes a secret, and reports whether it still exists.
func (r *rig) secretState(t *testing.T, name string) (device.SecretState, bool) {
	t.Helper()
	st, err := r.app.Secrets.Describe(context.Background(), name)
	if err != nil {
		return device.SecretState{}, false
	}
	return st, true
}

// TestReconcilerRepairsEachOrphan makes each kind of crash leftover with
// an injected fault, runs the reconciler once, and checks that it repaired
// every one, that the stores agree, and that a second run repairs nothing.
func TestReconcilerRepairsEachOrphan(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	owner := device.Caller{Subject: "owner-1"}
	eng := r.app.Service.Engine()

	// 1. A create without an Idempotency-Key that stops after CreateSecret
	// (its answer lost): a secret without a device.
	orphanBox := r.mailbox(t)
	r.strike(t, 2, awsx.FailAfter, "Secrets Manager.CreateSecret", func() error {
		_, err := r.app.Service.CreateDevice(ctx, r.fresh(owner), orphanBox, device.CreateInput{Name: "phone"}, "")
		return err
	})
	orphans := r.liveSecrets(t, orphanBox)
	if len(orphans) != 1 {
		t.Fatalf("the interrupted create left %d secrets, want 1", len(orphans))
	}
	orphan := aws.ToString(orphans[0].Name)

	// 2. A revoke that stops after EndDevice: a revoked device whose
	// secret is still live.
	revoked := r.makeDevice(t, device.CreateInput{})
	r.strike(t, 3, awsx.FailBefore, "Secrets Manager.DeleteSecret", func() error {
		_, err := r.app.Service.Revoke(ctx, owner, revoked.mailbox, revoked.id)
		return err
	})

	// 3. A scheduled rotation whose finishSecret stops after Promote:
	// the table's current version is not AWSCURRENT yet.
	rotated := r.makeDevice(t, device.CreateInput{})
	token := device.NewToken()
	for _, step := range device.Steps[:3] {
		if err := eng.Run(ctx, step, rotated.secret, token); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	r.strike(t, 2, awsx.FailBefore, "Secrets Manager.UpdateSecretVersionStage", func() error {
		return eng.Run(ctx, device.StepFinish, rotated.secret, token)
	})
	if _, ver := r.current(t, rotated); ver == token {
		t.Fatal("AWSCURRENT moved despite the fault")
	}

	// 4. A rotation abandoned after createSecret: AWSPENDING on a version
	// no rotation will finish.
	abandoned := r.makeDevice(t, device.CreateInput{})
	pending := device.NewToken()
	if err := eng.Run(ctx, device.StepCreate, abandoned.secret, pending); err != nil {
		t.Fatal(err)
	}

	// 5. A device whose secret was deleted behind our back.
	bereft := r.makeDevice(t, device.CreateInput{})
	if _, err := r.app.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(bereft.secret), ForceDeleteWithoutRecovery: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}

	// Past RegenerateHold, so the pending version of 4 is abandoned rather
	// than in flight.
	r.clock.Advance(device.RegenerateHold + time.Minute)

	var metrics bytes.Buffer
	rec, err := r.app.NewReconciler(&metrics, 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rec.Handle(ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	want := device.ReconcileReport{
		Secrets: rep.Secrets, Devices: rep.Devices,
		OrphanSecretsDeleted: 1, EndedSecretsDeleted: 1, RotationsFinished: 1, PendingCleared: 1, DevicesWithoutSecret: 1,
	}
	if rep != want {
		t.Fatalf("report %+v\nwant %+v", rep, want)
	}

	// 1: the orphan is deleted at once, without a recovery window.
	if _, exists := r.secretState(t, orphan); exists {
		t.Error("the orphan secret still exists")
	}
	// 2: the revoked device's secret is scheduled for deletion.
	if st, _ := r.secretState(t, revoked.secret); !st.Deleted {
		t.Error("the revoked device's secret is not scheduled for deletion")
	}
	// 3: AWSCURRENT is where the table has it, and its password verifies.
	d, err := r.app.Store.GetDevice(ctx, rotated.mailbox, rotated.id)
	if err != nil {
		t.Fatal(err)
	}
	if pw, ver := r.current(t, rotated); ver != token || d.Current == nil || d.Current.Version != token || !r.verifies(t, rotated.mailbox, pw) {
		t.Errorf("after the repair AWSCURRENT is %s, the table's current %+v; want %s, verifying", ver, d.Current, token)
	}
	// 4: AWSPENDING is gone; the old password is still the current one.
	if st, _ := r.secretState(t, abandoned.secret); st.Pending() != "" {
		t.Errorf("AWSPENDING still on %s", st.Pending())
	}
	if pw, _ := r.current(t, abandoned); pw != abandoned.password {
		t.Error("clearing AWSPENDING changed the current password")
	}
	if err := eng.Run(ctx, device.StepCreate, abandoned.secret, device.NewToken()); err != nil {
		t.Errorf("a new rotation cannot start after the repair: %v", err)
	}
	// 5: the device without a secret is ended as revoked; its password stops.
	if d, err := r.app.Store.GetDevice(ctx, bereft.mailbox, bereft.id); err != nil || d.Status != device.StatusRevoked {
		t.Errorf("the device without a secret is %s (%v), want revoked", d.Status, err)
	}
	if r.verifies(t, bereft.mailbox, bereft.password) {
		t.Error("the password of the device without a secret still verifies")
	}
	for _, mb := range []string{orphanBox, revoked.mailbox, rotated.mailbox, bereft.mailbox} {
		r.checkConsistent(t, mb)
	}

	// Idempotent: the second run finds nothing (the rotation begun in 4's
	// check is in flight, so it is left alone).
	again, err := rec.Handle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != (device.ReconcileReport{Secrets: again.Secrets, Devices: again.Devices}) {
		t.Errorf("the second run repaired %+v, want nothing", again)
	}

	// One EMF line per run, in the devicepass namespace, with the counts.
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d metric lines, want 2:\n%s", len(lines), metrics.String())
	}
	for i, wantRep := range []device.ReconcileReport{rep, again} {
		checkEMF(t, lines[i], wantRep)
	}
}

// checkEMF checks one Embedded Metric Format line against a report.
func checkEMF(t *testing.T, line string, rep device.ReconcileReport) {
	t.Helper()
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("metric line is not JSON: %v: %s", err, line)
	}
	var flat map[string]any
	_ = json.Unmarshal([]byte(line), &flat)
	if len(doc.AWS.CloudWatchMetrics) != 1 || doc.AWS.Timestamp <= 0 {
		t.Fatalf("metric line %s", line)
	}
	cw := doc.AWS.CloudWatchMetrics[0]
	if cw.Namespace != app.MetricNamespace || !slices.EqualFunc(cw.Dimensions, [][]string{{}}, slices.Equal) {
		t.Errorf("namespace %q, dimensions %v; want devicepass without dimensions", cw.Namespace, cw.Dimensions)
	}
	var names []string
	for _, m := range cw.Metrics {
		names = append(names, m.Name)
		if m.Unit != "Count" {
			t.Errorf("%s unit %q, want Count", m.Name, m.Unit)
		}
	}
	want := []string{"OrphanSecretsDeleted", "EndedSecretsDeleted", "RotationsFinished", "PendingCleared", "DevicesWithoutSecret", "SchedulesRepaired", "DescriptionsRepaired", "Failures", "SlicesReconciled", "NextSlice"}
	if !slices.Equal(names, want) {
		t.Errorf("metrics %v, want %v", names, want)
	}
	values := map[string]int{
		"OrphanSecretsDeleted": rep.OrphanSecretsDeleted, "EndedSecretsDeleted": rep.EndedSecretsDeleted,
		"RotationsFinished": rep.RotationsFinished, "PendingCleared": rep.PendingCleared,
		"DevicesWithoutSecret": rep.DevicesWithoutSecret, "SchedulesRepaired": rep.SchedulesRepaired, "DescriptionsRepaired": rep.DescriptionsRepaired, "Failures": rep.Failures,
	}
	for name, v := range values {
		if got, ok := flat[name].(float64); !ok || int(got) != v {
			t.Errorf("%s = %v, want %d", name, flat[name], v)
		}
	}
}

// TestReconcilerReportsAFailedRun: when listing fails, the run returns the
// error and its metrics count one failure, so the alarm sees it.
func TestReconcilerReportsAFailedRun(t *testing.T) {
	r := newRig(t)
	var metrics bytes.Buffer
	rec, err := r.app.NewReconciler(&metrics, app.ReconcileMinAge)
	if err != nil {
		t.Fatal(err)
	}
	r.faults.Arm(1, awsx.FailBefore)
	_, err = rec.Handle(context.Background())
	r.faults.Arm(0, awsx.FailBefore)
	if !errors.Is(err, awsx.ErrInjected) {
		t.Fatalf("Handle = %v, want the injected fault", err)
	}
	checkEMF(t, strings.TrimSpace(metrics.String()), device.ReconcileReport{Failures: 1})
}

// TestReconcilerResumesFromCheckpoint: on the stand-ins, runs whose budget
// admits a few slices each walk the fleet from the table's checkpoint,
// each run resuming where the previous one stopped, until a whole pass
// has repaired the device without a secret; the pass after repairs nothing.
func TestReconcilerResumesFromCheckpoint(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	bereft := r.makeDevice(t, device.CreateInput{})
	if _, err := r.app.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(bereft.secret), ForceDeleteWithoutRecovery: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	lister, err := secrets.NewLister(r.app.SecretsManager)
	if err != nil {
		t.Fatal(err)
	}
	scanner, err := dynamo.NewSliceScanner(r.app.DynamoDB, r.app.Config.TableName)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := dynamo.NewCheckpoint(r.app.DynamoDB, r.app.Config.TableName)
	if err != nil {
		t.Fatal(err)
	}
	// The budget: a clock one second further at each read, and runs that
	// may start a slice for 7 seconds.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const perRun = 7
	ended, runs, passes, next := 0, 0, 0, 0
	for passes == 0 {
		runs++
		if runs > len(device.ReconcileSlices) {
			t.Fatalf("no whole pass after %d runs", runs)
		}
		at := t0
		now := func() time.Time { at = at.Add(time.Second); return at }
		rep, err := r.app.Service.ReconcileSliced(ctx, lister, scanner, cp, 0, t0.Add(perRun*time.Second), now)
		if err != nil {
			t.Fatalf("run %d: %v", runs, err)
		}
		if rep.FirstSlice != next || rep.SlicesDone != perRun || !rep.Stopped || rep.Failures != 0 {
			t.Fatalf("run %d: %+v, want %d slices from %d", runs, rep, perRun, next)
		}
		next = rep.NextSlice
		if got, err := cp.LoadCursor(ctx); err != nil || got != next {
			t.Fatalf("run %d: checkpoint %d (%v), want %d", runs, got, err, next)
		}
		ended += rep.DevicesWithoutSecret
		passes += rep.PassesEnded
	}
	if ended != 1 {
		t.Errorf("%d devices ended over %d runs, want 1", ended, runs)
	}
	d, err := r.app.Store.GetDevice(ctx, bereft.mailbox, bereft.id)
	if err != nil || d.Status != device.StatusRevoked {
		t.Errorf("device without a secret: %s, %v; want revoked", d.Status, err)
	}
	again, err := r.app.Service.ReconcileSliced(ctx, lister, scanner, cp, 0, time.Time{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if again.SlicesDone != len(device.ReconcileSlices) ||
		again.ReconcileReport != (device.ReconcileReport{Secrets: again.Secrets, Devices: again.Devices}) {
		t.Errorf("the next pass %+v, want every slice and nothing repaired", again)
	}
}
