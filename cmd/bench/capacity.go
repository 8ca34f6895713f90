package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/devtools/capacity"
)

// titleCapacity is section 6's title; the smoke test looks for it.
const titleCapacity = "6. Capacity and cost"

// capacitySizes are the fleet sizes the report prices.
var capacitySizes = []float64{10_000, 100_000, 1_000_000, 10_000_000}

// capacitySection measures every operation's AWS usage in this run, feeds
// it to the capacity model with the default traffic profile, the price
// table and the stack's settings, and simulates a busy day.
func (b *bench) capacitySection(ctx context.Context) (section, error) {
	sec := section{title: titleCapacity}
	prof := capacity.DefaultProfile
	reps := 5
	if b.o.quick {
		reps = 2
	}
	smProxy, ddbProxy, awsCfg, err := b.proxies(ctx, nil)
	if err != nil {
		return sec, err
	}
	defer smProxy.Close()
	defer ddbProxy.Close()
	measured, err := b.measureOps(ctx, awsCfg, prof.DevicesPerMailbox, reps, !b.o.quick)
	if err != nil {
		return sec, err
	}
	measured.SecretsRoundTripSec = delaySecretsManager.Seconds()
	measured.ScanPageSec = capacity.ScanPageSeconds
	stack, err := capacity.ReadStack(b.o.root)
	if err != nil {
		return sec, err
	}
	m := capacity.Model{Measured: measured, Profile: prof, Prices: capacity.USEast1, Stack: stack}
	sim, err := capacity.DefaultBusyDay(stack)
	if err != nil {
		return sec, err
	}
	if b.o.quick {
		sim.Devices, sim.Creates, sim.Regenerates = 100_000, 1_000, 2_000
	}
	days := busyDays(sim)
	for i := range days {
		if days[i].res, err = capacity.Simulate(days[i].day); err != nil {
			return sec, err
		}
	}
	renderCapacity(&sec, m, days)
	return sec, nil
}

