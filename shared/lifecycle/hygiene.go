package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// PolicySweeper applies the domains' inactivity and reminder rules;
// device.Hygiene is one.
type PolicySweeper interface {
	Run(ctx context.Context) (device.HygieneReport, error)
}

// PolicySweep runs the policy part of the sweep once, after the expiry
// part, and logs a summary. A failure leaves the rest to the next sweep:
// every step is a conditional write, so a repeated one changes nothing.
func PolicySweep(ctx context.Context, h PolicySweeper, log *slog.Logger) (device.HygieneReport, error) {
	if h == nil || log == nil {
		return device.HygieneReport{}, errors.New("lifecycle: PolicySweep needs a sweeper and a logger")
	}
	began := time.Now()
	rep, err := h.Run(ctx)
	attrs := []any{"domains", rep.Domains, "warned", rep.Warned, "revoked", rep.Revoked, "reminded", rep.Reminded, "duration_ms", time.Since(began).Milliseconds()}
	if err != nil {
		log.ErrorContext(ctx, "policy sweep met an error; the next sweep retries", append(attrs, "error", err.Error())...)
		return rep, err
	}
	log.InfoContext(ctx, "policy sweep done", attrs...)
	return rep, nil
}
