package localrun

import (
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/device"
)

// The verifier key's secret lives outside the device prefix, as the
// deployed one does: the reconciler's sweep of secrets without a device
// and every grant on <prefix>/* must never reach it.
func TestVerifierKeyOutsideDevicePrefix(t *testing.T) {
	cfg, err := localConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Device.SecretPrefix; strings.HasPrefix(VerifierKeySecretID, p+"/") {
		t.Fatalf("verifier key %q is under the device prefix %q", VerifierKeySecretID, p)
	}
	if _, _, err := device.ParseSecretID(cfg.Device.SecretPrefix, VerifierKeySecretID); err == nil {
		t.Fatal("the verifier key parses as a device secret")
	}
	if cfg.Device.RotationLambdaARN != RotationFunctionARN {
		t.Fatalf("local ROTATION_LAMBDA_ARN = %q, want the runner's rotation function", cfg.Device.RotationLambdaARN)
	}
}
