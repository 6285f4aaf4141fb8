package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/imap"
	"github.com/m-store/mstore/internal/lmtp"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/pop3"
	"github.com/m-store/mstore/internal/store"
)

// mstore is M-Store's store in a temporary directory with its LMTP, IMAP
// and POP3 servers on 127.0.0.1, in this process.
type mstore struct {
	t                *testing.T
	st               *store.Store
	lmtp, imap, pop3 int // ports
	users            int
	password         string
}

func testLog() *slog.Logger {
	if os.Getenv("BENCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func fastLimiter() *auth.Limiter {
	l := auth.NewLimiter(testLog())
	l.BaseDelay, l.MaxDelay = time.Millisecond, 5*time.Millisecond
	return l
}

// startMStore starts the servers with users bench1..bench<users>@example.com.
func startMStore(t *testing.T, users int, password string) *mstore {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	lg := testLog()
	env, err := msdb.Open(ctx, msdb.Options{Home: filepath.Join(dir, "database"), Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	blobs, err := blob.Open(filepath.Join(dir, "mail"), blob.WithLogger(lg))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{HashCost: 4, Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= users; i++ {
		if _, err := st.CreateAccount(ctx, fmt.Sprintf(Defaults.UserPattern, i), h); err != nil {
			t.Fatal(err)
		}
	}
	m := &mstore{t: t, st: st, users: users, password: password}

	listen := func() (net.Listener, int) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l, l.Addr().(*net.TCPAddr).Port
	}
	shutdown := func(name string, serveErr <-chan error, stop func(context.Context) error) {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := stop(ctx); err != nil {
				t.Errorf("%s shutdown: %v", name, err)
			}
			if err := <-serveErr; err != nil {
				t.Errorf("%s serve: %v", name, err)
			}
		})
	}

	ls := lmtp.New(st, lmtp.Options{Logger: lg})
	l, port := listen()
	m.lmtp = port
	errc := make(chan error, 1)
	go func(l net.Listener) { errc <- ls.Serve(l) }(l)
	shutdown("lmtp", errc, ls.Shutdown)

	is := imap.New(st, imap.Options{Limiter: fastLimiter(), Logger: lg})
	l, port = listen()
	m.imap = port
	errc2 := make(chan error, 1)
	go func(l net.Listener) { errc2 <- is.Serve(l) }(l)
	shutdown("imap", errc2, is.Shutdown)

	ps := pop3.New(st, pop3.Options{Limiter: fastLimiter(), Logger: lg})
	l, port = listen()
	m.pop3 = port
	errc3 := make(chan error, 1)
	go func(l net.Listener) { errc3 <- ps.Serve(l) }(l)
	shutdown("pop3", errc3, ps.Shutdown)
	return m
}

// config is a short run against m.
func (m *mstore) config(mode string, port int) Config {
	c := Defaults
	c.Mode, c.Port = mode, port
	c.Users, c.Password = m.users, m.password
	c.Concurrency = 3
	c.Duration = 1500 * time.Millisecond
	c.Size = 2048
	c.Logger = testLog()
	return c
}

// inbox returns a user's INBOX record.
func (m *mstore) inbox(i int) *store.Mailbox {
	m.t.Helper()
	mb, err := m.st.MailboxStatus(context.Background(), fmt.Sprintf(Defaults.UserPattern, i), "INBOX")
	if err != nil {
		m.t.Fatal(err)
	}
	return mb
}

// totals are the INBOX messages of every user and the UIDs ever given.
func (m *mstore) totals() (messages, uids int) {
	for i := 1; i <= m.users; i++ {
		mb := m.inbox(i)
		messages += int(mb.Messages)
		uids += int(mb.UIDNext) - 1
	}
	return
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	logResult(t, res)
	return res
}

func logResult(t *testing.T, res *Result) {
	t.Helper()
	var b strings.Builder
	res.WriteTable(&b)
	t.Logf("\n%s", b.String())
}

// wantClean requires ops and no errors for every command.
func wantClean(t *testing.T, res *Result) {
	t.Helper()
	for _, o := range res.Ops {
		if o.Ops == 0 {
			t.Errorf("%s: no ops", o.Command)
		}
		if o.Errors != 0 {
			t.Errorf("%s: %d errors", o.Command, o.Errors)
		}
	}
	if len(res.ErrorSamples) > 0 {
		t.Errorf("errors: %q", res.ErrorSamples)
	}
	if res.Interrupted {
		t.Error("interrupted")
	}
}

func TestLMTPMode(t *testing.T) {
	m := startMStore(t, 5, "pw")
	res := run(t, m.config(ModeLMTP, m.lmtp))
	wantClean(t, res)
	if len(res.Ops) != 1 || res.Ops[0].Command != "DELIVER" || res.Total.Ops != res.Ops[0].Ops {
		t.Fatalf("lines %+v, total %+v", res.Ops, res.Total)
	}
	msgs, uids := m.totals()
	if msgs != int(res.Total.Ops) || uids != msgs {
		t.Fatalf("store holds %d messages (%d UIDs given), DELIVER ops %d", msgs, uids, res.Total.Ops)
	}
	// Each user got some: the recipients are random.
	for i := 1; i <= m.users; i++ {
		if m.inbox(i).Messages == 0 {
			t.Errorf("user %d got nothing", i)
		}
	}
}

func TestLMTPModeCancelled(t *testing.T) {
	// Cancelling (SIGINT) ends the run early with a result; deliveries
	// under way finish, so the store still matches the ops.
	m := startMStore(t, 2, "pw")
	cfg := m.config(ModeLMTP, m.lmtp)
	cfg.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(700*time.Millisecond, cancel)
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	if !res.Interrupted || res.Total.Ops == 0 || res.Total.Errors != 0 {
		t.Fatalf("interrupted %v, total %+v", res.Interrupted, res.Total)
	}
	if msgs, _ := m.totals(); msgs != int(res.Total.Ops) {
		t.Fatalf("store holds %d messages, DELIVER ops %d", msgs, res.Total.Ops)
	}
}

func TestIMAPMode(t *testing.T) {
	const prefill = 6
	m := startMStore(t, 6, "secret")
	cfg := m.config(ModeIMAP, m.imap)
	cfg.LMTPPort, cfg.Prefill = m.lmtp, prefill
	res := run(t, cfg)
	wantClean(t, res)
	if res.Prefilled != m.users*prefill {
		t.Errorf("prefilled %d, want %d", res.Prefilled, m.users*prefill)
	}
	var names []string
	for _, o := range res.Ops {
		names = append(names, o.Command)
	}
	if got := strings.Join(names, " "); got != "LOGIN SELECT FETCH_ENV FETCH_BODY STORE SEARCH APPEND EXPUNGE LOGOUT" {
		t.Fatalf("commands %s", got)
	}
	// Every session: one of each, but STORE twice (flags, then \Deleted on
	// the appended message); FETCH_BODY fetched 1-3 messages.
	sessions := res.Op("LOGIN").Ops
	for _, c := range []string{"SELECT", "FETCH_ENV", "FETCH_BODY", "SEARCH", "APPEND", "EXPUNGE", "LOGOUT"} {
		if n := res.Op(c).Ops; n != sessions {
			t.Errorf("%s: %d ops, %d sessions", c, n, sessions)
		}
	}
	if n := res.Op("STORE").Ops; n != 2*sessions {
		t.Errorf("STORE: %d ops, %d sessions", n, sessions)
	}
	var total uint64
	for _, o := range res.Ops {
		total += o.Ops
	}
	if res.Total.Ops != total {
		t.Errorf("TOTAL %d, sum %d", res.Total.Ops, total)
	}
	// Every appended message was expunged again; each took a UID.
	msgs, uids := m.totals()
	if msgs != m.users*prefill {
		t.Errorf("store holds %d messages, want %d", msgs, m.users*prefill)
	}
	if want := m.users*prefill + int(res.Op("APPEND").Ops); uids != want {
		t.Errorf("%d UIDs given, want %d (prefill and APPEND ops)", uids, want)
	}

	// A second run finds the mailboxes full: no prefill.
	cfg.Duration = 300 * time.Millisecond
	res = run(t, cfg)
	if res.Prefilled != 0 || res.Errors() != 0 {
		t.Errorf("second run: prefilled %d, %d errors", res.Prefilled, res.Errors())
	}
}

func TestPOP3Mode(t *testing.T) {
	const prefill = 5
	m := startMStore(t, 6, "pw3")
	cfg := m.config(ModePOP3, m.pop3)
	cfg.LMTPPort, cfg.Prefill = m.lmtp, prefill
	res := run(t, cfg)
	wantClean(t, res)
	var names []string
	for _, o := range res.Ops {
		names = append(names, o.Command)
	}
	if got := strings.Join(names, " "); got != "USER PASS STAT UIDL LIST RETR DELE QUIT REFILL" {
		t.Fatalf("commands %s", got)
	}
	sessions := res.Op("USER").Ops
	for _, c := range []string{"PASS", "STAT", "UIDL", "LIST", "DELE", "QUIT", "REFILL"} {
		if n := res.Op(c).Ops; n != sessions {
			t.Errorf("%s: %d ops, %d sessions", c, n, sessions)
		}
	}
	if n := res.Op("RETR").Ops; n < sessions || n > 3*sessions {
		t.Errorf("RETR: %d ops, %d sessions", n, sessions)
	}
	if res.Total.Ops != res.Op("RETR").Ops+7*sessions {
		t.Errorf("TOTAL %d includes REFILL", res.Total.Ops)
	}
	// Every deleted message was replaced.
	msgs, uids := m.totals()
	if msgs != m.users*prefill {
		t.Errorf("store holds %d messages, want %d", msgs, m.users*prefill)
	}
	if want := m.users*prefill + int(res.Op("REFILL").Ops); uids != want {
		t.Errorf("%d UIDs given, want %d (prefill and REFILL ops)", uids, want)
	}
}

// readyWriter signals the idle mode's ready line.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.once.Do(func() { close(w.ready) })
	return len(p), nil
}

