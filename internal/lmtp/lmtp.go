// Package lmtp is M-Store's LMTP server (RFC 2033), on go-smtp in LMTP
// mode: it resolves recipients to accounts, stores the message once, and
// answers one status per recipient after DATA, only once the message is
// durable.
package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/m-store/mstore/internal/store"
)

// Options configure the server.
type Options struct {
	Hostname       string
	MaxMessageSize int64
	MaxRecipients  int           // default 1000
	CommandTimeout time.Duration // a command line must arrive within this (default 5m)
	DataTimeout    time.Duration // the whole DATA transfer (default 10m)
	Logger         *slog.Logger
}

// Server is the LMTP server.
type Server struct {
	st   *store.Store
	opts Options
	log  *slog.Logger
	smtp *smtp.Server
	seq  atomic.Uint64

	mu       sync.Mutex
	closing  bool
	sessions map[*session]struct{}
}

// New makes an LMTP server delivering into st.
func New(st *store.Store, opts Options) *Server {
	if opts.MaxRecipients == 0 {
		opts.MaxRecipients = 1000
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.DataTimeout == 0 {
		opts.DataTimeout = 10 * time.Minute
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	s := &Server{st: st, opts: opts, log: lg.With("proto", "lmtp"), sessions: map[*session]struct{}{}}
	s.smtp = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.smtp.LMTP = true
	s.smtp.Domain = opts.Hostname
	// go-smtp refuses a message of exactly MaxMessageBytes; the store's
	// own limit (Ingest) is exact.
	if opts.MaxMessageSize > 0 {
		s.smtp.MaxMessageBytes = opts.MaxMessageSize + 1
	}
	// go-smtp's default of 2,000 bytes a line also applies inside DATA, and
	// real mail has longer lines (unwrapped HTML, base64 without breaks),
	// which Dovecot stores: take lines up to maxLineLength; a longer one is
	// refused for good, not for a retry that could never succeed.
	s.smtp.MaxLineLength = maxLineLength
	s.smtp.MaxRecipients = opts.MaxRecipients
	s.smtp.ReadTimeout = opts.CommandTimeout
	s.smtp.WriteTimeout = time.Minute
	s.smtp.ErrorLog = slogAdapter{s.log}
	return s
}

// Serve accepts LMTP connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes idle sessions at once, refuses new
// transactions (421) on the others, closes each of them once its
// transaction is over, and waits for that until ctx is done, then closes
// what is left. A delivery either commits or not: never half-way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	var idle []*smtp.Conn
	for ss := range s.sessions {
		if !ss.busy {
			idle = append(idle, ss.conn)
		}
	}
	s.mu.Unlock()
	// Closed without s.mu held: go-smtp's Conn.Close calls Logout, which
	// takes it.
	for _, c := range idle {
		c.Close()
	}
	err := s.smtp.Shutdown(ctx)
	if err != nil {
		s.smtp.Close()
	}
	return err
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.l.Warn(fmt.Sprint(v...)) }

type rcpt struct {
	addr string
	r    store.Recipient
}

type session struct {
	s     *Server
	conn  *smtp.Conn
	id    uint64
	from  string
	rcpts []rcpt
	busy  bool // inside a transaction (MAIL to the end of DATA); under s.mu
}

var errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ss := &session{s: s, conn: c, id: s.seq.Add(1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, errShuttingDown
	}
	s.sessions[ss] = struct{}{}
	return ss, nil
}

func (ss *session) Reset() {
	ss.from, ss.rcpts = "", nil
	ss.s.mu.Lock()
	ss.busy = false
	closing := ss.s.closing
	ss.s.mu.Unlock()
	if closing {
		// Shutdown waits for this session: its transaction is over (its
		// replies are written), so close it now rather than when the
		// client leaves or Shutdown gives up. Not here: go-smtp calls
		// Reset holding the lock that Conn.Close takes.
		go ss.conn.Close()
	}
}

func (ss *session) Logout() error {
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.closing {
		return errShuttingDown
	}
	ss.busy = true
	ss.from = from
	return nil
}

var (
	errUnknownUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errDisabled    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "Mailbox disabled"}
	errOverQuota   = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try again later"}
	errTooBig      = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	errTemporary   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message, try again later"}
	errTimeout     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout receiving the message"}
	errLongLine    = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "A line of the message is longer than 1 MiB"}
)

