// Package password generates device passwords.
//
// Passwords are drawn uniformly from an alphabet of 56 symbols with
// crypto/rand and rejection sampling, so no symbol is more likely than
// another. The alphabet leaves out look-alikes (0 O o, 1 l I) and every
// character that breaks SMTP or IMAP clients, URLs or shells: quotes,
// backslash, space, colon, '@', '/', and the rest of the punctuation.
package password

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
)

// Alphabet is the set of symbols a password is drawn from: digits 2-9,
// upper case without I and O, lower case without l and o.
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"

// DefaultLength gives log2(56)*24 = 139 bits of entropy, above the 128 the
// product promises and the 112 NIST SP 800-63B asks of a keyed-hash verifier.
const DefaultLength = 24

// MinLength is the shortest length that still carries 128 bits of entropy
// (23 * log2(56) = 133.6); shorter lengths are refused.
const MinLength = 23

// MaxLength bounds what mail clients accept without truncation.
const MaxLength = 128

// Generator draws passwords from a random source.
type Generator struct {
	rand   io.Reader
	length int
}

// New returns a generator of passwords of length symbols read from
// crypto/rand. It refuses lengths below MinLength or above MaxLength.
func New(length int) (*Generator, error) {
	return NewWithSource(rand.Reader, length)
}

// NewWithSource is New with another source of random bytes, for tests.
func NewWithSource(r io.Reader, length int) (*Generator, error) {
	if r == nil {
		return nil, errors.New("password: nil random source")
	}
	if length < MinLength || length > MaxLength {
		return nil, fmt.Errorf("password: length %d outside %d-%d", length, MinLength, MaxLength)
	}
	return &Generator{rand: r, length: length}, nil
}

// EntropyBits returns the entropy of the generator's passwords.
func (g *Generator) EntropyBits() float64 {
	return float64(g.length) * math.Log2(float64(len(Alphabet)))
}

// limit is the largest multiple of len(Alphabet) not above 256: bytes at or
// above it are rejected, so each kept byte maps to a symbol uniformly.
const limit = 256 - 256%len(Alphabet)

// Generate returns a new password.
func (g *Generator) Generate() (string, error) {
	out := make([]byte, 0, g.length)
	buf := make([]byte, g.length+g.length/4)
	for len(out) < g.length {
		if _, err := io.ReadFull(g.rand, buf); err != nil {
			return "", fmt.Errorf("password: read random: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, Alphabet[int(b)%len(Alphabet)])
			if len(out) == g.length {
				break
			}
		}
	}
	return string(out), nil
}
