package imap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// Every capability the issue asks for, once logged in.
var wantCaps = []string{"IMAP4rev1", "IMAP4rev2", "IDLE", "MOVE", "UIDPLUS", "UNSELECT", "NAMESPACE", "ENABLE",
	"SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "CHILDREN", "ESEARCH", "SEARCHRES",
	"LITERAL+", "SASL-IR", "STATUS=SIZE", "APPENDLIMIT=", "BINARY", "UNAUTHENTICATE"}

func TestCapabilitiesAndLogin(t *testing.T) {
	e := newEnv(t, Options{AppendLimit: 1 << 20})
	e.user("alice", "secret")
	r := e.raw()
	u := r.ok("CAPABILITY")
	mustHave(t, u, "IMAP4rev1", "IMAP4rev2", "SASL-IR", "AUTH=PLAIN")
	mustNotHave(t, u, "LOGINDISABLED", "STARTTLS")
	r.expect("NO [AUTHENTICATIONFAILED]", "LOGIN alice wrong")
	r.expect("NO [AUTHENTICATIONFAILED]", "LOGIN nobody secret")
	r.expect("NO [AUTHENTICATIONFAILED]", `LOGIN "bad name:" secret`)
	r.expect("BAD", "SELECT INBOX")
	_, st := r.cmd("LOGIN alice secret")
	if !strings.HasPrefix(st, "OK [CAPABILITY") {
		t.Fatalf("LOGIN: %s", st)
	}
	caps := strings.Join(r.ok("CAPABILITY"), " ")
	for _, c := range wantCaps {
		if !strings.Contains(caps, " "+c) {
			t.Errorf("capability %s missing from %s", c, caps)
		}
	}
	if !strings.Contains(caps, "APPENDLIMIT=1048576") {
		t.Errorf("APPENDLIMIT: %s", caps)
	}
	r.expect("BAD", "LOGIN alice secret") // already authenticated
	u = r.ok("NAMESPACE")
	mustHave(t, u, `* NAMESPACE (("" "/")) NIL NIL`)
	u = r.ok("ENABLE IMAP4rev2")
	mustHave(t, u, "* ENABLED IMAP4rev2")
	// UNAUTHENTICATE (RFC 8437) goes back to the start.
	r.ok("UNAUTHENTICATE")
	r.expect("BAD", "SELECT INBOX")
	r.ok("LOGIN alice secret")
	r.ok("SELECT INBOX")
	u = r.ok("LOGOUT")
	mustHave(t, u, "* BYE")

	// AUTHENTICATE PLAIN with an initial response (SASL-IR) and without.
	r = e.raw()
	ir := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret"))
	r.ok("AUTHENTICATE PLAIN %s", ir)
	r.ok("SELECT INBOX")
	c := e.client("", "", nil)
	if err := c.Authenticate(sasl.NewPlainClient("", "alice", "secret")); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "alice", "secret")); err == nil {
		t.Fatal("second AUTHENTICATE accepted")
	}
	bad := e.client("", "", nil)
	if err := bad.Authenticate(sasl.NewPlainClient("", "alice", "nope")); err == nil {
		t.Fatal("AUTHENTICATE with a wrong password accepted")
	}
	// An identity other than the user is not supported.
	r = e.raw()
	ir = base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00secret"))
	r.expect("NO", "AUTHENTICATE PLAIN %s", ir)
}

func TestMaxSessions(t *testing.T) {
	e := newEnv(t, Options{MaxSessions: 2})
	e.user("alice", "secret")
	e.user("bob", "secret")
	a1 := e.rawLogin("alice", "secret")
	e.rawLogin("ALICE", "secret")
	r := e.raw()
	r.expect("NO [LIMIT]", "LOGIN alice secret")
	e.rawLogin("bob", "secret") // other accounts are not affected
	// A session that ends frees its place.
	a1.ok("LOGOUT")
	a1.c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st := r.cmd("LOGIN alice secret")
		if strings.HasPrefix(st, "OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session slot never freed: %s", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// UNAUTHENTICATE frees it too.
	r.ok("UNAUTHENTICATE")
	e.rawLogin("alice", "secret")
}

func TestAutologout(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: 100 * time.Millisecond})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	// No command: the server says BYE and closes.
	l := r.line()
	if !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("got %q, want BYE", l)
	}
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.r.ReadByte(); err == nil {
		t.Fatal("connection still open after BYE")
	}
}

func selfSigned(t testing.TB) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// nonLoopback returns an address of this host that is not loopback, to
// make a connection the server sees as remote.
func nonLoopback(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return nil
}

func TestPlaintextRule(t *testing.T) {
	ip := nonLoopback(t)
	tc := selfSigned(t)
	for _, allow := range []bool{false, true} {
		e := newEnv(t, Options{TLSConfig: tc, AllowPlaintext: allow})
		e.user("alice", "secret")
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			t.Skip(err)
		}
		go e.srv.Serve(l)
		// Over plain TCP from a non-loopback address.
		c, err := imapclient.DialInsecure(l.Addr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login("alice", "secret").Wait()
		if allow {
			if err != nil {
				t.Fatalf("allow-plaintext-auth: LOGIN refused: %v", err)
			}
		} else {
			if !caps.Has(goimap.CapLoginDisabled) || !caps.Has(goimap.CapStartTLS) || caps.Has(goimap.Cap("AUTH=PLAIN")) {
				t.Fatalf("capabilities over plain TCP: %v", caps)
			}
			var ie *goimap.Error
			if !errors.As(err, &ie) || ie.Code != goimap.ResponseCodePrivacyRequired {
				t.Fatalf("LOGIN over plain TCP = %v, want NO [PRIVACYREQUIRED]", err)
			}
		}
		c.Close()
		// After STARTTLS the same login works.
		c, err = imapclient.DialStartTLS(l.Addr().String(), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Fatalf("LOGIN after STARTTLS: %v", err)
		}
		c.Close()
		// Implicit TLS (imaps) as the daemon wires it.
		tl, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		go e.srv.Serve(tls.NewListener(tl, tc))
		c, err = imapclient.DialTLS(tl.Addr().String(), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatal(err)
		}
		caps, err = c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if caps.Has(goimap.CapStartTLS) {
			t.Errorf("STARTTLS offered over implicit TLS: %v", caps)
		}
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Fatalf("LOGIN over implicit TLS: %v", err)
		}
		c.Close()
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("got %q, want BYE", l)
	}
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}
