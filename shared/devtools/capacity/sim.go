package capacity

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/devicepass/devicepass/shared/awsx"
)

// Assumed in-Region times: one 1 MB Scan page, and one call to each
// service (the benchmark proxy's injected delays).
const (
	ScanPageSeconds       = 0.1
	DefaultSecretsLatency = 25 * time.Millisecond
	DefaultDynamoLatency  = 6 * time.Millisecond
)

// BusyDay is a simulated day of one cell. Creates, regenerates and
// scheduled rotations run call by call on a virtual clock, each Secrets
// Manager write through the benchmark proxy's quota (at most WriteQuota in
// any one-second window, refused with a throttle that the functions'
// retryer retries); verifications, which never call Secrets Manager, are
// counted per second through the verify route's token bucket.
type BusyDay struct {
	Devices int
	// RotationEveryDays spreads the fleet's rotations: Devices /
	// RotationEveryDays fall due today, each at a uniformly random instant
	// of RotationWindow from WindowStart (Secrets Manager's rotation
	// window), and must finish within it.
	RotationEveryDays           float64
	WindowStart, RotationWindow time.Duration
	// Creates and Regenerates of the day; PeakShare of them arrive in the
	// PeakLength (default one hour) from PeakStart, the morning peak; the
	// rest over the day.
	Creates, Regenerates  int
	PeakStart, PeakLength time.Duration
	PeakShare             float64
	// VerifiesPerDevice of the day; VerifyPeakShare of them in the hour
	// from PeakStart, the rest spread evenly.
	VerifiesPerDevice float64
	VerifyPeakShare   float64
	// Exact verification counts by kind replace VerifiesPerDevice when set
	// (the comparison with the stand-ins uses them).
	Verifies map[Op]int
	// LastUseWriteShare and VerifyFailureShare split the verifications.
	LastUseWriteShare, VerifyFailureShare float64
	// VerifyRate and VerifyBurst are the verify route's throttle.
	VerifyRate, VerifyBurst float64
	// WriteQuota is Secrets Manager writes admitted per second, pooled.
	WriteQuota int
	// RotationConcurrency is the rotation function's reserved concurrency.
	RotationConcurrency int
	// Latencies of one call to each service.
	SecretsLatency, DynamoLatency time.Duration
	// Seq are the operations' calls (Calibrate).
	Seq  Sequences
	Seed uint64
}

// DefaultBusyDay is the day the report simulates: a million devices of
// the default profile, with a morning in which 1% of the fleet adds a
// device and 2% regenerate (a phishing scare), 40% of it in one hour.
func DefaultBusyDay(stack Stack) (BusyDay, error) {
	seq, err := Calibrate(DefaultProfile.DevicesPerMailbox)
	if err != nil {
		return BusyDay{}, err
	}
	return BusyDay{
		Devices: 1_000_000, RotationEveryDays: DefaultProfile.RotationEveryDays,
		WindowStart: 0, RotationWindow: 24 * time.Hour,
		Creates: 10_000, Regenerates: 20_000, PeakStart: 8 * time.Hour, PeakShare: 0.4,
		VerifiesPerDevice: DefaultProfile.VerifiesPerDeviceDay, VerifyPeakShare: 0.125,
		LastUseWriteShare: DefaultProfile.LastUseWriteShare, VerifyFailureShare: DefaultProfile.VerifyFailureShare,
		VerifyRate: stack.VerifyRateLimit, VerifyBurst: 2 * stack.VerifyRateLimit,
		WriteQuota: 50, RotationConcurrency: stack.RotationConcurrency,
		SecretsLatency: DefaultSecretsLatency, DynamoLatency: DefaultDynamoLatency,
		Seq: seq, Seed: 1,
	}, nil
}

// SimResult is what the simulated day saw.
type SimResult struct {
	// Calls admitted by AWS, by "<service>.<operation>".
	Calls map[string]int
	// Throttles are refused Secrets Manager writes; Retried the operations
	// that needed at least one retry; Failed those that ran out of
	// attempts.
	Throttles int
	Retried   map[Op]int
	Failed    map[Op]int
	Done      map[Op]int
	// Peak-hour latencies of creates and regenerates, from arrival to the
	// last call's answer, on the simulated clock.
	PeakLatency map[Op][]time.Duration
	// RotationsDue, RotationsLate (finished after their window closed) and
	// the longest wait for a rotation function slot.
	RotationsDue, RotationsLate int
	MaxRotationWait             time.Duration
	// WritesPerSecond admitted in each second of the day.
	MaxWritesPerSecond int
	// Verifications offered and refused by the route's throttle (HTTP 429;
	// the mail server answers "temporary failure"), and the busiest
	// second's offered rate.
	VerifiesOffered, VerifiesThrottled float64
	VerifyPeakPerSecond                float64
	// Events is how many calls the simulation stepped through.
	Events int
}

