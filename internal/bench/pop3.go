package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"
)

// The pop3 mode's commands, in report order, then REFILL (not a POP3
// command, not in the TOTAL).
const (
	opUser = iota
	opPass
	opStat
	opUIDL
	opList
	opRetr
	opDele
	opQuit
	opRefill
)

// pop3Conn is a small POP3 client (RFC 1939).
type pop3Conn struct {
	*conn
	buf  []byte
	last []byte // the last status line
}

// dialPOP3 connects and reads the greeting, which must be +OK.
func dialPOP3(ctx context.Context, addr string, timeout time.Duration) (*pop3Conn, error) {
	c, err := dial(ctx, addr, timeout, bigBuf)
	if err != nil {
		return nil, err
	}
	p := &pop3Conn{conn: c}
	if err := p.status(); err != nil {
		c.close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	return p, nil
}

// status reads a status line, which must be +OK; it is kept in last.
func (p *pop3Conn) status() error {
	line, err := p.readLine()
	if err != nil {
		return err
	}
	p.last = append(p.last[:0], line...)
	if !bytes.HasPrefix(line, []byte("+OK")) || (len(line) > 3 && line[3] != ' ') {
		return fmt.Errorf("%q", clip(line))
	}
	return nil
}

// cmd sends a command line and reads its status.
func (p *pop3Conn) cmd(parts ...string) error {
	if err := p.arm(); err != nil {
		return err
	}
	p.buf = p.buf[:0]
	for _, s := range parts {
		p.buf = append(p.buf, s...)
	}
	p.buf = append(p.buf, '\r', '\n')
	if err := p.write(p.buf); err != nil {
		return err
	}
	return p.status()
}

// multi reads a multi-line answer up to its "." line, undoing the dot
// stuffing; each line comes without its CRLF.
func (p *pop3Conn) multi(each func(line []byte) error) error {
	for {
		line, err := p.readLine()
		if err != nil {
			return err
		}
		if len(line) > 0 && line[0] == '.' {
			if len(line) == 1 {
				return nil
			}
			line = line[1:]
		}
		if err := each(line); err != nil {
			return err
		}
	}
}

// stat sends STAT and returns the message count and size.
func (p *pop3Conn) stat() (n int, size int64, err error) {
	if err := p.cmd("STAT"); err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(p.last)
	if len(f) < 3 {
		return 0, 0, fmt.Errorf("bad STAT reply %q", clip(p.last))
	}
	n, err1 := strconv.Atoi(string(f[1]))
	size, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil || n < 0 || size < 0 {
		return 0, 0, fmt.Errorf("bad STAT reply %q", clip(p.last))
	}
	return n, size, nil
}

// scanList reads a UIDL or LIST answer: n lines "msg value", numbered
// 1..n in order; value gets each value.
func (p *pop3Conn) scanList(n int, value func(msg int, v []byte) error) error {
	i := 0
	err := p.multi(func(line []byte) error {
		i++
		sp := bytes.IndexByte(line, ' ')
		if sp < 1 || sp == len(line)-1 {
			return fmt.Errorf("bad line %q", clip(line))
		}
		m, err := strconv.Atoi(string(line[:sp]))
		if err != nil || m != i {
			return fmt.Errorf("line %q where message %d was expected", clip(line), i)
		}
		return value(m, line[sp+1:])
	})
	if err == nil && i != n {
		err = fmt.Errorf("%d messages listed, STAT said %d", i, n)
	}
	return err
}

// quit sends QUIT; the server closes the connection.
func (p *pop3Conn) quit() error { return p.cmd("QUIT") }

// pop3Worker is the pop3 mode: sessions one after another, each on a new
// connection as a user nobody else uses at the time (a maildrop is locked
// during a session); with an LMTP port, every message deleted is
// replaced by a new delivery.
func (r *runner) pop3Worker(w *worker) {
	defer func() {
		if w.lmtp != nil {
			w.lmtp.quit()
		}
	}()
	w.sessions(w.pop3Session)
}

func (w *worker) pop3Session(u int) (err error) {
	r := w.r
	user := r.cfg.user(u)
	// step runs one command: timed, counted, and its error counted.
	st := &steps{w: w, op: opUser}
	step := st.run
	defer func() { st.end(err) }()

	c, err := dialPOP3(r.hard, r.cfg.addr(), r.cfg.Timeout)
	if err != nil {
		r.gate(false)
		return err
	}
	defer c.close()
	if err := step(opUser, func() error { return c.cmd("USER ", user) }); err != nil {
		r.gate(false)
		return err
	}
	if err := step(opPass, func() error { return c.cmd("PASS ", r.cfg.Password) }); err != nil {
		r.gate(false)
		return err
	}
	r.gate(true)
	var n int
	var total int64
	if err := step(opStat, func() error {
		var err error
		n, total, err = c.stat()
		return err
	}); err != nil {
		return err
	}
	if err := step(opUIDL, func() error {
		if err := c.cmd("UIDL"); err != nil {
			return err
		}
		return c.scanList(n, func(int, []byte) error { return nil })
	}); err != nil {
		return err
	}
	sizes := w.sizes[:0]
	if err := step(opList, func() error {
		if err := c.cmd("LIST"); err != nil {
			return err
		}
		var sum int64
		err := c.scanList(n, func(_ int, v []byte) error {
			s, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || s < 0 {
				return fmt.Errorf("bad size %q", v)
			}
			sizes = append(sizes, s)
			sum += s
			return nil
		})
		if err == nil && sum != total {
			err = fmt.Errorf("sizes add up to %d, STAT said %d", sum, total)
		}
		return err
	}); err != nil {
		return err
	}
	w.sizes = sizes

	deleted := false
	if n > 0 {
		k := min(1+w.rng.IntN(3), n)
		for range k {
			m := 1 + w.rng.IntN(n)
			if err := step(opRetr, func() error { return c.retr(m, sizes[m-1]) }); err != nil {
				return err
			}
		}
		m := strconv.Itoa(1 + w.rng.IntN(n))
		if err := step(opDele, func() error { return c.cmd("DELE ", m) }); err != nil {
			return err
		}
		deleted = true
	}
	if err := step(opQuit, c.quit); err != nil {
		return err
	}
	if deleted && r.cfg.LMTPPort != 0 {
		return step(opRefill, func() error { return w.refill(user) })
	}
	return nil
}

// retr reads message m, which must be size bytes long and look like a
// message.
func (p *pop3Conn) retr(m int, size int64) error {
	if err := p.cmd("RETR ", strconv.Itoa(m)); err != nil {
		return err
	}
	var got int64
	first := true
	sep := false
	err := p.multi(func(line []byte) error {
		if first {
			if err := headerField(line); err != nil {
				return fmt.Errorf("message %d %w", m, err)
			}
			first = false
		}
		if len(line) == 0 {
			sep = true
		}
		got += int64(len(line)) + 2
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case got != size:
		return fmt.Errorf("message %d: %d bytes, LIST said %d", m, got, size)
	case !sep && size > 0:
		return fmt.Errorf("message %d: no empty line between header and body", m)
	}
	return nil
}

// refill delivers one message to user by LMTP (REFILL), on the worker's
// LMTP session.
func (w *worker) refill(user string) error {
	r := w.r
	if w.lmtp == nil {
		l, err := dialLMTP(r.hard, r.cfg.lmtpAddr(), r.cfg.Timeout)
		if err != nil {
			return err
		}
		w.lmtp = l
	}
	msg, _ := w.gen.message(kindDelivery, user, r.cfg.Size)
	if err := w.lmtp.deliver(user, msg); err != nil {
		w.lmtp.close()
		w.lmtp = nil
		return err
	}
	return nil
}
