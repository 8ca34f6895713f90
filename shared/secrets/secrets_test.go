package secrets_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
	"github.com/devicepass/devicepass/shared/secrets"
)

// stack is the package's one pair of stand-ins; a stand-in that cannot
// start fails the package (standinstest.Main never skips).
var stack *standins.Stack

func TestMain(m *testing.M) {
	standinstest.Main(m, func(s *standins.Stack) { stack = s })
}

func TestSecretsSuite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	s, err := secrets.New(secretsmanager.NewFromConfig(cfg), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := fmt.Sprintf("suite-%x", b)
	devicetest.SecretsSuite(t, func(*testing.T) (device.Secrets, string) { return s, prefix })
}

func TestNewRefusesNilClient(t *testing.T) {
	if _, err := secrets.New(nil, secrets.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}
