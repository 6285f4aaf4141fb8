package pop3

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb/locks"
)

// testMessages are delivered in this order by fixture.
var testMessages = [][]byte{
	crlf("From: a@example.org\nTo: alice@example.org\nSubject: one\n\nHello Alice.\n"),
	crlf("From: b@example.org\nSubject: dots\n\n.\n..\n.leading dot\nmiddle . dot\n.\n"),
	[]byte("From: c@example.org\nSubject: bare LF\n\nline one\nline two\n\nline four\n"),
	crlf("From: d@example.org\nSubject: top\n\nbody 1\nbody 2\nbody 3\nbody 4\n"),
	[]byte("Subject: no final newline\r\n\r\nend without newline"),
}

type fixture struct {
	*testEnv
	srv  *Server
	addr string
	uids []uint32
}

// newFixture starts a server with account alice (password "secret")
// holding testMessages.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	te := newTestEnv(t)
	te.addAccount(t, "alice", "secret")
	f := &fixture{testEnv: te}
	for _, m := range testMessages {
		f.uids = append(f.uids, te.deliver(t, "alice", m))
	}
	f.srv = New(te.st, opts)
	f.addr = serve(t, f.srv, nil)
	return f
}

func TestSessionBasics(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	capa := string(c.multiCmd("CAPA"))
	for _, want := range []string{"TOP", "USER", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "SASL PLAIN", "IMPLEMENTATION M-Store"} {
		if !strings.Contains(capa, want+"\r\n") {
			t.Errorf("CAPA lacks %s:\n%s", want, capa)
		}
	}
	if strings.Contains(capa, "STLS") {
		t.Errorf("CAPA offers STLS without a TLS configuration")
	}
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("STAT before login: %s", r)
	}
	if r := c.cmd("PASS secret"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("PASS without USER: %s", r)
	}
	c.ok("USER alice")
	if r := c.cmd("PASS wrong"); !strings.HasPrefix(r, "-ERR [AUTH]") {
		t.Errorf("wrong password: %s", r)
	}
	c.ok("USER Alice")
	if r := c.ok("PASS secret"); !strings.Contains(r, "5 messages") {
		t.Errorf("login: %s", r)
	}
	var total int64
	for _, m := range testMessages {
		total += int64(len(m))
	}
	if r, want := c.cmd("STAT"), fmt.Sprintf("+OK 5 %d", total); r != want {
		t.Errorf("STAT = %q, want %q", r, want)
	}
	list := string(c.multiCmd("LIST"))
	var wantList, wantUIDL strings.Builder
	uv := f.inbox(t, "alice").Mailbox.UIDValidity
	for i, m := range testMessages {
		fmt.Fprintf(&wantList, "%d %d\r\n", i+1, len(m))
		fmt.Fprintf(&wantUIDL, "%d %d.%d\r\n", i+1, uv, f.uids[i])
	}
	if list != wantList.String() {
		t.Errorf("LIST:\n%s\nwant\n%s", list, wantList.String())
	}
	if uidl := string(c.multiCmd("UIDL")); uidl != wantUIDL.String() {
		t.Errorf("UIDL:\n%s\nwant\n%s", uidl, wantUIDL.String())
	}
	if r, want := c.cmd("LIST 2"), fmt.Sprintf("+OK 2 %d", len(testMessages[1])); r != want {
		t.Errorf("LIST 2 = %q, want %q", r, want)
	}
	if r, want := c.cmd("UIDL 3"), fmt.Sprintf("+OK 3 %d.%d", uv, f.uids[2]); r != want {
		t.Errorf("UIDL 3 = %q, want %q", r, want)
	}
	for _, bad := range []string{"LIST 0", "LIST 6", "RETR 9", "UIDL 4294967296", "TOP 7 1", "DELE 0"} {
		if r := c.cmd(bad); !strings.HasPrefix(r, "-ERR") {
			t.Errorf("%s: %s", bad, r)
		}
	}
	for i, m := range testMessages {
		if got := c.multiCmd(fmt.Sprintf("RETR %d", i+1)); !bytes.Equal(got, normalize(m)) {
			t.Errorf("RETR %d:\n got %q\nwant %q", i+1, got, normalize(m))
		}
	}
	if got, want := string(c.multiCmd("TOP 4 2")), "From: d@example.org\r\nSubject: top\r\n\r\nbody 1\r\nbody 2\r\n"; got != want {
		t.Errorf("TOP 4 2 = %q, want %q", got, want)
	}
	if got, want := string(c.multiCmd("top 2 0")), "From: b@example.org\r\nSubject: dots\r\n\r\n"; got != want {
		t.Errorf("TOP 2 0 = %q, want %q", got, want)
	}
	c.ok("NOOP")
	c.ok("DELE 1")
	c.ok("DELE 3")
	for _, cmd := range []string{"RETR 1", "TOP 1 0", "DELE 1", "LIST 3", "UIDL 1"} {
		if r := c.cmd(cmd); !strings.HasPrefix(r, "-ERR") {
			t.Errorf("%s after DELE: %s", cmd, r)
		}
	}
	if list := string(c.multiCmd("LIST")); strings.HasPrefix(list, "1 ") || strings.Contains(list, "\r\n3 ") {
		t.Errorf("LIST shows deleted messages:\n%s", list)
	}
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 3 ") {
		t.Errorf("STAT after DELE: %s", r)
	}
	c.ok("RSET")
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 5 ") {
		t.Errorf("STAT after RSET: %s", r)
	}
	c.ok("DELE 2")
	c.ok("DELE 5")
	if r := c.cmd("USER alice"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("USER after login: %s", r)
	}
	c.ok("QUIT")
	c.closed()

	snap := f.inbox(t, "alice")
	var left []uint32
	for _, m := range snap.Messages {
		left = append(left, m.UID)
	}
	if want := []uint32{f.uids[0], f.uids[2], f.uids[3]}; fmt.Sprint(left) != fmt.Sprint(want) {
		t.Errorf("after QUIT the INBOX holds %v, want %v", left, want)
	}

	// The next session numbers what is left 1..3 and keeps the UIDLs.
	c = dial(t, f.addr)
	c.login("alice", "secret")
	if uidl, want := string(c.multiCmd("UIDL")), fmt.Sprintf("1 %d.%d\r\n2 %d.%d\r\n3 %d.%d\r\n", uv, f.uids[0], uv, f.uids[2], uv, f.uids[3]); uidl != want {
		t.Errorf("UIDL in the next session:\n%s\nwant\n%s", uidl, want)
	}
	c.ok("QUIT")
}

