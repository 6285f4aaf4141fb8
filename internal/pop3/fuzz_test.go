package pop3

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// splitConn is a server-side connection made of two net.Pipes, one each
// way, so that the client can end its input (EOF) and still read every
// answer: the session then runs every command it was sent.
type splitConn struct {
	in, out net.Conn // server ends: read from in, write to out
}

func (c splitConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c splitConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c splitConn) Close() error {
	c.in.Close()
	return c.out.Close()
}
func (c splitConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110} }
func (c splitConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c splitConn) SetDeadline(t time.Time) error {
	c.in.SetDeadline(t)
	return c.out.SetDeadline(t)
}
func (c splitConn) SetReadDeadline(t time.Time) error  { return c.in.SetReadDeadline(t) }
func (c splitConn) SetWriteDeadline(t time.Time) error { return c.out.SetWriteDeadline(t) }

// panicCounter counts "session panic" log records.
type panicCounter struct{ n *atomic.Int64 }

func (h panicCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h panicCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "session panic" {
		h.n.Add(1)
	}
	return nil
}
func (h panicCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicCounter) WithGroup(string) slog.Handler      { return h }

// FuzzSession feeds arbitrary bytes to a session, logged in first when
// the input's first octet is even, and requires that the session neither
// panics nor leaves a goroutine or a lock behind, and that everything it
// sends (before any TLS) is CRLF-terminated lines.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"\x00STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nQUIT\r\n",
		"\x00DELE 1\r\nDELE 2\r\nQUIT\r\n",
		"\x00RETR 3\nTOP 3 0\nretr 9\nLIST 0\nNOOP\nCAPA\n",
		"\x01CAPA\r\nAUTH\r\nAUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nSTAT\r\n",
		"\x01AUTH PLAIN\r\n*\r\nUSER alice\r\nPASS secret\r\nRETR 1\r\n",
		"\x01STLS\r\nUSER alice\r\nPASS x\r\nAPOP a b\r\n",
		"\x00" + string(bytes.Repeat([]byte("x"), 3000)) + "\r\nSTAT\r\n",
		"\x00BAD\r\nBAD\r\nBAD\r\nBAD\r\nBAD\r\nBAD\r\nBAD\r\nBAD\r\nBAD\r\nBAD\r\nSTAT\r\n",
	} {
		f.Add([]byte(s))
	}
	te := newTestEnv(f)
	te.addAccount(f, "alice", "secret")
	refill := func(t testing.TB) {
		for n := len(te.inbox(t, "alice").Messages); n < len(testMessages)-1; n++ {
			te.deliver(t, "alice", normalize(testMessages[n%(len(testMessages)-1)]))
		}
	}
	refill(f)
	var panics atomic.Int64
	lim := testOptions(f).Limiter
	cfg, _ := testCert(f, "")
	srv := New(te.st, Options{Limiter: lim, TLSConfig: cfg, Logger: slog.New(panicCounter{&panics})})

	f.Fuzz(func(t *testing.T, in []byte) {
		refill(t)
		cin, sin := net.Pipe()
		sout, cout := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.serveConn(splitConn{in: sin, out: sout})
		}()
		var out []byte
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			out, _ = io.ReadAll(cout)
		}()
		input := in
		if len(in) > 0 && in[0]%2 == 0 {
			input = append([]byte("USER alice\r\nPASS secret\r\n"), in[1:]...)
		}
		cin.SetWriteDeadline(time.Now().Add(30 * time.Second))
		cin.Write(input) // fails early when the session closes first
		cin.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("session did not end after its input ended (goroutine leak)")
		}
		select {
		case <-drained:
		case <-time.After(30 * time.Second):
			t.Fatalf("session output not closed (goroutine leak)")
		}
		cout.Close()
		if n := panics.Load(); n > 0 {
			t.Fatalf("%d session panics", n)
		}
		if snap := te.env.Locks.Snapshot(); len(snap) > 0 {
			t.Fatalf("locks left: %+v", snap)
		}
		if !bytes.HasPrefix(out, []byte("+OK ")) {
			t.Fatalf("no greeting: %q", tail(out))
		}
		if len(input) != len(in) && !bytes.Contains(out, []byte("\r\n+OK Logged in")) {
			t.Fatalf("the harness's login failed: %q", out[:min(len(out), 300)])
		}
		// After STLS the output is TLS records: check the text before.
		if i := bytes.Index(out, []byte("+OK Begin TLS negotiation\r\n")); i >= 0 {
			out = out[:i]
		}
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("output ends mid-line: %q", tail(out))
		}
		for i, c := range out {
			if c == '\n' && (i == 0 || out[i-1] != '\r') || c == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
				t.Fatalf("bare CR or LF at %d of the output: %q", i, out[max(0, i-40):min(len(out), i+40)])
			}
		}
	})
}
