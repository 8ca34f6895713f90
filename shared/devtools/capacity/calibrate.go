package capacity

// This file is the simulation's only use of the domain: it runs each
// operation once on the in-memory fakes, on a virtual clock, and records
// the port calls it makes, mapped to the AWS calls the adapters make for
// them. Adapting to a change in the domain's API means changing this file.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// Call is one AWS call.
type Call struct{ Service, Operation string }

// Key spells the call as Usage.Calls does.
func (c Call) Key() string { return c.Service + "." + c.Operation }

// portCalls maps each port method of the fakes to the AWS call its
// adapter (shared/dynamo, shared/secrets) makes. A test runs the same
// scenario on the stand-ins and checks the counts agree, so this table
// cannot drift from the adapters unnoticed.
var portCalls = map[string]Call{
	"Store.Lookup":          {DynamoDB, "BatchGetItem"},
	"Store.CreateDevice":    {DynamoDB, "TransactWriteItems"},
	"Store.RedeemDevice":    {DynamoDB, "TransactWriteItems"},
	"Store.EndDevice":       {DynamoDB, "TransactWriteItems"},
	"Store.GetDevice":       {DynamoDB, "BatchGetItem"},
	"Store.ListDevices":     {DynamoDB, "Query"},
	"Store.Candidates":      {DynamoDB, "Query"},
	"Store.ExpiringDevices": {DynamoDB, "Query"},
	"Store.UpdateDevice":    {DynamoDB, "UpdateItem"},
	"Store.BeginRotation":   {DynamoDB, "UpdateItem"},
	"Store.SetPending":      {DynamoDB, "UpdateItem"},
	"Store.Promote":         {DynamoDB, "UpdateItem"},
	"Store.Replace":         {DynamoDB, "UpdateItem"},
	"Store.Attempt":         {DynamoDB, "UpdateItem"},
	"Store.TouchLastUsed":   {DynamoDB, "UpdateItem"},
	// Domain policies (shared/dynamo/policy.go, hygiene.go).
	"Store.NoteNetwork":           {DynamoDB, "UpdateItem"},
	"Store.GetPolicy":             {DynamoDB, "GetItem"},
	"Store.PutPolicy":             {DynamoDB, "PutItem"},
	"Store.PolicyDomains":         {DynamoDB, "Query"},
	"Store.DomainDevices":         {DynamoDB, "Query"},
	"Store.MarkInactivityWarning": {DynamoDB, "UpdateItem"},
	"Store.MarkExpiryReminder":    {DynamoDB, "UpdateItem"},
	"Store.SetPolicyExpiry":       {DynamoDB, "UpdateItem"},
	"Secrets.Create":              {SecretsManager, "CreateSecret"},
	"Secrets.Read":                {SecretsManager, "GetSecretValue"},
	"Secrets.Describe":            {SecretsManager, "DescribeSecret"},
	"Secrets.PutPending":          {SecretsManager, "PutSecretValue"},
	"Secrets.MoveCurrent":         {SecretsManager, "UpdateSecretVersionStage"},
	"Secrets.RemovePending":       {SecretsManager, "UpdateSecretVersionStage"},
	"Secrets.ScheduleDeletion":    {SecretsManager, "DeleteSecret"},
	"Secrets.ForceDelete":         {SecretsManager, "DeleteSecret"},
	"Secrets.SetSchedule":         {SecretsManager, "RotateSecret"},
}

// Sequences are the AWS calls of each simulated operation, in order.
type Sequences map[Op][]Call

// Calibrate runs create (with a rotation policy, scheduled as deployed),
// regenerate, a scheduled rotation and the three kinds of verification
// once each on the in-memory fakes, with a virtual clock, on a mailbox of
// devicesPerMailbox devices, and returns their AWS calls.
func Calibrate(devicesPerMailbox int) (Sequences, error) {
	ctx := context.Background()
	clock := devicetest.NewClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	faults := &devicetest.Faults{}
	store, secrets := devicetest.NewMemStore(), devicetest.NewMemSecrets()
	store.Faults, secrets.Faults = faults, faults
	key := make([]byte, verifier.KeySize)
	_, _ = rand.Read(key)
	keyed, err := verifier.New(key)
	if err != nil {
		return nil, err
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		return nil, err
	}
	svc, err := devicetest.NewUseCases(device.Config{RotationLambdaARN: "arn:aws:lambda:us-east-1:123456789012:function:rotation"},
		devicetest.Deps{Store: store, Secrets: secrets, Scheduler: secrets, Keyed: keyed, Generator: gen, Clock: clock.Now,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	admin := device.Caller{Subject: "admin", Groups: []string{"domain-admin:sim.example"}, AuthTime: clock.Now()}
	user := device.Caller{Subject: "owner"}
	const mb = "box@sim.example"
	if _, _, err := svc.RegisterMailbox(ctx, admin, mb, user.Subject); err != nil {
		return nil, err
	}
	var made []device.Created
	create := func() error {
		user.AuthTime = clock.Now()
		c, err := svc.CreateDevice(ctx, user, mb, device.CreateInput{Name: fmt.Sprintf("d%d", len(made)), Rotation: &device.RotationInput{EveryDays: 30}}, "")
		made = append(made, c)
		return err
	}
	for len(made) < max(devicesPerMailbox, 1)-1 {
		if err := create(); err != nil {
			return nil, err
		}
	}
	seq := Sequences{}
	record := func(op Op, run func() error) error {
		faults.Clear()
		if err := run(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		var calls []Call
		for _, m := range faults.Calls() {
			c, ok := portCalls[m]
			if !ok {
				return fmt.Errorf("%s: port call %s has no AWS call in the map", op, m)
			}
			calls = append(calls, c)
		}
		seq[op] = calls
		clock.Advance(10 * time.Minute) // past the last-use coalescing window
		return nil
	}
	verify := func(pw string, want bool) func() error {
		return func() error {
			ok, err := svc.Verify(ctx, device.VerifyRequest{Mailbox: mb, Password: pw, Protocol: "imap", ClientIP: "192.0.2.1"})
			if err == nil && ok != want {
				err = fmt.Errorf("verify answered %v, want %v", ok, want)
			}
			return err
		}
	}
	steps := []struct {
		op  Op
		run func() error
	}{
		{OpCreate, create},
		{OpVerifyFirst, func() error { return verify(made[0].Password, true)() }},
		{OpVerifyAgain, func() error { clock.Set(clock.Now().Add(-9 * time.Minute)); return verify(made[0].Password, true)() }},
		{OpVerifyFailure, func() error { return verify(made[0].Password+"x", false)() }},
		{OpRegenerate, func() error {
			user.AuthTime = clock.Now()
			_, err := svc.Regenerate(ctx, user, mb, made[0].Device.ID, 0)
			return err
		}},
		{OpRotation, func() error {
			_, step, err := svc.Engine().RotateNow(ctx, made[len(made)-1].Device.SecretARN)
			if err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := record(s.op, s.run); err != nil {
			return nil, err
		}
	}
	return seq, nil
}
