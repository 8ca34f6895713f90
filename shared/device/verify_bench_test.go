package device_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// BenchmarkVerifyMailboxOf50 measures the verify hot path over a
// mailbox of 50 devices on the in-memory store: input checks, one keyed
// hash, the constant-time match against every verifier. The last use is
// recorded before the loop and the clock stands still, so no write. `make
// bench` runs the same measurement beside Argon2id (cmd/bench).
//
//	go test -run '^$' -bench VerifyMailboxOf50 -benchmem ./shared/device
func BenchmarkVerifyMailboxOf50(b *testing.B) {
	ctx := context.Background()
	keyed, err := verifier.New(bytes.Repeat([]byte{0x5a}, verifier.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	gen, err := password.New(password.DefaultLength)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	const mbx, owner = "bench@bench.example", "bench-owner"
	svc, err := devicetest.NewUseCases(device.Config{}, devicetest.Deps{
		Store: devicetest.NewMemStore(), Secrets: devicetest.NewMemSecrets(), Keyed: keyed, Generator: gen,
		Clock: func() time.Time { return now }, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	admin := device.Caller{Subject: "bench-admin", Groups: []string{"domain-admin:bench.example"}, AuthTime: now}
	if _, _, err := svc.RegisterMailbox(ctx, admin, mbx, owner); err != nil {
		b.Fatal(err)
	}
	var pw string
	for i := range 50 {
		c, err := svc.CreateDevice(ctx, device.Caller{Subject: owner, AuthTime: now}, mbx, device.CreateInput{Name: fmt.Sprintf("device %d", i)}, "")
		if err != nil {
			b.Fatal(err)
		}
		if i == 25 {
			pw = c.Password
		}
	}
	req := device.VerifyRequest{Mailbox: mbx, Password: pw, Protocol: "imap", ClientIP: "192.0.2.10"}
	if ok, err := svc.Verify(ctx, req); err != nil || !ok {
		b.Fatalf("verify: %v %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := svc.Verify(ctx, req); err != nil || !ok {
			b.Fatalf("verify: %v %v", ok, err)
		}
	}
}
