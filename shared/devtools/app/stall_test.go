package app_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// stallCeiling bounds each AWS call in the stall tests.
const stallCeiling = 1500 * time.Millisecond

// pauseBefore freezes a stand-in with pause when the next call of
// operation starts, once armed: the request is then on its way to a
// stalled process, mid-operation.
type pauseBefore struct {
	operation string
	pause     func() (*standins.Paused, error)
	armed     atomic.Bool
	paused    atomic.Pointer[standins.Paused]
}

func (p *pauseBefore) install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("pauseBefore",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) == p.operation && p.armed.CompareAndSwap(true, false) {
					z, err := p.pause()
					if err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
					p.paused.Store(z)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

func (p *pauseBefore) resume(t *testing.T) {
	t.Helper()
	if z := p.paused.Load(); z != nil {
		if err := z.Resume(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStalledStandIns freezes each stand-in (SIGSTOP) in the middle of a
// request: the request ends Unavailable within its calls' deadline
// instead of hanging for the stall, works again once the stand-in is
// resumed, and a create abandoned between CreateSecret and the table
// write keeps its secret for the retry (or the reconciler) to settle.
func TestStalledStandIns(t *testing.T) {
	verifyStall := &pauseBefore{operation: "Query", pause: stack.PauseDynamoDB}
	readStall := &pauseBefore{operation: "GetSecretValue", pause: stack.PauseMoto}
	writeStall := &pauseBefore{operation: "TransactWriteItems", pause: stack.PauseDynamoDB}
	r := newRig(t, awsx.Deadline{Ceiling: stallCeiling}.Install, verifyStall.install, readStall.install, writeStall.install)
	ctx := context.Background()
	m := r.makeDevice(t, device.CreateInput{})
	owner := r.fresh(device.Caller{Subject: "owner-1"})

	// Verify with DynamoDB Local frozen at its read.
	verifyStall.armed.Store(true)
	_, err := r.app.Service.Verify(ctx, device.VerifyRequest{Mailbox: m.mailbox, Password: m.password, Protocol: "imap"})
	verifyStall.resume(t)
	if !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("verify against a frozen DynamoDB = %v, want Unavailable", err)
	}
	if !r.verifies(t, m.mailbox, m.password) {
		t.Fatal("the password does not verify once DynamoDB Local is resumed")
	}

	// Secrets Manager frozen at a read.
	readStall.armed.Store(true)
	_, err = r.app.Secrets.Read(ctx, m.secret, "")
	readStall.resume(t)
	if !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("reading a secret from a frozen Secrets Manager = %v, want Unavailable", err)
	}

	// Create with DynamoDB Local frozen at the table write, after
	// CreateSecret: the outcome is unknown (the frozen stand-in may still
	// apply the write once resumed), so the secret is kept, and the retry
	// with the same Idempotency-Key ends with one device and its secret
	// whichever way the abandoned write went.
	writeStall.armed.Store(true)
	_, err = r.app.Service.CreateDevice(ctx, owner, m.mailbox, device.CreateInput{Name: "laptop"}, "stall-key")
	writeStall.resume(t)
	if !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("create against a frozen table write = %v, want Unavailable", err)
	}
	c, err := r.app.Service.CreateDevice(ctx, owner, m.mailbox, device.CreateInput{Name: "laptop"}, "stall-key")
	if err != nil {
		t.Fatalf("the retry once DynamoDB Local is resumed: %v", err)
	}
	if !r.verifies(t, m.mailbox, c.Password) {
		t.Fatal("the retried create's password does not verify")
	}
	if ds := r.checkConsistent(t, m.mailbox); len(ds) != 2 {
		t.Fatalf("%d devices after the retried create, want 2", len(ds))
	}
}
