// Package capacity turns measured AWS calls per operation into what a
// fleet of devices costs a month and how much of each AWS quota it uses,
// and simulates a busy day against Secrets Manager's write quota on a
// virtual clock. `make bench` (section 6) and `make capacity` print its
// tables; docs/scale.md explains them.
//
// Nothing here guesses an operation's calls: the model multiplies the
// counts it is given (Measured), so a change in an operation's calls
// changes every figure that depends on it.
package capacity

import (
	"math"
	"sort"
	"strings"
)

// The reconciler's slicing, as shared/device (ReconcileSlices) and
// shared/lifecycle (ReconcileMargin) define it: a run reconciles mailbox
// slice after slice and starts none later than the margin before its
// timeout, so what must fit a run is one slice, not the whole fleet.
const (
	ReconcileSlices    = 40
	ReconcileMarginSec = 120.0
)

// Service names, as awsx.Counter spells them.
const (
	SecretsManager = "Secrets Manager"
	DynamoDB       = "DynamoDB"
)

// Op is an operation the model counts.
type Op string

// The operations. A rotation is a whole scheduled rotation (four
// invocations of the rotation function); sweep and reconcile are one
// scheduled run each.
const (
	OpCreate        Op = "create"
	OpRegenerate    Op = "regenerate"
	OpRotation      Op = "scheduled rotation"
	OpVerifyFirst   Op = "verify, success, records last use"
	OpVerifyAgain   Op = "verify, success, last use coalesced"
	OpVerifyFailure Op = "verify, failure"
	OpRevoke        Op = "revoke"
	OpList          Op = "list (console)"
	OpStreamEvent   Op = "stream record with a lifecycle event"
	OpSweep         Op = "sweep run"
	OpReconcile     Op = "reconciler run"
)

// Ops lists the operations in the order the report shows them.
var Ops = []Op{OpCreate, OpRegenerate, OpRotation, OpVerifyFirst, OpVerifyAgain, OpVerifyFailure, OpRevoke, OpList, OpStreamEvent, OpSweep, OpReconcile}

// Function says which Lambda function serves an operation.
func (o Op) Function() string {
	switch o {
	case OpVerifyFirst, OpVerifyAgain, OpVerifyFailure:
		return "verify"
	case OpRotation:
		return "rotation"
	case OpStreamEvent:
		return "stream"
	case OpSweep:
		return "sweep"
	case OpReconcile:
		return "reconciler"
	}
	return "api"
}

// Usage is what one run of an operation used.
type Usage struct {
	// Calls counts AWS operations by "<service>.<operation>", such as
	// "Secrets Manager.PutSecretValue" (operations, not retry attempts).
	Calls map[string]int
	// ReadUnits and WriteUnits are the DynamoDB request units consumed.
	ReadUnits, WriteUnits float64
	// ItemsWritten are the table items changed: each is a stream record.
	ItemsWritten int
	// Invocations of the operation's function, and their total duration.
	Invocations int
	DurationMs  float64
	// LogBytes the functions wrote for it at LOG_LEVEL=info.
	LogBytes float64
	// Events are lifecycle events it causes (each an audit entry and an
	// EventBridge event); Notices are owner notices (SNS publishes).
	Events, Notices int
	// APIRequest says it is one API Gateway request.
	APIRequest bool
}

// Count returns the calls of service whose operation is in ops (all of
// the service's calls when ops is empty).
func (u Usage) Count(service string, ops ...string) int {
	n := 0
	for k, c := range u.Calls {
		svc, op, _ := strings.Cut(k, ".")
		if svc != service {
			continue
		}
		if len(ops) == 0 {
			n += c
			continue
		}
		for _, o := range ops {
			if o == op {
				n += c
			}
		}
	}
	return n
}

// withoutSecret is u for a device kept as a verifier only: the same
// operation without its Secrets Manager calls.
func (u Usage) withoutSecret() Usage {
	v := u
	v.Calls = map[string]int{}
	for k, c := range u.Calls {
		if !strings.HasPrefix(k, SecretsManager+".") {
			v.Calls[k] = c
		}
	}
	return v
}

