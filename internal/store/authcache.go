package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// A bcrypt check costs tens of milliseconds of CPU by design. Mail clients
// log in over and over (an IMAP client opens several connections, a POP3
// client polls every few minutes), so two things keep logins from eating
// the CPU that sessions need:
//
//   - credCache remembers for a while that a password matched an account's
//     hash, as Dovecot's auth cache does: a client that logs in again costs
//     an HMAC. An entry holds an HMAC of the password under a key random to
//     this process, never the password, and is bound to the hash it was
//     checked against, so a password change ends it. Failures are not
//     cached (the login limiter slows them).
//   - hashSlots bounds how many bcrypt checks run at once to one fewer than
//     the CPUs (at least one; NumCPU, not GOMAXPROCS, which the daemon
//     raises above the cores): the other sessions keep a CPU.

// maxCredEntries bounds the cache; when full, expired entries go first,
// then all.
const maxCredEntries = 100000

type credCache struct {
	ttl time.Duration
	key [32]byte

	mu sync.Mutex
	m  map[string]credEntry
}

type credEntry struct {
	hash  string // the account's hash the password was checked against
	mac   [32]byte
	until time.Time
}

func newCredCache(ttl time.Duration) *credCache {
	c := &credCache{ttl: ttl, m: map[string]credEntry{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		c.ttl = 0 // no key, no cache
	}
	return c
}

func (c *credCache) sum(account, password string) [32]byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ok reports whether password was checked against hash less than ttl ago.
func (c *credCache) ok(account, hash, password string, now time.Time) bool {
	if c == nil || c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	e, found := c.m[account]
	c.mu.Unlock()
	if !found || e.hash != hash || now.After(e.until) {
		return false
	}
	mac := c.sum(account, password)
	return hmac.Equal(mac[:], e.mac[:])
}

func (c *credCache) add(account, hash, password string, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	e := credEntry{hash: hash, mac: c.sum(account, password), until: now.Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCredEntries {
		for k, old := range c.m {
			if now.After(old.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCredEntries {
			clear(c.m)
		}
	}
	c.m[account] = e
}

// hashSlots bounds concurrent bcrypt checks.
var hashSlots = make(chan struct{}, max(1, runtime.NumCPU()-1))

// compareHash is bcrypt.CompareHashAndPassword in one of hashSlots.
func compareHash(ctx context.Context, hash, password []byte) error {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-hashSlots }()
	return bcrypt.CompareHashAndPassword(hash, password)
}
