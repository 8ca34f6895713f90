package main

// This file is the capacity section's only use of the domain: it runs each
// operation of the model once (and a few more times for its duration) and
// returns what it used. Adapting to a change in the domain's API means
// changing this file only.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/middleware"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/capacity"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/stream"
)

// capRotationARN is the rotation function a deployed api function names
// (ROTATION_LAMBDA_ARN), so that creates schedule rotation as they do on
// AWS. RotateSecret with RotateImmediately=false never invokes it.
const capRotationARN = "arn:aws:lambda:us-east-1:123456789012:function:devicepass-rotation"

// capRig is the service wired as the functions wire it, with every AWS
// call, request unit, item written and log byte observed.
type capRig struct {
	app   *app.App
	calls *awsx.Counter
	units *unitMeter
	logs  *byteCounter
	raw   *dynamodb.Client // the same table, unobserved
	table string
	keyID string // the verifier key's secret
}

// newCapRig provisions a table and a verifier key through awsCfg and wires
// the service with an info-level logger, as deployed.
func (b *bench) newCapRig(ctx context.Context, awsCfg aws.Config) (*capRig, error) {
	suffix := randHex(4)
	cfg := config.Config{
		TableName:           "devicepass-capacity-" + suffix,
		VerifierKeySecretID: "devicepass-capacity/key-" + suffix,
		Device:              device.Config{SecretPrefix: "capacity-" + suffix, RotationLambdaARN: capRotationARN},
		EventBusName:        "devicepass-capacity-" + suffix,
		AuditRetentionDays:  365,
	}
	if _, err := app.Provision(ctx, awsCfg, cfg.TableName, cfg.VerifierKeySecretID); err != nil {
		return nil, err
	}
	r := &capRig{calls: &awsx.Counter{}, units: &unitMeter{}, logs: &byteCounter{}, table: cfg.TableName, keyID: cfg.VerifierKeySecretID}
	r.raw = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	if _, err := eventbridge.NewFromConfig(awsCfg).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &cfg.EventBusName}); err != nil {
		return nil, fmt.Errorf("create the event bus: %w", err)
	}
	topic, err := sns.NewFromConfig(awsCfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("devicepass-capacity-" + suffix)})
	if err != nil {
		return nil, fmt.Errorf("create the notice topic: %w", err)
	}
	cfg.NoticeTopicARN = aws.ToString(topic.TopicArn)
	awsCfg.APIOptions = append([]func(*middleware.Stack) error(nil), awsCfg.APIOptions...)
	r.calls.Install(&awsCfg)
	r.units.Install(&awsCfg)
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if r.app, err = app.Build(ctx, cfg, awsCfg, logger, app.Options{Local: true}); err != nil {
		return nil, err
	}
	return r, nil
}

// measure runs op once with every meter reset and returns its usage.
func (r *capRig) measure(op func() error) (capacity.Usage, error) {
	r.calls.Reset()
	r.units.Reset()
	r.logs.Reset()
	t0 := time.Now()
	if err := op(); err != nil {
		return capacity.Usage{}, err
	}
	d := time.Since(t0)
	u := capacity.Usage{Calls: map[string]int{}, DurationMs: float64(d) / float64(time.Millisecond), LogBytes: float64(r.logs.Bytes()), Invocations: 1}
	for _, c := range r.calls.Calls() {
		u.Calls[c.Service+"."+c.Operation]++
	}
	u.ReadUnits, u.WriteUnits, u.ItemsWritten = r.units.Totals()
	return u, nil
}

// durationOf returns the median wall time of n more runs of op, the
// function's billed duration with the injected AWS latency.
func durationOf(n int, op func(i int) error) (float64, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := op(i); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	return float64(median(ds)) / float64(time.Millisecond), nil
}

