// Package stream is the DynamoDB stream handler (F10): it turns every
// committed change of the table into lifecycle events (shared/lifecycle),
// records each in the mailbox's audit trail, publishes it to the event bus,
// sends the owner's notice for the events that call for one, and records
// devices that DynamoDB's TTL removed as expired.
//
// Delivery: each event is written to the audit trail first, with a
// conditional write keyed by the change, then published, then marked
// published. A redelivered change finds its entry and is skipped once
// published; a crash between publishing and marking publishes it again, with
// the same id, so consumers dedupe by id (docs/events.md).
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// AuditWriter records events in the audit trail with their publication
// state; dynamo.Store is one.
type AuditWriter interface {
	// PutAudit stores ev unless its entry exists; created is false for an
	// existing entry, and published then says whether it was published.
	PutAudit(ctx context.Context, ev lifecycle.Event, retention time.Duration) (created, published bool, err error)
	// MarkPublished records that ev went to every sink.
	MarkPublished(ctx context.Context, ev lifecycle.Event) error
}

// Expirer records a device DynamoDB's TTL removed as expired and has its
// secret deleted, idempotently; device.Repair is one.
type Expirer interface {
	ExpireRemoved(ctx context.Context, d device.Device) error
}

// EventPublisher delivers an event to a sink: the event bus, or a local
// file.
type EventPublisher interface {
	Publish(ctx context.Context, ev lifecycle.Event) error
}

// Notifier sends the mailbox owner's notice of an event (lifecycle.Notify
// says which).
type Notifier interface {
	Notify(ctx context.Context, ev lifecycle.Event) error
}

var (
	_ AuditWriter = (*dynamo.Store)(nil)
	_ Expirer     = (*device.Repair)(nil)
)

// Options configure a Handler. Audit, Expirer, Retention and Logger are
// required; each sink is optional (nil: skipped, the audit trail is still
// written).
type Options struct {
	Audit     AuditWriter
	Expirer   Expirer
	Retention time.Duration // how long audit entries are kept
	Bus       EventPublisher
	Notifier  Notifier
	// Sink receives every published event too; the local runner appends
	// them to .local/events.jsonl (FileSink).
	Sink   EventPublisher
	Logger *slog.Logger
	// Policies, when set, decides the owner's notice of a new network
	// (the domain's newNetworkNotice); without it there is none.
	Policies device.PolicyReader
}

// Handler handles batches of stream records.
type Handler struct {
	audit     AuditWriter
	expirer   Expirer
	retention time.Duration
	bus       EventPublisher
	notifier  Notifier
	sink      EventPublisher
	log       *slog.Logger
	policies  device.PolicyReader
}

// New returns a Handler, or an error if a required option is missing.
func New(o Options) (*Handler, error) {
	if o.Audit == nil || o.Expirer == nil || o.Logger == nil {
		return nil, errors.New("stream: New needs an audit writer, an expirer and a logger")
	}
	if o.Retention <= 0 {
		return nil, errors.New("stream: New needs a positive audit retention")
	}
	return &Handler{audit: o.Audit, expirer: o.Expirer, retention: o.Retention, bus: o.Bus, notifier: o.Notifier, sink: o.Sink, log: o.Logger, policies: o.Policies}, nil
}

// deadlineMargin is the time left before the Lambda's deadline at which
// the handler stops starting records and reports the rest as failed, so
// they are retried rather than lost to a timeout mid-record.
const deadlineMargin = 3 * time.Second

// Handle is the Lambda handler of the table's stream. It processes the
// records in order and stops at the first that fails, reporting it as the
// batch item failure: Lambda then retries from that record, and the ones
// before it are not processed again. It returns an error only when the
// batch cannot be reported item by item.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	recs := make([]Record, 0, len(ev.Records))
	for _, r := range ev.Records {
		if r.Change.SequenceNumber == "" {
			return resp, fmt.Errorf("stream: record %s has no sequence number; failing the whole batch", r.EventID)
		}
	}
	for _, r := range ev.Records {
		rec, err := FromLambda(r)
		if err != nil {
			// The records before it are processed; it and the ones after it
			// wait (a record that never converts ends at the event source
			// mapping's on-failure destination).
			h.log.ErrorContext(ctx, "unreadable stream record", "event_id", r.EventID, "sequence", r.Change.SequenceNumber, "error", err.Error())
			rec = Record{EventID: r.EventID, SequenceNumber: r.Change.SequenceNumber, unreadable: true}
		}
		recs = append(recs, rec)
	}
	if done, _ := h.HandleRecords(ctx, recs); done < len(recs) {
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: recs[done].SequenceNumber}}
	}
	return resp, nil
}

// HandleRecords processes recs in order until one fails, and returns how
// many it finished and the failure. Records before done are complete;
// recs[done] and the ones after it must be handed over again (the Lambda
// service and the local runner both retry from the failed record).
func (h *Handler) HandleRecords(ctx context.Context, recs []Record) (done int, err error) {
	for i, r := range recs {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < deadlineMargin {
			err = fmt.Errorf("stream: the deadline is near; %d records left for the retry", len(recs)-i)
			h.log.WarnContext(ctx, "stopping before the deadline", "remaining", len(recs)-i)
			return i, err
		}
		if r.unreadable {
			return i, fmt.Errorf("stream: record %s could not be read", r.EventID)
		}
		if err := h.record(ctx, r); err != nil {
			h.log.ErrorContext(ctx, "stream record failed; it will be retried", "event_id", r.EventID, "sequence", r.SequenceNumber, "error", err.Error())
			return i, err
		}
	}
	return len(recs), nil
}

