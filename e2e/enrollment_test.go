package e2e

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// newEnrollment makes an enrollment link as a domain administrator and
// returns its id and token.
func newEnrollment(t *testing.T, admin, addr string, body map[string]any) (string, string) {
	t.Helper()
	a := do(t, "POST", "/v1/mailboxes/"+addr+"/enrollments", admin, body)
	if a.status != 201 {
		t.Fatalf("POST enrollments: %s, want 201", a)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("enrollment answer Cache-Control %q, want no-store", cc)
	}
	m := a.json(t)
	enr, _ := m["enrollment"].(map[string]any)
	id, _ := enr["id"].(string)
	tok, _ := m["token"].(string)
	if id == "" || tok == "" {
		t.Fatalf("enrollment answer lacks id or token: %s", a)
	}
	handedOut.Add("enrollment token", tok)
	return id, tok
}

func redeem(t *testing.T, tok, token string) answer {
	t.Helper()
	return do(t, "POST", "/v1/enrollments/"+url.PathEscape(token)+"/device", tok, nil)
}

// liveSecretsOf lists the mailbox's device secrets that are not scheduled
// for deletion, as a consumer with ListSecrets would see them.
func liveSecretsOf(t *testing.T, sm *secretsmanager.Client, prefix, addr string) []string {
	t.Helper()
	var out []string
	p := secretsmanager.NewListSecretsPaginator(sm, &secretsmanager.ListSecretsInput{
		Filters:                []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix + "/" + addr + "/"}}},
		IncludePlannedDeletion: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.SecretList {
			if name := aws.ToString(s.Name); s.DeletedDate == nil && strings.HasPrefix(name, prefix+"/"+addr+"/") {
				out = append(out, name)
			}
		}
	}
	return out
}

// secretPrefix reads the runner's secret prefix from a device's secret
// name, <prefix>/<mailbox>/<id>.
func secretPrefix(t *testing.T, sm *secretsmanager.Client, arn, addr string) string {
	t.Helper()
	out, err := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &arn})
	if err != nil {
		t.Fatal(err)
	}
	prefix, _, ok := strings.Cut(aws.ToString(out.Name), "/"+addr+"/")
	if !ok {
		t.Fatalf("secret name %s does not hold the mailbox", aws.ToString(out.Name))
	}
	return prefix
}

// TestEnrollmentWorksOnce: a link's token makes exactly one device, even
// when two holders use it at the same instant; the device has the link's
// preset name, scopes and expiry, and its password is the secret's
// AWSCURRENT and verifies.
func TestEnrollmentWorksOnce(t *testing.T) {
	sm := consumerSecrets(t)
	admin := adminToken(t)
	ownerSub := unique("owner")
	mx := mailServerToken(t)
	addr := newMailbox(t, admin, ownerSub)
	holderSub := unique("holder")
	holder := userToken(t, holderSub)

	var prefix string
	for round := range 3 {
		name := "Kiosk " + unique("k")
		_, token := newEnrollment(t, admin, addr, map[string]any{"name": name, "scopes": []string{"smtp", "imap"}, "validFor": "72h"})

		// Two holders at once, released together.
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			answers [2]answer
		)
		before := time.Now()
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				answers[i] = redeem(t, holder, token)
			}()
		}
		close(start)
		wg.Wait()
		after := time.Now()
		statuses := []int{answers[0].status, answers[1].status}
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{201, 409}) {
			t.Fatalf("round %d: concurrent redemptions answered %s and %s, want one 201 and one 409", round, answers[0], answers[1])
		}
		won := answers[0]
		if won.status != 201 {
			won = answers[1]
		}
		dev := decodeCreated(t, won)

		if prefix == "" {
			prefix = secretPrefix(t, sm, dev.arn, addr)
		}
		if dev.device["name"] != name || !slices.Equal(toStrings(dev.device["scopes"]), []string{"imap", "smtp"}) || dev.device["createdBy"] != holderSub {
			t.Errorf("redeemed device %v, want the link's name and scopes, made by the holder", dev.device)
		}
		exp, err := time.Parse(time.RFC3339Nano, dev.device["expiresAt"].(string))
		if err != nil || exp.Before(before.Add(72*time.Hour).Add(-time.Second)) || exp.After(after.Add(72*time.Hour).Add(time.Second)) {
			t.Errorf("expiresAt %v, want 72h after the redemption", dev.device["expiresAt"])
		}
		cur := currentSecret(t, sm, dev.arn)
		if cur.password != dev.password || cur.device != dev.id || cur.username != addr {
			t.Fatal("the password handed out is not the secret's AWSCURRENT")
		}
		if !verify(t, mx, addr, dev.password) {
			t.Error("the redeemed device's password does not verify")
		}

		// Never a second time, and nothing left behind by the loser.
		if a := redeem(t, holder, token); a.status != 409 {
			t.Errorf("round %d: a later redemption answered %s, want 409", round, a)
		}
		list := do(t, "GET", "/v1/mailboxes/"+addr+"/devices", admin, nil)
		items, _ := list.json(t)["items"].([]any)
		if len(items) != round+1 {
			t.Fatalf("round %d: %d devices, want %d", round, len(items), round+1)
		}
		if live := liveSecretsOf(t, sm, prefix, addr); len(live) != round+1 {
			t.Fatalf("round %d: %d live secrets, want %d: %v", round, len(live), round+1, live)
		}
	}
}