// measureOps measures every operation of the capacity model on a mailbox
// of devicesPerMailbox devices, reps times each for the duration.
func (b *bench) measureOps(ctx context.Context, awsCfg aws.Config, devicesPerMailbox, reps int, memory bool) (capacity.Measured, error) {
	m := capacity.Measured{Ops: map[capacity.Op]capacity.Usage{}}
	r, err := b.newCapRig(ctx, awsCfg)
	if err != nil {
		return m, err
	}
	svc := r.app.Service
	admin := device.Caller{Subject: "capacity-admin", Groups: []string{"domain-admin:capacity.example"}, AuthTime: time.Now()}
	user := device.Caller{Subject: "capacity-owner", AuthTime: time.Now()}
	// Boxes of devicesPerMailbox devices each: one to measure on, the
	// others to give the durations fresh devices.
	var boxes []string
	newBox := func() (string, error) {
		addr := fmt.Sprintf("box-%d-%s@capacity.example", len(boxes), randHex(3))
		_, _, err := svc.RegisterMailbox(ctx, admin, addr, user.Subject)
		boxes = append(boxes, addr)
		return addr, err
	}
	// Creates are measured with a rotation policy, as the profile's
	// devices have one. moto answers RotateSecret by starting a rotation
	// (AWSPENDING) even with RotateImmediately=false, which AWS does not,
	// so the devices that are regenerated or rotated below are made
	// without a policy.
	policy := &device.RotationInput{EveryDays: 30}
	createWith := func(p *device.RotationInput) func(mb string, i int) (device.Created, error) {
		return func(mb string, i int) (device.Created, error) {
			return svc.CreateDevice(ctx, user, mb, device.CreateInput{Name: fmt.Sprintf("device %d", i), Rotation: p}, "")
		}
	}
	create, plain := createWith(policy), createWith(nil)
	mb, err := newBox()
	if err != nil {
		return m, err
	}
	var made []device.Created
	// devicesPerMailbox in all: these, the measured create, and one more
	// to rotate.
	for len(made) < max(devicesPerMailbox-2, 1) {
		c, err := plain(mb, len(made))
		if err != nil {
			return m, fmt.Errorf("fill the mailbox: %w", err)
		}
		made = append(made, c)
	}
	// Each operation: its calls from one run, its duration the median of
	// reps runs on other devices.
	u, err := r.measure(func() error { _, err := create(mb, len(made)); return err })
	if err != nil {
		return m, fmt.Errorf("create: %w", err)
	}
	scheduled, err := newBox()
	if err != nil {
		return m, err
	}
	var revocable []device.Created
	if u.DurationMs, err = durationOf(reps, func(i int) error { c, err := create(scheduled, i); revocable = append(revocable, c); return err }); err != nil {
		return m, err
	}
	spare, err := newBox()
	if err != nil {
		return m, err
	}
	var spares []device.Created
	for i := 0; i < reps; i++ {
		c, err := plain(spare, i)
		if err != nil {
			return m, err
		}
		spares = append(spares, c)
	}
	rotated, err := plain(mb, len(made))
	if err != nil {
		return m, err
	}
	made = append(made, rotated)
	u.APIRequest, u.Events, u.Notices = true, 1, 0
	m.Ops[capacity.OpCreate] = u

	verify := func(pw string, want bool) func() error {
		return func() error {
			ok, err := svc.Verify(ctx, device.VerifyRequest{Mailbox: mb, Password: pw, Protocol: "imap", ClientIP: "192.0.2.10"})
			if err == nil && ok != want {
				err = fmt.Errorf("verify answered %v, want %v", ok, want)
			}
			return err
		}
	}
	target := made[0]
	steps := []struct {
		op     capacity.Op
		run    func() error
		repeat func(i int) error
	}{
		{capacity.OpVerifyFirst, verify(made[0].Password, true), func(i int) error { return verify(made[1+i%(len(made)-1)].Password, true)() }},
		{capacity.OpVerifyAgain, verify(made[0].Password, true), func(int) error { return verify(made[0].Password, true)() }},
		{capacity.OpVerifyFailure, verify(target.Password+"x", false), func(int) error { return verify(target.Password+"y", false)() }},
		{capacity.OpList, func() error { _, err := svc.ListDevices(ctx, user, mb, "", 50); return err },
			func(int) error { _, err := svc.ListDevices(ctx, user, mb, "", 50); return err }},
		{capacity.OpRegenerate, func() error { _, err := svc.Regenerate(ctx, user, mb, target.Device.ID, 0); return err },
			func(i int) error {
				_, err := svc.Regenerate(ctx, user, spare, spares[i%len(spares)].Device.ID, 0)
				return err
			}},
		{capacity.OpRotation, func() error { return rotate(ctx, svc, made[len(made)-1].Device.SecretARN) },
			func(i int) error { return rotate(ctx, svc, spares[i%len(spares)].Device.SecretARN) }},
		{capacity.OpSweep, func() error { _, err := lifecycle.Sweep(ctx, svc, r.app.Logger); return err },
			func(int) error { _, err := lifecycle.Sweep(ctx, svc, r.app.Logger); return err }},
	}
	for _, s := range steps {
		u, err := r.measure(s.run)
		if err != nil {
			return m, fmt.Errorf("%s: %w", s.op, err)
		}
		if u.DurationMs, err = durationOf(reps, s.repeat); err != nil {
			return m, fmt.Errorf("%s: %w", s.op, err)
		}
		switch s.op {
		case capacity.OpRegenerate:
			u.APIRequest, u.Events = true, 1
		case capacity.OpRotation:
			// Secrets Manager invokes the function once per step.
			u.Invocations, u.Events = 4, 1
		case capacity.OpList, capacity.OpVerifyFirst, capacity.OpVerifyAgain, capacity.OpVerifyFailure:
			u.APIRequest = true
		}
		m.Ops[s.op] = u
	}

	// Revoke last: it ends a device of the measured mailbox.
	if u, err = r.measure(func() error { _, err := svc.Revoke(ctx, user, mb, made[1].Device.ID); return err }); err != nil {
		return m, fmt.Errorf("revoke: %w", err)
	}
	if u.DurationMs, err = durationOf(len(revocable), func(i int) error {
		_, err := svc.Revoke(ctx, user, scheduled, revocable[i].Device.ID)
		return err
	}); err != nil {
		return m, fmt.Errorf("revoke: %w", err)
	}
	u.APIRequest, u.Events = true, 1
	m.Ops[capacity.OpRevoke] = u

	// A stream record with a lifecycle event: the handler, as the stream
	// function wires it (audit trail, EventBridge, owner notices), on the
	// insert of the device created above.
	h, err := app.NewStreamHandler(r.app, r.app.AWSConfig, nil)
	if err != nil {
		return m, err
	}
	item, err := r.rawItem(ctx, made[0].Device)
	if err != nil {
		return m, err
	}
	rec := func(i int) []stream.Record {
		return []stream.Record{{EventID: fmt.Sprintf("capacity-%d-%s", i, randHex(4)), EventName: stream.OpInsert,
			SequenceNumber: fmt.Sprint(i + 1), Time: time.Now().UTC(), New: item, Keys: item}}
	}
	if u, err = r.measure(func() error { _, err := h.HandleRecords(ctx, rec(0)); return err }); err != nil {
		return m, fmt.Errorf("stream record: %w", err)
	}
	if u.DurationMs, err = durationOf(reps, func(i int) error { _, err := h.HandleRecords(ctx, rec(i+1)); return err }); err != nil {
		return m, fmt.Errorf("stream record: %w", err)
	}
	u.Notices = u.Count("SNS")
	m.Ops[capacity.OpStreamEvent] = u

	// One reconciler run over this table.
	rc, err := r.app.NewReconciler(io.Discard, app.ReconcileMinAge)
	if err != nil {
		return m, err
	}
	// A first run repairs what moto's RotateSecret leaves (an AWSPENDING
	// stage that AWS would not set); the second, measured, is the steady
	// state: it lists and scans and repairs nothing.
	if _, err := rc.Handle(ctx); err != nil {
		return m, fmt.Errorf("reconciler: %w", err)
	}
	var rep device.ReconcileReport
	if u, err = r.measure(func() error { var err error; rep, err = rc.Handle(ctx); return err }); err != nil {
		return m, fmt.Errorf("reconciler: %w", err)
	}
	m.Ops[capacity.OpReconcile] = u
	m.ReconcileDevices = rep.Devices
	m.ListPageSize = r.units.ListPageSize()

	sizes, err := r.itemSizes(ctx)
	if err != nil {
		return m, err
	}
	m.DeviceItemBytes, m.MailboxItemBytes, m.AuditItemBytes = sizes["device"], sizes["mailbox"], sizes["audit"]
	m.ReconcileTableBytes = sizes[tableTotal]

	if !memory {
		return m, nil
	}
	// The hot functions' memory: the real binaries serving real requests
	// on a mailbox of their own.
	memBox, err := newBox()
	if err != nil {
		return m, err
	}
	var memDevice device.Created
	for i := 0; i < devicesPerMailbox; i++ {
		if memDevice, err = plain(memBox, i); err != nil {
			return m, err
		}
	}
	work := map[string][]invocation{}
	for i := 0; i < memoryRequests; i++ {
		work["verify"] = append(work["verify"], invocation{verifyEvent(memBox, memDevice.Password, i), `\"valid\":true`})
		work["api"] = append(work["api"], invocation{listEvent(memBox, user.Subject, i), `\"items\"`})
	}
	peak, err := b.functionMemory(ctx, r.table, r.keyID, work)
	if err != nil {
		return m, fmt.Errorf("function memory: %w", err)
	}
	m.PeakMemoryMB = map[string]float64{}
	for fn, n := range peak {
		m.PeakMemoryMB[fn] = float64(n) / (1 << 20)
	}
	return m, nil
}

