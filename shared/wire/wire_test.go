package wire_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/wire"
)

// keySecret answers GetSecretValue with a fixed string or error.
type keySecret struct {
	value string
	err   error
}

func (k keySecret) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if k.err != nil {
		return nil, k.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(k.value)}, nil
}

func TestReadVerifierKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xa5}, 32)
	long := strings.Repeat("k", 40)
	for _, tc := range []struct {
		name  string
		sm    keySecret
		want  []byte
		fails bool
	}{
		{"base64 of 32 bytes", keySecret{value: base64.StdEncoding.EncodeToString(raw)}, raw, false},
		{"base64 with surrounding space", keySecret{value: " " + base64.StdEncoding.EncodeToString(raw) + "\n"}, raw, false},
		{"a long string, as CDK generates", keySecret{value: long}, []byte(long), false},
		{"too short", keySecret{value: "tiny-k3y"}, nil, true},
		{"base64 of too few bytes, and short", keySecret{value: base64.StdEncoding.EncodeToString(raw[:8])}, nil, true},
		{"unreadable", keySecret{err: errors.New("access denied")}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wire.ReadVerifierKey(context.Background(), tc.sm, "key-id")
			if tc.fails {
				if err == nil {
					t.Fatalf("read %q succeeded", tc.sm.value)
				}
				if tc.sm.value != "" && strings.Contains(err.Error(), tc.sm.value) {
					t.Fatalf("the error quotes the key: %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("key = %x, %v; want %x", got, err, tc.want)
			}
		})
	}
	if _, err := wire.ReadVerifierKey(context.Background(), nil, "key-id"); err == nil {
		t.Error("ReadVerifierKey without a client succeeded")
	}
}

// TestConstructorsRefuseBadConfiguration: a use case's constructor refuses
// what the configuration refuses, before any AWS call is made (the clients
// are never used).
func TestConstructorsRefuseBadConfiguration(t *testing.T) {
	env := wire.Env{Config: config.Config{TableName: "t"}, Logger: wire.NewLogger(&bytes.Buffer{}, "error")}
	env.Config.Device.MaxLiveDevices = 5000
	store, err := env.Store(env.DynamoDB())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Verification(store, nil); err == nil {
		t.Error("Verification accepted a missing keyed hasher")
	}
	if _, err := env.Repair(store, nil); err == nil {
		t.Error("Repair accepted missing secrets")
	}
	sec, err := env.Secrets(env.SecretsManager())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Repair(store, sec); err == nil || !strings.Contains(err.Error(), "max live devices") {
		t.Errorf("Repair with 5000 live devices: %v, want the cap refused", err)
	}
	if _, err := env.Store(nil); err == nil {
		t.Error("Store accepted a nil client")
	}
}
