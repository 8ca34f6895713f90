package devicetest

import (
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// UseCases is every use case of package device wired on one store and one
// secrets adapter, as the functions wire them one by one: for tests that
// drive several use cases against the same fakes.
type UseCases struct {
	*device.Devices
	*device.Verification
	*device.Enrollments
	*device.Repair
	// Policies is the domain policy use cases, on the same store; the
	// device and enrollment use cases enforce what it stores.
	Policies *device.DomainPolicies
	engine   *device.Engine
}

// Engine returns the rotation engine the device use cases regenerate with.
func (u *UseCases) Engine() *device.Engine { return u.engine }

// Config returns the effective configuration (the same in every use case).
func (u *UseCases) Config() device.Config { return u.Devices.Config() }

// Deps are what NewUseCases wires.
type Deps struct {
	Store     Store
	Secrets   device.Secrets
	Keyed     *verifier.Keyed
	Generator *password.Generator
	Scheduler device.Scheduler // optional
	Clock     func() time.Time
	Logger    *slog.Logger
}

// NewUseCases wires every use case with cfg on d.
func NewUseCases(cfg device.Config, d Deps) (*UseCases, error) {
	eng, err := device.NewEngine(cfg, device.EngineDeps{Store: d.Store, Candidates: d.Store, Secrets: d.Secrets, Keyed: d.Keyed, Generator: d.Generator, Clock: d.Clock, Logger: d.Logger})
	if err != nil {
		return nil, err
	}
	u := &UseCases{engine: eng}
	if u.Devices, err = device.NewDevices(cfg, device.DevicesDeps{Store: d.Store, Secrets: d.Secrets, Keyed: d.Keyed, Generator: d.Generator, Engine: eng, Scheduler: d.Scheduler, Policies: d.Store, Clock: d.Clock, Logger: d.Logger}); err != nil {
		return nil, err
	}
	if u.Verification, err = device.NewVerification(cfg, device.VerificationDeps{Store: d.Store, Keyed: d.Keyed, Clock: d.Clock, Logger: d.Logger}); err != nil {
		return nil, err
	}
	if u.Enrollments, err = device.NewEnrollments(cfg, device.EnrollmentsDeps{Store: d.Store, Secrets: d.Secrets, Keyed: d.Keyed, Generator: d.Generator, Policies: d.Store, Clock: d.Clock, Logger: d.Logger}); err != nil {
		return nil, err
	}
	if u.Policies, err = device.NewDomainPolicies(cfg, device.DomainPoliciesDeps{Store: d.Store, Clock: d.Clock, Logger: d.Logger}); err != nil {
		return nil, err
	}
	if u.Repair, err = device.NewRepair(cfg, device.RepairDeps{Store: d.Store, Secrets: d.Secrets, Scheduler: d.Scheduler, Clock: d.Clock, Logger: d.Logger}); err != nil {
		return nil, err
	}
	return u, nil
}
