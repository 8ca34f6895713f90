package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
)

// counted is one operation's AWS calls, as awsx.Counter and the tracer saw
// them.
type counted struct {
	sm, ddb, roundTrips int
	smWrites            int // Secrets Manager calls against its write quota
	trips               [][]awsx.Call
	summary             []string
}

// count runs op alone and returns its calls.
func (r *rig) count(op func() error) (counted, error) {
	r.calls.Reset()
	r.trace.Reset()
	if err := op(); err != nil {
		return counted{}, err
	}
	c := counted{
		sm:         r.calls.Count(awsx.ServiceSecretsManager),
		ddb:        r.calls.Count(awsx.ServiceDynamoDB),
		roundTrips: r.calls.RoundTrips(),
		smWrites:   r.calls.SecretsManagerWrites(),
		trips:      r.trace.Trips(),
		summary:    r.calls.Summary(),
	}
	if len(c.trips) != c.roundTrips {
		return c, fmt.Errorf("tracer saw %d round trips, awsx.Counter %d", len(c.trips), c.roundTrips)
	}
	return c, nil
}

// addEnded adds n devices to mailbox mb and ends them, through the store
// alone: verification's read of the mailbox is what is measured, and no
// secret is needed for that.
func addEnded(ctx context.Context, r *rig, mb string, n int) error {
	now := time.Now().UTC()
	for i := range n {
		id := fmt.Sprintf("%026d", i)
		d := device.Device{Mailbox: mb, ID: id, Name: "ended " + id[20:], Scopes: device.DefaultScopes(), Status: device.StatusActive,
			CreatedAt: now, CreatedBy: "bench", UpdatedAt: now, RotatedAt: now, SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:ended-" + id,
			Current: &device.Verifier{Version: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Hash: "not-a-verifier"}, Version: 1}
		if err := r.app.Store.CreateDevice(ctx, d, owner(0).Subject, 2000, nil); err != nil {
			return fmt.Errorf("add device to end: %w", err)
		}
		status := device.StatusRevoked
		if i%2 == 1 {
			status = device.StatusExpired
		}
		if _, err := r.app.Store.EndDevice(ctx, d, status, "bench", now); err != nil {
			return fmt.Errorf("end device: %w", err)
		}
	}
	return nil
}

