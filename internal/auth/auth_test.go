package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

func TestLimiterDelays(t *testing.T) {
	l := NewLimiter(nil)
	if d := l.Delay("192.0.2.1:1000", "alice"); d != 0 {
		t.Fatalf("first attempt delayed %v", d)
	}
	l.fail("192.0.2.1:1000", "alice")
	if d := l.Delay("192.0.2.1:2000", "bob"); d != l.BaseDelay {
		t.Fatalf("same address, other port and account: %v, want %v", d, l.BaseDelay)
	}
	if d := l.Delay("192.0.2.9:1", "ALICE"); d != l.BaseDelay {
		t.Fatalf("same account (another case), other address: %v, want %v", d, l.BaseDelay)
	}
	for range 3 {
		l.fail("192.0.2.1:1000", "alice")
	}
	if d := l.Delay("192.0.2.1:1000", "x"); d != 8*l.BaseDelay {
		t.Fatalf("after 4 failures: %v, want %v", d, 8*l.BaseDelay)
	}
	for range 30 {
		l.fail("192.0.2.1:1000", "alice")
	}
	if d := l.Delay("192.0.2.1:1000", "x"); d != l.MaxDelay {
		t.Fatalf("after many failures: %v, want the cap %v", d, l.MaxDelay)
	}
	l.succeed("192.0.2.5:1", "alice")
	if d := l.Delay("192.0.2.5:1", "alice"); d != 0 {
		t.Fatalf("after a success the account is not delayed, got %v", d)
	}
	// A success from the address does not clear it: another account's
	// success leaves the address's count as it was; the failing account
	// is slowed from anywhere.
	l.fail("192.0.2.1:1000", "mallory")
	if d := l.Delay("192.0.2.1:3000", "carol"); d != l.MaxDelay {
		t.Fatalf("before a success from the address: %v, want %v", d, l.MaxDelay)
	}
	l.succeed("192.0.2.1:3000", "carol")
	if d := l.Delay("192.0.2.1:3001", "dave"); d != l.MaxDelay {
		t.Fatalf("after another account's success from the address, another user waits %v, want %v", d, l.MaxDelay)
	}
	if d := l.Delay("192.0.2.7:1", "mallory"); d != l.BaseDelay {
		t.Fatalf("the failing account from elsewhere: %v, want %v", d, l.BaseDelay)
	}
	// Counts fade.
	l.mu.Lock()
	for _, f := range l.fails {
		f.last = time.Now().Add(-2 * l.Forget)
	}
	l.mu.Unlock()
	if d := l.Delay("192.0.2.1:1000", "x"); d != 0 {
		t.Fatalf("old failures still delay: %v", d)
	}
}

type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.remote }

func TestPlaintextAllowed(t *testing.T) {
	tcp := func(ip string) net.Conn { return fakeConn{remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}} }
	for _, c := range []struct {
		conn       net.Conn
		tls, allow bool
		want       bool
	}{
		{tcp("127.0.0.1"), false, false, true},
		{tcp("::1"), false, false, true},
		{tcp("192.0.2.7"), false, false, false},
		{tcp("192.0.2.7"), true, false, true},
		{tcp("192.0.2.7"), false, true, true},
		{fakeConn{remote: &net.UnixAddr{Name: "@", Net: "unix"}}, false, false, true},
	} {
		if got := PlaintextAllowed(c.conn, c.tls, c.allow); got != c.want {
			t.Errorf("PlaintextAllowed(%v, tls=%v, allow=%v) = %v", c.conn.RemoteAddr(), c.tls, c.allow, got)
		}
	}
}

func writeCert(t *testing.T, dir, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return cf, kf
}

