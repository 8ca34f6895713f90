// Package verifier computes the keyed hashes devicepass stores instead of
// secrets: password verifiers, enrollment token hashes and idempotency key
// hashes. Each use has its own label, so a hash of one kind can never be
// taken for another.
//
// HMAC-SHA-256 under a server-side key is enough for passwords of 128 bits
// or more of entropy (NIST SP 800-63B 5.1.1.2, OWASP ASVS 6.5.2): without
// the key, a stolen table gives an attacker nothing to guess against, and
// with it, guessing 2^128 passwords is still out of reach. It keeps the
// verify path at microseconds instead of Argon2id's tens of milliseconds.
package verifier

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
)

// KeySize is the minimum key length in bytes.
const KeySize = 32

// Labels separate the uses of the key.
const (
	labelPassword    = "devicepass/password/v1\x00"
	labelEnrollment  = "devicepass/enrollment/v1\x00"
	labelIdempotency = "devicepass/idempotency/v1\x00"
	labelDerive      = "devicepass/derive/v1\x00"
)

// Hash is a keyed hash as stored: 32 bytes, base64 (raw URL) encoded.
type Hash string

// Keyed holds the server-side key.
type Keyed struct {
	key []byte
}

// New returns a Keyed for key, which must be at least KeySize bytes.
func New(key []byte) (*Keyed, error) {
	if len(key) < KeySize {
		return nil, errors.New("verifier: key shorter than 32 bytes")
	}
	k := make([]byte, len(key))
	copy(k, key)
	return &Keyed{key: k}, nil
}

func (k *Keyed) sum(label string, parts ...string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(label))
	for _, p := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		n := len(p)
		m.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func encode(b []byte) Hash { return Hash(base64.RawURLEncoding.EncodeToString(b)) }

// Password returns the verifier of a password.
func (k *Keyed) Password(password string) Hash {
	return encode(k.sum(labelPassword, password))
}

// Enrollment returns the stored form of an enrollment token.
func (k *Keyed) Enrollment(token string) Hash {
	return encode(k.sum(labelEnrollment, token))
}

// Idempotency returns the stored form of an idempotency key of a caller
// and mailbox, with the request's fingerprint parts appended.
func (k *Keyed) Idempotency(parts ...string) Hash {
	return encode(k.sum(labelIdempotency, parts...))
}

// Derive returns n bytes derived from parts, for identifiers that must be
// the same on every retry (n at most 32).
func (k *Keyed) Derive(n int, parts ...string) []byte {
	b := k.sum(labelDerive, parts...)
	if n > len(b) {
		n = len(b)
	}
	return b[:n]
}

// Equal compares two hashes in constant time.
func Equal(a, b Hash) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