// rotate runs the four steps of a scheduled rotation, as Secrets
// Manager's invocations of the rotation function do.
func rotate(ctx context.Context, svc interface{ Engine() *device.Engine }, arn string) error {
	if _, step, err := svc.Engine().RotateNow(ctx, arn); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}

// rawItem reads a device's item as the stream carries it.
func (r *capRig) rawItem(ctx context.Context, d device.Device) (map[string]ddbtypes.AttributeValue, error) {
	out, err := r.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: &r.table, Key: map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: "MBX#" + d.Mailbox},
		"SK": &ddbtypes.AttributeValueMemberS{Value: "DEV#" + d.ID},
	}})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("device %s not found in the table", d.ID)
	}
	return out.Item, nil
}

// tableTotal is itemSizes' key for the whole table's size.
const tableTotal = "(table)"

// itemSizes scans the table and returns the mean size of its devices,
// mailboxes and audit entries, as DynamoDB sizes items (attribute names
// plus values), and the whole table's size under tableTotal.
func (r *capRig) itemSizes(ctx context.Context) (map[string]float64, error) {
	sum, n := map[string]float64{}, map[string]int{}
	p := dynamodb.NewScanPaginator(r.raw, &dynamodb.ScanInput{TableName: &r.table})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range out.Items {
			kind := dynamo.KindOf(it)
			if pk, ok := it["PK"].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "AUD#") {
				kind = "audit"
			}
			sum[kind] += float64(itemSize(it))
			n[kind]++
		}
	}
	total := 0.0
	for k := range sum {
		total += sum[k]
		sum[k] /= float64(n[k])
	}
	sum[tableTotal] = total
	for _, k := range []string{"device", "mailbox", "audit"} {
		if n[k] == 0 {
			return nil, fmt.Errorf("the table holds no %s item to size", k)
		}
	}
	return sum, nil
}