func TestCertsReload(t *testing.T) {
	if c, err := LoadCerts("", ""); c != nil || err != nil {
		t.Fatalf("no files: %v, %v", c, err)
	}
	if _, err := LoadCerts("x", ""); err == nil {
		t.Fatal("a certificate without a key accepted")
	}
	dir := t.TempDir()
	cf, kf := writeCert(t, dir, "one.example")
	c, err := LoadCerts(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	name := func() string {
		cert, _ := c.TLSConfig().GetCertificate(nil)
		leaf, _ := x509.ParseCertificate(cert.Certificate[0])
		return leaf.Subject.CommonName
	}
	if name() != "one.example" {
		t.Fatalf("certificate %s", name())
	}
	writeCert(t, dir, "two.example")
	if err := c.Reload(); err != nil || name() != "two.example" {
		t.Fatalf("after reload: %s, %v", name(), err)
	}
	os.WriteFile(kf, []byte("garbage"), 0o600)
	if err := c.Reload(); err == nil || name() != "two.example" {
		t.Fatalf("a bad reload must keep the old certificate: %s, %v", name(), err)
	}
}

// TestLimiterSuccessKeepsAddressCount: whoever owns one account cannot
// reset the address's delay by logging into it between guesses at other
// accounts; the success clears only its own account's count, and the
// address's count still fades with time.
func TestLimiterSuccessKeepsAddressCount(t *testing.T) {
	l := NewLimiter(nil)
	const attacker = "198.51.100.9"
	want := time.Duration(0)
	for round := range 4 {
		for _, victim := range []string{"alice", "bob", "carol"} {
			if d := l.Delay(attacker+":4000", victim); d != want {
				t.Fatalf("round %d, guess at %s: delay %v, want %v", round, victim, d, want)
			}
			got := l.fail(attacker+":4000", victim)
			want = min(max(2*want, l.BaseDelay), l.MaxDelay)
			if got != want {
				t.Fatalf("round %d, after a guess at %s: next delay %v, want %v", round, victim, got, want)
			}
		}
		// The attacker's own account: a failure then a success.
		l.fail(attacker+":4001", "eve")
		want = min(2*want, l.MaxDelay)
		l.succeed(attacker+":4002", "eve")
		if d := l.Delay(attacker+":4003", "mallory"); d != want {
			t.Fatalf("round %d: after eve's success the address waits %v, want %v (not cleared)", round, d, want)
		}
		if d := l.Delay("203.0.113.1:1", "eve"); d != 0 {
			t.Fatalf("round %d: eve from elsewhere after her success waits %v, want 0", round, d)
		}
	}
	if d := l.Delay("203.0.113.1:1", "alice"); d == 0 {
		t.Fatal("a guessed-at account from elsewhere is not slowed")
	}
	// A success for a guessed-at account clears that account only.
	l.succeed("203.0.113.1:1", "alice")
	if d := l.Delay("203.0.113.1:1", "alice"); d != 0 {
		t.Fatalf("alice after her own success: %v, want 0", d)
	}
	if d := l.Delay(attacker+":1", "alice"); d != l.MaxDelay {
		t.Fatalf("alice from the attacker's address after her success: %v, want the address's %v", d, l.MaxDelay)
	}
	// Only time clears the address.
	l.mu.Lock()
	l.fails["ip:"+attacker].last = time.Now().Add(-2 * l.Forget)
	l.mu.Unlock()
	if d := l.Delay(attacker+":1", "dave"); d != 0 {
		t.Fatalf("after Forget the address still waits %v", d)
	}
}

// TestLoginLogsDelays: Login (on a real store) logs each failure with the
// client's address, the delay it waited and the next one, which grow; a
// success for another account from the address does not reset them; a
// success for an account clears its own count.
func TestLoginLogsDelays(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	env, err := msdb.Open(ctx, msdb.Options{Home: filepath.Join(dir, "database"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	blobs, err := blob.Open(filepath.Join(dir, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{HashCost: 4, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "eve"} {
		h, err := st.HashPassword("pw-" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateAccount(ctx, name, h); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	l := NewLimiter(slog.New(slog.NewTextHandler(&buf, nil)))
	l.BaseDelay, l.MaxDelay = time.Millisecond, time.Second

	const addr = "192.0.2.44:5151"
	try := func(account, password string, wantOK bool) {
		t.Helper()
		_, err := l.Login(ctx, st, "imap", addr, account, password)
		if (err == nil) != wantOK {
			t.Fatalf("Login(%s, %s): %v", account, password, err)
		}
		if !wantOK && !errors.Is(err, store.ErrAuth) {
			t.Fatalf("Login(%s, %s): %v, want ErrAuth", account, password, err)
		}
	}
	try("alice", "wrong", false)
	try("nobody", "wrong", false) // no such account: counted all the same
	try("eve", "pw-eve", true)    // must not reset the address
	try("alice", "wrong-again", false)
	try("alice", "pw-alice", true) // clears alice only
	try("eve", "wrong", false)

	type line struct{ account, addr, delay, next string }
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		f := logFields(l)
		if f["msg"] != "login failed" || f["level"] != "WARN" || f["proto"] != "imap" {
			t.Fatalf("unexpected log line %q", l)
		}
		got = append(got, line{f["account"], f["addr"], f["delay"], f["next_delay"]})
	}
	// The address's count goes 1, 2, (eve's success: still 2), 3,
	// (alice's success: still 3), 4; each attempt waits for the larger of
	// the address's count and the account's before it.
	want := []line{
		{"alice", addr, "0s", "1ms"},
		{"nobody", addr, "1ms", "2ms"},
		{"alice", addr, "2ms", "4ms"},
		{"eve", addr, "4ms", "8ms"},
	}
	if len(got) != len(want) {
		t.Fatalf("log lines %+v, want %+v\n%s", got, want, buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("log line %d: %+v, want %+v\n%s", i+1, got[i], want[i], buf.String())
		}
	}
	if d := l.Delay("203.0.113.7:1", "alice"); d != 0 {
		t.Errorf("alice from elsewhere after her success: %v, want 0", d)
	}
	if d := l.Delay("203.0.113.7:1", "eve"); d != time.Millisecond {
		t.Errorf("eve from elsewhere after her failure: %v, want 1ms", d)
	}
}

// logFields splits a slog text line into its keys and (unquoted) values.
func logFields(line string) map[string]string {
	f := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		v := rest
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else if i := strings.IndexByte(rest, ' '); i >= 0 {
			v, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		f[k] = v
		line = rest
	}
	return f
}
