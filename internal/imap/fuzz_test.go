package imap

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// panicWatch is a slog handler that notes any message about a panic (go-imap
// recovers panics in command handlers and logs them).
type panicWatch struct {
	seen atomic.Value // string
}

func (p *panicWatch) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicWatch) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.Key + "=" + a.Value.String()
		return true
	})
	if strings.Contains(msg, "panic") {
		p.seen.Store(msg)
	}
	return nil
}
func (p *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicWatch) WithGroup(string) slog.Handler      { return p }

func (s *Server) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// FuzzSession feeds arbitrary bytes to a logged-in session with INBOX
// selected: the server must not panic, must end the session when the
// client goes, and must go on serving another session.
func FuzzSession(f *testing.F) {
	pw := &panicWatch{}
	e := newEnv(f, Options{Logger: slog.New(pw), AppendLimit: 64 << 10, IdleTimeout: time.Minute})
	e.user("fuzz", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("fuzz", "", msg(i, "seed"))
	}
	e.deliver("fuzz", "", mimeMsg)
	// Bound what inputs can pile up (COPY 1:* doubles a mailbox).
	if err := e.st.SetQuota(context.Background(), "fuzz", 4<<20, 300); err != nil {
		f.Fatal(err)
	}
	other := e.rawLogin("fuzz", "secret")
	other.ok("SELECT INBOX")
	base := e.srv.sessionCount()

	for _, s := range []string{
		"a NOOP\r\n",
		"a FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY)\r\n",
		"a FETCH 4 (BODY[1.MIME] BODY[3.HEADER.FIELDS (Subject)] BINARY[2]<1.3> BINARY.SIZE[1] BODY[]<5.10>)\r\n",
		"a UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS.NOT (From)])\r\n",
		"a SEARCH OR FROM x (NOT BODY y) LARGER 10 SMALLER 1000 SENTSINCE 1-Jan-2000\r\n",
		"a UID SEARCH RETURN (SAVE MIN MAX COUNT) UNDELETED\r\nb FETCH $ FLAGS\r\n",
		"a STORE 1:2 +FLAGS (\\Deleted kw)\r\nb EXPUNGE\r\n",
		"a COPY 1 INBOX\r\nb MOVE 2 INBOX\r\nc UID EXPUNGE 1:*\r\n",
		"a APPEND INBOX (\\Seen) {5+}\r\nhello\r\n",
		"a APPEND INBOX {5}\r\nhello\r\n",
		"a CREATE x/y\r\nb RENAME x z\r\nc LIST \"\" *\r\nd DELETE z/y\r\ne DELETE z\r\n",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" %) RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n",
		"a STATUS INBOX (MESSAGES RECENT DELETED SIZE UIDNEXT UIDVALIDITY UNSEEN APPENDLIMIT)\r\n",
		"a IDLE\r\nDONE\r\n",
		"a ENABLE IMAP4rev2 UTF8=ACCEPT\r\nb SELECT INBOX\r\nc SEARCH ALL\r\n",
		"a EXAMINE INBOX\r\nb STORE 1 FLAGS ()\r\nc CLOSE\r\n",
		"a SELECT \"&Jjo\"\r\nb CREATE \"&-&\"\r\n",
		"\x00\xff{99999999}\r\n",
		"a UNAUTHENTICATE\r\nb LOGIN fuzz secret\r\n",
		"a FETCH 1 (BODY[1.2.3.4.5.6.7.8.9])\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		other.t = t
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "L LOGIN fuzz secret\r\nS SELECT INBOX\r\n"); err != nil {
			t.Fatal(err)
		}
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		// Read until the server closes: it must, now that input ended.
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("session did not end: %v", err)
		}
		c.Close()
		if p := pw.seen.Load(); p != nil {
			t.Fatalf("server panicked: %v", p)
		}
		// The session is gone, and the other one is served.
		deadline := time.Now().Add(30 * time.Second)
		for e.srv.sessionCount() > base {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions left, want %d", e.srv.sessionCount(), base)
			}
			time.Sleep(time.Millisecond)
		}
		if _, st := other.cmd("NOOP"); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO") {
			t.Fatalf("other session: %s", st)
		}
	})
}
