package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/store"
)

// session is one connection's IMAP session. go-imap calls its methods from
// the connection's goroutine, one command at a time; only Idle runs on a
// goroutine of its own, while the connection goroutine waits for DONE.
type session struct {
	srv     *Server
	conn    *imapserver.Conn
	log     *slog.Logger
	anonLog *slog.Logger // log before the login that added the account
	addr    string
	timer   *time.Timer // autologout

	mu      sync.Mutex   // held during a command, and by IDLE while it writes updates
	busy    atomic.Int32 // inside a command (not IDLE)
	byeOnce sync.Once

	acct *store.Account // nil until logged in
	sel  *selected      // nil unless a mailbox is selected
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	addr := c.NetConn().RemoteAddr().String()
	ss := &session{srv: s, conn: c, addr: addr}
	ss.log = s.log.With("session", s.seq.Add(1), "addr", addr)
	if !s.register(ss) {
		return nil, nil, &goimap.Error{Type: goimap.StatusResponseTypeBye, Code: codeServerShutdown, Text: "Server shutting down"}
	}
	lg := ss.log // ss.log changes at login; the timer has its own goroutine
	ss.timer = time.AfterFunc(s.opts.IdleTimeout, func() {
		lg.Info("autologout", "idle", s.opts.IdleTimeout)
		ss.bye("Autologout; idle for too long")
	})
	return ss, nil, nil
}

// begin marks the session busy with a command and restarts the autologout
// clock; call the returned function when the command is done.
func (ss *session) begin() func() {
	ss.mu.Lock()
	ss.timer.Reset(ss.srv.opts.IdleTimeout)
	ss.busy.Add(1)
	return func() {
		ss.busy.Add(-1)
		ss.mu.Unlock()
	}
}

func (ss *session) bye(text string) {
	ss.byeOnce.Do(func() { ss.conn.Bye(text) })
}

// byeIfIdle ends the session if it is between commands (or idling).
func (ss *session) byeIfIdle(text string) {
	if ss.busy.Load() == 0 {
		ss.bye(text)
	}
}

// rev2 reports whether the client has enabled IMAP4rev2.
func (ss *session) rev2() bool { return ss.conn.EnabledCaps().Has(goimap.CapIMAP4rev2) }

func (ss *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Minute)
}

// Close ends the session (the connection is gone).
func (ss *session) Close() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.timer.Stop()
	ss.unselect()
	if ss.acct != nil {
		ss.srv.release(store.NormalizeAccount(ss.acct.Name))
		ss.acct = nil
	}
	ss.srv.unregister(ss)
	return nil
}

// Login checks a password (LOGIN, AUTHENTICATE PLAIN).
func (ss *session) Login(username, password string) error {
	defer ss.begin()()
	nc := ss.conn.NetConn()
	_, isTLS := nc.(*tls.Conn)
	if !auth.PlaintextAllowed(nc, isTLS, ss.srv.opts.AllowPlaintext) {
		return no(codePrivacy, "Use STARTTLS before logging in")
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	a, err := ss.srv.opts.Limiter.Login(ctx, ss.srv.st, "imap", ss.addr, username, password)
	if err != nil {
		if errors.Is(err, store.ErrAuth) || errors.Is(err, store.ErrDisabled) || errors.Is(err, store.ErrBadName) || errors.Is(err, store.ErrNoAccount) {
			return imapserver.ErrAuthFailed
		}
		ss.log.Error("login", "err", err)
		return no(goimap.ResponseCodeUnavailable, "Login temporarily unavailable")
	}
	if !ss.srv.acquire(store.NormalizeAccount(a.Name)) {
		ss.log.Warn("login refused: too many sessions", "account", a.Name, "max", ss.srv.opts.MaxSessions)
		return no(codeLimit, "Too many sessions for this account (%d)", ss.srv.opts.MaxSessions)
	}
	ss.acct = a
	ss.anonLog = ss.log
	ss.log = ss.log.With("account", a.Name)
	ss.log.Info("login")
	return nil
}

// Unauthenticate goes back to the not-authenticated state (RFC 8437).
func (ss *session) Unauthenticate() error {
	defer ss.begin()()
	ss.unselect()
	if ss.acct != nil {
		ss.srv.release(store.NormalizeAccount(ss.acct.Name))
		ss.log.Info("unauthenticate")
		ss.acct = nil
		ss.log = ss.anonLog // without the account, or each login adds one
	}
	return nil
}

// AppendLimit is APPENDLIMIT (RFC 7889), the same for every mailbox.
func (ss *session) AppendLimit() uint32 { return uint32(ss.srv.opts.AppendLimit) }

// Namespace is the one personal namespace (RFC 2342).
func (ss *session) Namespace() (*goimap.NamespaceData, error) {
	defer ss.begin()()
	return &goimap.NamespaceData{Personal: []goimap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}
