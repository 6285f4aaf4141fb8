package daemon

// End-to-end tests of the IMAP server's login slow-down and TLS through the
// running daemon, with a raw IMAP client (crypto/tls for the TLS side):
// the growing delay a client sees after failed logins and the log line
// with its address and the delay; STARTTLS offered only once tls-cert and
// tls-key are set, and working; imaps-listen serving implicit TLS; the
// certificate reloaded on SIGHUP. Certificates are made here (self-signed
// for 127.0.0.1). No assertion depends on how long anything takes, except
// as a lower bound the server guarantees (it waits before answering).

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIMAPLoginDelayThroughDaemon: failed IMAP logins from one address are
// answered ever later and each is logged with the client's address
// (its very port) and the delay it waited, which grows; a successful login
// for another account from the same address does not reset that delay
// (whoever owns one account must not be able to wipe the address's count
// between guesses at others), and is itself slowed by it.
func TestIMAPLoginDelayThroughDaemon(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("lena", "pw-lena")
	d.addUser("otto", "pw-otto")

	type attempt struct {
		account string
		status  string        // the tagged reply, without the tag
		addr    string        // the client's address as the server sees it
		took    time.Duration // LOGIN sent to reply read
	}
	login := func(account, password string) attempt {
		t.Helper()
		c := dialIMAP(t, d.imap)
		defer c.close()
		c.greeting()
		start := time.Now()
		_, st := c.cmd("LOGIN %s %s", imapQuote(account), imapQuote(password))
		a := attempt{account: account, status: st, addr: c.conn.LocalAddr().String(), took: time.Since(start)}
		c.cmd("LOGOUT")
		return a
	}
	var fails []attempt
	for i := range 3 {
		a := login("lena", fmt.Sprintf("guess-%d", i))
		if !strings.HasPrefix(a.status, "NO ") {
			t.Fatalf("LOGIN lena with a wrong password: %q, want NO", a.status)
		}
		fails = append(fails, a)
	}
	ok := login("otto", "pw-otto")
	if !strings.HasPrefix(ok.status, "OK") {
		t.Fatalf("LOGIN otto with his password: %q\n--- log:\n%s", ok.status, d.logTail())
	}
	a := login("mallory", "guess") // no such account: a failure all the same
	if !strings.HasPrefix(a.status, "NO ") {
		t.Fatalf("LOGIN of an unknown account: %q, want NO", a.status)
	}
	fails = append(fails, a)

	recs := waitLog(t, d, len(fails), func(f map[string]string) bool {
		return f["msg"] == "login failed" && f["proto"] == "imap"
	})
	if len(recs) != len(fails) {
		t.Fatalf("%d login failures logged, want %d:\n%s", len(recs), len(fails), d.logTail())
	}
	var delays, nexts []time.Duration
	for i, want := range fails {
		var rec map[string]string
		for _, r := range recs {
			if r["addr"] == want.addr {
				rec = r
			}
		}
		if rec == nil {
			t.Fatalf("failure %d (%s from %s) is not logged with the client's address; logged:\n%v", i+1, want.account, want.addr, recs)
		}
		if rec["account"] != want.account || rec["level"] != "WARN" {
			t.Errorf("failure %d from %s logged as %v, want account %s at WARN", i+1, want.addr, rec, want.account)
		}
		delay, err1 := time.ParseDuration(rec["delay"])
		next, err2 := time.ParseDuration(rec["next_delay"])
		if err1 != nil || err2 != nil {
			t.Fatalf("failure %d: delay %q, next_delay %q in the log: %v %v", i+1, rec["delay"], rec["next_delay"], err1, err2)
		}
		delays, nexts = append(delays, delay), append(nexts, next)
		// The server waits the delay before it checks the password and
		// answers: a lower bound on what the client saw.
		if want.took < delay {
			t.Errorf("failure %d: answered after %v, before the logged delay %v", i+1, want.took, delay)
		}
	}
	t.Logf("logged delays %v, next %v", delays, nexts)
	if delays[0] != 0 {
		t.Errorf("the first failure waited %v, want 0", delays[0])
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] <= delays[i-1] {
			t.Errorf("delays do not grow: failure %d waited %v, failure %d %v (all: %v)", i, delays[i-1], i+1, delays[i], delays)
		}
		// Nothing reset the address in between, otto's success included:
		// each failure waited what the one before announced.
		if delays[i] != nexts[i-1] {
			t.Errorf("failure %d waited %v; failure %d announced %v (all: %v, next %v)", i+1, delays[i], i, nexts[i-1], delays, nexts)
		}
	}
	// otto's login waited for the address as mallory's did right after it
	// (neither account had failed before; nothing changed the address's
	// count in between): a right password is slowed too.
	if ok.took < delays[3] {
		t.Errorf("otto's successful login was answered after %v, before the address's delay %v", ok.took, delays[3])
	}
}

