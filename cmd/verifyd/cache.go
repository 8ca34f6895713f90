package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
)

// maxCached bounds the cache's memory (about 100 bytes an entry): far more
// distinct logins than a mail host sees within the cache's few seconds.
const maxCached = 100_000

// acceptCache remembers, for a few seconds, that the endpoint accepted a
// mailbox's password for a protocol and client address, so that the
// bursts of logins a mail client makes (several IMAP connections at once,
// SMTP right after IMAP, reconnects) cost one request. Only acceptances
// are kept: a wrong password always reaches the endpoint and its failure
// counter. An entry expires ttl after its request was sent, so an
// acceptance never outlives a revoke, disable or regenerate by more than
// ttl (at most mailverify.MaxAcceptCache).
//
// The key is an HMAC-SHA-256 of the request under a random key made at
// start: the process holds no password, and its memory holds nothing a
// password could be checked against after a restart.
type acceptCache struct {
	ttl time.Duration
	now func() time.Time
	key []byte

	mu      sync.Mutex
	expires map[[sha256.Size]byte]time.Time
}

func newAcceptCache(ttl time.Duration, now func() time.Time) *acceptCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand since Go 1.24)
	return &acceptCache{ttl: ttl, now: now, key: key, expires: map[[sha256.Size]byte]time.Time{}}
}

// sum is the request's key: every field length-prefixed, so that no two
// requests share one.
func (c *acceptCache) sum(r mailverify.Request) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	for _, f := range []string{r.Mailbox, r.Password, r.Protocol, r.ClientIP} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	var out [sha256.Size]byte
	copy(out[:], m.Sum(nil))
	return out
}

// accepted reports whether an acceptance of k is still fresh.
func (c *acceptCache) accepted(k [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.expires[k]
	if !ok {
		return false
	}
	if c.now().Before(exp) {
		return true
	}
	delete(c.expires, k)
	return false
}

// add records an acceptance of k asked for at asked.
func (c *acceptCache) add(k [sha256.Size]byte, asked time.Time) {
	exp := asked.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.expires) >= maxCached {
		now := c.now()
		for k, e := range c.expires {
			if !now.Before(e) {
				delete(c.expires, k)
			}
		}
		if len(c.expires) >= maxCached {
			return // full of fresh entries: ask the endpoint, as without a cache
		}
	}
	c.expires[k] = exp
}