func TestAuthPlain(t *testing.T) {
	f := newFixture(t, testOptions(t))
	plain := func(authz, authc, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + authc + "\x00" + pass))
	}
	c := dial(t, f.addr)
	if got := string(c.multiCmd("AUTH")); got != "PLAIN\r\n" {
		t.Errorf("AUTH lists %q", got)
	}
	if r := c.cmd("AUTH CRAM-MD5"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("AUTH CRAM-MD5: %s", r)
	}
	if r := c.cmd("AUTH PLAIN " + plain("", "alice", "wrong")); !strings.HasPrefix(r, "-ERR [AUTH]") {
		t.Errorf("wrong password: %s", r)
	}
	if r := c.cmd("AUTH PLAIN " + plain("bob", "alice", "secret")); !strings.HasPrefix(r, "-ERR [AUTH]") {
		t.Errorf("other authorization identity: %s", r)
	}
	if r := c.cmd("AUTH PLAIN !!!"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("bad base64: %s", r)
	}
	if r := c.cmd("AUTH PLAIN"); r != "+ " {
		t.Fatalf("AUTH PLAIN without initial response: %q", r)
	}
	if r := c.cmd("*"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("cancelled: %s", r)
	}
	if r := c.cmd("AUTH PLAIN"); r != "+ " {
		t.Fatalf("AUTH PLAIN without initial response: %q", r)
	}
	c.ok(plain("alice", "alice", "secret"))
	c.ok("STAT")
	c.ok("QUIT")

	c = dial(t, f.addr)
	c.ok("AUTH PLAIN " + plain("", "ALICE", "secret"))
	c.ok("QUIT")
}