func TestIdleMode(t *testing.T) {
	m := startMStore(t, 4, "idlepw")
	cfg := m.config(ModeIdle, m.imap)
	cfg.Sessions, cfg.Concurrency = 14, 4
	cfg.LMTPPort, cfg.Prefill = m.lmtp, 2
	cfg.Duration = time.Hour // ended by cancelling, as by SIGINT
	rw := &readyWriter{ready: make(chan struct{})}
	cfg.Ready = rw
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := Run(ctx, cfg)
		done <- out{res, err}
	}()
	select {
	case <-rw.ready:
	case o := <-done:
		t.Fatalf("ended before ready: %v", o.err)
	}
	rw.mu.Lock()
	line := rw.buf.String()
	rw.mu.Unlock()
	if line != "ready 14 sessions\n" {
		t.Fatalf("ready line %q", line)
	}
	// New mail while they idle: the sessions get EXISTS, which the
	// watchers must take in their stride.
	l, err := dialLMTP(context.Background(), fmt.Sprintf("127.0.0.1:%d", m.lmtp), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	g := newMsgGen(newWorkerRand())
	for i := 1; i <= m.users; i++ {
		u := fmt.Sprintf(Defaults.UserPattern, i)
		msg, _ := g.message(kindDelivery, u, 1000)
		if err := l.deliver(u, msg); err != nil {
			t.Fatal(err)
		}
	}
	l.quit()
	time.Sleep(100 * time.Millisecond)
	cancel()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	res := o.res
	logResult(t, res)
	wantClean(t, res)
	if res.Sessions != 14 {
		t.Errorf("held %d sessions", res.Sessions)
	}
	for _, o := range res.Ops {
		if o.Ops != 14 {
			t.Errorf("%s: %d ops, want 14", o.Command, o.Ops)
		}
	}
}

