package localscheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/rotationevents"
)

// FailureHandler receives the CloudTrail-shaped event of a failed
// rotation: the rotation-events Lambda's handler
// (shared/rotationevents), as the EventBridge rule delivers it in AWS.
type FailureHandler interface {
	Handle(ctx context.Context, ev events.CloudWatchEvent) error
}

var _ FailureHandler = (*rotationevents.Handler)(nil)

// ReportingRotator is a Rotator that reports each failed rotation as
// Secrets Manager does: a RotationFailed service event, shaped as
// CloudTrail delivers it through EventBridge, handed to the same handler
// as in AWS. So a failed step locally records the device's lastError and
// makes the same rotation.failed event and administrators' notice.
type ReportingRotator struct {
	Rotator  Rotator
	Failures FailureHandler
	Account  string           // the stand-in's account, for the event
	Region   string           // the stand-in's Region
	Clock    func() time.Time // default time.Now
}

// RotateNow implements Rotator.
func (r ReportingRotator) RotateNow(ctx context.Context, secretID string) (string, device.Step, error) {
	version, step, err := r.Rotator.RotateNow(ctx, secretID)
	if err == nil || r.Failures == nil {
		return version, step, err
	}
	now := time.Now
	if r.Clock != nil {
		now = r.Clock
	}
	ev, berr := FailureEvent(device.FailureRotationFailed, secretID, step, r.Account, r.Region, device.NewToken(), now())
	if berr == nil {
		berr = r.Failures.Handle(ctx, ev)
	}
	if berr != nil {
		return version, step, fmt.Errorf("%w (and reporting the failure failed: %v)", err, berr)
	}
	return version, step, err
}

// FailureEvent returns the event Secrets Manager sends when a step of the
// rotation of secretID failed (kind RotationFailed), or its configuration
// test did (TestRotationFailed): its CloudTrail record's fields, with the
// error message in Secrets Manager's words (the step, never the function's
// own error, which stays in the log).
func FailureEvent(kind, secretID string, step device.Step, account, region, id string, at time.Time) (events.CloudWatchEvent, error) {
	at = at.UTC().Truncate(time.Second)
	if step == "" {
		step = device.StepCreate
	}
	detail := map[string]any{
		"eventVersion":        "1.08",
		"userIdentity":        map[string]any{"accountId": account, "invokedBy": rotationevents.EventSource},
		"eventTime":           at.Format(time.RFC3339),
		"eventSource":         rotationevents.EventSource,
		"eventName":           kind,
		"awsRegion":           region,
		"sourceIPAddress":     rotationevents.EventSource,
		"userAgent":           rotationevents.EventSource,
		"errorMessage":        fmt.Sprintf("Error when executing lambda %s during %s step", "devicepass-rotation (local)", step),
		"requestParameters":   nil,
		"responseElements":    nil,
		"additionalEventData": map[string]any{"SecretId": secretID},
		"requestID":           "Rotation-" + secretID + "-" + id,
		"eventID":             id,
		"readOnly":            false,
		"eventType":           "AwsServiceEvent",
		"managementEvent":     true,
		"recipientAccountId":  account,
		"eventCategory":       "Management",
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		return events.CloudWatchEvent{}, err
	}
	return events.CloudWatchEvent{Version: "0", ID: device.NewToken(), DetailType: rotationevents.DetailType, Source: rotationevents.Source,
		AccountID: account, Time: at, Region: region, Resources: []string{}, Detail: raw}, nil
}