func TestSTLS(t *testing.T) {
	opts := testOptions(t)
	cfg, pool := testCert(t, "")
	opts.TLSConfig = cfg
	f := newFixture(t, opts)
	c := dial(t, f.addr)
	if capa := string(c.multiCmd("CAPA")); !strings.Contains(capa, "STLS\r\n") {
		t.Errorf("CAPA lacks STLS:\n%s", capa)
	}
	// Commands pipelined after STLS are refused, not run over TLS.
	c.send("STLS\r\nNOOP")
	if r := c.line(); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("pipelined STLS: %s", r)
	}
	if r := c.line(); !strings.HasPrefix(r, "-ERR") { // NOOP before login
		t.Fatalf("NOOP: %s", r)
	}
	c.ok("STLS")
	tc := tls.Client(c.conn, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, tc)
	if capa := string(c.multiCmd("CAPA")); strings.Contains(capa, "STLS") {
		t.Errorf("CAPA offers STLS over TLS:\n%s", capa)
	}
	if r := c.cmd("STLS"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("second STLS: %s", r)
	}
	c.login("alice", "secret")
	if got := c.multiCmd("RETR 2"); !bytes.Equal(got, testMessages[1]) {
		t.Errorf("RETR over TLS: %q", got)
	}
	c.ok("QUIT")
}

func TestImplicitTLS(t *testing.T) {
	te := newTestEnv(t)
	te.addAccount(t, "alice", "secret")
	te.deliver(t, "alice", testMessages[0])
	cfg, pool := testCert(t, "")
	opts := testOptions(t)
	opts.TLSConfig = cfg
	srv := New(te.st, opts)
	addr := serve(t, srv, cfg)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newClient(t, conn)
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	if capa := string(c.multiCmd("CAPA")); strings.Contains(capa, "STLS") || !strings.Contains(capa, "USER") {
		t.Errorf("CAPA over implicit TLS:\n%s", capa)
	}
	c.login("alice", "secret")
	if got := c.multiCmd("RETR 1"); !bytes.Equal(got, testMessages[0]) {
		t.Errorf("RETR: %q", got)
	}
	c.ok("QUIT")
}

func TestInUse(t *testing.T) {
	f := newFixture(t, testOptions(t))
	a := dial(t, f.addr)
	a.login("alice", "secret")

	snap := f.env.Locks.Snapshot()
	if len(snap) != 1 || snap[0].Resource != "pop3:alice" {
		t.Fatalf("lock table: %+v", snap)
	}
	b := dial(t, f.addr)
	b.ok("USER alice")
	if r := b.cmd("PASS secret"); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("second session: %s", r)
	}
	// Still in AUTHORIZATION: it may try again.
	if r := b.cmd("STAT"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("STAT after IN-USE: %s", r)
	}
	a.ok("QUIT")
	a.closed()
	b.login("alice", "secret")
	b.ok("STAT")
	b.ok("QUIT")
	b.closed()
	waitNoLocks(t, f)
}