func TestWrongPasswordIsLoginErrors(t *testing.T) {
	m := startMStore(t, 3, "right")
	cfg := m.config(ModeIMAP, m.imap)
	cfg.Password = "wrong"
	cfg.Duration = 5 * time.Second // abandoned long before
	res, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrNothingWorked) || res == nil {
		t.Fatalf("err %v, result %v", err, res)
	}
	logResult(t, res)
	if o := res.Op("LOGIN"); o.Ops != 0 || o.Errors == 0 {
		t.Errorf("LOGIN %+v", o)
	}
	if res.Total.Ops != 0 || !res.Interrupted {
		t.Errorf("total %+v, interrupted %v", res.Total, res.Interrupted)
	}
	if len(res.ErrorSamples) == 0 || !strings.HasPrefix(res.ErrorSamples[0], "LOGIN: ") {
		t.Errorf("samples %q", res.ErrorSamples)
	}

	// With a prefill, the count fails first: no run at all.
	cfg.LMTPPort = m.lmtp
	if res, err := Run(context.Background(), cfg); !errors.Is(err, ErrNothingWorked) || res != nil {
		t.Errorf("prefill: err %v, result %v", err, res)
	}

	// POP3: PASS errors.
	cfg = m.config(ModePOP3, m.pop3)
	cfg.Password = "wrong"
	res, err = Run(context.Background(), cfg)
	if !errors.Is(err, ErrNothingWorked) {
		t.Fatalf("pop3: err %v", err)
	}
	if o := res.Op("PASS"); o.Ops != 0 || o.Errors == 0 || res.Op("USER").Ops == 0 {
		t.Errorf("pop3: USER %+v PASS %+v", res.Op("USER"), o)
	}
}

