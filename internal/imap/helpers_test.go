package imap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// testEnv is a real store (msdb + message files) with an IMAP server on
// 127.0.0.1.
type testEnv struct {
	t     testing.TB
	dir   string
	env   *msdb.Env
	st    *store.Store
	blobs *blob.Store
	srv   *Server
	addr  string
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IMAP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t testing.TB, opts Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	lg := testLogger(t)
	env, err := msdb.Open(ctx, msdb.Options{Home: filepath.Join(dir, "database"), Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(filepath.Join(dir, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{HashCost: 4, Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = lg
	}
	if opts.Limiter == nil {
		opts.Limiter = auth.NewLimiter(lg)
		opts.Limiter.BaseDelay = time.Millisecond
		opts.Limiter.MaxDelay = 10 * time.Millisecond
	}
	srv := New(st, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	e := &testEnv{t: t, dir: dir, env: env, st: st, blobs: blobs, srv: srv, addr: l.Addr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		env.Close()
	})
	return e
}

func (e *testEnv) user(name, pass string) {
	e.t.Helper()
	h, err := e.st.HashPassword(pass)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.CreateAccount(context.Background(), name, h); err != nil {
		e.t.Fatal(err)
	}
}

// deliver stores a message and delivers it as LMTP does.
func (e *testEnv) deliver(user, mailbox, raw string) uint32 {
	e.t.Helper()
	ctx := context.Background()
	in, err := e.st.Ingest(ctx, strings.NewReader(raw), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.st.Deliver(ctx, in, []store.Recipient{{Account: user, Mailbox: mailbox}}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if res[0].Err != nil {
		e.t.Fatal(res[0].Err)
	}
	return res[0].UID
}

func msg(n int, subject string) string {
	return fmt.Sprintf("From: Sender %d <sender%d@example.org>\r\n"+
		"To: Rcpt <rcpt@example.com>\r\n"+
		"Subject: %s\r\n"+
		"Date: Mon, 2 Jan 2023 15:04:05 +0100\r\n"+
		"Message-ID: <m%d@example.org>\r\n"+
		"\r\n"+
		"Body of message %d.\r\n", n, n, subject, n, n)
}

// tracedMsg is msg(n, subject) behind a trace header and an X-Mailer
// field: a header too large for the cache record to keep whole, so that
// only its message.KeptFields are kept and other header sections need the
// file.
func tracedMsg(n int, subject string) string {
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, "Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d]) by mx.example.org with ESMTPS id %d-%d; Mon, 2 Jan 2023 15:04:%02d +0100\r\n", i, i, i, n, i, i)
	}
	fmt.Fprintf(&b, "X-Mailer: mailer %d\r\n", n)
	return b.String() + msg(n, subject)
}

func (e *testEnv) client(user, pass string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{UnilateralDataHandler: h})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if user != "" {
		if err := c.Login(user, pass).Wait(); err != nil {
			e.t.Fatalf("login %s: %v", user, err)
		}
	}
	return c
}

// raw is a line-level IMAP client for checking exact responses.
type raw struct {
	t   testing.TB
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func (e *testEnv) raw() *raw {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	r := &raw{t: e.t, c: c, r: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		e.t.Fatalf("greeting %q", g)
	}
	return r
}

func (e *testEnv) rawLogin(user, pass string) *raw {
	r := e.raw()
	r.ok("LOGIN %s %s", user, pass)
	return r
}

var literalRE = regexp.MustCompile(`\{(\d+)\+?\}$`)

// line reads one response line, with any literals it carries inline.
func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	for {
		l, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("read: %v (after %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		m := literalRE.FindStringSubmatch(l)
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.r, buf); err != nil {
			r.t.Fatalf("read literal: %v", err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

func (r *raw) send(format string, args ...any) string {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("a%d", r.tag)
	if _, err := fmt.Fprintf(r.c, tag+" "+format+"\r\n", args...); err != nil {
		r.t.Fatal(err)
	}
	return tag
}

// cmd sends a command and returns its untagged responses and the tagged
// status line (without the tag).
func (r *raw) cmd(format string, args ...any) (untagged []string, status string) {
	r.t.Helper()
	tag := r.send(format, args...)
	return r.wait(tag)
}

func (r *raw) wait(tag string) (untagged []string, status string) {
	r.t.Helper()
	for {
		l := r.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

func (r *raw) ok(format string, args ...any) []string {
	r.t.Helper()
	u, st := r.cmd(format, args...)
	if !strings.HasPrefix(st, "OK") {
		r.t.Fatalf("%s: %s (untagged %q)", fmt.Sprintf(format, args...), st, u)
	}
	return u
}

func (r *raw) expect(prefix string, format string, args ...any) []string {
	r.t.Helper()
	u, st := r.cmd(format, args...)
	if !strings.HasPrefix(st, prefix) {
		r.t.Fatalf("%s: got %q, want %s… (untagged %q)", fmt.Sprintf(format, args...), st, prefix, u)
	}
	return u
}

func has(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func mustHave(t testing.TB, lines []string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !has(lines, s) {
			t.Fatalf("no %q in %q", s, lines)
		}
	}
}

func mustNotHave(t testing.TB, lines []string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if has(lines, s) {
			t.Fatalf("unexpected %q in %q", s, lines)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
