package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// errCut is the error of I/O cut off when the run's grace period is over
// (or the run was abandoned): such an op is neither an op nor an error.
var errCut = errors.New("cut off at the end of the run")

// maxLine bounds a protocol line (IMAP responses carry their literals
// inline: maxLiteral bounds those).
const (
	maxLine    = 1 << 20
	maxLiteral = 256 << 20
)

// conn is a client connection with line reading, a deadline for each
// exchange and a context that cuts it off.
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	ctx     context.Context
	timeout time.Duration
	unwatch func() bool
	long    []byte // a line longer than the reader's buffer
}

// bufSizes for conns: normal runs read message bodies; the idle mode
// keeps many sessions that say little.
const (
	bigBuf   = 16 << 10
	smallBuf = 1 << 10
)

// dial connects to addr. ctx cuts the connection off whenever it is done;
// every reply must come within timeout.
func dial(ctx context.Context, addr string, timeout time.Duration, bufSize int) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, errCut
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errCut
		}
		return nil, err // "dial tcp …: connect: connection refused"
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &conn{
		nc:      nc,
		r:       bufio.NewReaderSize(nc, bufSize),
		w:       bufio.NewWriterSize(nc, bufSize),
		ctx:     ctx,
		timeout: timeout,
	}
	c.unwatch = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	if err := c.arm(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// arm starts an exchange: the reply must come within the timeout.
func (c *conn) arm() error {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	// After SetDeadline: a cut-off that raced with it is seen here, or
	// its own deadline (in the past) wins.
	if c.ctx.Err() != nil {
		return errCut
	}
	return nil
}

// disarm removes the deadline (a session held in IDLE).
func (c *conn) disarm() error {
	c.nc.SetDeadline(time.Time{})
	if c.ctx.Err() != nil {
		return errCut
	}
	return nil
}

func (c *conn) close() {
	c.unwatch()
	c.nc.Close()
}

// ioErr turns a read or write error into a readable one.
func (c *conn) ioErr(err error) error {
	if c.ctx.Err() != nil {
		return errCut
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("connection closed by the server")
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no reply within %s", c.timeout)
	}
	return err
}

// readLine reads one line and returns it without its CRLF, which it
// requires. The line is valid until the next read.
func (c *conn) readLine() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.long = append(c.long[:0], l...)
		for err == bufio.ErrBufferFull {
			if len(c.long) > maxLine {
				return nil, fmt.Errorf("line longer than %d bytes", maxLine)
			}
			l, err = c.r.ReadSlice('\n')
			c.long = append(c.long, l...)
		}
		l = c.long
	}
	if err != nil {
		return nil, c.ioErr(err)
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("line not ended by CRLF: %q", clip(l))
	}
	return l[:len(l)-2], nil
}

// write sends b and flushes.
func (c *conn) write(b ...[]byte) error {
	for _, p := range b {
		if _, err := c.w.Write(p); err != nil {
			return c.ioErr(err)
		}
	}
	if err := c.w.Flush(); err != nil {
		return c.ioErr(err)
	}
	return nil
}

// clip shortens a reply for an error message.
func clip(b []byte) string {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// looksLikeMessage checks that b starts with a header field and has a
// header/body separator.
func looksLikeMessage(b []byte) error {
	if err := headerField(b); err != nil {
		return err
	}
	if !bytes.Contains(b, []byte("\r\n\r\n")) {
		return errors.New("has no empty line between header and body")
	}
	return nil
}

// headerField checks that b starts with a header field name and a colon.
func headerField(b []byte) error {
	colon := bytes.IndexByte(b, ':')
	if colon < 1 {
		return fmt.Errorf("does not start with a header field: %q", clip(b[:min(len(b), 40)]))
	}
	for _, ch := range b[:colon] {
		if ch <= ' ' || ch > '~' {
			return fmt.Errorf("does not start with a header field: %q", clip(b[:min(len(b), 40)]))
		}
	}
	return nil
}