func TestSomeUsersMissing(t *testing.T) {
	// Users 1-3 exist, 4 does not: its logins are errors, the others ops,
	// and the run is a success.
	m := startMStore(t, 3, "pw")
	cfg := m.config(ModeIMAP, m.imap)
	cfg.Users = 4
	cfg.Duration = time.Second
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	o := res.Op("LOGIN")
	if o.Ops == 0 || o.Errors == 0 {
		t.Fatalf("LOGIN %+v", o)
	}
	if res.Op("LOGOUT").Ops != o.Ops || res.Op("LOGOUT").Errors != 0 {
		t.Errorf("LOGOUT %+v after %d logins", res.Op("LOGOUT"), o.Ops)
	}
	if res.Total.Errors != o.Errors {
		t.Errorf("errors of other commands: %+v", res.Ops)
	}
}

func TestNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := Defaults
	cfg.Mode, cfg.Port, cfg.Duration = ModeLMTP, port, time.Second
	res, err := Run(context.Background(), cfg)
	if err == nil || res != nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("err %v, result %v", err, res)
	}
}

func TestWrongProtocol(t *testing.T) {
	m := startMStore(t, 1, "pw")
	cfg := m.config(ModeIMAP, m.lmtp) // LMTP's port for IMAP
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("err %v", err)
	}
	if _, err := Run(context.Background(), Config{Mode: "smtp", Port: 25}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad mode: %v", err)
	}
}

// fakeServer serves each connection with handle on 127.0.0.1.
func fakeServer(t *testing.T, handle func(c net.Conn, n int)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				handle(c, n)
			})
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// lines reads CRLF lines from c.
func lines(c net.Conn) func() (string, bool) {
	r := newLineReader(c)
	return func() (string, bool) {
		s, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		return strings.TrimRight(s, "\r\n"), true
	}
}

func TestCheckerCountsWrongLMTPReplies(t *testing.T) {
	// A server whose deliveries go in threes: accepted, refused with a
	// wrong code, answered with a line that is no reply at all, and the
	// connection closed in the middle.
	var mu sync.Mutex
	delivery := 0
	port := fakeServer(t, func(c net.Conn, _ int) {
		next := lines(c)
		io.WriteString(c, "220 fake LMTP\r\n")
		for {
			l, ok := next()
			if !ok {
				return
			}
			switch {
			case strings.HasPrefix(l, "LHLO"):
				io.WriteString(c, "250-fake\r\n250 PIPELINING\r\n")
			case strings.HasPrefix(l, "MAIL"), strings.HasPrefix(l, "RCPT"), strings.HasPrefix(l, "RSET"):
				io.WriteString(c, "250 2.0.0 ok\r\n")
			case l == "DATA":
				io.WriteString(c, "354 go\r\n")
				for {
					d, ok := next()
					if !ok {
						return
					}
					if d == "." {
						break
					}
				}
				mu.Lock()
				k := delivery % 4
				delivery++
				mu.Unlock()
				switch k {
				case 0:
					io.WriteString(c, "250 2.0.0 delivered\r\n")
				case 1:
					io.WriteString(c, "451 4.3.0 not today\r\n")
				case 2:
					io.WriteString(c, "hello there\r\n")
				case 3:
					return
				}
			case l == "QUIT":
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "500 what\r\n")
			}
		}
	})
	cfg := Defaults
	cfg.Mode, cfg.Port, cfg.Concurrency, cfg.Duration, cfg.Users = ModeLMTP, port, 2, time.Second, 3
	cfg.Logger = testLog()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	o := res.Op("DELIVER")
	mu.Lock()
	n := delivery
	mu.Unlock()
	if o.Ops == 0 || o.Errors == 0 {
		t.Fatalf("DELIVER %+v", o)
	}
	// Every delivery the server saw is an op or an error, and only the
	// accepted ones are ops (give or take those cut off at the end).
	if o.Ops+o.Errors > uint64(n) || uint64(n) > o.Ops+o.Errors+uint64(cfg.Concurrency) || o.Ops > uint64(n+3)/4 {
		t.Errorf("server saw %d deliveries; %d ops, %d errors", n, o.Ops, o.Errors)
	}
	joined := strings.Join(res.ErrorSamples, "\n")
	for _, want := range []string{"451 4.3.0 not today", `not a reply: "hello there"`, "connection closed by the server"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in the error samples:\n%s", want, joined)
		}
	}
}

