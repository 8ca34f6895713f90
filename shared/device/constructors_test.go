package device_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// badConfigs are configurations every constructor refuses.
var badConfigs = map[string]device.Config{
	"recovery window": {RecoveryWindowDays: 31},
	"cap":             {MaxLiveDevices: 1001},
	"grace":           {RotationGrace: time.Minute},
	"prefix":          {SecretPrefix: "a/"},
	"admin pattern":   {Policy: device.Policy{AdminGroupPattern: "admins"}},
}

// TestConstructorsRefuseBadDependencies checks that each use case's
// constructor refuses every missing dependency (a nil interface and a nil
// pointer in an interface alike) and every invalid configuration, and
// accepts its full set.
func TestConstructorsRefuseBadDependencies(t *testing.T) {
	keyed, err := verifier.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		t.Fatal(err)
	}
	store, secrets := devicetest.NewMemStore(), devicetest.NewMemSecrets()
	var nilStore *devicetest.MemStore
	var nilSecrets *devicetest.MemSecrets
	eng, err := device.NewEngine(device.Config{}, device.EngineDeps{Store: store, Candidates: store, Secrets: secrets, Keyed: keyed, Generator: gen})
	if err != nil {
		t.Fatalf("NewEngine with every dependency: %v", err)
	}

	type ctor struct {
		name  string
		build func(cfg device.Config, drop string) error // drop names the dependency left out, "" none
		deps  []string
	}
	ctors := []ctor{
		{"NewDevices", func(cfg device.Config, drop string) error {
			_, err := device.NewDevices(cfg, device.DevicesDeps{
				Store:     or[device.DeviceStore](drop, "store", store, nilStore),
				Secrets:   or[device.DeviceSecrets](drop, "secrets", secrets, nil),
				Keyed:     or(drop, "keyed", keyed, nil),
				Generator: or(drop, "generator", gen, nil),
				Engine:    or[device.Regenerator](drop, "engine", eng, nil),
				Scheduler: or[device.Scheduler](drop, "scheduler", secrets, nilSecrets),
			})
			return err
		}, []string{"store", "secrets", "keyed", "generator", "engine", "scheduler"}},
		{"NewEngine", func(cfg device.Config, drop string) error {
			_, err := device.NewEngine(cfg, device.EngineDeps{
				Store:      or[device.RotationStore](drop, "store", store, nil),
				Candidates: or[device.CandidateReader](drop, "candidates", store, nilStore),
				Secrets:    or[device.RotationSecrets](drop, "secrets", secrets, nilSecrets),
				Keyed:      or(drop, "keyed", keyed, nil),
				Generator:  or(drop, "generator", gen, nil),
			})
			return err
		}, []string{"store", "candidates", "secrets", "keyed", "generator"}},
		{"NewVerification", func(cfg device.Config, drop string) error {
			_, err := device.NewVerification(cfg, device.VerificationDeps{
				Store: or[device.VerifyStore](drop, "store", store, nil),
				Keyed: or(drop, "keyed", keyed, nil),
			})
			return err
		}, []string{"store", "keyed"}},
		{"NewEnrollments", func(cfg device.Config, drop string) error {
			_, err := device.NewEnrollments(cfg, device.EnrollmentsDeps{
				Store:     or[device.EnrollmentStore](drop, "store", store, nilStore),
				Secrets:   or[device.EnrollmentSecrets](drop, "secrets", secrets, nil),
				Keyed:     or(drop, "keyed", keyed, nil),
				Generator: or(drop, "generator", gen, nil),
			})
			return err
		}, []string{"store", "secrets", "keyed", "generator"}},
		{"NewRepair", func(cfg device.Config, drop string) error {
			_, err := device.NewRepair(cfg, device.RepairDeps{
				Store:   or[device.RepairStore](drop, "store", store, nil),
				Secrets: or[device.RepairSecrets](drop, "secrets", secrets, nilSecrets),
			})
			return err
		}, []string{"store", "secrets"}},
	}
	for _, c := range ctors {
		t.Run(c.name, func(t *testing.T) {
			if err := c.build(device.Config{}, ""); err != nil {
				t.Fatalf("with every dependency: %v", err)
			}
			for _, dep := range c.deps {
				if err := c.build(device.Config{}, dep); err == nil {
					t.Errorf("succeeded without %s", dep)
				}
			}
			for name, cfg := range badConfigs {
				if err := c.build(cfg, ""); err == nil {
					t.Errorf("accepted a bad %s", name)
				}
			}
		})
	}
}

// or is v, or none when drop names it.
func or[T any](drop, name string, v, none T) T {
	if drop == name {
		return none
	}
	return v
}
