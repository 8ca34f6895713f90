package device_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// t0 is the harness clock's start, at millisecond precision like the
// store's instants.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	domain  = "example.com"
	mailbox = "alice@example.com"
	ownerID = "owner-sub"
	prefix  = "devicepass"
)

// harness is every use case on the in-memory fakes with a controllable clock.
type harness struct {
	t       *testing.T
	store   *devicetest.MemStore
	secrets *devicetest.MemSecrets
	faults  *devicetest.Faults
	clock   *devicetest.Clock
	keyed   *verifier.Keyed
	svc     *devicetest.UseCases

	logMu sync.Mutex
	logs  *bytes.Buffer
	seen  []string // passwords handed out, which must never be logged
}

// newHarness returns a harness with a registered mailbox. cfg's zero
// fields take the service's defaults, except that verification tolerates
// many failures unless cfg says otherwise.
func newHarness(t *testing.T, cfg device.Config) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		store:   devicetest.NewMemStore(),
		secrets: devicetest.NewMemSecrets(),
		faults:  &devicetest.Faults{},
		clock:   devicetest.NewClock(t0),
		logs:    &bytes.Buffer{},
	}
	h.store.Faults, h.secrets.Faults = h.faults, h.faults
	var err error
	h.keyed, err = verifier.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Verify.MaxFailures == 0 {
		cfg.Verify.MaxFailures = 1000
	}
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&h.logMu, h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.svc, err = devicetest.NewUseCases(cfg, devicetest.Deps{
		Store: h.store, Secrets: h.secrets, Keyed: h.keyed, Generator: gen,
		Clock: h.clock.Now, Logger: logger, Scheduler: h.secrets,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.RegisterMailbox(context.Background(), h.admin(), mailbox, ownerID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.checkLogs)
	return h
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// checkLogs fails the test if a password handed out appears in the logs.
func (h *harness) checkLogs() {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	logs := h.logs.String()
	for _, pw := range h.seen {
		if strings.Contains(logs, pw) {
			h.t.Errorf("a password appears in the logs")
		}
	}
}

func (h *harness) remember(pw string) string {
	if pw != "" {
		h.seen = append(h.seen, pw)
	}
	return pw
}

// admin is an administrator of the domain who logged in just now.
func (h *harness) admin() device.Caller {
	return device.Caller{Subject: "admin-sub", Groups: []string{"domain-admin:" + domain}, AuthTime: h.clock.Now(), RequestID: "req-1"}
}

// owner is the mailbox's owner, who logged in just now.
func (h *harness) owner() device.Caller {
	return device.Caller{Subject: ownerID, AuthTime: h.clock.Now()}
}

// create makes a device as the owner, failing the test on error.
func (h *harness) create(in device.CreateInput) device.Created {
	h.t.Helper()
	if in.Name == "" {
		in.Name = "phone"
	}
	c, err := h.svc.CreateDevice(context.Background(), h.owner(), mailbox, in, "")
	if err != nil {
		h.t.Fatalf("create device: %v", err)
	}
	h.remember(c.Password)
	return c
}

// verify asks whether pw is valid for the mailbox over IMAP from
// 192.0.2.10, failing the test on error.
func (h *harness) verify(pw string) bool {
	h.t.Helper()
	ok, err := h.svc.Verify(context.Background(), device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: "192.0.2.10"})
	if err != nil {
		h.t.Fatalf("verify: %v", err)
	}
	return ok
}

// verifyFor asks whether pw is valid for d over a protocol and from an
// address d admits.
func (h *harness) verifyFor(d device.Device, pw string) bool {
	h.t.Helper()
	req := device.VerifyRequest{Mailbox: d.Mailbox, Password: pw, Protocol: string(d.Scopes[0])}
	if len(d.AllowIPs) > 0 {
		req.ClientIP = d.AllowIPs[0].Addr().String()
	}
	ok, err := h.svc.Verify(context.Background(), req)
	if err != nil {
		h.t.Fatalf("verify: %v", err)
	}
	return ok
}

func (h *harness) device(id string) device.Device {
	h.t.Helper()
	d, err := h.store.GetDevice(context.Background(), mailbox, id)
	if err != nil {
		h.t.Fatalf("get device: %v", err)
	}
	return d
}

// currentPassword returns the AWSCURRENT password of a device's secret.
func (h *harness) currentPassword(d device.Device) (string, string) {
	h.t.Helper()
	v, version, ok := h.secrets.CurrentValue(device.SecretName(prefix, d.Mailbox, d.ID))
	if !ok {
		h.t.Fatalf("device %s has no AWSCURRENT secret", d.ID)
	}
	return h.remember(v.Password), version
}

// checkConsistent asserts the invariants between the table and Secrets
// Manager: every live device has a live secret whose AWSCURRENT version is
// the device's current verifier and whose password verifies (if the device
// is active); every ended device's secret is gone or scheduled for
// deletion; every live secret belongs to a live device.
func (h *harness) checkConsistent() {
	h.t.Helper()
	live := map[string]bool{}
	for _, d := range h.store.AllDevices() {
		name := device.SecretName(prefix, d.Mailbox, d.ID)
		st, exists := h.secrets.State(name)
		if !d.Status.Live() {
			if exists && !st.Deleted {
				h.t.Fatalf("%s device %s still has a live secret", d.Status, d.ID)
			}
			continue
		}
		live[name] = true
		if !exists || st.Deleted {
			h.t.Fatalf("live device %s has no live secret (exists %v)", d.ID, exists)
		}
		pw, version := h.currentPassword(d)
		if d.Current == nil || d.Current.Version != version {
			h.t.Fatalf("device %s current verifier %+v, AWSCURRENT is %s", d.ID, d.Current, version)
		}
		if !verifier.Equal(d.Current.Hash, h.keyed.Password(pw)) {
			h.t.Fatalf("device %s current verifier does not match the AWSCURRENT password", d.ID)
		}
		if d.Status == device.StatusActive && !d.Expired(h.clock.Now()) && !h.verifyFor(d, pw) {
			h.t.Fatalf("the AWSCURRENT password of active device %s does not verify", d.ID)
		}
	}
	for _, name := range h.secrets.Live() {
		if !live[name] {
			h.t.Fatalf("secret %s has no live device", name)
		}
	}
}

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	devicetest.WantCode(t, err, code)
}

func ptr[T any](v T) *T { return &v }
