package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// awsWords are what AWS SDK errors and Secrets Manager's messages say; a
// problem document must carry none of them.
var awsWords = []string{"marked for deletion", "InvalidRequestException", "ResourceNotFoundException",
	"InvalidParameterException", "operation error", "StatusCode", "RequestID", "api error", "You can't"}

func carriesAWSWords(t *testing.T, what string, a answer) {
	t.Helper()
	for _, w := range awsWords {
		if strings.Contains(string(a.body), w) {
			t.Errorf("%s: the problem carries the dependency's words %q: %s", what, w, a)
		}
	}
}

// TestNoAWSMessageInProblems: against the real stand-ins, a replayed
// create whose device was revoked since, and a regenerate whose secret a
// consumer deleted behind devicepass's back, answer problems that say what
// to do, never what Secrets Manager said.
func TestNoAWSMessageInProblems(t *testing.T) {
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	addr := newMailbox(t, admin, ownerSub)
	devices := "/v1/mailboxes/" + addr + "/devices"

	key := "replay-" + unique("k")
	body := map[string]any{"name": "Phone"}
	c := newDevice(t, owner, addr, body, "Idempotency-Key", key)
	if a := do(t, "DELETE", devices+"/"+c.id, owner, nil); a.status != 200 {
		t.Fatalf("revoke: %s", a)
	}
	a := do(t, "POST", devices, owner, map[string]any{"name": "Phone"}, "Idempotency-Key", key)
	if a.status != 409 || a.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("replay after revoke: %s, want 409 problem", a)
	}
	if d, _ := a.json(t)["detail"].(string); !strings.Contains(d, "revoked") {
		t.Errorf("replay after revoke: detail %q does not say the device was revoked", d)
	}
	carriesAWSWords(t, "replay after revoke", a)

	// A secret deleted out of band: Secrets Manager refuses the regenerate
	// with its own words, which stay in the log.
	d := newDevice(t, owner, addr, nil)
	sm := consumerSecrets(t)
	if _, err := sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(d.arn), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	a = do(t, "POST", devices+"/"+d.id+"/password", owner, nil)
	if a.status < 400 || a.status >= 500 && a.status != 503 {
		t.Fatalf("regenerate of a deleted secret: %s, want a 4xx or 503 problem", a)
	}
	carriesAWSWords(t, "regenerate of a deleted secret", a)
	if _, err := sm.RestoreSecret(context.Background(), &secretsmanager.RestoreSecretInput{SecretId: aws.String(d.arn)}); err != nil {
		t.Fatalf("RestoreSecret: %v", err)
	}
}

// TestAddressCase: one mailbox per address whatever its case, over HTTP.
func TestAddressCase(t *testing.T) {
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	local := unique("Mixed.Case")
	a := do(t, "PUT", "/v1/mailboxes/"+local+"@EXAMPLE.com", admin, map[string]string{"owner": ownerSub})
	if a.status != 201 {
		t.Fatalf("PUT mailbox: %s", a)
	}
	lower := strings.ToLower(local) + "@" + domain
	if got, _ := a.json(t)["address"].(string); got != lower {
		t.Fatalf("address %q, want %q", got, lower)
	}
	if a := do(t, "PUT", "/v1/mailboxes/"+strings.ToUpper(local)+"@example.com", admin, map[string]string{"owner": ownerSub}); a.status != 200 {
		t.Fatalf("PUT in another case: %s, want 200 (the same mailbox)", a)
	}
	c := newDevice(t, owner, strings.ToUpper(lower), nil)
	if !verify(t, mailServerToken(t), local+"@Example.Com", c.password) {
		t.Errorf("the password does not verify for the address in another case")
	}
}
