package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// DueExpirer ends devices whose expiry has passed; device.Repair is one.
type DueExpirer interface {
	// ExpireDue ends up to limit due devices and returns how many it ended,
	// with the first error met (the others are still attempted).
	ExpireDue(ctx context.Context, limit int) (int, error)
}

// SweepBatch is how many devices one ExpireDue call of a sweep ends.
const SweepBatch = 100

// sweepMargin is the time a sweep leaves before its deadline: a batch
// started later might not finish before the Lambda is stopped.
const sweepMargin = 10 * time.Second

// maxSweepBatches bounds a sweep without a deadline.
const maxSweepBatches = 1000

// SweepReport is what one sweep did.
type SweepReport struct {
	Expired int  `json:"expired"` // devices ended as expired
	Batches int  `json:"batches"` // ExpireDue calls
	Failed  bool `json:"failed"`
	// Truncated reports that the sweep stopped at its deadline while more
	// devices may be due; the next sweep continues.
	Truncated bool `json:"truncated"`
}

// Sweep is the backstop of expiry: it ends due devices batch by
// batch until a batch comes back short, ctx's deadline nears, or a batch
// fails (the next sweep retries). Verification refuses an expired device
// from its expiry instant whether or not a sweep ran; the sweep records
// the expiry and has the device's secret deleted. It logs a summary.
func Sweep(ctx context.Context, e DueExpirer, log *slog.Logger) (SweepReport, error) {
	if e == nil || log == nil {
		return SweepReport{}, errors.New("lifecycle: Sweep needs an expirer and a logger")
	}
	began := time.Now()
	var rep SweepReport
	var err error
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sweepMargin && rep.Batches > 0 {
			rep.Truncated = true
			break
		}
		var n int
		n, err = e.ExpireDue(ctx, SweepBatch)
		rep.Batches++
		rep.Expired += n
		if err != nil {
			rep.Failed = true
			break
		}
		// A short batch means nothing more is due. A full one may repeat
		// devices the index has not yet dropped (it is eventually
		// consistent); ending them again is harmless, and the deadline
		// bounds the loop.
		if n < SweepBatch || ctx.Err() != nil {
			break
		}
		if rep.Batches >= maxSweepBatches {
			rep.Truncated = true
			break
		}
	}
	attrs := []any{"expired", rep.Expired, "batches", rep.Batches, "truncated", rep.Truncated, "duration_ms", time.Since(began).Milliseconds()}
	if err != nil {
		if ctx.Err() != nil { // stopped from outside (shutdown): not a failure to alarm on
			log.InfoContext(ctx, "expiry sweep interrupted; the next sweep continues", attrs...)
		} else {
			log.ErrorContext(ctx, "expiry sweep stopped on an error; the next sweep retries", append(attrs, "error", err.Error())...)
		}
		return rep, err
	}
	if rep.Expired > 0 || rep.Truncated {
		log.InfoContext(ctx, "expiry sweep", attrs...)
	} else {
		log.DebugContext(ctx, "expiry sweep: nothing due", attrs...)
	}
	return rep, nil
}
