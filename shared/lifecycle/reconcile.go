package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// MetricNamespace is the CloudWatch namespace of devicepass's own metrics.
const MetricNamespace = "devicepass"

// ReconcileMinAge is how old a secret or a device must be before the
// reconciler repairs it: older than any create or revoke still in flight.
const ReconcileMinAge = 5 * time.Minute

// ReconcileMargin is how long before the function's deadline a run starts
// no further slice: more than one slice's listing, reads and repairs plus
// the checkpoint write take, so that a run ends on its own, its metrics
// written, rather than at the timeout.
const ReconcileMargin = 120 * time.Second

// Reconcile is the reconciliation use case; *device.Repair is one.
type Reconcile interface {
	ReconcileSliced(ctx context.Context, lister device.SecretLister, scanner device.DeviceScanner, cp device.Checkpoint, minAge time.Duration, until time.Time, now func() time.Time) (device.SlicedReport, error)
}

// Reconciler is the reconciler function's handler: each invocation
// reconciles the mailbox slices it has time for, from where the previous
// one stopped (device.ReconcileSliced), its report logged and its counts emitted as CloudWatch
// metrics in the Embedded Metric Format. EMF is a log line that CloudWatch
// Logs turns into metrics, so the function needs no cloudwatch:PutMetricData.
type Reconciler struct {
	svc     Reconcile
	lister  device.SecretLister
	scanner device.DeviceScanner
	cp      device.Checkpoint
	minAge  time.Duration
	margin  time.Duration
	log     *slog.Logger
	metrics io.Writer
	now     func() time.Time
}

// NewReconciler returns the reconciler's handler: svc reconciles the
// secrets lister lists with the devices scanner visits, slice by slice
// from the checkpoint cp, starting no slice later than margin before the
// invocation's deadline, leaving alone what is younger than minAge;
// metrics receives the EMF lines (stdout in Lambda); logger nil means
// slog.Default().
func NewReconciler(svc Reconcile, lister device.SecretLister, scanner device.DeviceScanner, cp device.Checkpoint, metrics io.Writer, minAge, margin time.Duration, logger *slog.Logger) (*Reconciler, error) {
	if svc == nil || lister == nil || scanner == nil || cp == nil || metrics == nil {
		return nil, errors.New("lifecycle: NewReconciler needs a reconcile use case, a secret lister, a device scanner, a checkpoint and a metrics writer")
	}
	if minAge < 0 || margin < 0 {
		return nil, fmt.Errorf("lifecycle: negative reconciler min age %s or margin %s", minAge, margin)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Reconciler{svc: svc, lister: lister, scanner: scanner, cp: cp, minAge: minAge, margin: margin, log: logger, metrics: metrics, now: time.Now}, nil
}

// Handle runs one reconciler invocation (Run) and returns its counts.
func (r *Reconciler) Handle(ctx context.Context) (device.ReconcileReport, error) {
	rep, err := r.Run(ctx)
	return rep.ReconcileReport, err
}

// Run reconciles the slices there is time for before ctx's deadline less
// the margin (all of them once when ctx has no deadline). Its error is the
// reconciliation's own (listing, reading or the checkpoint failed);
// repairs that failed are counted in the report's Failures and retried by
// the next pass. Either way the metrics line is written, with how far the
// run got and a failed run counted as one more failure, so an alarm on
// Failures sees it.
func (r *Reconciler) Run(ctx context.Context) (device.SlicedReport, error) {
	start := r.now()
	var until time.Time
	if d, ok := ctx.Deadline(); ok {
		until = d.Add(-r.margin)
	}
	sliced, err := r.svc.ReconcileSliced(ctx, r.lister, r.scanner, r.cp, r.minAge, until, r.now)
	rep := sliced.ReconcileReport
	attrs := []any{
		"first_slice", sliced.FirstSlice, "slices_done", sliced.SlicesDone, "next_slice", sliced.NextSlice,
		"passes_ended", sliced.PassesEnded, "stopped_at_budget", sliced.Stopped,
		"secrets", rep.Secrets, "devices", rep.Devices,
		"orphan_secrets_deleted", rep.OrphanSecretsDeleted, "ended_secrets_deleted", rep.EndedSecretsDeleted,
		"rotations_finished", rep.RotationsFinished, "pending_cleared", rep.PendingCleared,
		"devices_without_secret", rep.DevicesWithoutSecret, "schedules_repaired", rep.SchedulesRepaired,
		"descriptions_repaired", rep.DescriptionsRepaired, "failures", rep.Failures,
		"duration_ms", r.now().Sub(start).Milliseconds(),
	}
	metrics := sliced
	switch {
	case err != nil:
		metrics.Failures++
		r.log.ErrorContext(ctx, "reconciliation failed", append(attrs, "error", err.Error())...)
	case rep.Failures > 0:
		r.log.ErrorContext(ctx, "reconciliation done with failures", attrs...)
	case repairs(rep) > 0:
		r.log.WarnContext(ctx, "reconciliation repaired crash leftovers", attrs...)
	default:
		r.log.InfoContext(ctx, "reconciliation found nothing to repair", attrs...)
	}
	if werr := WriteReconcileMetrics(r.metrics, metrics, r.now()); werr != nil {
		r.log.ErrorContext(ctx, "could not write the reconciler's metrics", "error", werr.Error())
	}
	return sliced, err
}

func repairs(rep device.ReconcileReport) int {
	return rep.OrphanSecretsDeleted + rep.EndedSecretsDeleted + rep.RotationsFinished + rep.PendingCleared + rep.DevicesWithoutSecret + rep.SchedulesRepaired + rep.DescriptionsRepaired
}

// ReconcileMetrics are the names of the reconciler's metrics, in the order
// the EMF line lists them: the repairs, the failures, and how far the run
// got (slices reconciled, the slice the next run starts with).
var ReconcileMetrics = []string{
	"OrphanSecretsDeleted", "EndedSecretsDeleted", "RotationsFinished",
	"PendingCleared", "DevicesWithoutSecret", "SchedulesRepaired", "DescriptionsRepaired", "Failures",
	"SlicesReconciled", "NextSlice",
}

// WriteReconcileMetrics writes rep as one CloudWatch Embedded Metric
// Format line: the ReconcileMetrics, without dimensions, in namespace
// MetricNamespace, at the instant at.
func WriteReconcileMetrics(w io.Writer, rep device.SlicedReport, at time.Time) error {
	values := map[string]int{
		"SlicesReconciled":     rep.SlicesDone,
		"NextSlice":            rep.NextSlice,
		"OrphanSecretsDeleted": rep.OrphanSecretsDeleted,
		"EndedSecretsDeleted":  rep.EndedSecretsDeleted,
		"RotationsFinished":    rep.RotationsFinished,
		"PendingCleared":       rep.PendingCleared,
		"DevicesWithoutSecret": rep.DevicesWithoutSecret,
		"SchedulesRepaired":    rep.SchedulesRepaired,
		"DescriptionsRepaired": rep.DescriptionsRepaired,
		"Failures":             rep.Failures,
	}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	defs := make([]metric, 0, len(ReconcileMetrics))
	doc := map[string]any{}
	for _, name := range ReconcileMetrics {
		defs = append(defs, metric{Name: name, Unit: "Count"})
		doc[name] = values[name]
	}
	doc["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  MetricNamespace,
			"Dimensions": [][]string{{}},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
