package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/store"
)

// DefaultIdleTimeout is the inactivity autologout timer: RFC 1939 section
// 3 says at least 10 minutes.
const DefaultIdleTimeout = 10 * time.Minute

// maxBadCommands is how many bad commands (syntax errors, unknown or
// misplaced commands, failed logins) a connection may send; the last one
// closes it.
const maxBadCommands = 10

// Options configure a Server.
type Options struct {
	TLSConfig      *tls.Config   // nil: no STLS
	AllowPlaintext bool          // allow-plaintext-auth: passwords over plain TCP to non-loopback peers
	Limiter        *auth.Limiter // failed-login slow-down; nil: auth.NewLimiter(Logger)
	IdleTimeout    time.Duration // 0: DefaultIdleTimeout
	Hostname       string        // in the greeting; "" is "localhost"
	Logger         *slog.Logger  // nil: slog.Default()
}

// Server is the POP3 server. One Server may serve several listeners (say,
// pop3-listen and pop3s-listen) at once.
type Server struct {
	st   *store.Store
	opts Options
	log  *slog.Logger

	// ctx is the parent of every session's context; cancel ends blocking
	// store calls when Shutdown gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup // sessions
	done      chan struct{}  // closed when the last session ends after Shutdown began
}

// sessionSeq numbers sessions in this process, across Servers, so that
// lock owner ids never collide.
var sessionSeq atomic.Uint64

// New returns a server of the INBOXes of st's accounts.
func New(st *store.Store, opts Options) *Server {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("proto", "pop3")
	if opts.Limiter == nil {
		opts.Limiter = auth.NewLimiter(lg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		st: st, opts: opts, log: lg, ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
}

// ErrServerClosed is returned by Serve when it is called after Shutdown.
var ErrServerClosed = errors.New("pop3: server closed")

// Serve accepts connections on l and serves each in its own goroutine
// until Shutdown, when it returns nil. A connection from l that is a
// *tls.Conn (l made by tls.NewListener) is implicit TLS (pop3s): its
// handshake is done before the greeting, and STLS is not offered.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "addr", l.Addr().String(), "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("pop3: accept on %s: %w", l.Addr(), err)
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			return nil
		}
		go func() {
			defer s.untrack(c)
			s.serveConn(c)
		}()
	}
}

// isTemporary reports accept errors worth retrying: out of file
// descriptors, a connection reset before it was accepted.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers a session's connection; false after Shutdown began.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting, then waits for the sessions to end until ctx
// is done; then it closes the connections of those left (their marked
// messages are not removed: only a QUIT removes) and waits for their
// goroutines, returning ctx's error. A session in the middle of QUIT's
// removal finishes it or not at all (it is one transaction).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	if s.done == nil {
		s.done = make(chan struct{})
		go func() {
			s.wg.Wait()
			close(s.done)
		}()
	}
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	n := len(s.conns)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.log.Info("shutdown: closed sessions still open", "sessions", n)
	<-done
	return fmt.Errorf("pop3: shutdown: %w", ctx.Err())
}
