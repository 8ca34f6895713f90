package capacity_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/capacity"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
)

// TestSimulationMatchesStandIns runs one small scenario twice: in the
// simulation (calls calibrated on the in-memory fakes) and through the
// real service on DynamoDB Local and moto with awsx.Counter, and checks
// that both make the same AWS calls, operation by operation.
func TestSimulationMatchesStandIns(t *testing.T) {
	const creates, regenerates, rotations = 4, 3, 5
	verifies := map[capacity.Op]int{capacity.OpVerifyFirst: 3, capacity.OpVerifyAgain: 2, capacity.OpVerifyFailure: 1}

	seq, err := capacity.Calibrate(3)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := capacity.Simulate(capacity.BusyDay{
		Devices: rotations, RotationEveryDays: 1, RotationWindow: time.Hour,
		Creates: creates, Regenerates: regenerates, PeakShare: 1, Verifies: verifies,
		VerifyRate: 1000, VerifyBurst: 1000, WriteQuota: 50, RotationConcurrency: 5,
		SecretsLatency: capacity.DefaultSecretsLatency, DynamoLatency: capacity.DefaultDynamoLatency, Seq: seq, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}

	stack := standinstest.MustStart(t)
	ctx := context.Background()
	awsCfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg := config.Config{TableName: "capacity-sim-" + suffix, VerifierKeySecretID: "capacity-sim/key-" + suffix,
		Device: device.Config{SecretPrefix: "capacity-sim-" + suffix, RotationLambdaARN: "arn:aws:lambda:us-east-1:123456789012:function:rotation"}}
	if _, err := app.Provision(ctx, awsCfg, cfg.TableName, cfg.VerifierKeySecretID); err != nil {
		t.Fatal(err)
	}
	counter := &awsx.Counter{}
	counter.Install(&awsCfg)
	a, err := app.Build(ctx, cfg, awsCfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := a.Service
	admin := device.Caller{Subject: "admin", Groups: []string{"domain-admin:sim.example"}, AuthTime: time.Now()}
	user := device.Caller{Subject: "owner", AuthTime: time.Now()}
	// Setup, not counted: mailboxes and the devices to rotate and
	// regenerate (without a rotation policy: moto starts a rotation on
	// RotateSecret even when told not to, which AWS does not).
	var boxes []string
	var targets []device.Created
	for i := 0; i < rotations+regenerates; i++ {
		mb := fmt.Sprintf("box%d@sim.example", i)
		if _, _, err := svc.RegisterMailbox(ctx, admin, mb, user.Subject); err != nil {
			t.Fatal(err)
		}
		c, err := svc.CreateDevice(ctx, user, mb, device.CreateInput{Name: "target"}, "")
		if err != nil {
			t.Fatal(err)
		}
		boxes, targets = append(boxes, mb), append(targets, c)
	}
	counter.Reset()

	verify := func(i int, pw string, want bool) {
		ok, err := svc.Verify(ctx, device.VerifyRequest{Mailbox: boxes[i], Password: pw, Protocol: "imap", ClientIP: "192.0.2.1"})
		if err != nil || ok != want {
			t.Fatalf("verify %d: %v, %v; want %v", i, ok, err, want)
		}
	}
	for i := 0; i < verifies[capacity.OpVerifyFirst]; i++ {
		verify(i, targets[i].Password, true)
	}
	for i := 0; i < verifies[capacity.OpVerifyAgain]; i++ {
		verify(i, targets[i].Password, true)
	}
	for i := 0; i < verifies[capacity.OpVerifyFailure]; i++ {
		verify(i, targets[i].Password+"x", false)
	}
	for i := 0; i < rotations; i++ {
		if _, step, err := svc.Engine().RotateNow(ctx, targets[i].Device.SecretARN); err != nil {
			t.Fatalf("rotation %d, %s: %v", i, step, err)
		}
	}
	for i := rotations; i < rotations+regenerates; i++ {
		if _, err := svc.Regenerate(ctx, user, boxes[i], targets[i].Device.ID, 0); err != nil {
			t.Fatalf("regenerate %d: %v", i, err)
		}
	}
	for i := 0; i < creates; i++ {
		if _, err := svc.CreateDevice(ctx, user, boxes[i], device.CreateInput{Name: fmt.Sprint("new ", i), Rotation: &device.RotationInput{EveryDays: 30}}, ""); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}

	real := map[string]int{}
	for _, c := range counter.Calls() {
		real[c.Service+"."+c.Operation]++
	}
	for k, n := range real {
		if sim.Calls[k] != n {
			t.Errorf("%s: simulated %d calls, the stand-ins saw %d", k, sim.Calls[k], n)
		}
	}
	for k, n := range sim.Calls {
		if _, ok := real[k]; !ok {
			t.Errorf("%s: simulated %d calls, the stand-ins saw none", k, n)
		}
	}
	if t.Failed() {
		t.Logf("simulated: %v\nstand-ins: %v", sim.Calls, real)
	}
	if sim.Done[capacity.OpRotation] != rotations || sim.Done[capacity.OpCreate] != creates || sim.Done[capacity.OpRegenerate] != regenerates {
		t.Errorf("simulation finished %v", sim.Done)
	}
}