func TestCheckerCountsWrongPOP3Sizes(t *testing.T) {
	// LIST says 100 bytes, RETR sends fewer.
	port := fakeServer(t, func(c net.Conn, _ int) {
		next := lines(c)
		io.WriteString(c, "+OK fake POP3\r\n")
		for {
			l, ok := next()
			if !ok {
				return
			}
			switch strings.Fields(l)[0] {
			case "USER", "PASS", "DELE":
				io.WriteString(c, "+OK\r\n")
			case "STAT":
				io.WriteString(c, "+OK 1 100\r\n")
			case "UIDL":
				io.WriteString(c, "+OK\r\n1 abc\r\n.\r\n")
			case "LIST":
				io.WriteString(c, "+OK\r\n1 100\r\n.\r\n")
			case "RETR":
				io.WriteString(c, "+OK\r\nSubject: x\r\n\r\n..body\r\n.\r\n")
			case "QUIT":
				io.WriteString(c, "+OK bye\r\n")
				return
			default:
				io.WriteString(c, "-ERR what\r\n")
			}
		}
	})
	cfg := Defaults
	cfg.Mode, cfg.Port, cfg.Concurrency, cfg.Duration, cfg.Users = ModePOP3, port, 2, 500*time.Millisecond, 2
	cfg.Logger = testLog()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	if o := res.Op("RETR"); o.Ops != 0 || o.Errors == 0 {
		t.Errorf("RETR %+v", o)
	}
	for _, c := range []string{"USER", "PASS", "STAT", "UIDL", "LIST"} {
		if o := res.Op(c); o.Ops == 0 || o.Errors != 0 {
			t.Errorf("%s %+v", c, o)
		}
	}
	if res.Op("DELE").Ops != 0 || res.Op("QUIT").Ops != 0 {
		t.Errorf("session went on after the error: %+v", res.Ops)
	}
	if len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0], "RETR: message 1: 21 bytes, LIST said 100") {
		t.Errorf("samples %q", res.ErrorSamples)
	}
}

func TestCheckerCountsWrongIMAPBodySize(t *testing.T) {
	// RFC822.SIZE says 100, BODY[] has 20 bytes.
	port := fakeServer(t, func(c net.Conn, _ int) {
		next := lines(c)
		io.WriteString(c, "* OK fake IMAP\r\n")
		for {
			l, ok := next()
			if !ok {
				return
			}
			tag, cmd, _ := strings.Cut(l, " ")
			switch {
			case strings.HasPrefix(cmd, "LOGIN "):
				io.WriteString(c, tag+" OK logged in\r\n")
			case cmd == "SELECT INBOX":
				io.WriteString(c, "* 1 EXISTS\r\n* OK [UIDNEXT 5] next\r\n"+tag+" OK [READ-WRITE] selected\r\n")
			case strings.HasPrefix(cmd, "FETCH 1:* "):
				io.WriteString(c, `* 1 FETCH (UID 4 FLAGS () RFC822.SIZE 100 ENVELOPE (NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL))`+"\r\n"+tag+" OK done\r\n")
			case cmd == "UID FETCH 4 (BODY.PEEK[])":
				io.WriteString(c, "* 1 FETCH (UID 4 BODY[] {20}\r\nSubject: x\r\n\r\nbodyxx)\r\n"+tag+" OK done\r\n")
			case cmd == "LOGOUT":
				io.WriteString(c, "* BYE bye\r\n"+tag+" OK done\r\n")
				return
			default:
				io.WriteString(c, tag+" BAD unexpected\r\n")
			}
		}
	})
	cfg := Defaults
	cfg.Mode, cfg.Port, cfg.Concurrency, cfg.Duration, cfg.Users = ModeIMAP, port, 2, 500*time.Millisecond, 2
	cfg.Logger = testLog()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	if o := res.Op("FETCH_BODY"); o.Ops != 0 || o.Errors == 0 {
		t.Errorf("FETCH_BODY %+v", o)
	}
	for _, c := range []string{"LOGIN", "SELECT", "FETCH_ENV"} {
		if o := res.Op(c); o.Ops == 0 || o.Errors != 0 {
			t.Errorf("%s %+v", c, o)
		}
	}
	if res.Op("STORE").Ops != 0 || res.Op("LOGOUT").Ops != 0 {
		t.Errorf("session went on after the error: %+v", res.Ops)
	}
	if len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0], "FETCH_BODY: UID 4: BODY[] of 20 bytes, RFC822.SIZE 100") {
		t.Errorf("samples %q", res.ErrorSamples)
	}
}
