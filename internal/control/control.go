// Package control is the daemon's control socket: administration tools
// started while the store runs send their request to the daemon, which
// runs it on its open database and streams the output back.
//
// # Protocol
//
// The client connects to the Unix socket <ms-path>/run/control.sock (mode
// 0600; the server checks the peer's uid with SO_PEERCRED) and writes one
// JSON Request on a line. The server answers with JSON frames, one a line:
// {"o":"…"} for standard output, {"e":"…"} for standard error, and last
// {"x":N} with the exit status (and "err", the error text, when N != 0).
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Request is one tool invocation.
type Request struct {
	Tool    string          `json:"tool"`
	Options json.RawMessage `json:"options,omitempty"` // the tool's options, as the tool's own struct
	Args    []string        `json:"args,omitempty"`
	Stdin   []byte          `json:"stdin,omitempty"`
}

type frame struct {
	Out  *string `json:"o,omitempty"`
	Err  *string `json:"e,omitempty"`
	Exit *int    `json:"x,omitempty"`
	Msg  string  `json:"err,omitempty"`
}

// maxRequest bounds a request line (an account import is sent whole).
const maxRequest = 256 << 20

// Handler runs a request, writing to stdout and stderr; its error becomes
// exit status 1 with the error's text.
type Handler func(ctx context.Context, req Request, stdout, stderr io.Writer) error

// Server serves the control socket.
type Server struct {
	Path    string
	Allowed func(uid uint32) bool // which peers may talk to it
	Handle  Handler
	Logger  *slog.Logger

	mu sync.Mutex
	ln net.Listener
	wg sync.WaitGroup
}

// Listen creates the socket (replacing a stale one) with mode 0600.
func (s *Server) Listen() error {
	os.Remove(s.Path)
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", s.Path)
	unix.Umask(old)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(s.Path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Serve accepts connections until ctx ends or Close; it waits for the
// requests under way.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	defer s.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c.(*net.UnixConn))
		}()
	}
}

// Close stops accepting and removes the socket.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	os.Remove(s.Path)
	return err
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	lg := s.Logger
	if lg == nil {
		lg = slog.Default()
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	var cred *unix.Ucred
	var credErr error
	raw.Control(func(fd uintptr) { cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	w := &frameWriter{enc: json.NewEncoder(c)}
	if credErr != nil || s.Allowed == nil || !s.Allowed(cred.Uid) {
		uid := -1
		if cred != nil {
			uid = int(cred.Uid)
		}
		lg.Warn("control socket: refused peer", "uid", uid)
		w.exit(1, "permission denied: only root and the runtime user may use the control socket")
		return
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(io.LimitReader(c, maxRequest), 1<<16)
	line, err := br.ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		w.exit(1, "bad request: "+err.Error())
		return
	}
	c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		w.exit(1, "bad request: "+err.Error())
		return
	}
	// Cancel the request if the client goes away.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()
	lg.Info("control request", "tool", req.Tool, "uid", cred.Uid, "pid", cred.Pid)
	err = s.Handle(rctx, req, w.stream(true), w.stream(false))
	if err != nil {
		w.exit(1, err.Error())
		return
	}
	w.exit(0, "")
}

// frameWriter writes frames; safe for the two streams at once.
type frameWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

type streamWriter struct {
	fw  *frameWriter
	out bool
}

func (w *frameWriter) stream(out bool) io.Writer { return streamWriter{w, out} }

func (s streamWriter) Write(p []byte) (int, error) {
	str := string(p)
	f := frame{}
	if s.out {
		f.Out = &str
	} else {
		f.Err = &str
	}
	s.fw.mu.Lock()
	defer s.fw.mu.Unlock()
	if err := s.fw.enc.Encode(f); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *frameWriter) exit(code int, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(frame{Exit: &code, Msg: msg})
}

// RemoteError is a request's failure in the daemon: its error text.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Call sends req to the daemon at path and copies its output; it returns
// the request's error (a *RemoteError) when its exit status is not 0.
func Call(ctx context.Context, path string, req Request, stdout, stderr io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("connect to the running daemon's control socket %s: %w", path, err)
	}
	defer c.Close()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	// A daemon that refuses the peer answers and closes at once, maybe
	// before the request is written: read its answer even then.
	_, werr := c.Write(append(b, '\n'))
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var f frame
		if err := dec.Decode(&f); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if werr != nil {
				return fmt.Errorf("control socket: %w", werr)
			}
			return fmt.Errorf("control socket: the daemon closed the connection before answering: %w", err)
		}
		switch {
		case f.Out != nil:
			io.WriteString(stdout, *f.Out)
		case f.Err != nil:
			io.WriteString(stderr, *f.Err)
		case f.Exit != nil:
			if *f.Exit != 0 {
				return &RemoteError{Msg: f.Msg}
			}
			return nil
		}
	}
}