// Percentile returns the p-th percentile (0-100) of op's peak latencies.
func (r SimResult) Percentile(op Op, p float64) time.Duration {
	s := append([]time.Duration(nil), r.PeakLatency[op]...)
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// run is one operation in flight.
type run struct {
	op       Op
	arrival  time.Duration
	deadline time.Duration // rotations: the window's end
	call     int           // next call
	attempt  int           // of the current call, from 1
	retried  bool
	slot     bool          // rotations: holds a slot of the function's concurrency
	at       time.Duration // when the next step happens
	index    int
}

type queue []*run

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *queue) Push(x any)        { r := x.(*run); r.index = len(*q); *q = append(*q, r) }
func (q *queue) Pop() any          { old := *q; r := old[len(old)-1]; *q = old[:len(old)-1]; return r }
func isSecretsWrite(c Call) bool {
	if c.Service != SecretsManager {
		return false
	}
	for _, w := range AllSecretWrites {
		if w == c.Operation {
			return true
		}
	}
	return false
}

// Simulate runs the day.
func Simulate(d BusyDay) (SimResult, error) {
	if d.WriteQuota < 1 || d.RotationConcurrency < 1 {
		return SimResult{}, errors.New("capacity: a busy day needs a write quota and rotation concurrency")
	}
	for _, op := range []Op{OpCreate, OpRegenerate, OpRotation, OpVerifyFirst, OpVerifyAgain, OpVerifyFailure} {
		if len(d.Seq[op]) == 0 {
			return SimResult{}, fmt.Errorf("capacity: no calls for %s", op)
		}
	}
	rng := rand.New(rand.NewPCG(d.Seed, 0x5eed))
	res := SimResult{Calls: map[string]int{}, Retried: map[Op]int{}, Failed: map[Op]int{}, Done: map[Op]int{}, PeakLatency: map[Op][]time.Duration{}}
	const day = 24 * time.Hour
	if d.PeakLength <= 0 {
		d.PeakLength = time.Hour
	}
	peakEnd := d.PeakStart + d.PeakLength
	at := func() time.Duration { // an arrival of people's traffic
		if rng.Float64() < d.PeakShare {
			return d.PeakStart + time.Duration(rng.Int64N(int64(d.PeakLength)))
		}
		return time.Duration(rng.Int64N(int64(day)))
	}
	var q queue
	var waiting []*run // rotations waiting for a function slot, in order
	slots := d.RotationConcurrency
	for i := 0; i < d.Creates; i++ {
		heap.Push(&q, &run{op: OpCreate, arrival: at()})
	}
	for i := 0; i < d.Regenerates; i++ {
		heap.Push(&q, &run{op: OpRegenerate, arrival: at()})
	}
	due := 0
	if d.RotationEveryDays > 0 {
		due = int(math.Round(float64(d.Devices) / d.RotationEveryDays))
	}
	res.RotationsDue = due
	for i := 0; i < due; i++ {
		a := d.WindowStart + time.Duration(rng.Int64N(int64(d.RotationWindow)))
		heap.Push(&q, &run{op: OpRotation, arrival: a, deadline: d.WindowStart + d.RotationWindow})
	}
	for _, r := range q {
		r.at = r.arrival
	}
	heap.Init(&q)

	// The write quota: admissions in the last second, oldest first, as
	// shared/devtools/benchproxy keeps them.
	var window []time.Duration
	perSecond := map[int64]int{}
	admit := func(t time.Duration) bool {
		i := 0
		for i < len(window) && window[i] <= t-time.Second {
			i++
		}
		window = window[i:]
		if len(window) >= d.WriteQuota {
			return false
		}
		window = append(window, t)
		perSecond[int64(t/time.Second)]++
		return true
	}
	// release ends a rotation's hold on its slot: the oldest waiting
	// rotation takes it over at once.
	release := func(t time.Duration) {
		if len(waiting) == 0 {
			slots++
			return
		}
		next := waiting[0]
		waiting = waiting[1:]
		next.slot = true
		res.MaxRotationWait = max(res.MaxRotationWait, t-next.arrival)
		next.at = t
		heap.Push(&q, next)
	}
	finish := func(r *run, t time.Duration) {
		res.Done[r.op]++
		if r.retried {
			res.Retried[r.op]++
		}
		if (r.op == OpCreate || r.op == OpRegenerate) && r.arrival >= d.PeakStart && r.arrival < peakEnd {
			res.PeakLatency[r.op] = append(res.PeakLatency[r.op], t-r.arrival)
		}
		if r.op == OpRotation {
			if t > r.deadline {
				res.RotationsLate++
			}
			release(t)
		}
	}
	for q.Len() > 0 {
		r := heap.Pop(&q).(*run)
		t := r.at
		if r.op == OpRotation && !r.slot {
			// Secrets Manager invokes the rotation function; with every
			// reserved slot busy the invocation waits its turn.
			if slots == 0 {
				waiting = append(waiting, r)
				continue
			}
			slots--
			r.slot = true
		}
		c := d.Seq[r.op][r.call]
		r.attempt++
		res.Events++
		lat := d.DynamoLatency
		if c.Service == SecretsManager {
			lat = d.SecretsLatency
		}
		// The proxy holds the request for the latency, then admits it or
		// answers ThrottlingException.
		if isSecretsWrite(c) && !admit(t+lat) {
			res.Throttles++
			r.retried = true
			if r.attempt >= awsx.MaxAttempts {
				res.Failed[r.op]++
				if r.op == OpRotation {
					release(t + lat)
				}
				continue
			}
			r.at = t + lat + backoff(rng, r.attempt)
			heap.Push(&q, r)
			continue
		}
		res.Calls[c.Key()]++
		r.call++
		r.attempt = 0
		if r.call == len(d.Seq[r.op]) {
			finish(r, t+lat)
			continue
		}
		r.at = t + lat
		heap.Push(&q, r)
	}
	if len(waiting) > 0 {
		return res, fmt.Errorf("capacity: %d rotations still wait for a slot at the end of the day", len(waiting))
	}
	for _, n := range perSecond {
		res.MaxWritesPerSecond = max(res.MaxWritesPerSecond, n)
	}
	d.verifications(&res)
	return res, nil
}