// TestIMAPNoTLSWithoutCertificate: with no tls-cert and tls-key the daemon
// neither offers nor accepts STARTTLS, and has no imaps listener; a
// loopback client still logs in in the clear.
func TestIMAPNoTLSWithoutCertificate(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("nina", "pw-nina")
	started := waitStarted(t, d)
	if started["imap"] != d.imap {
		t.Errorf("started line: imap=%q, want %s", started["imap"], d.imap)
	}
	if v, ok := started["imaps"]; ok {
		t.Errorf("imaps listener %q without imaps-listen", v)
	}
	c := dialIMAP(t, d.imap)
	defer c.close()
	c.greeting()
	if caps := c.capabilities(); slices.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered without a certificate: %v", caps)
	}
	if _, st := c.cmd("STARTTLS"); strings.HasPrefix(st, "OK") {
		t.Fatalf("STARTTLS accepted without a certificate: %q", st)
	}
	if _, st := c.cmd("LOGIN nina pw-nina"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN in the clear on loopback: %q", st)
	}
	c.cmd("LOGOUT")
}

// TestIMAPTLSThroughDaemon: with tls-cert and tls-key set the plain IMAP
// port offers STARTTLS, which works with the configured certificate
// (verified for 127.0.0.1), after which STARTTLS is no longer offered and
// LOGIN works; imaps-listen serves implicit TLS with the same certificate.
func TestIMAPTLSThroughDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := writeTestCert(t, cf, kf, "mstore-tls-test")
	imaps := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := newDaemon(t, daemonOptions{extra: []string{"tls-cert = " + cf, "tls-key = " + kf, "imaps-listen = " + imaps}})
	d.start()
	d.addUser("tess", "pw-tess")
	if started := waitStarted(t, d); started["imaps"] != imaps {
		t.Errorf("started line: imaps=%q, want %s", started["imaps"], imaps)
	}

	// STARTTLS on the plain port.
	c := dialIMAP(t, d.imap)
	defer c.close()
	c.greeting()
	if caps := c.capabilities(); !slices.Contains(caps, "STARTTLS") {
		t.Fatalf("STARTTLS not offered with a certificate configured: %v", caps)
	}
	leaf := c.startTLS(t, clientTLS(cert))
	if !bytes.Equal(leaf.Raw, cert.Raw) {
		t.Errorf("STARTTLS: the server presented %q, not the configured certificate", leaf.Subject.CommonName)
	}
	if caps := c.capabilities(); slices.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered again inside TLS: %v", caps)
	}
	if _, st := c.cmd("LOGIN tess pw-tess"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN after STARTTLS: %q", st)
	}
	if _, st := c.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("SELECT INBOX after STARTTLS: %q", st)
	}
	c.cmd("LOGOUT")

	// Implicit TLS on imaps-listen.
	s, leaf := dialIMAPS(t, imaps, clientTLS(cert))
	defer s.close()
	if !bytes.Equal(leaf.Raw, cert.Raw) {
		t.Errorf("imaps: the server presented %q, not the configured certificate", leaf.Subject.CommonName)
	}
	s.greeting()
	if caps := s.capabilities(); slices.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered on implicit TLS: %v", caps)
	}
	if _, st := s.cmd("LOGIN tess pw-tess"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN on imaps: %q", st)
	}
	if _, st := s.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("SELECT INBOX on imaps: %q", st)
	}
	s.cmd("LOGOUT")
}

