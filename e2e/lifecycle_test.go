package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func TestEnvFile(t *testing.T) {
	fi, err := os.Stat(runner.EnvFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %v, want 0600", fi.Mode().Perm())
	}
	env := envFile(t)
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB", "DEVICEPASS_API_URL"} {
		if env[k] == "" {
			t.Errorf("env file lacks %s", k)
		}
	}
	if env["DEVICEPASS_API_URL"] != runner.URL() {
		t.Errorf("DEVICEPASS_API_URL = %q, want %q", env["DEVICEPASS_API_URL"], runner.URL())
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"} {
		if !strings.HasPrefix(env[k], "http://127.0.0.1:") {
			t.Errorf("%s = %q, want a loopback endpoint", k, env[k])
		}
	}
}

// TestWalkthrough is the README's walkthrough, step by step.
func TestWalkthrough(t *testing.T) {
	ctx := context.Background()
	sm := consumerSecrets(t)
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	mx := mailServerToken(t)

	// Register the mailbox; the owner adds a device and sees its password.
	addr := newMailbox(t, admin, ownerSub)
	dev := newDevice(t, owner, addr, map[string]any{"name": "Laptop", "note": "the intern's"})
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	if dev.device["status"] != "active" {
		t.Errorf("new device status %v, want active", dev.device["status"])
	}

	// The password is the AWSCURRENT version's, as a consumer reads it.
	cur := currentSecret(t, sm, dev.arn)
	if cur.password != dev.password || cur.username != addr || cur.device != dev.id {
		t.Fatalf("AWSCURRENT holds %s/%s for %s, want the password handed out for %s/%s", cur.username, "(password)", cur.device, addr, dev.id)
	}
	if !verify(t, mx, addr, dev.password) {
		t.Fatal("the new device's password does not verify")
	}

	// List: the device is there, without any password or verifier.
	list := do(t, "GET", "/v1/mailboxes/"+addr+"/devices", owner, nil)
	if list.status != 200 {
		t.Fatalf("list: %s", list)
	}
	items, _ := list.json(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != dev.id {
		t.Fatalf("list items %v, want the one device", items)
	}
	assertNoSecretFields(t, "list", list, dev.password)
	get := do(t, "GET", base, owner, nil)
	if get.status != 200 {
		t.Fatalf("get: %s", get)
	}
	assertNoSecretFields(t, "get", get, dev.password)

	// Regenerate: the new password is AWSCURRENT and verifies; the old does not.
	regen := do(t, "POST", base+"/password", owner, map[string]any{})
	if regen.status != 200 {
		t.Fatalf("regenerate: %s", regen)
	}
	re := decodeCreated(t, regen)
	if re.password == dev.password {
		t.Fatal("regenerate returned the old password")
	}
	if cur := currentSecret(t, sm, dev.arn); cur.password != re.password {
		t.Fatal("after regenerate, AWSCURRENT is not the new password")
	}
	if !verify(t, mx, addr, re.password) {
		t.Error("the regenerated password does not verify")
	}
	if verify(t, mx, addr, dev.password) {
		t.Error("the old password still verifies after regenerate (grace 0)")
	}

	// Disable: the password stops; enable: it works again.
	if a := do(t, "PATCH", base, owner, map[string]any{"status": "disabled"}); a.status != 200 || a.json(t)["status"] != "disabled" {
		t.Fatalf("disable: %s", a)
	}
	if verify(t, mx, addr, re.password) {
		t.Error("a disabled device's password verifies")
	}
	if a := do(t, "PATCH", base, owner, map[string]any{"status": "active"}); a.status != 200 || a.json(t)["status"] != "active" {
		t.Fatalf("enable: %s", a)
	}
	if !verify(t, mx, addr, re.password) {
		t.Error("a re-enabled device's password does not verify")
	}

	// Revoke: listed as revoked, secret scheduled for deletion, password dead.
	if a := do(t, "DELETE", base, owner, nil); a.status != 200 {
		t.Fatalf("revoke: %s", a)
	}
	if a := do(t, "GET", base, owner, nil); a.status != 200 || a.json(t)["status"] != "revoked" {
		t.Errorf("revoked device reads as %s, want status revoked", a)
	}
	list = do(t, "GET", "/v1/mailboxes/"+addr+"/devices", owner, nil)
	items, _ = list.json(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["status"] != "revoked" {
		t.Errorf("list after revoke %s, want the device as revoked", list)
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &dev.arn})
	if err != nil {
		t.Fatal(err)
	}
	if desc.DeletedDate == nil {
		t.Error("the revoked device's secret is not scheduled for deletion (no DeletedDate)")
	}
	if verify(t, mx, addr, re.password) {
		t.Error("a revoked device's password verifies")
	}
}

// assertNoSecretFields fails if an answer carries a password or verifier.
func assertNoSecretFields(t *testing.T, what string, a answer, passwords ...string) {
	t.Helper()
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				lk := strings.ToLower(k)
				for _, bad := range []string{"password", "verifier", "hash", "curh", "prevh", "pendh"} {
					if strings.Contains(lk, bad) {
						t.Errorf("%s: field %s%s carries a secret", what, path, k)
					}
				}
				walk(path+k+".", e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[].", e)
			}
		}
	}
	walk("", a.json(t))
	for _, p := range passwords {
		if strings.Contains(string(a.body), p) {
			t.Errorf("%s: the answer contains a password", what)
		}
	}
}