// Measured is everything the model takes from a measurement run.
type Measured struct {
	Ops map[Op]Usage
	// ReconcileDevices is how many devices the table held when OpReconcile
	// was measured; ListPageSize is how many secrets the reconciler asks
	// for per ListSecrets page.
	ReconcileDevices int
	ListPageSize     int
	// ReconcileTableBytes is the size of the table when the reconciler was
	// measured (reported; the model reads device items, not the table).
	ReconcileTableBytes float64
	// Item sizes in bytes, as DynamoDB counts them.
	DeviceItemBytes, MailboxItemBytes, AuditItemBytes float64
	// PeakMemoryMB is the peak resident memory of functions (by name) that
	// served real requests; Lambda bills the configured memory instead, so
	// it only says whether the configured memory could be smaller.
	PeakMemoryMB map[string]float64
	// SecretsRoundTripSec and ScanPageSec are the assumed in-Region times
	// of one ListSecrets page and one 1 MB page of items read (the
	// reconciler's run time).
	SecretsRoundTripSec, ScanPageSec float64
}

// Write and read quota groups of Secrets Manager, as AWS documents them
// (per account and Region, none adjustable).
var (
	SecretValueWrites = []string{"PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage"}
	AllSecretWrites   = []string{"CreateSecret", "PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "DeleteSecret", "RotateSecret", "CancelRotateSecret", "RestoreSecret", "TagResource", "UntagResource"}
	DynamoWriteOps    = []string{"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)

// Platform constants the model adds to what it measures.
const (
	monthSeconds = 365.25 / 12 * 86400
	daySeconds   = 86400.0
	// platformLogBytes are Lambda's START, END and REPORT lines per
	// invocation; accessLogBytes the API's access log line per request.
	platformLogBytes = 330
	accessLogBytes   = 420
	// streamBatch is how many stream records one stream invocation
	// handles on average (the event source mapping batches up to 100).
	streamBatch = 10
	// quietRecordMs is the stream function's time for a record that
	// makes no event (a last-use write, an audit entry).
	quietRecordMs = 1
	// AWS quotas per account and Region (Service Quotas defaults).
	lambdaConcurrency  = 1000
	apiAccountRPS      = 10000
	tableUnitsPerSec   = 40000
	kmsSymmetricPerSec = 50000
)

// Line is one cost line of a month.
type Line struct {
	Service, What string
	USD           float64
}

// Kind says who sets a quota, and so whether it can be raised.
type Kind int

// The kinds of quota.
const (
	// AWSFixed is an AWS quota that cannot be raised.
	AWSFixed Kind = iota
	// AWSAdjustable is an AWS quota raised through Service Quotas.
	AWSAdjustable
	// StackSetting is a throttle or reservation the stack sets (CDK
	// context).
	StackSetting
	// Design is a limit of devicepass's own design: raising it is a code
	// change.
	Design
)

func (k Kind) String() string {
	switch k {
	case AWSFixed:
		return "AWS, fixed"
	case AWSAdjustable:
		return "AWS, adjustable"
	case StackSetting:
		return "stack setting"
	}
	return "devicepass design"
}

// Quota is one quota's use at a fleet size.
type Quota struct {
	Name  string
	Limit float64
	Unit  string
	Kind  Kind
	// Raise says how to raise it: the stack's CDK context key, Service
	// Quotas, or the change of design it needs; empty when it cannot be.
	Raise     string
	Avg, Peak float64
	// SaturatesAt is the device count at which the peak reaches the limit
	// (+Inf: never with this profile).
	SaturatesAt float64
}

// Share returns use over limit at the average and the peak.
func (q Quota) Share() (avg, peak float64) { return q.Avg / q.Limit, q.Peak / q.Limit }

// Fleet is the model's answer for one fleet size.
type Fleet struct {
	Devices float64
	Cost    []Line
	Quotas  []Quota
}

// Total returns the month's cost.
func (f Fleet) Total() float64 {
	t := 0.0
	for _, l := range f.Cost {
		t += l.USD
	}
	return t
}

// ByService sums the cost lines per service, in first-seen order.
func (f Fleet) ByService() []Line {
	var out []Line
	idx := map[string]int{}
	for _, l := range f.Cost {
		i, ok := idx[l.Service]
		if !ok {
			idx[l.Service] = len(out)
			out = append(out, Line{Service: l.Service})
			i = len(out) - 1
		}
		out[i].USD += l.USD
	}
	return out
}

// First returns the quota that saturates at the fewest devices, among
// those of the given kinds (all kinds when none is given).
func (f Fleet) First(kinds ...Kind) (Quota, bool) {
	var qs []Quota
	for _, q := range f.Quotas {
		ok := len(kinds) == 0
		for _, k := range kinds {
			ok = ok || q.Kind == k
		}
		if ok && !math.IsInf(q.SaturatesAt, 1) {
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return Quota{}, false
	}
	sort.SliceStable(qs, func(i, j int) bool { return qs[i].SaturatesAt < qs[j].SaturatesAt })
	return qs[0], true
}

// Model is a measurement, a profile, prices and the stack's settings.
type Model struct {
	Measured Measured
	Profile  Profile
	Prices   Prices
	Stack    Stack
}

// rate is an operation's runs per second for the whole fleet.
type rate struct {
	op        Op
	perDevice float64 // runs per device per second, at the average
	fixed     float64 // runs per second independent of the fleet
	peak      float64 // peak-to-average factor
	usage     Usage
}

// rates lists every operation's rate. Operations on verifier-only
// devices make no Secrets Manager call and those devices never rotate.
func (m Model) rates() []rate {
	p, ms := m.Profile, m.Measured
	s := p.VerifierOnlyShare
	verify := p.VerifiesPerDeviceDay / daySeconds
	var rs []rate
	add := func(op Op, perDevice, peak float64, split bool) {
		u := ms.Ops[op]
		if split && s > 0 {
			rs = append(rs, rate{op: op, perDevice: perDevice * (1 - s), peak: peak, usage: u},
				rate{op: op, perDevice: perDevice * s, peak: peak, usage: u.withoutSecret()})
			return
		}
		rs = append(rs, rate{op: op, perDevice: perDevice, peak: peak, usage: u})
	}
	add(OpCreate, p.NewDevicesPerDeviceMonth/monthSeconds, p.PeakToAverage, true)
	add(OpRegenerate, p.RegeneratesPerDeviceMonth/monthSeconds, p.PeakToAverage, true)
	add(OpRevoke, p.RevokesPerDeviceMonth/monthSeconds, p.PeakToAverage, true)
	add(OpList, p.ListsPerDeviceMonth/monthSeconds, p.PeakToAverage, false)
	add(OpRotation, (1-s)/(p.RotationEveryDays*daySeconds), p.RotationPeakToAverage, false)
	add(OpVerifyFirst, verify*(1-p.VerifyFailureShare)*p.LastUseWriteShare, p.PeakToAverage, false)
	add(OpVerifyAgain, verify*(1-p.VerifyFailureShare)*(1-p.LastUseWriteShare), p.PeakToAverage, false)
	add(OpVerifyFailure, verify*p.VerifyFailureShare, p.PeakToAverage, false)
	rs = append(rs, rate{op: OpSweep, fixed: 1 / (m.Stack.SweepEveryMin * 60), peak: 1, usage: ms.Ops[OpSweep]})
	return rs
}

// flow is one fleet's traffic per second: what every rate adds up to.
type flow struct {
	calls                    map[string]float64
	readUnits, writeUnits    float64
	records, lifecycleEvents float64
	notices, apiRequests     float64
	invocations              map[string]float64
	busySec                  map[string]float64 // function: seconds of duration per second (concurrency)
	reconcileSliceSec        float64            // one reconciler slice's duration
	logBytes                 float64
	routes                   map[Op]float64
}

func newFlow() *flow {
	return &flow{calls: map[string]float64{}, invocations: map[string]float64{}, busySec: map[string]float64{}, routes: map[Op]float64{}}
}

func (f *flow) add(op Op, u Usage, n float64) {
	for k, c := range u.Calls {
		f.calls[k] += float64(c) * n
	}
	f.readUnits += u.ReadUnits * n
	f.writeUnits += u.WriteUnits * n
	f.records += float64(u.ItemsWritten) * n
	f.lifecycleEvents += float64(u.Events) * n
	f.notices += float64(u.Notices) * n
	fn := op.Function()
	f.invocations[fn] += float64(u.Invocations) * n
	f.busySec[fn] += u.DurationMs / 1000 * n
	f.logBytes += (u.LogBytes + platformLogBytes*float64(u.Invocations)) * n
	if u.APIRequest {
		f.apiRequests += n
		f.logBytes += accessLogBytes * n
		f.routes[op] += n
	}
}

// traffic returns the fleet's flow at its average (peak false) or peak.
func (m Model) traffic(devices float64, peak bool) *flow {
	f := newFlow()
	creates := 0.0
	for _, r := range m.rates() {
		n := r.perDevice*devices + r.fixed
		if peak {
			n *= r.peak
		}
		f.add(r.op, r.usage, n)
		if r.op == OpCreate {
			creates += n
		}
	}
	// The reconciler: one run per schedule, each through as many slices
	// as its budget allows; a pass over the fleet takes as many runs as
	// it needs.
	rec := m.reconcileRun(devices)
	f.add(OpReconcile, rec, 1/m.reconcileEverySec())
	f.reconcileSliceSec = m.reconcileSeconds(devices) / ReconcileSlices
	// Stream records: those with a lifecycle event run the measured
	// handler; the rest (last-use writes, audit entries, counters) are
	// read and dropped. The handler's own audit write is one more record.
	// The measured record is a device's insert, whose event also goes to
	// the owner as a notice (SNS); other events (rotated, regenerated,
	// revoked) make the same calls without the notice.
	ev := m.Measured.Ops[OpStreamEvent]
	events := f.lifecycleEvents
	calls := map[string]int{}
	for k, c := range ev.Calls {
		if !strings.HasPrefix(k, "SNS.") {
			calls[k] = c
		}
	}
	f.add(OpStreamEvent, Usage{Calls: calls, ReadUnits: ev.ReadUnits, WriteUnits: ev.WriteUnits,
		DurationMs: ev.DurationMs, LogBytes: ev.LogBytes}, events)
	f.notices += float64(ev.Notices) * creates
	for k, c := range ev.Calls {
		if strings.HasPrefix(k, "SNS.") {
			f.calls[k] += float64(c) * creates
		}
	}
	quiet := f.records + float64(ev.ItemsWritten)*events - events
	f.busySec["stream"] += quiet * quietRecordMs / 1000
	f.invocations["stream"] += (f.records + float64(ev.ItemsWritten)*events) / streamBatch
	f.logBytes += (f.records + float64(ev.ItemsWritten)*events) / streamBatch * platformLogBytes
	// Consuming services read passwords themselves.
	consumer := m.Profile.ConsumerReadsPerDeviceDay / daySeconds * devices * (1 - m.Profile.VerifierOnlyShare)
	if peak {
		consumer *= m.Profile.PeakToAverage
	}
	f.calls[SecretsManager+".GetSecretValue (consumers)"] += consumer
	return f
}

// reconcileEverySec is the reconciler's schedule, in seconds.
func (m Model) reconcileEverySec() float64 { return m.Stack.ReconcileEveryMin * 60 }

// reconcileKeyBytes is one entry of the keys-only reconcile index as a
// Query reads it (the table's keys and recPK).
const reconcileKeyBytes = 100.0

// reconcileRun is one reconciler run: the share of a pass over the fleet
// that one run's budget covers (all of it while a pass fits one run). A
// pass lists every secret (slice by slice) and reads every device item
// through the reconcile index; audit entries are never read.
func (m Model) reconcileRun(devices float64) Usage {
	ms := m.Measured
	u := ms.Ops[OpReconcile]
	pass := m.reconcileSeconds(devices)
	share := 1.0
	if budget := m.reconcileBudgetSec(); pass > budget {
		share = budget / pass
	}
	// A steady-state run repairs nothing: only its listing and reads count.
	out := u
	out.Calls = map[string]int{}
	page := float64(max(ms.ListPageSize, 1))
	secrets := devices * (1 - m.Profile.VerifierOnlyShare)
	out.Calls[SecretsManager+".ListSecrets"] = int(math.Ceil(share * max(math.Ceil(secrets/page), ReconcileSlices)))
	out.Calls[DynamoDB+".Query"] = int(math.Ceil(share * max(math.Ceil(devices*reconcileKeyBytes/1e6), ReconcileSlices)))
	out.Calls[DynamoDB+".BatchGetItem"] = int(math.Ceil(share * math.Ceil(devices/100)))
	// Strongly consistent item reads (4 KB units) and eventually
	// consistent index pages.
	out.ReadUnits = share * (devices*math.Ceil(max(ms.DeviceItemBytes, 1)/4096) + devices*reconcileKeyBytes/8192)
	out.DurationMs = min(pass, m.reconcileBudgetSec()) * 1000
	out.WriteUnits, out.ItemsWritten = 0, 0
	return out
}

// reconcileBudgetSec is how long a reconciler run keeps starting slices.
func (m Model) reconcileBudgetSec() float64 {
	return max(m.Stack.ReconcilerTimeoutSec-ReconcileMarginSec, 1)
}

// reconcileSeconds is how long one pass of the reconciler over the fleet
// takes: its ListSecrets pages, index pages and BatchGetItem calls (100
// device items each, timed as their bytes of a Scan page, at least one
// round trip) one after the other.
func (m Model) reconcileSeconds(devices float64) float64 {
	ms := m.Measured
	page := float64(max(ms.ListPageSize, 1))
	secrets := devices * (1 - m.Profile.VerifierOnlyShare)
	batch := max(ms.SecretsRoundTripSec, ms.ScanPageSec*100*ms.DeviceItemBytes/1e6)
	return max(math.Ceil(secrets/page), ReconcileSlices)*ms.SecretsRoundTripSec +
		max(math.Ceil(devices*reconcileKeyBytes/1e6), ReconcileSlices)*ms.ScanPageSec +
		math.Ceil(devices/100)*batch
}

// TableBytesPerDevice is the table's size per device, as DynamoDB bills
// its storage.
func (m Model) TableBytesPerDevice() float64 { return m.tableBytesPerDevice() }

// tableBytesPerDevice is the table's size per device: the device item,
// its share of the mailbox item, and the audit entries kept.
func (m Model) tableBytesPerDevice() float64 {
	ms := m.Measured
	dpm := float64(max(m.Profile.DevicesPerMailbox, 1))
	audit := m.eventsPerDeviceMonthNoRecurse() * 12 * ms.AuditItemBytes // a year of audit entries (AUDIT_RETENTION_DAYS 365)
	return ms.DeviceItemBytes + ms.MailboxItemBytes/dpm + audit
}

// eventsPerDeviceMonthNoRecurse counts lifecycle events from the rates
// alone (the reconciler, whose scan depends on the table size, makes none).
func (m Model) eventsPerDeviceMonthNoRecurse() float64 {
	n := 0.0
	for _, r := range m.rates() {
		n += r.perDevice * float64(r.usage.Events)
	}
	return n * monthSeconds
}

// Fleet computes the month's cost and the quotas' use for devices.
func (m Model) Fleet(devices float64) Fleet {
	pr, st := m.Prices, m.Stack
	avg, peak := m.traffic(devices, false), m.traffic(devices, true)
	const big = 1e6
	perBig := m.traffic(big, true)
	per0 := m.traffic(0, true)
	month := func(x float64) float64 { return x * monthSeconds }
	out := Fleet{Devices: devices}
	line := func(service, what string, usd float64) {
		out.Cost = append(out.Cost, Line{Service: service, What: what, USD: usd})
	}

	// Secrets Manager.
	secrets := devices * (1 - m.Profile.VerifierOnlyShare)
	line("Secrets Manager", "secrets stored (one per device, plus the verifier key)", (secrets+1)*pr.SecretMonth)
	smCalls := 0.0
	for k, c := range avg.calls {
		if strings.HasPrefix(k, SecretsManager+".") {
			smCalls += c
		}
	}
	line("Secrets Manager", "API calls (devicepass's and consumers' reads)", month(smCalls)*pr.SecretsAPICall)

	// DynamoDB.
	line("DynamoDB", "read request units", month(avg.readUnits)*pr.DynamoReadUnit)
	line("DynamoDB", "write request units", month(avg.writeUnits)*pr.DynamoWriteUnit)
	line("DynamoDB", "storage (devices, mailboxes, a year of audit entries)", devices*m.tableBytesPerDevice()/1e9*pr.DynamoGBMonth)

	// Lambda.
	inv, busy := 0.0, 0.0
	for _, v := range avg.invocations {
		inv += v
	}
	for _, v := range avg.busySec {
		busy += v
	}
	line("Lambda", "requests", month(inv)*pr.LambdaRequest)
	line("Lambda", "duration (GB-seconds, arm64)", month(busy)*float64(st.MemoryMB)/1024*pr.LambdaGBSecond)

	// API Gateway.
	line("API Gateway", "HTTP API requests", month(avg.apiRequests)*pr.HTTPAPIRequest)

	// KMS: Secrets Manager asks the stack's key for a data key per value
	// written and a decryption per value read.
	kms := avg.calls[SecretsManager+".CreateSecret"] + avg.calls[SecretsManager+".PutSecretValue"] +
		avg.calls[SecretsManager+".GetSecretValue"] + avg.calls[SecretsManager+".GetSecretValue (consumers)"]
	line("KMS", "customer managed key", pr.KMSKeyMonth)
	line("KMS", "requests made by Secrets Manager", month(kms)*pr.KMSRequest)

	// Events.
	line("EventBridge", "lifecycle events", month(avg.lifecycleEvents)*pr.EventBridgeEvent)
	line("SNS", "owner notices", month(avg.notices)*pr.SNSPublish)

	// CloudWatch.
	gb := month(avg.logBytes) / 1e9
	line("CloudWatch", "logs ingested", gb*pr.LogsIngestGB)
	line("CloudWatch", "logs stored", gb*float64(st.LogRetentionDays)/30*pr.LogsStoreGBMonth)
	line("CloudWatch", "alarms and the reconciler's metrics", float64(st.Alarms)*pr.AlarmMonth+float64(st.CustomMetrics)*pr.CustomMetricMonth)

	// Quotas. Each is linear in the fleet at the peak, so it saturates
	// where fixed + perDevice × N reaches the limit.
	quota := func(name, unit string, limit float64, kind Kind, raise string, use func(*flow) float64) {
		q := Quota{Name: name, Unit: unit, Limit: limit, Kind: kind, Raise: raise, Avg: use(avg), Peak: use(peak), SaturatesAt: math.Inf(1)}
		fixed, slope := use(per0), (use(perBig)-use(per0))/big
		if slope > 1e-15 {
			q.SaturatesAt = max((limit-fixed)/slope, 0)
		}
		out.Quotas = append(out.Quotas, q)
	}
	sm := func(ops ...string) func(*flow) float64 {
		return func(f *flow) float64 {
			n := 0.0
			for _, op := range ops {
				n += f.calls[SecretsManager+"."+op]
			}
			return n
		}
	}
	quota("Secrets Manager: PutSecretValue, UpdateSecretVersionStage, UpdateSecret", "requests/s", 50, AWSFixed, "", sm(SecretValueWrites...))
	quota("Secrets Manager: CreateSecret", "requests/s", 50, AWSFixed, "", sm("CreateSecret"))
	quota("Secrets Manager: DeleteSecret", "requests/s", 50, AWSFixed, "", sm("DeleteSecret"))
	quota("Secrets Manager: RotateSecret, CancelRotateSecret", "requests/s", 50, AWSFixed, "", sm("RotateSecret", "CancelRotateSecret"))
	quota("Secrets Manager: GetSecretValue (devicepass and consumers)", "requests/s", 10000, AWSFixed, "", sm("GetSecretValue", "GetSecretValue (consumers)"))
	quota("Secrets Manager: DescribeSecret", "requests/s", 40000, AWSFixed, "", sm("DescribeSecret"))
	quota("Secrets Manager: ListSecrets (the reconciler's pages, one at a time)", "requests/s", 100, AWSFixed, "",
		func(*flow) float64 { return 1 / m.Measured.SecretsRoundTripSec })
	quota("Reconciler slice time within a run's budget (timeout less margin)", "seconds", m.reconcileBudgetSec(), Design,
		"finer slices (two characters of the mailbox), or the timeout up to 900 s",
		func(f *flow) float64 { return f.reconcileSliceSec })
	quota("Lambda concurrency (account)", "concurrent executions", lambdaConcurrency, AWSAdjustable, "Service Quotas", func(f *flow) float64 {
		t := 0.0
		for _, v := range f.busySec {
			t += v
		}
		return t
	})
	quota("Lambda concurrency reserved for rotation", "concurrent executions", float64(st.RotationConcurrency), StackSetting, "stack context `rotationConcurrency`",
		func(f *flow) float64 { return f.busySec["rotation"] })
	quota("API Gateway: POST /v1/verify throttle", "requests/s", st.VerifyRateLimit, StackSetting, "stack context `verifyRateLimit`",
		func(f *flow) float64 {
			return f.routes[OpVerifyFirst] + f.routes[OpVerifyAgain] + f.routes[OpVerifyFailure]
		})
	quota("API Gateway: create route throttle", "requests/s", st.CreateRateLimit, StackSetting, "stack context `createRateLimit`",
		func(f *flow) float64 { return f.routes[OpCreate] })
	quota("API Gateway: regenerate route throttle", "requests/s", st.CreateRateLimit, StackSetting, "stack context `createRateLimit`",
		func(f *flow) float64 { return f.routes[OpRegenerate] })
	quota("API Gateway: list route throttle", "requests/s", st.APIRateLimit, StackSetting, "stack context `apiRateLimit`",
		func(f *flow) float64 { return f.routes[OpList] })
	quota("API Gateway: revoke route throttle", "requests/s", st.APIRateLimit, StackSetting, "stack context `apiRateLimit`",
		func(f *flow) float64 { return f.routes[OpRevoke] })
	quota("API Gateway: requests per account and Region", "requests/s", apiAccountRPS, AWSAdjustable, "Service Quotas",
		func(f *flow) float64 { return f.apiRequests })
	quota("DynamoDB: table read units (on-demand maximum)", "RRU/s", tableUnitsPerSec, AWSAdjustable, "Service Quotas",
		func(f *flow) float64 { return f.readUnits })
	quota("DynamoDB: table write units (on-demand maximum)", "WRU/s", tableUnitsPerSec, AWSAdjustable, "Service Quotas",
		func(f *flow) float64 { return f.writeUnits })
	quota("KMS: symmetric cryptographic requests", "requests/s", kmsSymmetricPerSec, AWSAdjustable, "Service Quotas", func(f *flow) float64 {
		return f.calls[SecretsManager+".CreateSecret"] + f.calls[SecretsManager+".PutSecretValue"] +
			f.calls[SecretsManager+".GetSecretValue"] + f.calls[SecretsManager+".GetSecretValue (consumers)"]
	})
	return out
}

// WritesPerSecond returns Secrets Manager writes of every kind per second
// at the average and the peak: what the benchmark proxy's pooled quota
// counts.
func (m Model) WritesPerSecond(devices float64) (avg, peak float64) {
	w := func(f *flow) float64 {
		n := 0.0
		for _, op := range AllSecretWrites {
			n += f.calls[SecretsManager+"."+op]
		}
		return n
	}
	return w(m.traffic(devices, false)), w(m.traffic(devices, true))
}