// renderCapacity writes the section's tables and notes.
func renderCapacity(sec *section, m capacity.Model, days []scenario) {
	ms, p, pr, st := m.Measured, m.Profile, m.Prices, m.Stack
	sec.intro = fmt.Sprintf("Every operation of the model run once through the domain service wired as the functions wire it (`app.Build`, "+
		"with `ROTATION_LAMBDA_ARN` set as deployed, so a create also schedules rotation), behind the latency proxy of section 3, "+
		"on a mailbox of %d devices (the profile's). Calls are counted by `awsx.Counter`; DynamoDB request units are what DynamoDB Local "+
		"reports with `ReturnConsumedCapacity`; items written are stream records; duration is the median wall time of further runs with the "+
		"injected latency (what Lambda bills); log bytes are the functions' own lines at `LOG_LEVEL=info`; the api and verify functions' memory is "+
		"their real binaries' peak while serving real requests. The model "+
		"(`shared/devtools/capacity`) multiplies these by the traffic profile and prices below; nothing in it is a hand-written call count.",
		p.DevicesPerMailbox)
	t := &sec.table
	t.head = []string{"operation (function)", "SM writes", "SM reads", "DDB reads (RRU)", "DDB writes (WRU)", "stream records", "other calls", "invocations", "duration", "log bytes", "calls"}
	for _, op := range capacity.Ops {
		u, ok := ms.Ops[op]
		if !ok {
			continue
		}
		smW := u.Count(capacity.SecretsManager, capacity.AllSecretWrites...)
		smAll := u.Count(capacity.SecretsManager)
		ddbW := u.Count(capacity.DynamoDB, capacity.DynamoWriteOps...)
		ddbAll := u.Count(capacity.DynamoDB)
		other := 0
		for k, c := range u.Calls {
			if !strings.HasPrefix(k, capacity.SecretsManager+".") && !strings.HasPrefix(k, capacity.DynamoDB+".") {
				other += c
			}
		}
		var names []string
		for k, c := range u.Calls {
			names = append(names, fmt.Sprintf("%s×%d", k, c))
		}
		sort.Strings(names)
		t.add(fmt.Sprintf("%s (%s)", op, op.Function()), fmt.Sprint(smW), fmt.Sprint(smAll-smW),
			fmt.Sprintf("%d (%.1f)", ddbAll-ddbW, u.ReadUnits), fmt.Sprintf("%d (%.1f)", ddbW, u.WriteUnits),
			fmt.Sprint(u.ItemsWritten), fmt.Sprint(other), fmt.Sprint(u.Invocations), ms1(u.DurationMs), fmt.Sprintf("%.0f", u.LogBytes),
			strings.Join(names, ", "))
	}

	prof := table{caption: "**Traffic profile** (`capacity.DefaultProfile`; docs/scale.md says how to choose yours):", head: []string{"parameter", "default"}}
	prof.add("devices per mailbox", fmt.Sprint(p.DevicesPerMailbox))
	prof.add("scheduled rotation every", fmt.Sprintf("%g days", p.RotationEveryDays))
	prof.add("regenerates per device per month", fmt.Sprint(p.RegeneratesPerDeviceMonth))
	prof.add("new devices per device per month (and as many revoked)", fmt.Sprintf("%g (%g)", p.NewDevicesPerDeviceMonth, p.RevokesPerDeviceMonth))
	prof.add("device list views per device per month", fmt.Sprint(p.ListsPerDeviceMonth))
	prof.add("logins verified per device per day", fmt.Sprint(p.VerifiesPerDeviceDay))
	prof.add("share of successful verifications that record last use (first in 5 min)", fmt.Sprint(p.LastUseWriteShare))
	prof.add("share of verifications that fail", fmt.Sprint(p.VerifyFailureShare))
	prof.add("GetSecretValue by consuming services per device per day", fmt.Sprint(p.ConsumerReadsPerDeviceDay))
	prof.add("peak-to-average, people's traffic", fmt.Sprintf("%g×", p.PeakToAverage))
	prof.add("peak-to-average, scheduled rotations", fmt.Sprintf("%g×", p.RotationPeakToAverage))
	prof.add("stack settings (from "+st.Source+")", fmt.Sprintf("%d MB per function; verify route %g req/s, create and regenerate routes %g req/s each, other routes %g req/s; rotation reserved concurrency %d; logs kept %d days",
		st.MemoryMB, st.VerifyRateLimit, st.CreateRateLimit, st.APIRateLimit, st.RotationConcurrency, st.LogRetentionDays))
	sec.extra = append(sec.extra, prof)

	fleets := make([]capacity.Fleet, len(capacitySizes))
	for i, n := range capacitySizes {
		fleets[i] = m.Fleet(n)
	}
	head := []string{"monthly cost (USD)"}
	for _, n := range capacitySizes {
		head = append(head, devicesLabel(n)+" devices")
	}
	cost := table{caption: fmt.Sprintf("**Monthly cost**, by service and line, at the prices of %s as of %s (`shared/devtools/capacity/prices.go`):", pr.Region, pr.AsOf), head: head}
	for i, l := range fleets[0].Cost {
		row := []string{l.Service + ": " + l.What}
		for _, f := range fleets {
			row = append(row, usd(f.Cost[i].USD))
		}
		cost.add(row...)
	}
	for i, s := range fleets[0].ByService() {
		row := []string{"**" + s.Service + "**"}
		for _, f := range fleets {
			row = append(row, "**"+usd(f.ByService()[i].USD)+"**")
		}
		cost.add(row...)
	}
	total, per := []string{"**total**"}, []string{"**per device**"}
	for _, f := range fleets {
		total = append(total, "**"+usd(f.Total())+"**")
		per = append(per, "**"+usd(f.Total()/f.Devices)+"**")
	}
	cost.add(total...)
	cost.add(per...)
	sec.extra = append(sec.extra, cost)

	qhead := []string{"quota", "limit", "set by", "to raise it"}
	for _, n := range capacitySizes {
		qhead = append(qhead, devicesLabel(n)+": avg / peak")
	}
	qhead = append(qhead, "peak reaches it at")
	quotas := table{caption: "**Share of each quota used** at the average and the peak second:", head: qhead}
	for i, q := range fleets[0].Quotas {
		raise := q.Raise
		if raise == "" {
			raise = "cannot be raised"
		}
		row := []string{q.Name, fmt.Sprintf("%s %s", limitNum(q.Limit), q.Unit), q.Kind.String(), raise}
		for _, f := range fleets {
			a, pk := f.Quotas[i].Share()
			row = append(row, pct(a)+" / "+pct(pk))
		}
		row = append(row, devicesAt(q.SaturatesAt))
		quotas.add(row...)
	}
	sec.extra = append(sec.extra, quotas)

	first, okAny := fleets[0].First()
	hard, okHard := fleets[0].First(capacity.AWSFixed)
	at1M := fleets[2]
	sec.summary = append(sec.summary, []string{"cost per device per month at 1 million devices (default profile)", usd(at1M.Total()/at1M.Devices) + " (" + usd(at1M.Total()) + " a month)", "—", "—"})
	if okAny {
		sec.summary = append(sec.summary, []string{"first limit to saturate at the peak", fmt.Sprintf("%s (%s), at %s devices", q1(first), first.Kind, devicesLabel(first.SaturatesAt)), "—", "—"})
	}
	if okHard {
		sec.summary = append(sec.summary, []string{"first AWS quota that cannot be raised", fmt.Sprintf("%s, at %s devices", q1(hard), devicesLabel(hard.SaturatesAt)), "—", "—"})
	}
	if len(ms.PeakMemoryMB) > 0 {
		sec.summary = append(sec.summary, []string{"peak memory serving real requests (api, verify)",
			fmt.Sprintf("%.0f MB, %.0f MB of %d MB configured", ms.PeakMemoryMB["api"], ms.PeakMemoryMB["verify"], st.MemoryMB), "—", "—"})
	}
	avgW, peakW := m.WritesPerSecond(1_000_000)
	sec.notes = append(sec.notes,
		fmt.Sprintf("At 1 million devices: %s a month, %s per device; Secrets Manager storage alone is %s per device (%s a secret).",
			usd(at1M.Total()), usd(at1M.Total()/at1M.Devices), usd(pr.SecretMonth), usd(pr.SecretMonth)),
		fmt.Sprintf("First limit to saturate at the peak: **%s** (%s) at %s devices. First AWS quota that cannot be raised: **%s** at %s devices.",
			q1(first), first.Kind, devicesLabel(first.SaturatesAt), q1(hard), devicesLabel(hard.SaturatesAt)),
		fmt.Sprintf("Every Secrets Manager write pooled in one 50/s quota, as the benchmark proxy counts them (stricter than AWS, which gives CreateSecret, DeleteSecret and RotateSecret their own 50/s): %.2f/s average, %.2f/s peak at 1 million devices.", avgW, peakW),
		memoryNote(ms, st),
		"Durations are wall time on this machine with the injected delays (SM 25 ms, DDB 6 ms). "+
			"A stream record without a lifecycle event (a last-use write, an audit entry) is taken as 1 ms of the stream function; the event source mapping is taken to hand 10 records per invocation.",
		fmt.Sprintf("Item sizes measured in this run: device %.0f B, mailbox %.0f B, audit entry %.0f B; with a year of audit entries the table holds %.0f B per device.",
			ms.DeviceItemBytes, ms.MailboxItemBytes, ms.AuditItemBytes, m.TableBytesPerDevice()),
		fmt.Sprintf("The reconciler walks the fleet in %d mailbox slices, as many per run as fit its %g s timeout less a %g s margin: a pass lists %d secrets per ListSecrets page at %.0f ms each and reads the device items 100 per BatchGetItem (timed as their bytes of a 1 MB page at %.0f ms, assumed), one after the other; one slice must fit a run.",
			capacity.ReconcileSlices, st.ReconcilerTimeoutSec, capacity.ReconcileMarginSec, ms.ListPageSize, ms.SecretsRoundTripSec*1000, ms.ScanPageSec*1000),
	)

	// The verifier-only device class, weighed at 1 million devices.
	vo := table{caption: "**Verifier-only devices** (a design under study, not built): the same profile at 1 million devices with a share of devices kept without a secret:", head: []string{"verifier-only share", "monthly cost", "per device", "SM writes/s at the peak (pooled)", "first AWS quota that cannot be raised"}}
	for _, s := range []float64{0, 0.5, 0.9} {
		mm := m
		mm.Profile.VerifierOnlyShare = s
		f := mm.Fleet(1_000_000)
		_, pk := mm.WritesPerSecond(1_000_000)
		h, ok := f.First(capacity.AWSFixed)
		first := "none"
		if ok {
			first = fmt.Sprintf("%s at %s devices", q1(h), devicesLabel(h.SaturatesAt))
		}
		vo.add(pct(s), usd(f.Total()), usd(f.Total()/f.Devices), fmt.Sprintf("%.2f", pk), first)
	}
	sec.extra = append(sec.extra, vo)

	renderSimulation(sec, days)
}

