package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestLeakLifecycle runs one more full lifecycle, with an idempotency key, a
// wrong password, a regenerate, a rotation, a disable, a revoke and a
// revoke-all, so that the leak scan after the suite (scanForLeaks, from
// TestMain) always has every kind of secret to look for, even under -run.
func TestLeakLifecycle(t *testing.T) {
	sm := consumerSecrets(t)
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	mx := mailServerToken(t)
	addr := newMailbox(t, admin, ownerSub)
	idem := unique("idem-key-secret")
	handedOut.Add("idempotency key", idem)
	dev := newDevice(t, owner, addr, map[string]any{"rotation": map[string]any{"everyDays": 7}}, "Idempotency-Key", idem)
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	verify(t, mx, addr, dev.password)
	verify(t, mx, addr, dev.password+"x") // a wrong password is a secret too
	handedOut.Add("password", dev.password+"x")
	decodeCreated(t, do(t, "POST", base+"/password", owner, map[string]any{"graceSeconds": 60}))
	if a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn}); a.status != 200 {
		t.Fatalf("rotate: %s", a)
	}
	handedOut.Add("password", currentSecret(t, sm, dev.arn).password)
	do(t, "PATCH", base, owner, map[string]any{"status": "disabled"})
	do(t, "DELETE", base, owner, nil)
	other := newDevice(t, owner, addr, nil)
	if a := do(t, "POST", "/v1/mailboxes/"+addr+"/devices/revoke-all", userToken(t, ownerSub), nil); a.status != 200 {
		t.Fatalf("revoke-all: %s", a)
	}
	_ = other
}

// scanForLeaks runs from TestMain after every test, whatever -run or
// -shuffle chose: once the stream has caught up it searches the runner's
// logs, a full Scan of the table and the event file for every password,
// token and idempotency key the API handed out and for the verifier key,
// and the logs for the verifier hashes the table holds. It also checks the
// event file holds each change once. It returns what it found wrong.
func scanForLeaks() []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runner.StreamPoller().Flush(ctx); err != nil {
		return []string{"flush the stream: " + err.Error()}
	}
	cfg := runner.AWSConfig()
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	sm := secretsmanager.NewFromConfig(cfg)

	// The verifier key, in every encoding it could leak in.
	key, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(localrun.VerifierKeySecretID)})
	if err != nil {
		return []string{"read the verifier key: " + err.Error()}
	}
	keyB64 := aws.ToString(key.SecretString)
	raw, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		return []string{"decode the verifier key: " + err.Error()}
	}
	secrets := handedOut.All()
	secrets[keyB64] = "verifier key"
	secrets[hex.EncodeToString(raw)] = "verifier key (hex)"
	secrets[base64.RawURLEncoding.EncodeToString(raw)] = "verifier key (base64url)"
	secrets[string(raw)] = "verifier key (raw)"

	table, err := scanTable(ctx, ddb)
	if err != nil {
		return []string{err.Error()}
	}
	events, err := os.ReadFile(runner.EventsFile())
	if err != nil {
		return []string{err.Error()}
	}
	logText := logs.String()
	if len(table) == 0 || len(logText) == 0 {
		fail("too little to search: %d table bytes, %d log bytes", len(table), len(logText))
	}
	for s, what := range secrets {
		if len(s) < 8 {
			continue
		}
		if strings.Contains(logText, s) {
			fail("the runner's log contains a %s", what)
		}
		if strings.Contains(table, s) {
			fail("the table contains a %s", what)
		}
		if strings.Contains(string(events), s) {
			fail("the event file holds a %s", what)
		}
	}
	// The keyed hashes belong in the table, never in the logs.
	hashes, err := verifierHashes(ctx, ddb)
	if err != nil {
		return append(problems, err.Error())
	}
	for _, h := range hashes {
		if strings.Contains(logText, h) {
			fail("the runner's log contains a verifier hash")
		}
	}

	// Each change once: no event id twice, as many events as audit entries.
	seen := map[string]bool{}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(events)), "\n") {
		if line == "" {
			continue
		}
		var ev lifecycle.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			fail("event file line: %v", err)
			continue
		}
		if seen[ev.ID] {
			fail("event %s (%s) appears twice", ev.ID, ev.Type)
		}
		seen[ev.ID] = true
		n++
	}
	if audit := strings.Count(table, `"kind":"audit"`); audit != n {
		fail("%d audit entries for %d events", audit, n)
	}
	return problems
}

// scanTable returns every item of the table, as JSON text.
func scanTable(ctx context.Context, ddb *dynamodb.Client) (string, error) {
	var sb strings.Builder
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(localrun.TableName)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("scan the table: %w", err)
		}
		for _, it := range page.Items {
			b, _ := json.Marshal(plain(&types.AttributeValueMemberM{Value: it}))
			sb.Write(b)
			sb.WriteByte('\n')
		}
	}
	return sb.String(), nil
}

// plain turns an attribute value into plain Go values, for JSON.
func plain(v types.AttributeValue) any {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return x.Value
	case *types.AttributeValueMemberN:
		return x.Value
	case *types.AttributeValueMemberB:
		return x.Value
	case *types.AttributeValueMemberBOOL:
		return x.Value
	case *types.AttributeValueMemberSS:
		return x.Value
	case *types.AttributeValueMemberNS:
		return x.Value
	case *types.AttributeValueMemberBS:
		return x.Value
	case *types.AttributeValueMemberL:
		out := make([]any, len(x.Value))
		for i, e := range x.Value {
			out[i] = plain(e)
		}
		return out
	case *types.AttributeValueMemberM:
		out := make(map[string]any, len(x.Value))
		for k, e := range x.Value {
			out[k] = plain(e)
		}
		return out
	}
	return nil
}

// verifierHashes returns the current verifiers' keyed hashes in the table.
func verifierHashes(ctx context.Context, ddb *dynamodb.Client) ([]string, error) {
	out, err := ddb.Scan(ctx, &dynamodb.ScanInput{
		TableName:            aws.String(localrun.TableName),
		FilterExpression:     aws.String("attribute_exists(curH)"),
		ProjectionExpression: aws.String("curH"),
	})
	if err != nil {
		return nil, fmt.Errorf("scan for verifier hashes: %w", err)
	}
	var hs []string
	for _, it := range out.Items {
		if v, ok := it["curH"].(*types.AttributeValueMemberS); ok {
			hs = append(hs, v.Value)
		}
	}
	return hs, nil
}