// itemSize is DynamoDB's size of an item: each attribute's name and value.
func itemSize(it map[string]ddbtypes.AttributeValue) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v ddbtypes.AttributeValue) int {
	switch x := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(x.Value)
	case *ddbtypes.AttributeValueMemberN:
		return (len(strings.TrimLeft(x.Value, "-0"))+1)/2 + 1
	case *ddbtypes.AttributeValueMemberB:
		return len(x.Value)
	case *ddbtypes.AttributeValueMemberBOOL, *ddbtypes.AttributeValueMemberNULL:
		return 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range x.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

// unitMeter asks DynamoDB for the capacity each request consumed
// (ReturnConsumedCapacity TOTAL) and adds it up, counts the items each
// write changes (one stream record each), and notes the page size the
// reconciler lists secrets with.
type unitMeter struct {
	mu          sync.Mutex
	read, write float64
	items       int
	listPage    int
}

// Install adds the meter to cfg's clients.
func (u *unitMeter) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("capacityUnits",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := callOf(ctx).Operation
				if l, ok := in.Parameters.(*secretsmanager.ListSecretsInput); ok && l.MaxResults != nil {
					u.mu.Lock()
					u.listPage = int(*l.MaxResults)
					u.mu.Unlock()
				}
				askUnits(in.Parameters)
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					r, w := unitsOf(out.Result)
					items := 0
					switch p := in.Parameters.(type) {
					case *dynamodb.TransactWriteItemsInput:
						items = len(p.TransactItems)
					case *dynamodb.BatchWriteItemInput:
						for _, reqs := range p.RequestItems {
							items += len(reqs)
						}
					case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput:
						items = 1
					}
					if isWrite(op) && w == 0 && r > 0 {
						r, w = 0, r // DynamoDB reports a write's units as CapacityUnits only
					}
					u.mu.Lock()
					u.read += r
					u.write += w
					u.items += items
					u.mu.Unlock()
				}
				return out, md, err
			}), middleware.After)
	})
}