// maxLineLength bounds a line, in commands and in a message.
const maxLineLength = 1 << 20

// Rcpt resolves a recipient: the whole address, then its local part; a
// "+detail" selects the mailbox detail when it exists.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	r, err := ss.s.resolve(context.Background(), to)
	if err != nil {
		if errors.Is(err, store.ErrNoAccount) {
			return errUnknownUser
		}
		if errors.Is(err, store.ErrDisabled) {
			return errDisabled
		}
		ss.s.log.Error("resolve recipient", "rcpt", to, "err", err)
		return errTemporary
	}
	ss.rcpts = append(ss.rcpts, rcpt{addr: to, r: r})
	return nil
}

func (s *Server) resolve(ctx context.Context, to string) (store.Recipient, error) {
	local, domain, hasDomain := strings.Cut(to, "@")
	base, detail, _ := strings.Cut(local, "+")
	var candidates []string
	if hasDomain {
		candidates = append(candidates, base+"@"+domain)
	}
	candidates = append(candidates, base)
	var lastErr error
	for _, name := range candidates {
		a, err := s.st.Account(ctx, name)
		if err == nil {
			if a.State == store.Disabled {
				return store.Recipient{}, store.ErrDisabled
			}
			return store.Recipient{Account: a.Name, Mailbox: detail}, nil
		}
		lastErr = err
		if !errors.Is(err, store.ErrNoAccount) && !errors.Is(err, store.ErrBadName) {
			return store.Recipient{}, err
		}
	}
	if errors.Is(lastErr, store.ErrBadName) {
		lastErr = store.ErrNoAccount
	}
	return store.Recipient{}, lastErr
}

// Data is for plain SMTP; LMTP uses LMTPData.
func (ss *session) Data(r io.Reader) error {
	return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "LMTP only"}
}

// LMTPData stores the message once and delivers it to every recipient in
// one transaction; each recipient's status says what happened to its copy.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	lg := ss.s.log.With("session", ss.id, "from", ss.from)
	// The whole transfer has one deadline; a stalled client is dropped
	// before anything is stored.
	ss.conn.Conn().SetReadDeadline(time.Now().Add(ss.s.opts.DataTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.opts.DataTimeout+time.Minute)
	defer cancel()
	in, err := ss.s.st.Ingest(ctx, r, ss.s.opts.MaxMessageSize)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, store.ErrTooLarge), errors.Is(err, smtp.ErrDataTooLarge):
			return errTooBig
		case errors.Is(err, smtp.ErrTooLongLine):
			lg.Warn("message refused: a line over the limit", "limit", maxLineLength)
			return errLongLine
		case errors.As(err, &ne) && ne.Timeout():
			lg.Warn("data transfer timed out", "err", err)
			return errTimeout
		}
		lg.Error("store message", "err", err)
		return errTemporary
	}
	rcpts := make([]store.Recipient, len(ss.rcpts))
	for i, rc := range ss.rcpts {
		rcpts[i] = rc.r
	}
	res, err := ss.s.st.Deliver(ctx, in, rcpts, time.Now())
	if err != nil {
		lg.Error("deliver", "err", err, "size", in.Size)
		return errTemporary
	}
	for i, rc := range ss.rcpts {
		e := res[i].Err
		switch {
		case e == nil:
			lg.Info("delivered", "rcpt", rc.addr, "mailbox", res[i].Mailbox, "uid", res[i].UID, "size", in.Size)
			status.SetStatus(rc.addr, nil)
		case errors.Is(e, store.ErrOverQuota):
			lg.Info("over quota", "rcpt", rc.addr, "err", e)
			status.SetStatus(rc.addr, errOverQuota)
		case errors.Is(e, store.ErrNoAccount):
			status.SetStatus(rc.addr, errUnknownUser)
		case errors.Is(e, store.ErrDisabled):
			status.SetStatus(rc.addr, errDisabled)
		default:
			lg.Error("deliver", "rcpt", rc.addr, "err", e)
			status.SetStatus(rc.addr, errTemporary)
		}
	}
	return nil
}
