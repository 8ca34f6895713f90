package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/benchproxy"
)

// Secrets Manager's quota on writes, per second and Region.
const writeQuota = 50

// quota creates many devices at once through a proxy that throttles
// Secrets Manager writes above AWS's quota, as AWS does.
func (b *bench) quota(ctx context.Context) (section, error) {
	mailboxes, perMailbox, limit := 20, 50, 150*time.Second
	if b.o.quick {
		mailboxes, perMailbox, limit = 10, 10, 30*time.Second
	}
	total := mailboxes * perMailbox
	quotaFloor := time.Duration(float64(total) / writeQuota * float64(time.Second))
	sec := section{
		title: titleQuota,
		intro: fmt.Sprintf("**%d devices** created through the domain service by **%d concurrent clients** (one per mailbox, %d devices each, "+
			"the default cap of 50 live devices per mailbox), with the same injected latency as section 3 and the proxy answering Secrets Manager writes "+
			"(%s) above **%d per second** (in any one-second window) with HTTP 400 `ThrottlingException: Rate exceeded`, as AWS does. "+
			"The functions' retry policy (`awsx.NewRetryer`: %d attempts, exponential backoff with full jitter up to %s, no client-side retry quota) "+
			"retries them. Each create makes one Secrets Manager write, so the quota's floor is %d ÷ %d/s = %s.",
			total, mailboxes, perMailbox, strings.Join(benchproxy.SecretsManagerWrites, ", "), writeQuota,
			awsx.MaxAttempts, awsx.MaxBackoff, total, writeQuota, quotaFloor),
		table: table{head: []string{"measure", "value", "target"}},
	}
	smProxy, ddbProxy, awsCfg, err := b.proxies(ctx, &benchproxy.Throttle{Operations: benchproxy.SecretsManagerWrites, PerSecond: writeQuota})
	if err != nil {
		return sec, err
	}
	defer smProxy.Close()
	defer ddbProxy.Close()
	r, err := b.newRig(ctx, awsCfg, device.Config{})
	if err != nil {
		return sec, err
	}
	boxes := make([]string, mailboxes)
	for i := range boxes {
		if boxes[i], err = r.mailbox(ctx, i); err != nil {
			return sec, err
		}
	}
	// Let the provisioning's writes leave the quota's window.
	time.Sleep(time.Second)
	smProxy.Reset()
	r.attempts.Reset()

	runCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		failed  int
		lastErr error
		wg      sync.WaitGroup
	)
	start := time.Now()
	for w, mb := range boxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perMailbox && runCtx.Err() == nil; i++ {
				t0 := time.Now()
				_, err := r.app.Service.CreateDevice(runCtx, owner(w), mb, device.CreateInput{Name: fmt.Sprintf("bulk %d", i)}, "")
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					failed++
					lastErr = err
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stats := smProxy.Stats()

	stored := 0
	for w, mb := range boxes {
		p, err := r.app.Service.ListDevices(ctx, owner(w), mb, "", 100)
		if err != nil {
			return sec, err
		}
		stored += len(p.Devices)
	}
	hist, opFailed := r.attempts.histogram("CreateSecret")
	var histParts []string
	retried := 0
	maxAttempts := 0
	for _, h := range hist {
		histParts = append(histParts, fmt.Sprintf("%d attempt%s: %d", h[0], plural(h[0]), h[1]))
		if h[0] > 1 {
			retried += h[1]
		}
		maxAttempts = max(maxAttempts, h[0])
	}
	perSec := stats.PerSecond()
	busy := perSec
	if len(busy) > 1 {
		busy = busy[:len(busy)-1] // the last second is partial
	}
	peak, low, sum := 0, 1<<30, 0
	for _, n := range busy {
		peak, low, sum = max(peak, n), min(low, n), sum+n
	}
	if len(busy) == 0 {
		low = 0
	}
	mean := 0.0
	if len(busy) > 0 {
		mean = float64(sum) / float64(len(busy))
	}
	writes := len(stats.Admitted)

	sec.summary = append(sec.summary,
		[]string{fmt.Sprintf("bulk creation of %d devices at %d writes/s: requests failed", total, writeQuota), fmt.Sprintf("%d (%d throttles retried)", failed, stats.TotalThrottled()), "0", verdict(failed == 0 && len(lat) == total)},
		[]string{"bulk creation: total time ÷ quota floor", fmt.Sprintf("%.1f s ÷ %.0f s = %.2f×", elapsed.Seconds(), quotaFloor.Seconds(), elapsed.Seconds()/quotaFloor.Seconds()), "near 1×", "—"})
	t := &sec.table
	t.add("devices created (and listed back)", fmt.Sprintf("%d of %d (%d listed)", len(lat), total, stored), fmt.Sprintf("%d", total))
	t.add("requests failed", fmt.Sprintf("%d", failed), "0")
	t.add("`ThrottlingException` answers (each retried)", fmt.Sprintf("%d", stats.TotalThrottled()), "any: throttling is expected")
	t.add("`CreateSecret` operations that needed a retry", fmt.Sprintf("%d of %d (most attempts for one: %d of %d allowed)", retried, len(lat)+opFailed, maxAttempts, awsx.MaxAttempts), "")
	t.add("Secrets Manager writes admitted", fmt.Sprintf("%d (%.2f per device)", writes, float64(writes)/float64(max(len(lat), 1))), "1 per device")
	t.add("total time", fmt.Sprintf("%.1f s", elapsed.Seconds()), fmt.Sprintf("near the floor, %.0f s", quotaFloor.Seconds()))
	t.add("total time ÷ quota floor", fmt.Sprintf("%.2f×", elapsed.Seconds()/quotaFloor.Seconds()), "close to 1×")
	t.add("writes admitted per whole second", fmt.Sprintf("mean %.1f, min %d, max %d", mean, low, peak), fmt.Sprintf("≤ %d", writeQuota))
	t.add("create latency p50 / p99 / max (backoff included)", fmt.Sprintf("%s / %s / %s", ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100))), "")

	sec.notes = append(sec.notes, "`CreateSecret` attempts per operation: "+strings.Join(histParts, ", ")+".")
	var causes []string
	for _, op := range benchproxy.SecretsManagerWrites {
		for _, c := range r.attempts.retryCauses(op) {
			causes = append(causes, op+" after "+c)
		}
	}
	if len(causes) > 0 {
		sec.notes = append(sec.notes, "Retried attempts by cause: "+strings.Join(causes, "; ")+".")
	}
	if writes > len(lat) {
		extra := writes - len(lat)
		sec.notes = append(sec.notes, fmt.Sprintf("%d more write%s admitted than devices made: attempts that passed the quota and then failed in the stand-in "+
			"and were retried (see the causes), or compensating deletes.", extra, map[bool]string{true: " was", false: "s were"}[extra == 1]))
	}
	sec.notes = append(sec.notes, fmt.Sprintf("Writes admitted in each second of the run: %s.", joinInts(perSec)))
	if failed > 0 {
		sec.notes = append(sec.notes, fmt.Sprintf("%d creates failed; the last error: %v", failed, lastErr))
	}
	if runCtx.Err() != nil && len(lat)+failed < total {
		sec.notes = append(sec.notes, fmt.Sprintf("Stopped at the section's time limit (%s) before every device was made.", limit))
	}
	if elapsed > quotaFloor*5/4 {
		sec.notes = append(sec.notes, fmt.Sprintf("Why above the floor: after a throttle the SDK's standard retryer waits a random 0-1 s, "+
			"after a second one 0-2 s, then 0-%s (full jitter, 1 s base for throttles), so refused clients sit out while the quota has room; "+
			"in those gaps the clients' offered rate, not the quota, sets the pace.", awsx.MaxBackoff))
	}
	return sec, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, " ")
}