// TestEnrollmentRefusals: cancelled and expired links refuse, a link for a
// named user refuses everyone else, and only domain administrators make
// and cancel links.
func TestEnrollmentRefusals(t *testing.T) {
	sm := consumerSecrets(t)
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	addr := newMailbox(t, admin, ownerSub)
	someone := userToken(t, unique("someone"))

	if a := do(t, "POST", "/v1/mailboxes/"+addr+"/enrollments", owner, map[string]any{"name": "x"}); a.status != 403 {
		t.Errorf("the owner made a link: %s, want 403", a)
	}

	id, token := newEnrollment(t, admin, addr, map[string]any{"name": "cancelled"})
	if a := do(t, "DELETE", "/v1/mailboxes/"+addr+"/enrollments/"+id, owner, nil); a.status != 403 {
		t.Errorf("the owner cancelled a link: %s, want 403", a)
	}
	a := do(t, "DELETE", "/v1/mailboxes/"+addr+"/enrollments/"+id, admin, nil)
	if a.status != 200 || a.json(t)["status"] != "cancelled" {
		t.Fatalf("cancel: %s, want 200 cancelled", a)
	}
	if a := redeem(t, someone, token); a.status != 409 {
		t.Errorf("a cancelled link answered %s, want 409", a)
	}

	_, token = newEnrollment(t, admin, addr, map[string]any{"name": "expiring", "tokenValidFor": "1s"})
	clock.Advance(1100 * time.Millisecond)
	if a := redeem(t, someone, token); a.status != 409 {
		t.Errorf("an expired link answered %s, want 409", a)
	}

	bobSub := unique("bob")
	_, token = newEnrollment(t, admin, addr, map[string]any{"name": "bob's", "user": bobSub})
	if a := redeem(t, someone, token); a.status != 403 {
		t.Errorf("another subject used bob's link: %s, want 403", a)
	}
	if a := redeem(t, "", token); a.status != 401 {
		t.Errorf("no bearer token: %s, want 401", a)
	}
	dev := decodeCreated(t, redeem(t, userToken(t, bobSub), token))
	if dev.device["user"] != bobSub {
		t.Errorf("bob's device is bound to %v", dev.device["user"])
	}
	if a := redeem(t, someone, strings.Repeat("A", 43)); a.status != 404 || strings.Contains(string(a.body), strings.Repeat("A", 43)) {
		t.Errorf("a token that opens nothing: %s, want 404 not repeating it", a)
	}

	// Only bob's device exists, with its one secret.
	list := do(t, "GET", "/v1/mailboxes/"+addr+"/devices", admin, nil)
	if items, _ := list.json(t)["items"].([]any); len(items) != 1 {
		t.Errorf("%d devices, want bob's only", len(items))
	}
	if live := liveSecretsOf(t, sm, secretPrefix(t, sm, dev.arn, addr), addr); len(live) != 1 {
		t.Errorf("%d live secrets, want 1", len(live))
	}
	// The token is in the paths of these requests; no log line holds it
	// (zz_leak_test.go searches for every token handed out).
	if strings.Contains(logs.String(), token) {
		t.Error("the runner's log holds an enrollment token")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		s, _ := x.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
