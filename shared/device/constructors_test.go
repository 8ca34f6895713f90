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
			d := device.DevicesDeps{Store: store, Secrets: secrets, Keyed: keyed, Generator: gen, Engine: eng, Scheduler: secrets}
			switch drop {
			case "store":
				d.Store = nilStore
			case "secrets":
				d.Secrets = nil
			case "keyed":
				d.Keyed = nil
			case "generator":
				d.Generator = nil
			case "engine":
				d.Engine = nil
			case "scheduler":
				d.Scheduler = nilSecrets
			}
			_, err := device.NewDevices(cfg, d)
			return err
		}, []string{"store", "secrets", "keyed", "generator", "engine", "scheduler"}},
		{"NewEngine", func(cfg device.Config, drop string) error {
			d := device.EngineDeps{Store: store, Candidates: store, Secrets: secrets, Keyed: keyed, Generator: gen}
			switch drop {
			case "store":
				d.Store = nil
			case "candidates":
				d.Candidates = nilStore
			case "secrets":
				d.Secrets = nilSecrets
			case "keyed":
				d.Keyed = nil
			case "generator":
				d.Generator = nil
			}
			_, err := device.NewEngine(cfg, d)
			return err
		}, []string{"store", "candidates", "secrets", "keyed", "generator"}},
		{"NewVerification", func(cfg device.Config, drop string) error {
			d := device.VerificationDeps{Store: store, Keyed: keyed}
			switch drop {
			case "store":
				d.Store = nil
			case "keyed":
				d.Keyed = nil
			}
			_, err := device.NewVerification(cfg, d)
			return err
		}, []string{"store", "keyed"}},
		{"NewEnrollments", func(cfg device.Config, drop string) error {
			d := device.EnrollmentsDeps{Store: store, Secrets: secrets, Keyed: keyed, Generator: gen}
			switch drop {
			case "store":
				d.Store = nilStore
			case "secrets":
				d.Secrets = nil
			case "keyed":
				d.Keyed = nil
			case "generator":
				d.Generator = nil
			}
			_, err := device.NewEnrollments(cfg, d)
			return err
		}, []string{"store", "secrets", "keyed", "generator"}},
		{"NewRepair", func(cfg device.Config, drop string) error {
			d := device.RepairDeps{Store: store, Secrets: secrets}
			switch drop {
			case "store":
				d.Store = nil
			case "secrets":
				d.Secrets = nilSecrets
			}
			_, err := device.NewRepair(cfg, d)
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