// TestIMAPTLSReloadOnSIGHUP: new certificate files are served (by
// STARTTLS and by imaps) only after the daemon gets SIGHUP; a session
// opened before stays up; files that do not load leave the certificate
// served as it was.
func TestIMAPTLSReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeTestCert(t, cf, kf, "mstore-first")
	imaps := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := newDaemon(t, daemonOptions{extra: []string{"tls-cert = " + cf, "tls-key = " + kf, "imaps-listen = " + imaps}})
	pid := d.start()
	d.addUser("hugo", "pw-hugo")
	waitStarted(t, d) // logged after SIGHUP is handled

	// served is the certificate a new STARTTLS and a new imaps connection
	// get; both must be the same. The client trusts either certificate.
	var trusted []*x509.Certificate
	served := func() *x509.Certificate {
		t.Helper()
		cfg := clientTLS(trusted...)
		c := dialIMAP(t, d.imap)
		defer c.close()
		c.greeting()
		viaStartTLS := c.startTLS(t, cfg)
		c.cmd("LOGOUT")
		s, viaIMAPS := dialIMAPS(t, imaps, cfg)
		defer s.close()
		s.greeting()
		s.cmd("LOGOUT")
		if !bytes.Equal(viaStartTLS.Raw, viaIMAPS.Raw) {
			t.Fatalf("STARTTLS served %q, imaps %q", viaStartTLS.Subject.CommonName, viaIMAPS.Subject.CommonName)
		}
		return viaIMAPS
	}
	trusted = append(trusted, first)
	if got := served(); !bytes.Equal(got.Raw, first.Raw) {
		t.Fatalf("before any change: served %q, want %q", got.Subject.CommonName, first.Subject.CommonName)
	}

	// A session that stays open across the reloads.
	kept, _ := dialIMAPS(t, imaps, clientTLS(first))
	defer kept.close()
	kept.greeting()
	if _, st := kept.cmd("LOGIN hugo pw-hugo"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN: %q", st)
	}

	second := writeTestCert(t, cf, kf, "mstore-second")
	trusted = append(trusted, second)
	// The files changed but nothing told the daemon: still the first.
	if got := served(); !bytes.Equal(got.Raw, first.Raw) {
		t.Fatalf("new files before SIGHUP: served %q, want still %q", got.Subject.CommonName, first.Subject.CommonName)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, 1, func(f map[string]string) bool { return f["msg"] == "SIGHUP: TLS certificate reloaded" })
	if got := served(); !bytes.Equal(got.Raw, second.Raw) {
		t.Fatalf("after SIGHUP: served %q, want %q", got.Subject.CommonName, second.Subject.CommonName)
	}
	if _, st := kept.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("the session opened before the reload: NOOP %q", st)
	}

	// A key that does not load: the daemon keeps serving the second.
	if err := os.WriteFile(kf, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, 1, func(f map[string]string) bool {
		return f["msg"] == "SIGHUP: reload TLS certificate; keeping the old one" && f["level"] == "ERROR"
	})
	if got := served(); !bytes.Equal(got.Raw, second.Raw) {
		t.Fatalf("after a failed reload: served %q, want still %q", got.Subject.CommonName, second.Subject.CommonName)
	}
	if _, st := kept.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("the session opened before the reloads: NOOP %q", st)
	}
	kept.cmd("LOGOUT")
	if pid2 := d.pidFromFile(); pid2 != pid {
		t.Errorf("the daemon's pid changed from %d to %d across SIGHUP", pid, pid2)
	}
}

