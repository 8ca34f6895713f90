// Package app wires a function: from its configuration and the SDK
// configuration to the domain service and its adapters. Every
// functions/<name>/main.go calls Build once per cold start, outside the
// handler, and so does the local runner.
package app

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

// App is a wired function.
type App struct {
	Config         config.Config
	AWSConfig      aws.Config
	Logger         *slog.Logger
	DynamoDB       *dynamodb.Client
	SecretsManager *secretsmanager.Client
	Store          *dynamo.Store
	Secrets        *secrets.Secrets
	Keyed          *verifier.Keyed
	Service        *device.Service
}

// Options adjust Build for tests and the local runner.
type Options struct {
	Clock func() time.Time // default time.Now
	// Local disables DynamoDB's response checksum validation, which
	// DynamoDB Local's error responses fail harmlessly.
	Local bool
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Build wires the service. It reads the verifier key from its secret once.
func Build(ctx context.Context, cfg config.Config, awsCfg aws.Config, logger *slog.Logger, opts Options) (*App, error) {
	if logger == nil {
		return nil, errors.New("app: nil logger")
	}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if opts.Local {
			o.DisableValidateResponseChecksum = true
		}
	})
	sm := secretsmanager.NewFromConfig(awsCfg)
	store, err := dynamo.New(ddb, cfg.TableName)
	if err != nil {
		return nil, err
	}
	sec, err := secrets.New(sm, secrets.Config{KMSKeyID: cfg.KMSKeyID, RotationLambdaARN: cfg.Device.RotationLambdaARN})
	if err != nil {
		return nil, err
	}
	key, err := ReadVerifierKey(ctx, sm, cfg.VerifierKeySecretID)
	if err != nil {
		return nil, err
	}
	keyed, err := verifier.New(key)
	if err != nil {
		return nil, err
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		return nil, err
	}
	deps := device.Deps{Store: store, Secrets: sec, Keyed: keyed, Generator: gen, Clock: opts.Clock, Logger: logger}
	if cfg.Device.RotationLambdaARN != "" {
		deps.Scheduler = sec
	}
	svc, err := device.NewService(cfg.Device, deps)
	if err != nil {
		return nil, err
	}
	return &App{Config: cfg, AWSConfig: awsCfg, Logger: logger, DynamoDB: ddb, SecretsManager: sm, Store: store, Secrets: sec, Keyed: keyed, Service: svc}, nil
}

// ReadVerifierKey reads the HMAC key from its secret: base64 of at least
// 32 bytes, or any string of at least 32 characters (as CDK generates).
func ReadVerifierKey(ctx context.Context, sm interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}, secretID string) ([]byte, error) {
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

// MustFromEnv wires a Lambda function from its environment once per cold
// start. On a configuration or wiring error it logs why and exits, so the
// Lambda service reports an init failure instead of serving half-wired.
func MustFromEnv(ctx context.Context) *App {
	cfg, err := config.Load(os.Getenv)
	logger := NewLogger(os.Stdout, cfg.LogLevel)
	exitOn(logger, err, "invalid configuration")
	awsCfg, err := awsx.Load(ctx)
	exitOn(logger, err, "load AWS configuration")
	a, err := Build(ctx, cfg, awsCfg, logger, Options{})
	exitOn(logger, err, "wire function")
	return a
}

// Must exits with a logged reason if err is not nil; for main only.
func (a *App) Must(err error, what string) { exitOn(a.Logger, err, what) }

func exitOn(logger *slog.Logger, err error, what string) {
	if err != nil {
		logger.Error(what, "error", err.Error())
		os.Exit(1)
	}
}
