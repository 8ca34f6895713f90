package e2e

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// TestStalledStandInAnswers503 freezes each stand-in (SIGSTOP) while a
// request needs it: the API answers 503 with Retry-After once its calls'
// deadline (localrun.DefaultCallCeiling, 4 s) has passed, not after the stall,
// and answers normally once the stand-in is resumed. Not parallel: the
// freeze would stall every other test.
func TestStalledStandInAnswers503(t *testing.T) {
	admin := adminToken(t)
	owner := unique("stall")
	tok := userToken(t, owner)
	addr := newMailbox(t, admin, owner)
	dev := newDevice(t, tok, addr, nil)
	mx := mailServerToken(t)
	verify := func() answer {
		return do(t, "POST", "/v1/verify", mx, map[string]string{"mailbox": addr, "password": dev.password, "protocol": "imap", "clientIp": "192.0.2.44"})
	}
	create := func() answer {
		return do(t, "POST", "/v1/mailboxes/"+addr+"/devices", tok, map[string]any{"name": "during a stall"}, "Idempotency-Key", "stall-"+owner)
	}
	stack := runner.Stack()
	for _, tc := range []struct {
		name  string
		pause func() (*standins.Paused, error)
		call  func() answer
		want  int
	}{
		{"DynamoDB Local frozen under verify", stack.PauseDynamoDB, verify, http.StatusOK},
		{"moto frozen under create", stack.PauseMoto, create, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := tc.pause()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = z.Resume() }() // even if the test fails first
			// Without a deadline the request would wait for the stall and the
			// test client give up after 30 s, failing the test.
			a := tc.call()
			if err := z.Resume(); err != nil {
				t.Fatal(err)
			}
			if a.status != http.StatusServiceUnavailable {
				t.Fatalf("answer while frozen = %s, want 503", a)
			}
			if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("Retry-After = %q, want seconds", a.header.Get("Retry-After"))
			}
			if a := tc.call(); a.status != tc.want {
				t.Fatalf("answer once resumed = %s, want %d", a, tc.want)
			}
		})
	}
}

// TestReconcileAtOnce: a secret left without its device (a create abandoned
// between CreateSecret and the table write) is removed by the local
// runner's reconciler when a test asks, without waiting out
// localrun.ReconcileMinAge. Not parallel: a reconciler run that repairs
// leftovers of any age would also take other tests' creates in flight.
func TestReconcileAtOnce(t *testing.T) {
	ctx := context.Background()
	admin := adminToken(t)
	addr := newMailbox(t, admin, unique("orphan"))
	app := runner.App()
	name := device.SecretName(app.Service.Config().SecretPrefix, addr, "orphanorphanorphanorphan22")
	if _, err := app.Secrets.Create(ctx, device.SecretInput{Name: name, Token: "00000000-0000-4000-8000-000000000001",
		Value: device.SecretValue{Username: addr, Password: "left behind", Device: "orphanorphanorphanorphan22"}}); err != nil {
		t.Fatal(err)
	}
	handedOut.Add("orphan password", "left behind")
	if _, err := runner.ReconcileNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Secrets.Read(ctx, name, ""); err != nil {
		t.Fatalf("a fresh leftover was removed by the periodic reconciler's rules: %v", err)
	}
	rep, err := runner.ReconcileOlderThan(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanSecretsDeleted < 1 {
		t.Fatalf("report %+v, want the orphan secret deleted", rep)
	}
	if _, err := app.Secrets.Read(ctx, name, ""); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("reading the orphan secret after the reconciler = %v, want NotFound", err)
	}
}