func isWrite(op string) bool {
	for _, w := range capacity.DynamoWriteOps {
		if w == op {
			return true
		}
	}
	return false
}

// askUnits sets ReturnConsumedCapacity on a DynamoDB request that has it.
func askUnits(params any) {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	f := v.Elem().FieldByName("ReturnConsumedCapacity")
	if f.IsValid() && f.CanSet() && f.Kind() == reflect.String && f.String() == "" {
		f.SetString(string(ddbtypes.ReturnConsumedCapacityTotal))
	}
}

// unitsOf reads the consumed capacity of a DynamoDB response.
func unitsOf(result any) (read, write float64) {
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, 0
	}
	f := v.Elem().FieldByName("ConsumedCapacity")
	if !f.IsValid() {
		return 0, 0
	}
	var ccs []ddbtypes.ConsumedCapacity
	switch x := f.Interface().(type) {
	case *ddbtypes.ConsumedCapacity:
		if x != nil {
			ccs = append(ccs, *x)
		}
	case []ddbtypes.ConsumedCapacity:
		ccs = x
	}
	for _, c := range ccs {
		read += aws.ToFloat64(c.ReadCapacityUnits)
		write += aws.ToFloat64(c.WriteCapacityUnits)
		if c.ReadCapacityUnits == nil && c.WriteCapacityUnits == nil {
			read += aws.ToFloat64(c.CapacityUnits)
		}
	}
	return read, write
}

// Reset forgets the totals.
func (u *unitMeter) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.read, u.write, u.items = 0, 0, 0
}

// Totals returns the read and write units and the items written.
func (u *unitMeter) Totals() (read, write float64, items int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.read, u.write, u.items
}

// ListPageSize returns the MaxResults of the last ListSecrets.
func (u *unitMeter) ListPageSize() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.listPage
}

// byteCounter counts the bytes written to it.
type byteCounter struct {
	mu sync.Mutex
	n  int
}

func (c *byteCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n += len(p)
	c.mu.Unlock()
	return len(p), nil
}

// Reset zeroes the count.
func (c *byteCounter) Reset() { c.mu.Lock(); c.n = 0; c.mu.Unlock() }

// Bytes returns the count.
func (c *byteCounter) Bytes() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }
