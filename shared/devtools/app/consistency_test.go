package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
)

var stack *standins.Stack

func TestMain(m *testing.M) {
	standinstest.Main(m, func(s *standins.Stack) { stack = s })
}

// rig is an App on the stand-ins whose AWS calls can be counted and failed.
type rig struct {
	app    *app.App
	clock  *clock
	faults *awsx.Faults
	calls  *awsx.Counter
	prefix string
}

// newRig builds the rig; configure adjusts the SDK configuration first.
func newRig(t *testing.T, configure ...func(*aws.Config)) *rig {
	t.Helper()
	ctx := context.Background()
	awsCfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	suffix := randHex(4)
	cfg := config.Config{
		TableName:           "devicepass-" + suffix,
		VerifierKeySecretID: "devicepass-test/key-" + suffix,
		Device: device.Config{
			SecretPrefix: "dpt-" + suffix,
			Policy:       device.Policy{StepUpMaxAge: time.Hour},
			// As the local runner: policies in seconds.
			PolicyMinDuration: time.Second,
		},
	}
	if _, err := app.Provision(ctx, awsCfg, cfg.TableName, cfg.VerifierKeySecretID); err != nil {
		t.Fatal(err)
	}
	r := &rig{faults: &awsx.Faults{}, calls: &awsx.Counter{}, prefix: cfg.Device.SecretPrefix, clock: &clock{t: time.Now()}}
	r.faults.Install(&awsCfg)
	r.calls.Install(&awsCfg)
	for _, c := range configure {
		c(&awsCfg)
	}
	r.app, err = app.Build(ctx, cfg, awsCfg, app.NewLogger(io.Discard, "error"), app.Options{Local: true, Clock: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// clock is a controllable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var admin = device.Caller{Subject: "admin-1", Groups: []string{"domain-admin:example.com"}}

func (r *rig) mailbox(t *testing.T) string {
	t.Helper()
	addr := "box-" + randHex(4) + "@example.com"
	if _, _, err := r.app.Service.RegisterMailbox(context.Background(), r.fresh(admin), addr, "owner-1"); err != nil {
		t.Fatal(err)
	}
	return addr
}

func (r *rig) fresh(c device.Caller) device.Caller {
	c.AuthTime = r.clock.Now()
	return c
}

// liveSecrets lists the mailbox's secrets that are not scheduled for deletion.
func (r *rig) liveSecrets(t *testing.T, mailbox string) []smtypes.SecretListEntry {
	t.Helper()
	out, err := r.app.SecretsManager.ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{
		Filters:                []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{r.prefix + "/" + mailbox + "/"}}},
		IncludePlannedDeletion: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var live []smtypes.SecretListEntry
	for _, s := range out.SecretList {
		if s.DeletedDate == nil && strings.HasPrefix(aws.ToString(s.Name), r.prefix+"/"+mailbox+"/") {
			live = append(live, s)
		}
	}
	return live
}

// checkConsistent asserts invariant 2 and, for active devices, invariant 1:
// every live device has its secret, every live secret has its device, and
// the AWSCURRENT password verifies.
func (r *rig) checkConsistent(t *testing.T, mailbox string) []device.Device {
	t.Helper()
	ctx := context.Background()
	page, err := r.app.Service.ListDevices(ctx, admin, mailbox, "", 100)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	secrets := map[string]bool{}
	for _, s := range r.liveSecrets(t, mailbox) {
		secrets[aws.ToString(s.Name)] = true
	}
	for _, d := range page.Devices {
		name := device.SecretName(r.prefix, mailbox, d.ID)
		if d.Status.Live() != secrets[name] {
			t.Errorf("device %s is %s but its secret live=%v", d.ID, d.Status, secrets[name])
		}
		delete(secrets, name)
		if d.Status != device.StatusActive {
			continue
		}
		sv, err := r.app.Secrets.Read(ctx, name, "")
		if err != nil {
			t.Fatalf("read secret: %v", err)
		}
		if d.Current == nil || d.Current.Version != sv.Version {
			t.Errorf("device %s: table's current version %v, AWSCURRENT %s", d.ID, d.Current, sv.Version)
		}
		if st, _ := r.app.Secrets.Describe(ctx, name); st.Pending() != "" && st.Pending() != st.Current() {
			t.Errorf("device %s: AWSPENDING left on %s", d.ID, st.Pending())
		}
		ok, err := r.app.Service.Verify(ctx, device.VerifyRequest{Mailbox: mailbox, Password: sv.Value.Password, Protocol: "imap"})
		if err != nil || !ok {
			t.Errorf("device %s: AWSCURRENT password does not verify (%v)", d.ID, err)
		}
	}
	for name := range secrets {
		t.Errorf("secret %s has no live device", name)
	}
	return page.Devices
}

// countCalls runs op once without faults and returns how many AWS calls it made.
func (r *rig) countCalls(op func() error) (int, error) {
	r.calls.Reset()
	err := op()
	return len(r.calls.Calls()), err
}

// TestFaultAtEveryCall fails each AWS call of create, regenerate and revoke
// in turn, before it is sent and after it was applied, retries the
// operation, and checks that both stores agree.
func TestFaultAtEveryCall(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	owner := device.Caller{Subject: "owner-1"}

	type op struct {
		name  string
		setup func(t *testing.T, mailbox string) string // returns a device id, if any
		run   func(mailbox, id, key string) error
		check func(t *testing.T, mailbox string, ds []device.Device)
	}
	create := func(mailbox, _ string, key string) error {
		_, err := r.app.Service.CreateDevice(ctx, r.fresh(owner), mailbox, device.CreateInput{Name: "phone"}, key)
		return err
	}
	mkDevice := func(t *testing.T, mailbox string) string {
		c, err := r.app.Service.CreateDevice(ctx, r.fresh(owner), mailbox, device.CreateInput{Name: "laptop"}, "")
		if err != nil {
			t.Fatal(err)
		}
		return c.Device.ID
	}
	ops := []op{
		{"create", func(*testing.T, string) string { return "" }, create, func(t *testing.T, _ string, ds []device.Device) {
			if len(ds) != 1 {
				t.Errorf("got %d devices after a retried create, want 1", len(ds))
			}
		}},
		{"regenerate", mkDevice, func(mailbox, id, _ string) error {
			_, err := r.app.Service.Regenerate(ctx, r.fresh(owner), mailbox, id, 0)
			return err
		}, func(t *testing.T, _ string, ds []device.Device) {
			if len(ds) != 1 || ds[0].Status != device.StatusActive {
				t.Errorf("after a retried regenerate: %+v", ds)
			}
		}},
		{"revoke", mkDevice, func(mailbox, id, _ string) error {
			_, err := r.app.Service.Revoke(ctx, owner, mailbox, id)
			return err
		}, func(t *testing.T, _ string, ds []device.Device) {
			if len(ds) != 1 || ds[0].Status != device.StatusRevoked {
				t.Errorf("after a retried revoke: %+v", ds)
			}
		}},
	}
	for _, o := range ops {
		mailbox := r.mailbox(t)
		id := o.setup(t, mailbox)
		n, err := r.countCalls(func() error { return o.run(mailbox, id, "key-"+randHex(8)) })
		if err != nil {
			t.Fatalf("%s without faults: %v", o.name, err)
		}
		if n < 2 {
			t.Fatalf("%s made %d AWS calls; the test would prove nothing", o.name, n)
		}
		for at := 1; at <= n; at++ {
			for _, mode := range []awsx.FaultMode{awsx.FailBefore, awsx.FailAfter} {
				name := fmt.Sprintf("%s/call%d/%s", o.name, at, map[awsx.FaultMode]string{awsx.FailBefore: "before", awsx.FailAfter: "after"}[mode])
				t.Run(name, func(t *testing.T) {
					mailbox := r.mailbox(t)
					id := o.setup(t, mailbox)
					key := "key-" + randHex(8)
					r.faults.Arm(at, mode)
					first := o.run(mailbox, id, key)
					hit, struck := r.faults.Hit()
					r.faults.Arm(0, awsx.FailBefore)
					if !struck {
						t.Fatalf("call %d was never made", at)
					}
					if err := o.run(mailbox, id, key); err != nil {
						t.Fatalf("retry after %s failed (first attempt: %v): %v", hit, first, err)
					}
					ds := r.checkConsistent(t, mailbox)
					o.check(t, mailbox, ds)
				})
			}
		}
	}
}