// writeTestCert makes a self-signed ECDSA certificate for 127.0.0.1 named
// cn and writes it and its key (each file replaced by a rename, never seen
// half written).
func writeTestCert(t testing.TB, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})},
	} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return cert
}

// clientTLS verifies the server as 127.0.0.1 against the given
// certificates only.
func clientTLS(trusted ...*x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	for _, c := range trusted {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// rawIMAP is a line-level IMAP client, for exact control of the wire.
type rawIMAP struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func newRawIMAP(t testing.TB, conn net.Conn) *rawIMAP {
	conn.SetDeadline(time.Now().Add(runGuard))
	return &rawIMAP{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func dialIMAP(t testing.TB, addr string) *rawIMAP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newRawIMAP(t, conn)
}

// dialIMAPS connects with implicit TLS and returns the server's certificate.
func dialIMAPS(t testing.TB, addr string, cfg *tls.Config) (*rawIMAP, *x509.Certificate) {
	t.Helper()
	d := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("imaps %s: %v", addr, err)
	}
	return newRawIMAP(t, conn), conn.ConnectionState().PeerCertificates[0]
}

func (c *rawIMAP) close() { c.conn.Close() }

// line reads one line without its CRLF.
func (c *rawIMAP) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *rawIMAP) greeting() string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, "* OK") {
		c.t.Fatalf("greeting %q", l)
	}
	return l
}

// cmd sends a tagged command and returns the untagged lines before the
// tagged reply and that reply without its tag ("OK …", "NO …", "BAD …").
func (c *rawIMAP) cmd(format string, args ...any) (untagged []string, status string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", tag, fmt.Sprintf(format, args...)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
	for {
		l := c.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// capabilities runs CAPABILITY and returns the names, in upper case.
func (c *rawIMAP) capabilities() []string {
	c.t.Helper()
	untagged, st := c.cmd("CAPABILITY")
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("CAPABILITY: %q", st)
	}
	for _, l := range untagged {
		if rest, ok := strings.CutPrefix(strings.ToUpper(l), "* CAPABILITY "); ok {
			return strings.Fields(rest)
		}
	}
	c.t.Fatalf("CAPABILITY: no capability list in %q", untagged)
	return nil
}

// startTLS runs STARTTLS and the handshake; it returns the server's
// certificate.
func (c *rawIMAP) startTLS(t testing.TB, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	if _, st := c.cmd("STARTTLS"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("STARTTLS: %q", st)
	}
	if n := c.r.Buffered(); n != 0 {
		t.Fatalf("%d bytes sent in the clear after the STARTTLS reply", n)
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("STARTTLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	return tc.ConnectionState().PeerCertificates[0]
}

// imapQuote makes s an IMAP quoted string.
func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// logRecords parses the daemon's log (slog's text format) and returns the
// records for which keep is true, in order.
func logRecords(t testing.TB, d *daemon, keep func(map[string]string) bool) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(d.logFile())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, l := range strings.Split(string(b), "\n") {
		if f := logfmtFields(l); f["msg"] != "" && keep(f) {
			out = append(out, f)
		}
	}
	return out
}

// waitLog waits (with runGuard as a guard against hangs, not a timing
// assertion) until the log holds at least n records keep accepts, and
// returns them all.
func waitLog(t testing.TB, d *daemon, n int, keep func(map[string]string) bool) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(runGuard)
	for {
		recs := logRecords(t, d, keep)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the log holds %d of the %d records awaited:\n%s", runGuard, len(recs), n, d.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStarted waits for the daemon's "M-Store started" record (written
// once it handles SIGHUP) and returns it.
func waitStarted(t testing.TB, d *daemon) map[string]string {
	t.Helper()
	recs := waitLog(t, d, 1, func(f map[string]string) bool { return f["msg"] == "M-Store started" })
	return recs[len(recs)-1]
}

// logfmtFields splits a slog text line into its keys and (unquoted) values.
func logfmtFields(line string) map[string]string {
	f := map[string]string{}
	for {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \"") {
			return f
		}
		v := rest
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return f
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
}
