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

// Reconcile is the reconciliation use case; *device.Repair is one.
type Reconcile interface {
	Reconcile(ctx context.Context, lister device.SecretLister, scanner device.DeviceScanner, minAge time.Duration) (device.ReconcileReport, error)
}

// Reconciler is the reconciler function's handler: one reconciliation per
// invocation, its report logged and its counts emitted as CloudWatch
// metrics in the Embedded Metric Format. EMF is a log line that CloudWatch
// Logs turns into metrics, so the function needs no cloudwatch:PutMetricData.
type Reconciler struct {
	svc     Reconcile
	lister  device.SecretLister
	scanner device.DeviceScanner
	minAge  time.Duration
	log     *slog.Logger
	metrics io.Writer
	now     func() time.Time
}

// NewReconciler returns the reconciler's handler: svc reconciles the
// secrets lister lists with the devices scanner visits, leaving alone what
// is younger than minAge; metrics receives the EMF lines (stdout in
// Lambda); logger nil means slog.Default().
func NewReconciler(svc Reconcile, lister device.SecretLister, scanner device.DeviceScanner, metrics io.Writer, minAge time.Duration, logger *slog.Logger) (*Reconciler, error) {
	if svc == nil || lister == nil || scanner == nil || metrics == nil {
		return nil, errors.New("lifecycle: NewReconciler needs a reconcile use case, a secret lister, a device scanner and a metrics writer")
	}
	if minAge < 0 {
		return nil, fmt.Errorf("lifecycle: negative reconciler min age %s", minAge)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Reconciler{svc: svc, lister: lister, scanner: scanner, minAge: minAge, log: logger, metrics: metrics, now: time.Now}, nil
}

// Handle runs one reconciliation. Its error is the reconciliation's own
// (listing or scanning failed); repairs that failed are counted in the
// report's Failures and retried by the next run. Either way the metrics
// line is written, with a failed run counted as one more failure, so an
// alarm on Failures sees it.
func (r *Reconciler) Handle(ctx context.Context) (device.ReconcileReport, error) {
	start := r.now()
	rep, err := r.svc.Reconcile(ctx, r.lister, r.scanner, r.minAge)
	attrs := []any{
		"secrets", rep.Secrets, "devices", rep.Devices,
		"orphan_secrets_deleted", rep.OrphanSecretsDeleted, "ended_secrets_deleted", rep.EndedSecretsDeleted,
		"rotations_finished", rep.RotationsFinished, "pending_cleared", rep.PendingCleared,
		"devices_without_secret", rep.DevicesWithoutSecret, "schedules_repaired", rep.SchedulesRepaired,
		"descriptions_repaired", rep.DescriptionsRepaired, "failures", rep.Failures,
		"duration_ms", r.now().Sub(start).Milliseconds(),
	}
	metrics := rep
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
	return rep, err
}

func repairs(rep device.ReconcileReport) int {
	return rep.OrphanSecretsDeleted + rep.EndedSecretsDeleted + rep.RotationsFinished + rep.PendingCleared + rep.DevicesWithoutSecret + rep.SchedulesRepaired + rep.DescriptionsRepaired
}

// ReconcileMetrics are the names of the reconciler's metrics, in the order
// the EMF line lists them.
var ReconcileMetrics = []string{
	"OrphanSecretsDeleted", "EndedSecretsDeleted", "RotationsFinished",
	"PendingCleared", "DevicesWithoutSecret", "SchedulesRepaired", "DescriptionsRepaired", "Failures",
}

// WriteReconcileMetrics writes rep as one CloudWatch Embedded Metric
// Format line: the ReconcileMetrics, without dimensions, in namespace
// MetricNamespace, at the instant at.
func WriteReconcileMetrics(w io.Writer, rep device.ReconcileReport, at time.Time) error {
	values := map[string]int{
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
