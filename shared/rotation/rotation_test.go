package rotation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/rotation"
)

// recorder is a Runner that remembers its call.
type recorder struct {
	step          device.Step
	secret, token string
	rotationToken string
	err           error
}

func (r *recorder) Run(ctx context.Context, step device.Step, secretID, token string) error {
	r.step, r.secret, r.token, r.rotationToken = step, secretID, token, device.RotationTokenFrom(ctx)
	return r.err
}

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleDecodesBothSpellingsAndRotationToken(t *testing.T) {
	for _, tc := range []struct {
		file, wantStep, wantRT string
	}{
		{"create_secret.json", "createSecret", "rotation-token-from-secrets-manager"},
		{"finish_secret_snake.json", "finishSecret", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rec := &recorder{}
			var logs bytes.Buffer
			h, err := rotation.New(rec, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Handle(context.Background(), fixture(t, tc.file)); err != nil {
				t.Fatal(err)
			}
			if string(rec.step) != tc.wantStep || rec.token != "7f8c8d4e-1b2a-4c3d-9e8f-0a1b2c3d4e5f" || rec.rotationToken != tc.wantRT {
				t.Errorf("ran %q token %q rotation token %q, want %q and %q", rec.step, rec.token, rec.rotationToken, tc.wantStep, tc.wantRT)
			}
		})
	}
}

func TestHandleRefusesBadEvents(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"not JSON", `{`},
		{"unknown step", `{"Step":"dropSecret","SecretId":"x","ClientRequestToken":"t"}`},
		{"no secret", `{"Step":"createSecret","ClientRequestToken":"t"}`},
		{"no token", `{"Step":"createSecret","SecretId":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h, _ := rotation.New(rec, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
			if err := h.Handle(context.Background(), json.RawMessage(tc.body)); err == nil {
				t.Error("accepted")
			}
			if rec.step != "" {
				t.Errorf("ran step %q for a bad event", rec.step)
			}
		})
	}
}

// TestStepFailureIsAnErrorAndLogsNoToken: a failing step fails the
// invocation (Secrets Manager then records the rotation as failed), and the
// RotationToken, a credential, never reaches the log.
func TestStepFailureIsAnErrorAndLogsNoToken(t *testing.T) {
	rec := &recorder{err: errors.New("device disabled")}
	var logs bytes.Buffer
	h, _ := rotation.New(rec, slog.New(slog.NewJSONHandler(&logs, nil)))
	err := h.Handle(context.Background(), fixture(t, "create_secret.json"))
	if err == nil || !strings.Contains(err.Error(), "device disabled") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(logs.String(), "rotation-token-from-secrets-manager") {
		t.Errorf("the log holds the RotationToken: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "rotation step failed") {
		t.Errorf("the failure was not logged: %s", logs.String())
	}
}
