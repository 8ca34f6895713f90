// Package wire holds the small constructors from which each function's
// main.go composes only what that function uses: its environment, the AWS
// clients, the adapters, and the use cases of package device. Nothing here
// exits the process (main decides), and nothing here imports an API, event
// or notice package, so a function links only what its main names.
package wire

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/secrets"
	"github.com/devicepass/devicepass/shared/verifier"
)

// Env is what every function starts from: its configuration, logger and
// AWS configuration.
type Env struct {
	Config config.Config
	AWS    aws.Config
	Logger *slog.Logger
	Clock  func() time.Time // nil: time.Now
	// Local disables DynamoDB's response checksum validation, which
	// DynamoDB Local's error responses fail harmlessly.
	Local bool
}

// FromEnv reads a Lambda function's environment once per cold start. Its
// Logger is set even when it fails, so that main can log why.
func FromEnv(ctx context.Context) (Env, error) {
	cfg, err := config.Load(os.Getenv)
	e := Env{Config: cfg, Logger: NewLogger(os.Stdout, cfg.LogLevel)}
	if err != nil {
		return e, fmt.Errorf("invalid configuration: %w", err)
	}
	if e.AWS, err = awsx.Load(ctx); err != nil {
		return e, fmt.Errorf("load AWS configuration: %w", err)
	}
	return e, nil
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// DynamoDB returns a DynamoDB client.
func (e Env) DynamoDB() *dynamodb.Client {
	return dynamodb.NewFromConfig(e.AWS, func(o *dynamodb.Options) {
		if e.Local {
			o.DisableValidateResponseChecksum = true
		}
	})
}

// SecretsManager returns a Secrets Manager client.
func (e Env) SecretsManager() *secretsmanager.Client { return secretsmanager.NewFromConfig(e.AWS) }

// Store returns the table's adapter.
func (e Env) Store(api dynamo.API) (*dynamo.Store, error) { return dynamo.New(api, e.Config.TableName) }

// Secrets returns the device secrets' adapter.
func (e Env) Secrets(sm secrets.API) (*secrets.Secrets, error) {
	return secrets.New(sm, secrets.Config{KMSKeyID: e.Config.KMSKeyID, RotationLambdaARN: e.Config.Device.RotationLambdaARN})
}

// Keyed reads the verifier key from its secret and returns the keyed
// hasher on it.
func (e Env) Keyed(ctx context.Context, sm KeyReader) (*verifier.Keyed, error) {
	key, err := ReadVerifierKey(ctx, sm, e.Config.VerifierKeySecretID)
	if err != nil {
		return nil, err
	}
	return verifier.New(key)
}

// KeyReader is the call that reads the verifier key.
type KeyReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// ReadVerifierKey reads the HMAC key from its secret: base64 of at least
// 32 bytes, or any string of at least 32 characters (as CDK generates).
func ReadVerifierKey(ctx context.Context, sm KeyReader, secretID string) ([]byte, error) {
	if sm == nil {
		return nil, errors.New("wire: ReadVerifierKey needs a Secrets Manager client")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return nil, fmt.Errorf("read verifier key %s: %w", secretID, err)
	}
	s := strings.TrimSpace(aws.ToString(out.SecretString))
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) >= verifier.KeySize {
		return b, nil
	}
	if len(s) >= verifier.KeySize {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("verifier key %s is shorter than %d bytes", secretID, verifier.KeySize)
}

// Generator returns the password generator.
func Generator() (*password.Generator, error) { return password.New(password.DefaultLength) }

// Engine returns the rotation engine on store and sec.
func (e Env) Engine(store *dynamo.Store, sec *secrets.Secrets, keyed *verifier.Keyed) (*device.Engine, error) {
	gen, err := Generator()
	if err != nil {
		return nil, err
	}
	return device.NewEngine(e.Config.Device, device.EngineDeps{Store: store, Candidates: store, Secrets: sec, Keyed: keyed, Generator: gen, Clock: e.Clock, Logger: e.Logger})
}

// Devices returns the device use cases, regenerating with engine; when a
// rotation Lambda is configured, rotation policies become Secrets Manager
// schedules through sec.
func (e Env) Devices(store *dynamo.Store, sec *secrets.Secrets, keyed *verifier.Keyed, engine *device.Engine) (*device.Devices, error) {
	gen, err := Generator()
	if err != nil {
		return nil, err
	}
	deps := device.DevicesDeps{Store: store, Secrets: sec, Keyed: keyed, Generator: gen, Engine: engine, Policies: store, Clock: e.Clock, Logger: e.Logger}
	if e.Config.Device.RotationLambdaARN != "" {
		deps.Scheduler = sec
	}
	return device.NewDevices(e.Config.Device, deps)
}

// Enrollments returns the enrollment-link use cases.
func (e Env) Enrollments(store *dynamo.Store, sec *secrets.Secrets, keyed *verifier.Keyed) (*device.Enrollments, error) {
	gen, err := Generator()
	if err != nil {
		return nil, err
	}
	return device.NewEnrollments(e.Config.Device, device.EnrollmentsDeps{Store: store, Secrets: sec, Keyed: keyed, Generator: gen, Policies: store, Clock: e.Clock, Logger: e.Logger})
}

// Hygiene returns the policy sweep's use case.
func (e Env) Hygiene(store *dynamo.Store, sec *secrets.Secrets) (*device.Hygiene, error) {
	return device.NewHygiene(e.Config.Device, device.HygieneDeps{Store: store, Secrets: sec, Clock: e.Clock, Logger: e.Logger})
}

// DomainPolicies returns the domain policy use cases.
func (e Env) DomainPolicies(store *dynamo.Store) (*device.DomainPolicies, error) {
	return device.NewDomainPolicies(e.Config.Device, device.DomainPoliciesDeps{Store: store, Clock: e.Clock, Logger: e.Logger})
}

// Verification returns the verify use case.
func (e Env) Verification(store *dynamo.Store, keyed *verifier.Keyed) (*device.Verification, error) {
	return device.NewVerification(e.Config.Device, device.VerificationDeps{Store: store, Keyed: keyed, Clock: e.Clock, Logger: e.Logger})
}

// Repair returns the expiry and reconciliation use cases.
func (e Env) Repair(store *dynamo.Store, sec *secrets.Secrets) (*device.Repair, error) {
	deps := device.RepairDeps{Store: store, Secrets: sec, Clock: e.Clock, Logger: e.Logger}
	if e.Config.Device.RotationLambdaARN != "" {
		deps.Scheduler = sec
	}
	return device.NewRepair(e.Config.Device, deps)
}

// RotationFailures returns the use case recording failed rotations on
// their devices.
func (e Env) RotationFailures(store *dynamo.Store) (*device.RotationFailures, error) {
	return device.NewRotationFailures(e.Config.Device, store)
}
