package verifier_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/devicepass/devicepass/shared/verifier"
)

func newKeyed(t *testing.T, b byte) *verifier.Keyed {
	t.Helper()
	k, err := verifier.New(bytes.Repeat([]byte{b}, verifier.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewRefusesShortKeys(t *testing.T) {
	if _, err := verifier.New(make([]byte, verifier.KeySize-1)); err == nil {
		t.Fatal("New accepted a 31-byte key")
	}
}

// TestConstruction pins the stored form: HMAC-SHA-256 of the label and the
// length-prefixed parts, base64 (raw URL). Changing it would invalidate
// every stored verifier.
func TestConstruction(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	k, _ := verifier.New(key)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("devicepass/password/v1\x00"))
	m.Write([]byte{0, 0, 0, 6})
	m.Write([]byte("secret"))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	if got := k.Password("secret"); string(got) != want || len(got) != 43 {
		t.Fatalf("Password = %s, want %s", got, want)
	}
}

func TestLabelsSeparateUses(t *testing.T) {
	k := newKeyed(t, 1)
	const s = "same input"
	hashes := map[string]verifier.Hash{
		"password":    k.Password(s),
		"enrollment":  k.Enrollment(s),
		"idempotency": k.Idempotency(s),
		"derive":      verifier.Hash(base64.RawURLEncoding.EncodeToString(k.Derive(32, s))),
	}
	seen := map[verifier.Hash]string{}
	for use, h := range hashes {
		if other, ok := seen[h]; ok {
			t.Errorf("%s and %s hashes are equal", use, other)
		}
		seen[h] = use
	}
	if again := newKeyed(t, 1).Password(s); again != k.Password(s) {
		t.Error("Password is not deterministic for the same key")
	}
	if k.Password(s) == newKeyed(t, 2).Password(s) {
		t.Error("two keys give the same verifier")
	}
	if k.Idempotency("ab", "c") == k.Idempotency("a", "bc") {
		t.Error("parts are not length-prefixed")
	}
	if k.Idempotency("a", "b") == k.Idempotency("b", "a") {
		t.Error("parts' order does not matter")
	}
}

func TestDerive(t *testing.T) {
	k := newKeyed(t, 1)
	if got := k.Derive(16, "x"); len(got) != 16 || !bytes.Equal(got, k.Derive(32, "x")[:16]) {
		t.Fatalf("Derive(16) = %x", got)
	}
	if got := k.Derive(64, "x"); len(got) != 32 {
		t.Fatalf("Derive(64) gave %d bytes, want 32", len(got))
	}
	if bytes.Equal(k.Derive(16, "x"), k.Derive(16, "y")) {
		t.Fatal("Derive ignores its parts")
	}
}

func TestKeyIsCopied(t *testing.T) {
	key := bytes.Repeat([]byte{5}, 32)
	k, _ := verifier.New(key)
	before := k.Password("p")
	key[0] = 6
	if k.Password("p") != before {
		t.Fatal("changing the caller's key slice changed the verifier")
	}
}

func TestEqual(t *testing.T) {
	k := newKeyed(t, 1)
	a, b := k.Password("a"), k.Password("b")
	tests := []struct {
		x, y verifier.Hash
		want bool
	}{
		{a, a, true},
		{a, k.Password("a"), true},
		{a, b, false},
		{a, a[:len(a)-1], false},
		{a, "", false},
		{"", "", true},
	}
	for _, tc := range tests {
		if got := verifier.Equal(tc.x, tc.y); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
