// Package rotationevents is the rotation-events Lambda's handler: it
// receives, through an EventBridge rule, Secrets Manager's CloudTrail
// service events for a device secret whose scheduled rotation failed
// (RotationFailed, RotationAbandoned, TestRotationFailed) and records each
// on its device (device.RotationFailures). The table's stream then makes
// it a rotation.failed event: in the mailbox's audit trail, on the event
// bus, and in the domain administrators' notice, once per CloudTrail event
// whatever the redeliveries.
package rotationevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/device"
)

// Source and DetailType are what the rule matches: Secrets Manager's
// service events, delivered through CloudTrail.
const (
	Source      = "aws.secretsmanager"
	DetailType  = "AWS Service Event via CloudTrail"
	EventSource = "secretsmanager.amazonaws.com"
)

// EventNames are the CloudTrail event names of a failed rotation.
var EventNames = []string{device.FailureRotationFailed, device.FailureRotationAbandoned, device.FailureTestRotationFailed}

// Recorder records a failed rotation; device.RotationFailures is one.
type Recorder interface {
	Record(ctx context.Context, f device.RotationFailure) (device.Outcome, error)
}

var _ Recorder = (*device.RotationFailures)(nil)

// Handler handles the rule's events.
type Handler struct {
	rec Recorder
	log *slog.Logger
}

// New returns a Handler.
func New(rec Recorder, logger *slog.Logger) (*Handler, error) {
	if rec == nil || logger == nil {
		return nil, errors.New("rotationevents: New needs a recorder and a logger")
	}
	return &Handler{rec: rec, log: logger}, nil
}

// Detail is the part of a CloudTrail record the handler reads.
type Detail struct {
	EventSource         string `json:"eventSource"`
	EventName           string `json:"eventName"`
	EventTime           string `json:"eventTime"`
	EventID             string `json:"eventID"`
	ErrorMessage        string `json:"errorMessage"`
	AdditionalEventData struct {
		SecretID string `json:"SecretId"`
	} `json:"additionalEventData"`
}

// Failure converts an EventBridge event into the failure it reports, or
// an error saying why it is not one (the wrong source or event name, or no
// event id or secret).
func Failure(ev events.CloudWatchEvent) (device.RotationFailure, error) {
	var f device.RotationFailure
	if ev.Source != Source || ev.DetailType != DetailType {
		return f, fmt.Errorf("not a Secrets Manager service event (source %q, detail-type %q)", ev.Source, ev.DetailType)
	}
	var d Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return f, fmt.Errorf("unreadable detail: %w", err)
	}
	if d.EventSource != EventSource {
		return f, fmt.Errorf("detail.eventSource %q is not Secrets Manager", d.EventSource)
	}
	known := false
	for _, n := range EventNames {
		known = known || d.EventName == n
	}
	if !known {
		return f, fmt.Errorf("detail.eventName %q is not a failed rotation", d.EventName)
	}
	if d.EventID == "" || d.AdditionalEventData.SecretID == "" {
		return f, errors.New("detail.eventID or detail.additionalEventData.SecretId is missing")
	}
	at, err := time.Parse(time.RFC3339, d.EventTime)
	if err != nil {
		at = ev.Time
	}
	return device.RotationFailure{ID: d.EventID, Kind: d.EventName, SecretID: d.AdditionalEventData.SecretID, Message: d.ErrorMessage, At: at.UTC()}, nil
}

// Handle is the Lambda handler. An event that is not a failed rotation of
// a device is logged and dropped (retrying it would not help); only a
// failure to record one is an error, for Lambda's retries of
// asynchronous invocations and then the function's dead-letter queue.
func (h *Handler) Handle(ctx context.Context, ev events.CloudWatchEvent) error {
	f, err := Failure(ev)
	if err != nil {
		h.log.WarnContext(ctx, "event dropped", "event_id", ev.ID, "reason", err.Error())
		return nil
	}
	out, err := h.rec.Record(ctx, f)
	if err != nil {
		h.log.ErrorContext(ctx, "rotation failure not recorded; it will be retried", "event_id", f.ID, "kind", f.Kind, "error", err.Error())
		return fmt.Errorf("record rotation failure %s: %w", f.ID, err)
	}
	h.log.InfoContext(ctx, "rotation failure", "event_id", f.ID, "kind", f.Kind, "outcome", string(out))
	return nil
}