// waitNoLocks waits until the lock table is empty (a session releases
// its lock after it has answered QUIT, as it closes).
func waitNoLocks(t *testing.T, f *fixture) {
	t.Helper()
	for i := 0; len(f.env.Locks.Snapshot()) > 0; i++ {
		if i == 3000 {
			t.Fatalf("locks still held: %+v", f.env.Locks.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExpungeDuringSession: an IMAP session expunges from INBOX while a
// POP3 session holds it.
func TestExpungeDuringSession(t *testing.T) {
	f := newFixture(t, testOptions(t))
	ctx := context.Background()
	c := dial(t, f.addr)
	c.login("alice", "secret")
	before := string(c.multiCmd("UIDL"))
	mbox := f.inbox(t, "alice").Mailbox.ID

	// The "IMAP side" expunges messages 2 and 4, and a new message arrives.
	gone, err := f.st.Expunge(ctx, mbox, []uint32{f.uids[1], f.uids[3]})
	if err != nil || len(gone) != 2 {
		t.Fatalf("expunge: %v %v", gone, err)
	}
	newUID := f.deliver(t, "alice", crlf("Subject: late\n\nlate\n"))

	if after := string(c.multiCmd("UIDL")); after != before {
		t.Errorf("UIDL changed during the session:\n%s\nwas\n%s", after, before)
	}
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 5 ") {
		t.Errorf("STAT: %s", r)
	}
	for i, m := range testMessages { // expunged messages still readable
		if got := c.multiCmd(fmt.Sprintf("RETR %d", i+1)); !bytes.Equal(got, normalize(m)) {
			t.Errorf("RETR %d: %q", i+1, got)
		}
	}
	c.ok("DELE 1")
	c.ok("DELE 2") // already expunged by the other session
	if r := c.ok("QUIT"); !strings.Contains(r, "signing off") {
		t.Errorf("QUIT: %s", r)
	}
	c.closed()

	var left []uint32
	for _, m := range f.inbox(t, "alice").Messages {
		left = append(left, m.UID)
	}
	if want := []uint32{f.uids[2], f.uids[4], newUID}; fmt.Sprint(left) != fmt.Sprint(want) {
		t.Errorf("INBOX holds %v, want %v", left, want)
	}
	// The next session sees each remaining message once, the new one too.
	c = dial(t, f.addr)
	c.login("alice", "secret")
	uv := f.inbox(t, "alice").Mailbox.UIDValidity
	want := fmt.Sprintf("1 %d.%d\r\n2 %d.%d\r\n3 %d.%d\r\n", uv, f.uids[2], uv, f.uids[4], uv, newUID)
	if got := string(c.multiCmd("UIDL")); got != want {
		t.Errorf("UIDL:\n%s\nwant\n%s", got, want)
	}
	c.ok("QUIT")
}

// TestMissingFile: RETR when the message file is gone.
func TestMissingFile(t *testing.T) {
	f := newFixture(t, testOptions(t))
	ctx := context.Background()
	c := dial(t, f.addr)
	c.login("alice", "secret")
	snap := f.inbox(t, "alice")
	// Message 1: expunged elsewhere, then its file swept.
	if _, err := f.st.Expunge(ctx, snap.Mailbox.ID, []uint32{f.uids[0]}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.blobs.Path(blob.ID(snap.Messages[0].Blob))); err != nil {
		t.Fatal(err)
	}
	if r := c.cmd("RETR 1"); !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
		t.Errorf("RETR of an expunged message whose file is gone: %s", r)
	}
	// Message 2: still in the mailbox, its file lost.
	if err := os.Remove(f.blobs.Path(blob.ID(snap.Messages[1].Blob))); err != nil {
		t.Fatal(err)
	}
	if r := c.cmd("TOP 2 1"); !strings.HasPrefix(r, "-ERR [SYS/PERM]") {
		t.Errorf("TOP of a message whose file is lost: %s", r)
	}
	c.ok("RETR 3")
	c.multi()
	c.ok("QUIT")
}

func TestLongLine(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	// Exactly 255 octets with CRLF is accepted (and is a wrong password).
	c.ok("USER alice")
	if r := c.cmd("PASS " + strings.Repeat("x", MaxLine-7)); !strings.HasPrefix(r, "-ERR [AUTH]") {
		t.Errorf("255-octet line: %s", r)
	}
	for _, n := range []int{MaxLine - 1, readBufSize, 100000} {
		if r := c.cmd("NOOP " + strings.Repeat("x", n)); !strings.HasPrefix(r, "-ERR") || !strings.Contains(r, "too long") {
			t.Errorf("%d-octet line: %s", n+7, r)
		}
	}
	// The rest of the long line was discarded: the next command is fine.
	c.login("alice", "secret")
	c.ok("QUIT")

	// A line without end closes the connection after maxDiscard octets.
	c = dial(t, f.addr)
	go c.conn.Write(bytes.Repeat([]byte("x"), 2*maxDiscard)) // fails once the server closes
	c.closed()
}

func TestTooManyBadCommands(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	c.login("alice", "secret")
	c.ok("STAT")
	for i := 1; i < maxBadCommands; i++ {
		if r := c.cmd(fmt.Sprintf("BOGUS%d", i)); !strings.HasPrefix(r, "-ERR") {
			t.Fatalf("bad command %d: %s", i, r)
		}
		c.ok("NOOP") // good commands in between do not reset the count
	}
	if r := c.cmd("XYZZY"); !strings.HasPrefix(r, "-ERR") || !strings.Contains(r, "closing") {
		t.Fatalf("tenth bad command: %s", r)
	}
	if rest := c.closed(); rest != "" {
		t.Errorf("after closing: %q", rest)
	}
	waitNoLocks(t, f)
	if n := len(f.inbox(t, "alice").Messages); n != len(testMessages) {
		t.Errorf("%d messages left", n)
	}
}

func TestDroppedConnectionRemovesNothing(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	c.login("alice", "secret")
	for i := range testMessages {
		c.ok(fmt.Sprintf("DELE %d", i+1))
	}
	c.conn.Close()
	waitNoLocks(t, f)
	if n := len(f.inbox(t, "alice").Messages); n != len(testMessages) {
		t.Errorf("%d messages left after a dropped connection, want %d", n, len(testMessages))
	}
	// Nor does the idle timeout or Shutdown (see TestShutdown).
}

func TestIdleTimeout(t *testing.T) {
	opts := testOptions(t)
	opts.IdleTimeout = 200 * time.Millisecond
	f := newFixture(t, opts)
	c := dial(t, f.addr)
	c.login("alice", "secret")
	c.ok("DELE 1")
	if rest := c.closed(); rest != "" { // no timing asserted: only that it closes
		t.Errorf("before the close: %q", rest)
	}
	waitNoLocks(t, f)
	if n := len(f.inbox(t, "alice").Messages); n != len(testMessages) {
		t.Errorf("%d messages left after the idle timeout", n)
	}
}

func TestPipelining(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	var cmds strings.Builder
	cmds.WriteString("USER alice\r\nPASS secret\r\nSTAT\r\n")
	for i := range testMessages {
		fmt.Fprintf(&cmds, "RETR %d\r\nUIDL %d\r\n", i+1, i+1)
	}
	cmds.WriteString("LIST\r\nQUIT")
	c.send(cmds.String())
	expectOK := func(what string) {
		t.Helper()
		if r := c.line(); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("%s: %s", what, r)
		}
	}
	expectOK("USER")
	expectOK("PASS")
	expectOK("STAT")
	for i, m := range testMessages {
		expectOK("RETR")
		if got := c.multi(); !bytes.Equal(got, normalize(m)) {
			t.Errorf("pipelined RETR %d: %q", i+1, got)
		}
		expectOK("UIDL")
	}
	expectOK("LIST")
	c.multi()
	expectOK("QUIT")
	c.closed()
}

// TestPlaintextRefused: a password over a connection that is neither TLS
// nor from loopback is refused, unless AllowPlaintext.
func TestPlaintextRefused(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			te := newTestEnv(t)
			te.addAccount(t, "alice", "secret")
			opts := testOptions(t)
			opts.AllowPlaintext = allow
			cfg, _ := testCert(t, "")
			opts.TLSConfig = cfg
			srv := New(te.st, opts)
			conn, done := pipeSession(srv, "192.0.2.7:40000")
			defer func() { conn.Close(); <-done }()
			c := newClient(t, conn)
			c.line()
			capa := string(c.multiCmd("CAPA"))
			if got := strings.Contains(capa, "USER\r\n") && strings.Contains(capa, "SASL PLAIN"); got != allow {
				t.Errorf("CAPA offers USER and SASL PLAIN: %v:\n%s", got, capa)
			}
			if !strings.Contains(capa, "STLS") {
				t.Errorf("CAPA lacks STLS:\n%s", capa)
			}
			plain := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret"))
			if !allow {
				for _, cmd := range []string{"USER alice", "AUTH PLAIN " + plain, "AUTH PLAIN"} {
					if r := c.cmd(cmd); !strings.HasPrefix(r, "-ERR [AUTH]") || !strings.Contains(r, "STLS") {
						t.Errorf("%s: %s", cmd, r)
					}
				}
				return
			}
			c.ok("AUTH PLAIN " + plain)
			c.ok("QUIT")
		})
	}
}