// backoff is the standard retryer's wait before retry n (n from 1): a
// random share of 2^(n-1) seconds, capped at awsx.MaxBackoff (full jitter,
// one second base for throttles).
func backoff(rng *rand.Rand, n int) time.Duration {
	ceiling := min(time.Duration(1<<(n-1))*time.Second, awsx.MaxBackoff)
	return time.Duration(rng.Float64() * float64(ceiling))
}

// verifications counts the day's verifications second by second through
// the verify route's token bucket, and the calls of those admitted.
func (d BusyDay) verifications(res *SimResult) {
	kinds := map[Op]float64{}
	total := 0.0
	if d.Verifies != nil {
		for op, n := range d.Verifies {
			kinds[op] = float64(n)
			total += float64(n)
		}
	} else {
		total = float64(d.Devices) * d.VerifiesPerDevice
		ok := total * (1 - d.VerifyFailureShare)
		kinds[OpVerifyFirst] = ok * d.LastUseWriteShare
		kinds[OpVerifyAgain] = ok * (1 - d.LastUseWriteShare)
		kinds[OpVerifyFailure] = total * d.VerifyFailureShare
	}
	if total == 0 {
		return
	}
	const day = 86400
	peakFrom, peakTo := int(d.PeakStart/time.Second), int((d.PeakStart+time.Hour)/time.Second)
	inPeak := total * d.VerifyPeakShare / 3600
	rest := total * (1 - d.VerifyPeakShare) / (day - 3600)
	tokens, admitted := d.VerifyBurst, 0.0
	for s := 0; s < day; s++ {
		offered := rest
		if s >= peakFrom && s < peakTo {
			offered = inPeak
		}
		res.VerifyPeakPerSecond = max(res.VerifyPeakPerSecond, offered)
		tokens = math.Min(d.VerifyBurst, tokens+d.VerifyRate)
		take := math.Min(offered, tokens)
		tokens -= take
		admitted += take
		res.VerifiesThrottled += offered - take
	}
	res.VerifiesOffered = total
	share := admitted / total
	for op, n := range kinds {
		for _, c := range d.Seq[op] {
			res.Calls[c.Key()] += int(math.Round(n * share))
		}
		res.Done[op] += int(math.Round(n * share))
	}
}