// calls counts the AWS calls of each operation against the stand-ins.
func (b *bench) calls(ctx context.Context) (section, error) {
	sec := section{
		title: titleCalls,
		intro: "Each operation run once through the domain service wired from the constructors the functions compose (`shared/wire`, through `app.Build`), " +
			"against the stand-ins, its AWS calls counted by the `awsx.Counter` SDK middleware (operations, not retry attempts). " +
			"Sequential round trips are `Counter.RoundTrips`: calls that overlap count once. Secrets Manager writes (every call but " +
			"`Get*`, `Describe*` and `List*`) are counted apart from its reads: they share a 50 per second quota per account and Region that " +
			"AWS does not raise, so they bound bulk rotation; AWS's own rotation template makes 2 per rotation (one `PutSecretValue`, one " +
			"`UpdateSecretVersionStage`), the floor. The mailbox holds 50 devices.",
		table: table{head: []string{"operation", "Secrets Manager", "DynamoDB", "sequential round trips", "SM writes", "SM reads", "calls in order", "target", "met"}},
	}
	meter := &queryMeter{}
	metered := b.direct.Copy()
	metered.APIOptions = append([]func(*middleware.Stack) error(nil), metered.APIOptions...)
	meter.Install(&metered)
	r, err := b.newRig(ctx, metered, device.Config{})
	if err != nil {
		return sec, err
	}
	const owner0 = 0
	mb, err := r.mailbox(ctx, owner0)
	if err != nil {
		return sec, err
	}
	svc := r.app.Service
	var made []device.Created
	create := func(key string) func() error {
		return func() error {
			c, err := svc.CreateDevice(ctx, owner(owner0), mb, device.CreateInput{Name: fmt.Sprintf("device %d", len(made))}, key)
			if err == nil {
				made = append(made, c)
			}
			return err
		}
	}
	row := func(name string, c counted, target string, ok *bool) {
		met := "—"
		if ok != nil {
			met = verdict(*ok)
		}
		sec.table.add(name, strconv.Itoa(c.sm), strconv.Itoa(c.ddb), strconv.Itoa(c.roundTrips),
			strconv.Itoa(c.smWrites), strconv.Itoa(c.sm-c.smWrites), path(c.trips)+"<br>"+strings.Join(c.summary, ", "), target, met)
	}
	yes := func(b bool) *bool { return &b }

	c, err := r.count(create(""))
	if err != nil {
		return sec, fmt.Errorf("create: %w", err)
	}
	row("create", c, "≤ 2 round trips", yes(c.roundTrips <= 2))
	createTrips := c.roundTrips
	sec.summary = append(sec.summary, []string{"create: sequential round trips", fmt.Sprintf("%d (%s)", c.roundTrips, path(c.trips)), "≤ 2", verdict(c.roundTrips <= 2)})
	if c, err = r.count(create("bench-key-" + randHex(8))); err != nil {
		return sec, fmt.Errorf("create with Idempotency-Key: %w", err)
	}
	row("create with Idempotency-Key", c, "≤ 2 round trips", yes(c.roundTrips <= 2))
	for len(made) < 50 {
		if err := create("")(); err != nil {
			return sec, fmt.Errorf("fill the mailbox: %w", err)
		}
	}
	target, other, gone := made[0], made[1], made[2]

	if c, err = r.count(func() error { _, err := svc.GetDevice(ctx, owner(owner0), mb, target.Device.ID); return err }); err != nil {
		return sec, fmt.Errorf("get: %w", err)
	}
	row("get a device", c, "", nil)
	var listed int
	if c, err = r.count(func() error {
		p, err := svc.ListDevices(ctx, owner(owner0), mb, "", 50)
		listed = len(p.Devices)
		return err
	}); err != nil {
		return sec, fmt.Errorf("list: %w", err)
	}
	if listed != 50 {
		return sec, fmt.Errorf("list: a page of %d devices, want 50", listed)
	}
	row("list (a page of 50)", c, "", nil)

	verify := func(pw string, want bool) func() error {
		return func() error {
			ok, err := svc.Verify(ctx, device.VerifyRequest{Mailbox: mb, Password: pw, Protocol: "imap", ClientIP: "192.0.2.10"})
			if err == nil && ok != want {
				err = fmt.Errorf("verify answered %v, want %v", ok, want)
			}
			return err
		}
	}
	if c, err = r.count(verify(target.Password, true)); err != nil {
		return sec, fmt.Errorf("verify: %w", err)
	}
	row("verify, success (first use: records last use)", c, "0 SM, 1 DDB read + the rate limit's conditional write (+ the coalesced last-use write)", yes(c.sm == 0 && c.ddb <= 3))
	firstVerify := c
	if c, err = r.count(verify(target.Password, true)); err != nil {
		return sec, fmt.Errorf("verify again: %w", err)
	}
	row("verify, success (again within 5 min: write coalesced)", c, "0 SM, 1 DDB read + the rate limit's conditional write", yes(c.sm == 0 && c.ddb == 2))
	sec.summary = append(sec.summary, []string{"verify, success: AWS calls",
		fmt.Sprintf("%d SM, %d DDB (first use, with the last-use write); %d SM, %d DDB after", firstVerify.sm, firstVerify.ddb, c.sm, c.ddb),
		"0 SM, 1 DDB read + 1 conditional write + the coalesced last-use write", verdict(firstVerify.sm == 0 && c.sm == 0 && c.ddb == 2 && firstVerify.ddb <= 3)})
	if c, err = r.count(verify(target.Password+"x", false)); err != nil {
		return sec, fmt.Errorf("verify failure: %w", err)
	}
	row("verify, failure", c, "0 SM, at most 2 DDB (the read, the counting conditional write)", yes(c.sm == 0 && c.ddb <= 2))
	sec.summary = append(sec.summary, []string{"verify, failure: AWS calls", fmt.Sprintf("%d SM, %d DDB", c.sm, c.ddb),
		"0 SM, at most 2 DDB", verdict(c.sm == 0 && c.ddb <= 2)})

	// Verify's read with history: the same mailbox after many devices were
	// added and ended (written through the store: only the table matters).
	ended := 1000
	if b.o.quick {
		ended = 100
	}
	meter.Take()
	if err := verify(target.Password, true)(); err != nil {
		return sec, fmt.Errorf("verify before the history: %w", err)
	}
	items0, bytes0 := meter.Take()
	if err := addEnded(ctx, r, mb, ended); err != nil {
		return sec, err
	}
	meter.Take()
	if err := verify(target.Password, true)(); err != nil {
		return sec, fmt.Errorf("verify after the history: %w", err)
	}
	items1, bytes1 := meter.Take()
	sameRead := items1 == items0 && items0 > 0 && bytes1 <= bytes0+3 // the mailbox item's version counter may gain digits
	sec.summary = append(sec.summary, []string{fmt.Sprintf("verify's read, 50 live devices and then also %d ended ones", ended),
		fmt.Sprintf("%d items, %d bytes; with %d ended: %d items, %d bytes", items0, bytes0, ended, items1, bytes1),
		"the same", verdict(sameRead)})

	if c, err = r.count(func() error {
		_, err := svc.Regenerate(ctx, owner(owner0), mb, target.Device.ID, 0)
		return err
	}); err != nil {
		return sec, fmt.Errorf("regenerate: %w", err)
	}
	regenOK := c.roundTrips <= 4 && c.smWrites <= 2
	row("regenerate", c, "≤ 4 round trips, ≤ 2 SM writes", yes(regenOK))
	regen := c
	sec.summary = append(sec.summary,
		[]string{"regenerate: sequential round trips", fmt.Sprintf("%d (%s)", c.roundTrips, path(c.trips)), "≤ 4", verdict(c.roundTrips <= 4)},
		[]string{"regenerate: Secrets Manager writes", fmt.Sprintf("%d (and %d reads)", c.smWrites, c.sm-c.smWrites), "≤ 2 (AWS's rotation template: 2)", verdict(c.smWrites <= 2)})

	if c, err = r.count(func() error {
		_, step, err := svc.Engine().RotateNow(ctx, other.Device.SecretARN)
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		return nil
	}); err != nil {
		return sec, fmt.Errorf("rotation: %w", err)
	}
	rotation := c
	sec.summary = append(sec.summary,
		[]string{"scheduled rotation: Secrets Manager writes", fmt.Sprintf("%d (and %d reads)", c.smWrites, c.sm-c.smWrites), "2 (AWS's rotation template: 2, the floor)", verdict(c.smWrites <= 2)},
		[]string{"scheduled rotation: Secrets Manager calls", fmt.Sprintf("%d", c.sm), "≤ 5 (AWS's template 10, PostgreSQL single-user 14)", verdict(c.sm <= 5)},
		[]string{"scheduled rotation: DynamoDB calls", fmt.Sprintf("%d", c.ddb), "≤ 4", verdict(c.ddb <= 4)})
	row("scheduled rotation (4 steps, `Engine.RotateNow`)", c,
		"≤ 5 SM of which 2 writes, ≤ 4 DDB (AWS's rotation template: 10 SM of which 2 writes; its single-user PostgreSQL rotation: 14 SM)", yes(c.sm <= 5 && c.smWrites <= 2 && c.ddb <= 4))

	if c, err = r.count(func() error { _, err := svc.Revoke(ctx, owner(owner0), mb, gone.Device.ID); return err }); err != nil {
		return sec, fmt.Errorf("revoke: %w", err)
	}
	row("revoke", c, "", nil)

	if createTrips > 2 {
		sec.notes = append(sec.notes, fmt.Sprintf("Create takes %d sequential round trips, not 2: the mailbox read (1) authorizes the caller, "+
			"checks the cap and finds an Idempotency-Key replay *before* a Secrets Manager write is spent (writes share a 50/s quota, and "+
			"a refused caller must not be able to burn it); then `CreateSecret` (2) and the `TransactWriteItems` (3) run in the order that "+
			"leaves at most a secret without a device after a crash (docs/architecture.md). Reaching 2 would mean writing the secret before "+
			"knowing whether the caller may.", createTrips))
	}
	if rotation.sm == 5 && rotation.smWrites == 2 && rotation.ddb == 4 {
		sec.notes = append(sec.notes, "Rotation: createSecret `DescribeSecret` + `PutSecretValue`, setSecret and testSecret one `GetSecretValue` each, "+
			"finishSecret one `UpdateSecretVersionStage` (move AWSCURRENT; AWSPENDING stays on the new version, which Secrets Manager reads as a "+
			"finished rotation, so no third write removes it); in DynamoDB one conditional write in createSecret, setSecret and finishSecret, "+
			"and testSecret's verify-path read.")
	}
	if regen.roundTrips == 4 && regen.smWrites == 2 {
		sec.notes = append(sec.notes, "Regenerate: the device read (which names the current version), `PutSecretValue` of the new version with "+
			"AWSPENDING, one conditional `UpdateItem` that makes its verifier current in place of the version read (and ends the old password "+
			"at once for grace 0), then `UpdateSecretVersionStage` of AWSCURRENT. It holds the new password in memory, so it reads no secret back.")
	}
	if n := r.warnings.n.Load(); n > 0 {
		sec.notes = append(sec.notes, fmt.Sprintf("%d warning log lines were written during this section.", n))
	}
	return sec, nil
}
