package devicetest

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/verifier"
)

// StoreSuite runs the contract of every store port against the stores
// newStore returns: one file per port (suite_devices.go for DeviceStore,
// suite_enrollments.go for EnrollmentStore, suite_rotation.go for
// RotationStore, suite_verify.go for VerifyStore, suite_repair.go for
// RepairStore, suite_policy.go for PolicyStore,
// suite_rotationfailure.go for RotationFailureStore), each calling every
// method of its port. Every subtest uses
// its own mailboxes, so newStore may return one store (one table) for all
// of them; subtests run in parallel.
func StoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	var tests []storeTest
	for _, port := range [][]storeTest{deviceStoreTests, enrollmentStoreTests, rotationStoreTests, verifyStoreTests, repairStoreTests, policyStoreTests, rotationFailureStoreTests} {
		tests = append(tests, port...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

// storeTest is one subtest of StoreSuite.
type storeTest struct {
	name string
	run  func(t *testing.T, s Store)
}

// --- helpers ---

// uniqueMailbox returns an address no other subtest uses.
func uniqueMailbox(t *testing.T) string {
	t.Helper()
	return "s" + randomHex(t, 6) + "@suite.example"
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

var idEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random device id of the shape the service makes.
func NewID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return idEnc.EncodeToString(b)
}

// NewVersion returns a random version id (a UUID, as Secrets Manager wants).
func NewVersion(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// baseTime is a fixed instant in the future of the stand-ins' clocks, at
// millisecond precision so every store keeps it exactly.
var baseTime = time.Date(2031, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// WantCode fails the test unless err carries code.
func WantCode(t testing.TB, err error, code apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// mustOK fails the test on err.
func mustOK(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func seedMailbox(t *testing.T, s Store, owner string) string {
	t.Helper()
	mbx := uniqueMailbox(t)
	_, _, err := s.SaveMailbox(context.Background(), mbx, owner, "admin", baseTime)
	mustOK(t, err, "save mailbox")
	return mbx
}

// newDevice returns an active device of mbx with a current verifier.
func newDevice(t *testing.T, mbx string) device.Device {
	t.Helper()
	id := NewID(t)
	return device.Device{
		Mailbox: mbx, ID: id, Name: "phone " + id[:4],
		Scopes: device.DefaultScopes(), Status: device.StatusActive,
		CreatedAt: baseTime, CreatedBy: "creator", UpdatedAt: baseTime, RotatedAt: baseTime,
		SecretARN: ARNPrefix + "suite/" + mbx + "/" + id + "-AbCdEf",
		Current:   &device.Verifier{Version: NewVersion(t), Hash: verifier.Hash("h-" + randomHex(t, 8))},
		Grace:     90 * time.Minute,
		Version:   1,
	}
}

func createDevice(t *testing.T, s Store, d device.Device) device.Device {
	t.Helper()
	mustOK(t, s.CreateDevice(context.Background(), d, "owner", 50, nil), "create device")
	return d
}

func liveCount(t *testing.T, s Store, mbx string) int {
	t.Helper()
	lr, err := s.Lookup(context.Background(), device.LookupQuery{Mailbox: mbx})
	mustOK(t, err, "lookup")
	if lr.Mailbox == nil {
		t.Fatalf("mailbox %s is missing", mbx)
	}
	return lr.Mailbox.Live
}

func getDevice(t *testing.T, s Store, mbx, id string) device.Device {
	t.Helper()
	d, err := s.GetDevice(context.Background(), mbx, id)
	mustOK(t, err, "get device")
	return d
}

func verString(v *device.Verifier) string {
	if v == nil {
		return "<nil>"
	}
	return v.Version + "/" + string(v.Hash)
}

func wantVerifier(t *testing.T, what string, got *device.Verifier, version string, hash verifier.Hash) {
	t.Helper()
	if version == "" {
		if got != nil {
			t.Fatalf("%s = %s, want none", what, verString(got))
		}
		return
	}
	if got == nil || got.Version != version || got.Hash != hash {
		t.Fatalf("%s = %s, want %s/%s", what, verString(got), version, hash)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// NewDevice returns a live device of mbx with a current verifier, as the
// store tests create them.
func NewDevice(t *testing.T, mbx string) device.Device { return newDevice(t, mbx) }
