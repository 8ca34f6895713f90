// Package rotation is the rotation Lambda's handler: it decodes the event
// Secrets Manager sends for each step and hands it to the domain's rotation
// engine, which checks the secret's rotation state and the token's stage
// before it changes anything.
package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/devicepass/devicepass/shared/device"
)

// Event is Secrets Manager's rotation event. aws-lambda-go's
// SecretsManagerSecretRotationEvent lacks RotationToken, hence this type.
type Event struct {
	Step               string `json:"Step"`
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	RotationToken      string `json:"RotationToken,omitempty"`
}

// Runner runs one rotation step; *device.Engine is one.
type Runner interface {
	Run(ctx context.Context, step device.Step, secretID, token string) error
}

var _ Runner = (*device.Engine)(nil)

// Handler handles rotation events.
type Handler struct {
	engine Runner
	log    *slog.Logger
}

// New returns a Handler.
func New(engine Runner, log *slog.Logger) (*Handler, error) {
	if engine == nil || log == nil {
		return nil, errors.New("rotation: New needs an engine and a logger")
	}
	return &Handler{engine: engine, log: log}, nil
}

// Handle runs the step the event names. An error makes Secrets Manager
// record the rotation as failed (and retry it later).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) error {
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		h.log.ErrorContext(ctx, "rotation event is not JSON")
		return errors.New("rotation: event is not a Secrets Manager rotation event")
	}
	step, err := device.ParseStep(ev.Step)
	if err != nil {
		h.log.ErrorContext(ctx, "unknown rotation step", "step", ev.Step)
		return err
	}
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return errors.New("rotation: event lacks SecretId or ClientRequestToken")
	}
	ctx = device.WithRotationToken(ctx, ev.RotationToken)
	if err := h.engine.Run(ctx, step, ev.SecretID, ev.ClientRequestToken); err != nil {
		h.log.ErrorContext(ctx, "rotation step failed", "step", string(step), "secret", ev.SecretID, "version", ev.ClientRequestToken, "error", err.Error())
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}
