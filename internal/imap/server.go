package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/store"
)

// Options configure the server.
type Options struct {
	// TLSConfig enables STARTTLS (nil: no STARTTLS). Implicit TLS is the
	// caller's: pass Serve a tls.NewListener.
	TLSConfig *tls.Config
	// AllowPlaintext allows passwords over connections that are neither
	// TLS nor loopback (allow-plaintext-auth).
	AllowPlaintext bool
	// Limiter slows down failed logins (nil: auth.NewLimiter's defaults).
	Limiter *auth.Limiter
	// MaxSessions bounds the logged-in sessions of one account (default 20).
	MaxSessions int
	// IdleTimeout closes a session that sent no command for this long
	// (default 30 minutes, the least RFC 9051 allows).
	IdleTimeout time.Duration
	// AppendLimit is the largest message APPEND takes (default 100 MiB;
	// at most 4 GiB - 1, what APPENDLIMIT can say).
	AppendLimit int64
	Logger      *slog.Logger
}

const defaultAppendLimit = 100 << 20

// caps are the capabilities the backend supports. The framework adds
// SASL-IR, STARTTLS, AUTH=PLAIN / LOGINDISABLED, and, for
// IMAP4rev1 sessions, ENABLE, IDLE, UNSELECT and UTF8=ACCEPT; APPENDLIMIT
// comes from the session (SessionAppendLimit).
var caps = goimap.CapSet{
	goimap.CapIMAP4rev1:        {},
	goimap.CapIMAP4rev2:        {},
	goimap.CapMove:             {},
	goimap.CapUIDPlus:          {},
	goimap.CapUnselect:         {},
	goimap.CapNamespace:        {},
	goimap.CapEnable:           {},
	goimap.CapIdle:             {},
	goimap.CapSpecialUse:       {},
	goimap.CapCreateSpecialUse: {},
	goimap.CapListExtended:     {},
	goimap.CapListStatus:       {},
	goimap.CapChildren:         {},
	goimap.CapESearch:          {},
	goimap.CapSearchRes:        {},
	goimap.CapLiteralPlus:      {},
	goimap.CapSASLIR:           {},
	goimap.CapStatusSize:       {},
	goimap.CapBinary:           {},
	goimap.CapUnauthenticate:   {},
}

// Server is the IMAP server. Connections on which a password may be sent
// in the clear (TLS, loopback, or AllowPlaintext) are served by one
// go-imap server that allows LOGIN and AUTHENTICATE at once; the others by
// a second one that advertises LOGINDISABLED until STARTTLS.
type Server struct {
	st     *store.Store
	opts   Options
	log    *slog.Logger
	open   *imapserver.Server
	strict *imapserver.Server
	openL  *chanListener
	strL   *chanListener
	start  sync.Once
	served sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perAcct   map[string]int
	closing   bool
	drained   chan struct{} // closed when closing and no session is left

	seq atomic.Uint64

	// Counters for tests and benchmarks.
	filesOpened atomic.Int64
	fileBytes   atomic.Int64
}

// New makes an IMAP server over st.
func New(st *store.Store, opts Options) *Server {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 20
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = defaultAppendLimit
	}
	opts.AppendLimit = min(opts.AppendLimit, math.MaxUint32)
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("proto", "imap")
	if opts.Limiter == nil {
		opts.Limiter = auth.NewLimiter(lg)
	}
	s := &Server{
		st:        st,
		opts:      opts,
		log:       lg,
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		perAcct:   map[string]int{},
		drained:   make(chan struct{}),
		openL:     newChanListener(),
		strL:      newChanListener(),
	}
	mk := func(insecure bool) *imapserver.Server {
		return imapserver.New(&imapserver.Options{
			NewSession:   s.newSession,
			Caps:         caps,
			Logger:       frameworkLogger{lg},
			TLSConfig:    opts.TLSConfig,
			InsecureAuth: insecure,
		})
	}
	s.open, s.strict = mk(true), mk(false)
	return s
}

// Serve accepts IMAP connections on l until Shutdown. For implicit TLS
// (imaps) pass a tls.NewListener.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("imap: server is shut down")
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	s.start.Do(func() {
		s.served.Add(2)
		go func() { defer s.served.Done(); s.open.Serve(s.openL) }()
		go func() { defer s.served.Done(); s.strict.Serve(s.strL) }()
	})
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("imap: accept on %s: %w", l.Addr(), err)
		}
		delay = 0
		_, isTLS := c.(*tls.Conn)
		target := s.strL
		if auth.PlaintextAllowed(c, isTLS, s.opts.AllowPlaintext) {
			target = s.openL
		}
		if !target.push(c) {
			c.Close()
			return nil
		}
	}
}

// Shutdown stops accepting connections, says BYE to every session that is
// between commands (and to the others as soon as their command is done),
// and waits for them to end until ctx is done; then it closes what is
// left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		for l := range s.listeners {
			l.Close()
		}
		if len(s.sessions) == 0 {
			close(s.drained)
		}
	}
	s.mu.Unlock()
	s.openL.Close()
	s.strL.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		s.mu.Lock()
		for ss := range s.sessions {
			ss.byeIfIdle("Server shutting down")
		}
		s.mu.Unlock()
		select {
		case <-s.drained:
			break wait
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-tick.C:
		}
	}
	s.open.Close()
	s.strict.Close()
	s.served.Wait()
	return err
}

func (s *Server) register(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sessions[ss] = struct{}{}
	return true
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[ss]; !ok {
		return
	}
	delete(s.sessions, ss)
	if s.closing && len(s.sessions) == 0 {
		close(s.drained)
	}
}

// acquire counts a logged-in session of an account; false when it has
// MaxSessions already.
func (s *Server) acquire(acct string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perAcct[acct] >= s.opts.MaxSessions {
		return false
	}
	s.perAcct[acct]++
	return true
}

func (s *Server) release(acct string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perAcct[acct] <= 1 {
		delete(s.perAcct, acct)
	} else {
		s.perAcct[acct]--
	}
}

// chanListener hands the connections Serve routes to one go-imap server.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// frameworkLogger sends go-imap's messages to slog: panics it recovered
// as errors, the rest (mostly clients that went away) at debug level.
type frameworkLogger struct{ l *slog.Logger }

func (f frameworkLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	if strings.Contains(msg, "panic") {
		f.l.Error("imapserver", "msg", msg)
		return
	}
	f.l.Debug("imapserver", "msg", msg)
}
