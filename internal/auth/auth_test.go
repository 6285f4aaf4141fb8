package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	// A success from the address clears it: other users behind it log in
	// at once; the failing account is still slowed from anywhere.
	l.fail("192.0.2.1:1000", "mallory")
	if d := l.Delay("192.0.2.1:3000", "carol"); d != l.MaxDelay {
		t.Fatalf("before a success from the address: %v, want %v", d, l.MaxDelay)
	}
	l.succeed("192.0.2.1:3000", "carol")
	if d := l.Delay("192.0.2.1:3001", "dave"); d != 0 {
		t.Fatalf("after a success from the address, another user waits %v", d)
	}
	if d := l.Delay("192.0.2.7:1", "mallory"); d != l.BaseDelay {
		t.Fatalf("the failing account after the address was cleared: %v, want %v", d, l.BaseDelay)
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
