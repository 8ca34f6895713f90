// Package app wires every use case at once on one table and one Secrets
// Manager, from the constructors of shared/wire: for the local runner, the
// benchmarks and the tests that drive several use cases against the
// stand-ins. Each function composes only what it uses, in its own main.go.
package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/secrets"
	"github.com/devicepass/devicepass/shared/verifier"
	"github.com/devicepass/devicepass/shared/wire"
)

// App is every use case wired on its clients and adapters.
type App struct {
	Config         config.Config
	AWSConfig      aws.Config
	Logger         *slog.Logger
	DynamoDB       *dynamodb.Client
	SecretsManager *secretsmanager.Client
	Store          *dynamo.Store
	Secrets        *secrets.Secrets
	Keyed          *verifier.Keyed
	Service        *UseCases
	// Management is what the management API serves (the device and
	// enrollment use cases of Service, and the audit trail).
	Management wire.Management
	// Hygiene is the sweep's policy part.
	Hygiene *device.Hygiene
	// RotationFailures records failed rotations (the rotation-events
	// function's use case; locally fed by the scheduler).
	RotationFailures *device.RotationFailures

	env wire.Env
}

// UseCases is every use case of package device, on the same adapters.
type UseCases struct {
	*device.Devices
	*device.Verification
	*device.Enrollments
	*device.Repair
	engine *device.Engine
}

// Engine returns the rotation engine the device use cases regenerate with.
func (u *UseCases) Engine() *device.Engine { return u.engine }

// Config returns the effective configuration (the same in every use case).
func (u *UseCases) Config() device.Config { return u.Devices.Config() }

// Options adjust Build for tests and the local runner.
type Options struct {
	Clock func() time.Time // default time.Now
	// Local disables DynamoDB's response checksum validation, which
	// DynamoDB Local's error responses fail harmlessly.
	Local bool
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer, level string) *slog.Logger { return wire.NewLogger(w, level) }

// Build wires every use case. It reads the verifier key from its secret once.
func Build(ctx context.Context, cfg config.Config, awsCfg aws.Config, logger *slog.Logger, opts Options) (*App, error) {
	if logger == nil {
		return nil, errors.New("app: nil logger")
	}
	env := wire.Env{Config: cfg, AWS: awsCfg, Logger: logger, Clock: opts.Clock, Local: opts.Local}
	ad, err := env.NewAdapters(ctx, true)
	if err != nil {
		return nil, err
	}
	u := &UseCases{}
	if u.engine, err = env.Engine(ad.Store, ad.Secrets, ad.Keyed); err != nil {
		return nil, err
	}
	if u.Devices, err = env.Devices(ad.Store, ad.Secrets, ad.Keyed, u.engine); err != nil {
		return nil, err
	}
	if u.Enrollments, err = env.Enrollments(ad.Store, ad.Secrets, ad.Keyed); err != nil {
		return nil, err
	}
	mgmt := wire.Management{Devices: u.Devices, Enrollments: u.Enrollments}
	if mgmt.Policies, err = env.DomainPolicies(ad.Store); err != nil {
		return nil, err
	}
	if mgmt.Audit, err = lifecycle.NewAudit(ad.Store, ad.Store, u.Config().Policy); err != nil {
		return nil, err
	}
	if mgmt.Directory, err = device.NewDirectory(ad.Store, u.Config().Policy); err != nil {
		return nil, err
	}
	if mgmt.OpenLinks, err = device.NewEnrollmentLister(ad.Store, u.Config().Policy, env.Clock); err != nil {
		return nil, err
	}
	if u.Verification, err = env.Verification(ad.Store, ad.Keyed); err != nil {
		return nil, err
	}
	if u.Repair, err = env.Repair(ad.Store, ad.Secrets); err != nil {
		return nil, err
	}
	hyg, err := env.Hygiene(ad.Store, ad.Secrets)
	if err != nil {
		return nil, err
	}
	rf, err := env.RotationFailures(ad.Store)
	if err != nil {
		return nil, err
	}
	return &App{Hygiene: hyg, RotationFailures: rf,
		Config: cfg, AWSConfig: awsCfg, Logger: logger,
		DynamoDB: ad.DynamoDB, SecretsManager: ad.SecretsManager, Store: ad.Store, Secrets: ad.Secrets, Keyed: ad.Keyed,
		Service: u, Management: mgmt, env: env,
	}, nil
}

// NewReconciler wires the reconciler's handler on a's clients; metrics
// receives the EMF lines.
func (a *App) NewReconciler(metrics io.Writer, minAge time.Duration) (*lifecycle.Reconciler, error) {
	return a.env.NewReconciler(wire.Adapters{DynamoDB: a.DynamoDB, SecretsManager: a.SecretsManager, Store: a.Store, Secrets: a.Secrets, Keyed: a.Keyed}, metrics, minAge)
}

// The reconciler's metric names and minimum age, which the stack's alarms
// and the local runner share.
const (
	MetricNamespace = lifecycle.MetricNamespace
	ReconcileMinAge = lifecycle.ReconcileMinAge
)

// ReconcileMetrics are the names of the reconciler's metrics.
var ReconcileMetrics = lifecycle.ReconcileMetrics
