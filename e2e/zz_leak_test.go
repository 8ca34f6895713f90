package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/devtools/localrun"
)

// TestZZNoSecretsLeak runs last (file order): after one more full lifecycle
// it searches the runner's logs and a full Scan of the table for every
// password and token handed out and for the verifier key, and the logs for
// the verifier hashes the table holds.
func TestZZNoSecretsLeak(t *testing.T) {
	ctx := context.Background()
	sm := consumerSecrets(t)
	admin := adminToken(t)
	ownerSub := unique("owner")
	owner := userToken(t, ownerSub)
	mx := mailServerToken(t)
	addr := newMailbox(t, admin, ownerSub)
	idem := unique("idem-key-secret")
	handedOut.add("idempotency key", idem)
	dev := newDevice(t, owner, addr, map[string]any{"rotation": map[string]any{"everyDays": 7}}, "Idempotency-Key", idem)
	base := "/v1/mailboxes/" + addr + "/devices/" + dev.id
	verify(t, mx, addr, dev.password)
	verify(t, mx, addr, dev.password+"x") // a wrong password is a secret too
	handedOut.add("password", dev.password+"x")
	decodeCreated(t, do(t, "POST", base+"/password", owner, map[string]any{"graceSeconds": 60}))
	if a := do(t, "POST", "/local/rotate", "", map[string]string{"secretId": dev.arn}); a.status != 200 {
		t.Fatalf("rotate: %s", a)
	}
	handedOut.add("password", currentSecret(t, sm, dev.arn).password)
	do(t, "PATCH", base, owner, map[string]any{"status": "disabled"})
	do(t, "DELETE", base, owner, nil)
	other := newDevice(t, owner, addr, nil)
	if a := do(t, "POST", "/v1/mailboxes/"+addr+"/devices/revoke-all", userToken(t, ownerSub), nil); a.status != 200 {
		t.Fatalf("revoke-all: %s", a)
	}
	_ = other

	// The verifier key, in every encoding it could leak in.
	key, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(localrun.VerifierKeySecretID)})
	if err != nil {
		t.Fatal(err)
	}
	keyB64 := aws.ToString(key.SecretString)
	raw, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		t.Fatal(err)
	}
	secrets := handedOut.all()
	secrets[keyB64] = "verifier key"
	secrets[hex.EncodeToString(raw)] = "verifier key (hex)"
	secrets[base64.RawURLEncoding.EncodeToString(raw)] = "verifier key (base64url)"
	secrets[string(raw)] = "verifier key (raw)"

	table := scanAll(t)
	logText := logs.String()
	if len(secrets) < 10 || len(table) == 0 || len(logText) == 0 {
		t.Fatalf("too little to search: %d secrets, %d table bytes, %d log bytes", len(secrets), len(table), len(logText))
	}
	for s, what := range secrets {
		if len(s) < 8 {
			continue
		}
		if strings.Contains(logText, s) {
			t.Errorf("the runner's log contains a %s", what)
		}
		if strings.Contains(table, s) {
			t.Errorf("the table contains a %s", what)
		}
	}
	// The keyed hashes belong in the table, never in the logs.
	for _, h := range verifierHashes(t) {
		if strings.Contains(logText, h) {
			t.Error("the runner's log contains a verifier hash")
		}
	}
}

// scanAll returns every item of the table, as JSON text.
func scanAll(t *testing.T) string {
	t.Helper()
	ddb := consumerDynamoDB(t)
	var sb strings.Builder
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(envFile(t)["DEVICEPASS_TABLE"])})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			b, _ := json.Marshal(plain(&types.AttributeValueMemberM{Value: it}))
			sb.Write(b)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
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

func verifierHashes(t *testing.T) []string {
	t.Helper()
	out, err := consumerDynamoDB(t).Scan(context.Background(), &dynamodb.ScanInput{
		TableName:            aws.String(envFile(t)["DEVICEPASS_TABLE"]),
		FilterExpression:     aws.String("attribute_exists(curH)"),
		ProjectionExpression: aws.String("curH"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var hs []string
	for _, it := range out.Items {
		if v, ok := it["curH"].(*types.AttributeValueMemberS); ok {
			hs = append(hs, v.Value)
		}
	}
	return hs
}
