package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/device"
)

// guess verifies a wrong password from ip and says whether it was checked
// (answered false) or refused (429); anything else fails the test.
func (r *rig) guess(t *testing.T, mailbox, pw, ip string) (checked bool) {
	t.Helper()
	ok, err := r.app.Service.Verify(context.Background(), device.VerifyRequest{Mailbox: mailbox, Password: pw, Protocol: "imap", ClientIP: ip})
	switch {
	case ok:
		t.Fatal("a guess verified")
	case apperr.Is(err, apperr.RateLimited):
		return false
	case err != nil:
		t.Fatalf("verify: %v", err)
	}
	return true
}

// TestVerifyLimitOnDynamoDB: the rate limit on DynamoDB Local. A thousand
// guesses from one network leave the owner's password from another
// network valid; of 40 concurrent guesses from a fresh network exactly the
// limit are checked; a failure costs two DynamoDB calls.
func TestVerifyLimitOnDynamoDB(t *testing.T) {
	r := newRig(t)
	limit := r.app.Service.Verification.Config().Verify.MaxFailures
	m := r.makeDevice(t, device.CreateInput{})
	pw, _ := r.current(t, m)

	checked := 0
	for i := range 1000 {
		if r.guess(t, m.mailbox, fmt.Sprintf("guess-%d", i), "203.0.113.50") {
			checked++
		}
	}
	if checked != limit {
		t.Fatalf("%d of 1000 guesses from one network checked, want the limit %d", checked, limit)
	}
	if !r.verifies(t, m.mailbox, pw) {
		t.Fatal("the owner's password from another network was refused during the attack")
	}

	var wg sync.WaitGroup
	results := make([]bool, 40)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.guess(t, m.mailbox, fmt.Sprintf("burst-%d", i), "2001:db8:7:7::1")
		}()
	}
	wg.Wait()
	checked = 0
	for _, c := range results {
		if c {
			checked++
		}
	}
	if checked != limit {
		t.Fatalf("%d of 40 concurrent guesses from a fresh network checked, want exactly the limit %d", checked, limit)
	}

	r.calls.Reset()
	if !r.guess(t, m.mailbox, "one wrong password", "198.51.100.99") {
		t.Fatal("a fresh network's first guess was refused")
	}
	if n := r.calls.Count(awsx.ServiceDynamoDB); n > 2 {
		t.Fatalf("a failed verification made %d DynamoDB calls (%v), want at most 2", n, r.calls.Summary())
	}
}