// q1 names a quota shortly.
func q1(q capacity.Quota) string { return q.Name }

func devicesLabel(n float64) string {
	switch {
	case math.IsInf(n, 1):
		return "never"
	case n >= 1e8:
		return fmt.Sprintf("%.0fM", n/1e6)
	case n >= 1e6:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", n/1e6), "0"), ".0") + "M"
	case n >= 1e3:
		return fmt.Sprintf("%.0fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func devicesAt(n float64) string {
	if math.IsInf(n, 1) {
		return "never (does not grow with devices)"
	}
	return devicesLabel(n) + " devices"
}

func usd(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("$%.0f", x)
	case x >= 1:
		return fmt.Sprintf("$%.2f", x)
	case x >= 0.01:
		return fmt.Sprintf("$%.3f", x)
	}
	return fmt.Sprintf("$%.4f", x)
}

func pct(x float64) string {
	switch {
	case x == 0:
		return "0%"
	case x < 0.001:
		return "<0.1%"
	case x < 0.1:
		return fmt.Sprintf("%.1f%%", x*100)
	}
	return fmt.Sprintf("%.0f%%", x*100)
}

func limitNum(x float64) string {
	if x == math.Trunc(x) {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%g", x)
}

func ms1(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f ms", x)
	}
	return fmt.Sprintf("%.1f ms", x)
}

// scenario is one simulated day.
type scenario struct {
	name string
	day  capacity.BusyDay
	res  capacity.SimResult
}

// busyDays are the days section 6 simulates: the default busy day, a
// credential scare in which a tenth of the fleet regenerates (40% of them
// in the peak hour), and the same scare compressed into 15 minutes, to
// show where the write quota breaks.
func busyDays(d capacity.BusyDay) []scenario {
	scare, flash := d, d
	scare.Regenerates = d.Devices / 10
	flash.Regenerates, flash.PeakLength = d.Devices/20, 15*time.Minute
	return []scenario{
		{name: fmt.Sprintf("busy day: %d creates, %d regenerates", d.Creates, d.Regenerates), day: d},
		{name: fmt.Sprintf("scare: %d regenerates (10%% of devices)", scare.Regenerates), day: scare},
		{name: fmt.Sprintf("flash: %d regenerates, 40%% in 15 minutes", flash.Regenerates), day: flash},
	}
}

// renderSimulation adds the busy days' table.
func renderSimulation(sec *section, days []scenario) {
	d := days[0].day
	t := table{caption: fmt.Sprintf("**Busy days, simulated** (`capacity.Simulate`, virtual clock; calls per operation from the in-memory fakes, "+
		"`capacity.Calibrate`): %s devices; %d rotations due, each at a random instant of a %s window (Secrets Manager's window for a rotation "+
		"every N days closes at the end of the UTC day); creates and regenerates, %.0f%% of them in the peak from %s (one hour unless said), the rest over the day; "+
		"%.0f verifications per device. Secrets Manager writes pooled at %d per second as the benchmark proxy "+
		"enforces them, throttles retried as `awsx.NewRetryer` does (%d attempts, full jitter up to %s); %d rotation slots (reserved concurrency); "+
		"SM %s and DDB %s per call; verifications through the verify route's token bucket (%g/s, burst %g).",
		devicesLabel(float64(d.Devices)), days[0].res.RotationsDue, d.RotationWindow, d.PeakShare*100,
		clock(d.PeakStart), d.VerifiesPerDevice, d.WriteQuota, awsx.MaxAttempts, awsx.MaxBackoff,
		d.RotationConcurrency, d.SecretsLatency, d.DynamoLatency, d.VerifyRate, d.VerifyBurst),
		head: []string{"measure"}}
	for _, s := range days {
		t.head = append(t.head, s.name)
	}
	row := func(what string, f func(capacity.BusyDay, capacity.SimResult) string) {
		cells := []string{what}
		for _, s := range days {
			cells = append(cells, f(s.day, s.res))
		}
		t.add(cells...)
	}
	ops := func(m map[capacity.Op]int) string {
		return fmt.Sprintf("create %d, regenerate %d, rotation %d", m[capacity.OpCreate], m[capacity.OpRegenerate], m[capacity.OpRotation])
	}
	row("Secrets Manager writes throttled (each retried)", func(_ capacity.BusyDay, r capacity.SimResult) string { return fmt.Sprint(r.Throttles) })
	row("operations that needed a retry", func(_ capacity.BusyDay, r capacity.SimResult) string { return ops(r.Retried) })
	row("operations that ran out of attempts (the caller sees an error)", func(_ capacity.BusyDay, r capacity.SimResult) string { return ops(r.Failed) })
	row("most writes admitted in one second", func(d capacity.BusyDay, r capacity.SimResult) string {
		return fmt.Sprintf("%d (quota %d)", r.MaxWritesPerSecond, d.WriteQuota)
	})
	for _, op := range []capacity.Op{capacity.OpCreate, capacity.OpRegenerate} {
		row(string(op)+" latency in the peak: p50 / p99 / max (of those done)", func(_ capacity.BusyDay, r capacity.SimResult) string {
			return fmt.Sprintf("%s / %s / %s (%d)", ms(r.Percentile(op, 50)), ms(r.Percentile(op, 99)), ms(r.Percentile(op, 100)), len(r.PeakLatency[op]))
		})
	}
	row("rotations done / due; finished after their window", func(_ capacity.BusyDay, r capacity.SimResult) string {
		return fmt.Sprintf("%d / %d; %d", r.Done[capacity.OpRotation], r.RotationsDue, r.RotationsLate)
	})
	row("longest wait for a rotation slot", func(_ capacity.BusyDay, r capacity.SimResult) string {
		return r.MaxRotationWait.Round(time.Millisecond).String()
	})
	row("verifications offered; refused by the route's throttle (429)", func(_ capacity.BusyDay, r capacity.SimResult) string {
		return fmt.Sprintf("%.0f; %.0f (%s), busiest second %.0f/s", r.VerifiesOffered, r.VerifiesThrottled, pct(r.VerifiesThrottled/max(r.VerifiesOffered, 1)), r.VerifyPeakPerSecond)
	})
	row("calls stepped through", func(_ capacity.BusyDay, r capacity.SimResult) string { return fmt.Sprint(r.Events) })
	sec.extra = append(sec.extra, t)
	r := days[0].res
	missed := "no rotation missed its window"
	if late := r.RotationsLate + r.Failed[capacity.OpRotation]; late > 0 {
		missed = fmt.Sprintf("**%d rotations missed their window**", late)
	}
	sec.summary = append(sec.summary, []string{"busy day at " + devicesLabel(float64(d.Devices)) + " devices (simulated): throttles; regenerate p99 at the peak; rotations",
		fmt.Sprintf("%d throttles; %s; %s", r.Throttles, ms(r.Percentile(capacity.OpRegenerate, 99)), missed), "no rotation late", verdict(r.RotationsLate == 0 && r.Failed[capacity.OpRotation] == 0)})
	for _, s := range days[1:] {
		sec.notes = append(sec.notes, fmt.Sprintf("%s: %d throttles, %d operations needed a retry, %d ran out of attempts; regenerate p99 in the peak %s; %d rotations missed their window.",
			s.name, s.res.Throttles, s.res.Retried[capacity.OpCreate]+s.res.Retried[capacity.OpRegenerate]+s.res.Retried[capacity.OpRotation],
			s.res.Failed[capacity.OpCreate]+s.res.Failed[capacity.OpRegenerate]+s.res.Failed[capacity.OpRotation],
			ms(s.res.Percentile(capacity.OpRegenerate, 99)), s.res.RotationsLate+s.res.Failed[capacity.OpRotation]))
	}
}

// clock formats an offset into the day as hh:mm.
func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// memoryNote says how much of the configured memory the hot functions
// used.
func memoryNote(ms capacity.Measured, st capacity.Stack) string {
	if len(ms.PeakMemoryMB) == 0 {
		return fmt.Sprintf("Function memory not measured in this run (-quick); Lambda bills the configured %d MB either way.", st.MemoryMB)
	}
	var parts []string
	for _, fn := range []string{"api", "verify"} {
		if v, ok := ms.PeakMemoryMB[fn]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f MB", fn, v))
		}
	}
	return fmt.Sprintf("Peak resident memory of the functions' own binaries (built as `make build` builds them, for this machine) after %d real requests each "+
		"(verifications; device lists), read from /proc: %s, of the %d MB the stack configures. Lambda bills the configured memory, so the cost uses %d MB; "+
		"a lower setting would also lower the CPU share Lambda gives the function, trading duration for memory.", memoryRequests, strings.Join(parts, ", "), st.MemoryMB, st.MemoryMB)
}
