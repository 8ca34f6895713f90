package wire

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/secrets"
	"github.com/devicepass/devicepass/shared/verifier"
)

// What each function wires, from the constructors above. Each reads the
// verifier key only if its use cases hash passwords or tokens.

// Adapters are the clients and adapters a function's use cases sit on.
type Adapters struct {
	DynamoDB       *dynamodb.Client
	SecretsManager *secretsmanager.Client
	Store          *dynamo.Store
	Secrets        *secrets.Secrets
	Keyed          *verifier.Keyed // nil unless asked for
}

// NewAdapters makes the clients and adapters; withKey also reads the
// verifier key.
func (e Env) NewAdapters(ctx context.Context, withKey bool) (Adapters, error) {
	a := Adapters{DynamoDB: e.DynamoDB(), SecretsManager: e.SecretsManager()}
	var err error
	if a.Store, err = e.Store(a.DynamoDB); err != nil {
		return a, err
	}
	if a.Secrets, err = e.Secrets(a.SecretsManager); err != nil {
		return a, err
	}
	if withKey {
		a.Keyed, err = e.Keyed(ctx, a.SecretsManager)
	}
	return a, err
}

// Rotation wires the rotation function: the engine.
func Rotation(ctx context.Context, e Env) (*device.Engine, error) {
	a, err := e.NewAdapters(ctx, true)
	if err != nil {
		return nil, err
	}
	return e.Engine(a.Store, a.Secrets, a.Keyed)
}

// Verify wires the verify function: verification on the table; Secrets
// Manager only for the verifier key.
func Verify(ctx context.Context, e Env) (*device.Verification, error) {
	sm := e.SecretsManager()
	keyed, err := e.Keyed(ctx, sm)
	if err != nil {
		return nil, err
	}
	store, err := e.Store(e.DynamoDB())
	if err != nil {
		return nil, err
	}
	return e.Verification(store, keyed)
}

// Management is what the management API serves.
type Management struct {
	Devices     *device.Devices
	Enrollments *device.Enrollments
	Audit       *lifecycle.Audit
	// Directory answers who a caller is and which mailboxes they may open
	// (the console's home and domain pages).
	Directory *device.Directory
	// OpenLinks lists a mailbox's open enrollment links for administrators.
	OpenLinks *device.EnrollmentLister
	// Policies are the domains' rules (the policy routes, a mailbox's limits).
	Policies *device.DomainPolicies
}

// API wires the management API's use cases on a's adapters (a needs the
// verifier key): the device use cases with their engine, enrollment links
// and the audit trail.
func (e Env) API(a Adapters) (Management, error) {
	var m Management
	eng, err := e.Engine(a.Store, a.Secrets, a.Keyed)
	if err != nil {
		return m, err
	}
	if m.Devices, err = e.Devices(a.Store, a.Secrets, a.Keyed, eng); err != nil {
		return m, err
	}
	if m.Enrollments, err = e.Enrollments(a.Store, a.Secrets, a.Keyed); err != nil {
		return m, err
	}
	policy := m.Devices.Config().Policy
	if m.Policies, err = e.DomainPolicies(a.Store); err != nil {
		return m, err
	}
	if m.Audit, err = lifecycle.NewAudit(a.Store, a.Store, policy); err != nil {
		return m, err
	}
	if m.Directory, err = device.NewDirectory(a.Store, policy); err != nil {
		return m, err
	}
	m.OpenLinks, err = device.NewEnrollmentLister(a.Store, policy, e.Clock)
	return m, err
}

// API wires the management API function's use cases.
func API(ctx context.Context, e Env) (Management, error) {
	a, err := e.NewAdapters(ctx, true)
	if err != nil {
		return Management{}, err
	}
	return e.API(a)
}

// Sweep wires the expiry sweep: the repair use cases (no verifier key).
func Sweep(ctx context.Context, e Env) (*device.Repair, error) {
	a, err := e.NewAdapters(ctx, false)
	if err != nil {
		return nil, err
	}
	return e.Repair(a.Store, a.Secrets)
}

// PolicySweep wires the sweep's policy part: the hygiene use case on the
// same adapters as the expiry part.
func PolicySweep(ctx context.Context, e Env) (*device.Repair, *device.Hygiene, error) {
	a, err := e.NewAdapters(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	repair, err := e.Repair(a.Store, a.Secrets)
	if err != nil {
		return nil, nil, err
	}
	h, err := e.Hygiene(a.Store, a.Secrets)
	return repair, h, err
}

// NewReconciler wires the reconciler's handler on a's adapters: the repair
// use cases, ListSecrets through shared/secrets, the table's reconcile
// index and the checkpoint item through shared/dynamo. metrics receives
// the EMF lines.
func (e Env) NewReconciler(a Adapters, metrics io.Writer, minAge time.Duration) (*lifecycle.Reconciler, error) {
	repair, err := e.Repair(a.Store, a.Secrets)
	if err != nil {
		return nil, err
	}
	lister, err := secrets.NewLister(a.SecretsManager)
	if err != nil {
		return nil, err
	}
	scanner, err := dynamo.NewSliceScanner(a.DynamoDB, e.Config.TableName)
	if err != nil {
		return nil, err
	}
	cp, err := dynamo.NewCheckpoint(a.DynamoDB, e.Config.TableName)
	if err != nil {
		return nil, err
	}
	return lifecycle.NewReconciler(repair, lister, scanner, cp, metrics, minAge, lifecycle.ReconcileMargin, e.Logger)
}

// Reconciler wires the reconciler function (no verifier key).
func Reconciler(ctx context.Context, e Env, metrics io.Writer) (*lifecycle.Reconciler, error) {
	a, err := e.NewAdapters(ctx, false)
	if err != nil {
		return nil, err
	}
	return e.NewReconciler(a, metrics, lifecycle.ReconcileMinAge)
}

// RotationEvents wires the rotation-events function: the table only (no
// Secrets Manager call, no verifier key).
func RotationEvents(e Env) (*device.RotationFailures, error) {
	store, err := e.Store(e.DynamoDB())
	if err != nil {
		return nil, err
	}
	return e.RotationFailures(store)
}