// TestPlaintextRefusedRealAddress repeats the refusal over real TCP from a
// local address that is not loopback, when the machine has one.
func TestPlaintextRefusedRealAddress(t *testing.T) {
	ip := nonLoopbackIP()
	if ip == nil {
		t.Skip("no non-loopback IPv4 address on this machine; TestPlaintextRefused covers the policy over net.Pipe")
	}
	te := newTestEnv(t)
	te.addAccount(t, "alice", "secret")
	srv := New(te.st, testOptions(t))
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	c := dial(t, l.Addr().String())
	if r := c.cmd("USER alice"); !strings.HasPrefix(r, "-ERR [AUTH]") {
		t.Errorf("USER from %s: %s", ip, r)
	}
	c.ok("QUIT")
}

func nonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}

func TestQuitFailureRemovesNothing(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	c.login("alice", "secret")
	c.ok("DELE 1")
	c.ok("DELE 2")
	// Make the store fail: close the environment under the session.
	f.env.Close()
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
		t.Errorf("QUIT with the store closed: %s", r)
	}
	c.closed()
	waitNoLocks(t, f)
	te := openTestEnv(t, f.dir)
	defer te.env.Close()
	if n := len(te.inbox(t, "alice").Messages); n != len(testMessages) {
		t.Errorf("%d messages after a failed QUIT, want %d", n, len(testMessages))
	}
}

