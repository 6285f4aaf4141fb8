package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// testEnv is a store in a temporary directory.
type testEnv struct {
	dir   string
	env   *msdb.Env
	blobs *blob.Store
	st    *store.Store
}

func openTestEnv(tb testing.TB, dir string) *testEnv {
	tb.Helper()
	ctx := context.Background()
	env, err := msdb.Open(ctx, msdb.Options{Home: filepath.Join(dir, "database")})
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := blob.Open(filepath.Join(dir, "mail"), blob.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		env.Close()
		tb.Fatal(err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{HashCost: 4, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		env.Close()
		tb.Fatal(err)
	}
	return &testEnv{dir: dir, env: env, blobs: blobs, st: st}
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	te := openTestEnv(tb, tb.TempDir())
	tb.Cleanup(func() { te.env.Close() })
	return te
}

func (te *testEnv) addAccount(tb testing.TB, name, password string) {
	tb.Helper()
	h, err := te.st.HashPassword(password)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := te.st.CreateAccount(context.Background(), name, h); err != nil {
		tb.Fatal(err)
	}
}

// deliver puts raw into account's INBOX and returns its UID.
func (te *testEnv) deliver(tb testing.TB, account string, raw []byte) uint32 {
	tb.Helper()
	ctx := context.Background()
	in, err := te.st.Ingest(ctx, bytes.NewReader(raw), 0)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := te.st.Deliver(ctx, in, []store.Recipient{{Account: account}}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if res[0].Err != nil {
		tb.Fatal(res[0].Err)
	}
	return res[0].UID
}

func (te *testEnv) inbox(tb testing.TB, account string) *store.Snapshot {
	tb.Helper()
	ctx := context.Background()
	m, err := te.st.MailboxStatus(ctx, account, "INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := te.st.Messages(ctx, m.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// quietLogger discards everything but records panics, which fail tb.
func quietLogger(tb testing.TB) *slog.Logger {
	return slog.New(&panicCatcher{tb: tb})
}

type panicCatcher struct{ tb testing.TB }

func (h *panicCatcher) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *panicCatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "session panic" {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, "%s=%v\n", a.Key, a.Value); return true })
		h.tb.Errorf("session panic:\n%s", b.String())
	}
	return nil
}
func (h *panicCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicCatcher) WithGroup(string) slog.Handler      { return h }

// testOptions are server options with no login slow-down.
func testOptions(tb testing.TB) Options {
	lim := auth.NewLimiter(slog.New(slog.DiscardHandler))
	lim.BaseDelay, lim.MaxDelay = time.Millisecond, time.Millisecond
	return Options{Limiter: lim, Hostname: "pop.test", Logger: quietLogger(tb)}
}

// serve starts srv on a 127.0.0.1 listener (wrapped in TLS with tlsCfg
// when not nil) and returns its address; the server is shut down at the
// end of the test.
func serve(tb testing.TB, srv *Server, tlsCfg *tls.Config) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var ln net.Listener = l
	if tlsCfg != nil {
		ln = tls.NewListener(l, tlsCfg)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

// client is a minimal POP3 client for the tests.
type client struct {
	tb   testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(tb testing.TB, addr string) *client {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	cl := newClient(tb, c)
	if g := cl.line(); !strings.HasPrefix(g, "+OK ") {
		tb.Fatalf("greeting %q", g)
	}
	return cl
}

func newClient(tb testing.TB, c net.Conn) *client {
	return &client{tb: tb, conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.tb.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, s+"\r\n"); err != nil {
		c.tb.Fatalf("send %q: %v", s, err)
	}
}

// line reads one line, without its CRLF, which it requires.
func (c *client) line() string {
	c.tb.Helper()
	s, err := c.readLine()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return s
}

func (c *client) readLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	s, err := c.r.ReadString('\n')
	if err != nil {
		return s, err
	}
	if !strings.HasSuffix(s, "\r\n") {
		return s, fmt.Errorf("line %q does not end in CRLF", s)
	}
	return strings.TrimSuffix(s, "\r\n"), nil
}

// cmd sends a command and returns the status line.
func (c *client) cmd(s string) string {
	c.tb.Helper()
	c.send(s)
	return c.line()
}

// ok sends a command and requires +OK.
func (c *client) ok(s string) string {
	c.tb.Helper()
	r := c.cmd(s)
	if !strings.HasPrefix(r, "+OK") {
		c.tb.Fatalf("%s: %s", s, r)
	}
	return r
}

// multi reads a multi-line payload, undoing dot-stuffing, and returns its
// raw octets (CRLF line ends kept).
func (c *client) multi() []byte {
	c.tb.Helper()
	var b bytes.Buffer
	for {
		s := c.line()
		if s == "." {
			return b.Bytes()
		}
		s = strings.TrimPrefix(s, ".")
		b.WriteString(s)
		b.WriteString("\r\n")
	}
}

// multiCmd sends a command, requires +OK and returns the payload.
func (c *client) multiCmd(s string) []byte {
	c.tb.Helper()
	c.ok(s)
	return c.multi()
}

func (c *client) login(user, pass string) {
	c.tb.Helper()
	c.ok("USER " + user)
	c.ok("PASS " + pass)
}

// closed waits for the server to close the connection; it returns what
// came before the end.
func (c *client) closed() string {
	c.tb.Helper()
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c.r)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.tb.Fatalf("connection not closed: %v", err)
		}
	}
	return string(b)
}

// crlf makes every line end of s CRLF.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}

// testCert makes a self-signed certificate for 127.0.0.1 and localhost,
// and writes it as PEM to dir (cert.pem, key.pem) when dir is not "".
func testCert(tb testing.TB, dir string) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pop.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "pop.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	if dir != "" {
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	return cfg, pool
}

// addrConn is a net.Conn (one end of a net.Pipe) with chosen addresses.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// pipeSession runs a server session over a net.Pipe whose server end
// appears to come from remote. It returns the client end and a channel
// closed when the session has ended.
func pipeSession(srv *Server, remote string) (net.Conn, <-chan struct{}) {
	cs, ss := net.Pipe()
	ra, err := net.ResolveTCPAddr("tcp", remote)
	if err != nil {
		panic(err)
	}
	la := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110}
	conn := addrConn{Conn: ss, local: la, remote: ra}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		defer once.Do(func() { close(done) })
		srv.serveConn(conn)
	}()
	return cs, done
}
