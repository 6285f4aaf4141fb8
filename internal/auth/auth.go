// Package auth holds what the IMAP and POP3 servers share about logging
// in: the TLS certificate (reloaded on SIGHUP), the rule on plain-text
// passwords, and the slowing down of failed logins.
package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// Certs holds the server certificate; Reload swaps it in without
// dropping connections.
type Certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCerts reads the certificate and key; with both empty there is no TLS
// (nil, nil).
func LoadCerts(certFile, keyFile string) (*Certs, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls-cert and tls-key go together: set both or neither")
	}
	c := &Certs{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again; on error the old certificate stays.
func (c *Certs) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// TLSConfig is a server configuration that always uses the current
// certificate.
func (c *Certs) TLSConfig() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// PlaintextAllowed reports whether a password may be sent over conn: it
// is TLS, or loopback, or allow says so (allow-plaintext-auth = yes).
func PlaintextAllowed(conn net.Conn, isTLS, allow bool) bool {
	if isTLS || allow {
		return true
	}
	if ua, ok := conn.RemoteAddr().(*net.UnixAddr); ok && ua != nil {
		return true
	}
	host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Limiter slows down failed logins: after each failure for an address or
// an account, the next attempt from it, or for it, waits longer (doubling
// from BaseDelay up to MaxDelay). Counts fade after Forget without
// failures; that is the only way an address's count goes down.
//
// A success clears only what belongs to the account that logged in: its
// own count (a user who mistyped a password and then got it right is not
// slowed any more from elsewhere). This departs from Dovecot's auth
// penalty, which this first copied: Dovecot clears the address's penalty
// on a successful login, so that one mistyped password behind a shared
// address (NAT, a webmail on loopback) does not slow every user there. But
// then whoever owns one account can log into it after every few guesses,
// wipe the address's count, and spray passwords at every other account at
// full speed. The price of closing that: for up to Forget after failures
// from a shared address, its other users wait too (at most MaxDelay per
// login; their successes add nothing).
type Limiter struct {
	BaseDelay time.Duration
	MaxDelay  time.Duration
	Forget    time.Duration
	Log       *slog.Logger

	mu    sync.Mutex
	fails map[string]*failCount
}

type failCount struct {
	n    int
	last time.Time
}

// NewLimiter returns a limiter with sensible defaults (250ms doubling to 15s).
func NewLimiter(lg *slog.Logger) *Limiter {
	if lg == nil {
		lg = slog.Default()
	}
	return &Limiter{BaseDelay: 250 * time.Millisecond, MaxDelay: 15 * time.Second, Forget: 15 * time.Minute, Log: lg, fails: map[string]*failCount{}}
}

func (l *Limiter) delayFor(key string, now time.Time) time.Duration {
	f := l.fails[key]
	if f == nil || f.n == 0 {
		return 0
	}
	if now.Sub(f.last) > l.Forget {
		delete(l.fails, key)
		return 0
	}
	d := l.BaseDelay << min(f.n-1, 16)
	return min(d, l.MaxDelay)
}

// Delay is how long an attempt for account from addr must wait first.
func (l *Limiter) Delay(addr, account string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	return max(l.delayFor("ip:"+hostOf(addr), now), l.delayFor("user:"+store.NormalizeAccount(account), now))
}

// fail counts a failure for the address and for the account; it returns
// the delay the next attempt from addr for account will wait.
func (l *Limiter) fail(addr, account string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	ipKey, userKey := "ip:"+hostOf(addr), "user:"+store.NormalizeAccount(account)
	for _, k := range []string{ipKey, userKey} {
		f := l.fails[k]
		if f == nil {
			if len(l.fails) > 100000 {
				l.prune(now)
			}
			f = &failCount{}
			l.fails[k] = f
		}
		f.n++
		f.last = now
	}
	return max(l.delayFor(ipKey, now), l.delayFor(userKey, now))
}

func (l *Limiter) prune(now time.Time) {
	for k, f := range l.fails {
		if now.Sub(f.last) > l.Forget {
			delete(l.fails, k)
		}
	}
}

// succeed clears the account's count after it logged in from addr. The
// address's count is left alone (see Limiter): it fades only with time.
// (Were a count kept per (address, account) pair, it would be cleared
// here too; there is none.)
func (l *Limiter) succeed(addr, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "user:"+store.NormalizeAccount(account))
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Login checks a password, waiting first as the limiter says, and logs a
// failure with the address, the delay this attempt waited ("delay") and
// the one the next attempt for the account from the address will wait
// ("next_delay"; other accounts from there wait at least the address's
// share of it). proto names the protocol in the log.
func (l *Limiter) Login(ctx context.Context, st *store.Store, proto, addr, account, password string) (*store.Account, error) {
	d := l.Delay(addr, account)
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	a, err := st.Authenticate(ctx, account, password)
	if err != nil {
		if errors.Is(err, store.ErrAuth) || errors.Is(err, store.ErrDisabled) {
			next := l.fail(addr, account)
			l.Log.Warn("login failed", "proto", proto, "addr", addr, "account", sanitize(account), "delay", d, "next_delay", next, "err", err)
		}
		return nil, err
	}
	l.succeed(addr, account)
	return a, nil
}

// sanitize keeps a client-supplied name printable in the log.
func sanitize(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