// record processes one change.
func (h *Handler) record(ctx context.Context, r Record) error {
	image := r.New
	if image == nil {
		image = r.Old
	}
	if image == nil {
		image = r.Keys
	}
	var evs []lifecycle.Event
	switch dynamo.KindOf(image) {
	case "device":
		old, cur := deviceOf(r.Old), deviceOf(r.New)
		if r.EventName == OpRemove {
			return h.removed(ctx, r, old)
		}
		evs = lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: r.EventID, Time: r.Time, Old: old, New: cur})
	case "enrollment":
		evs = lifecycle.EnrollmentEvents(lifecycle.EnrollmentChange{ID: r.EventID, Time: r.Time, Old: enrollmentOf(r.Old), New: enrollmentOf(r.New)})
	case "mailbox":
		c := lifecycle.MailboxChange{ID: r.EventID, Time: r.Time}
		if r.Old != nil {
			m, _ := dynamo.DecodeMailbox(r.Old)
			c.Old = &m
		}
		if r.New != nil {
			m, a := dynamo.DecodeMailbox(r.New)
			c.New, c.Actor = &m, a
		}
		evs = lifecycle.MailboxEvents(c)
	default:
		return nil // audit entries, idempotency records, failure counters, the reconciler's checkpoint
	}
	for _, ev := range evs {
		if err := h.deliver(ctx, ev); err != nil {
			return fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err)
		}
	}
	return nil
}

// removed handles a device item's removal. Ending a device removes its
// live item and inserts its ended one (announced as the insert); nothing
// to do here. DynamoDB's TTL removes a temporary device some time after
// its expiry; it is put back as expired (an insert this handler then
// announces as device.expired) and its secret is deleted. Ended devices
// carry no TTL, so only live ones get here.
func (h *Handler) removed(ctx context.Context, r Record, old *device.Device) error {
	if old == nil {
		return nil
	}
	if !r.ByTTL {
		// Ending a device moves its item to the ended key in one
		// transaction; the insert there announces the revocation or expiry.
		return nil
	}
	if !old.Status.Live() {
		return nil
	}
	if err := h.expirer.ExpireRemoved(ctx, *old); err != nil {
		return fmt.Errorf("record device removed by TTL as expired: %w", err)
	}
	h.log.InfoContext(ctx, "device removed by TTL recorded as expired", "mailbox", old.Mailbox, "device", old.ID)
	return nil
}

// deliver records ev in the audit trail and publishes it, once as far as
// the stores allow: a redelivered change whose event was published is
// skipped; one that failed half-way is published again.
func (h *Handler) deliver(ctx context.Context, ev lifecycle.Event) error {
	created, published, err := h.audit.PutAudit(ctx, ev, h.retention)
	if err != nil {
		return fmt.Errorf("record audit entry: %w", err)
	}
	if !created && published {
		h.log.DebugContext(ctx, "event already published", "event_id", ev.ID, "type", ev.Type, "mailbox", ev.Mailbox)
		return nil
	}
	if h.bus != nil {
		if err := h.bus.Publish(ctx, ev); err != nil {
			return fmt.Errorf("publish to the event bus: %w", err)
		}
	}
	notify := lifecycle.Notifies(ev)
	if ev.Type == lifecycle.DeviceNewNetwork && h.notifier != nil {
		if notify, err = h.newNetworkNotice(ctx, ev.Mailbox); err != nil {
			return fmt.Errorf("read the domain's policy: %w", err)
		}
	}
	if h.notifier != nil && notify {
		if err := h.notifier.Notify(ctx, ev); err != nil {
			return fmt.Errorf("send the owner's notice: %w", err)
		}
	}
	if h.sink != nil {
		if err := h.sink.Publish(ctx, ev); err != nil {
			return fmt.Errorf("write to the local sink: %w", err)
		}
	}
	if err := h.audit.MarkPublished(ctx, ev); err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	h.log.InfoContext(ctx, "event published", "event_id", ev.ID, "type", ev.Type, "mailbox", ev.Mailbox, "device", ev.DeviceID, "redelivered", !created)
	return nil
}

func deviceOf(it map[string]types.AttributeValue) *device.Device {
	if it == nil {
		return nil
	}
	d := dynamo.DecodeDevice(it)
	return &d
}

func enrollmentOf(it map[string]types.AttributeValue) *device.Enrollment {
	if it == nil {
		return nil
	}
	e := dynamo.DecodeEnrollment(it)
	return &e
}

// newNetworkNotice reports whether the domain of mailbox asks for notices
// of new networks; read only for that rare event, so the stream costs no
// more for the others.
func (h *Handler) newNetworkNotice(ctx context.Context, mailbox string) (bool, error) {
	if h.policies == nil {
		return false, nil
	}
	p, err := h.policies.GetPolicy(ctx, device.DomainOf(mailbox))
	if err != nil || p == nil {
		return false, err
	}
	return p.NewNetworkNotice, nil
}