// TestUIDLStableAcrossRestart: UIDL values survive closing and reopening
// the store (a restart; recovery replays the same records).
func TestUIDLStableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	te := openTestEnv(t, dir)
	te.addAccount(t, "alice", "secret")
	for _, m := range testMessages {
		te.deliver(t, "alice", m)
	}
	uidl := func(te *testEnv) string {
		srv := New(te.st, testOptions(t))
		conn, done := pipeSession(srv, "127.0.0.1:4000")
		defer func() { conn.Close(); <-done }()
		c := newClient(t, conn)
		c.line()
		c.login("alice", "secret")
		u := string(c.multiCmd("UIDL"))
		c.ok("QUIT")
		return u
	}
	first := uidl(te)
	te.env.Close()
	te = openTestEnv(t, dir)
	defer te.env.Close()
	if second := uidl(te); second != first {
		t.Errorf("UIDL after reopening:\n%s\nbefore:\n%s", second, first)
	}
}

// TestShutdownGraceful: Shutdown waits for a session that ends by itself,
// whose QUIT still removes what it marked.
func TestShutdownGraceful(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	c.login("alice", "secret")
	c.ok("DELE 1")
	errc := make(chan error, 1)
	go func() { errc <- f.srv.Shutdown(context.Background()) }()
	for !f.srv.isClosing() {
		time.Sleep(time.Millisecond)
	}
	c.ok("RETR 2")
	c.multi()
	c.ok("QUIT")
	if err := <-errc; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := len(f.inbox(t, "alice").Messages); n != len(testMessages)-1 {
		t.Errorf("%d messages after QUIT during Shutdown, want %d", n, len(testMessages)-1)
	}
}

func TestShutdown(t *testing.T) {
	f := newFixture(t, testOptions(t))
	idle := dial(t, f.addr)
	idle.login("alice", "secret")
	idle.ok("DELE 1")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err == nil {
		t.Errorf("Shutdown with an idle session open returned nil")
	}
	idle.closed()
	if len(f.env.Locks.Snapshot()) != 0 {
		t.Errorf("locks held after Shutdown: %+v", f.env.Locks.Snapshot())
	}
	if n := len(f.inbox(t, "alice").Messages); n != len(testMessages) {
		t.Errorf("%d messages after Shutdown", n)
	}
	if _, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
	if err := f.srv.Serve(newDummyListener()); err != ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

type dummyListener struct{ net.Listener }

func newDummyListener() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return dummyListener{l}
}

// TestLockOwner checks the lock's owner, which msdb_test -l shows.
func TestLockOwner(t *testing.T) {
	f := newFixture(t, testOptions(t))
	c := dial(t, f.addr)
	c.login("alice", "secret")
	snap := f.env.Locks.Snapshot()
	if len(snap) != 1 || len(snap[0].Holders) != 1 {
		t.Fatalf("lock table: %+v", snap)
	}
	h := snap[0].Holders[0]
	if h.Mode != locks.Exclusive || h.Owner.PID != os.Getpid() || !strings.HasPrefix(h.Owner.Desc, "pop3 session from 127.0.0.1:") {
		t.Errorf("holder %+v", h)
	}
	c.ok("QUIT")
}
