package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// lmtpConn is an LMTP client session (RFC 2033) after LHLO.
type lmtpConn struct {
	*conn
	pipelining bool
	cmd        []byte // scratch for commands
	last       []byte // the last reply line, for errors
}

const lmtpSender = "bench-sender@mstore-bench.example"

// dialLMTP connects, reads the greeting and says LHLO.
func dialLMTP(ctx context.Context, addr string, timeout time.Duration) (*lmtpConn, error) {
	c, err := dial(ctx, addr, timeout, bigBuf)
	if err != nil {
		return nil, err
	}
	l := &lmtpConn{conn: c}
	if code, err := l.reply(nil); err != nil {
		c.close()
		return nil, fmt.Errorf("greeting: %w", err)
	} else if code != 220 {
		c.close()
		return nil, fmt.Errorf("greeting: %q", clip(l.last))
	}
	if err := l.arm(); err != nil {
		c.close()
		return nil, err
	}
	if err := l.write([]byte("LHLO mstore-bench.example\r\n")); err != nil {
		c.close()
		return nil, fmt.Errorf("LHLO: %w", err)
	}
	code, err := l.reply(func(line []byte) {
		if len(line) >= 14 && bytes.EqualFold(bytes.TrimSpace(line[4:]), []byte("PIPELINING")) {
			l.pipelining = true
		}
	})
	if err == nil && code != 250 {
		err = fmt.Errorf("%q", clip(l.last))
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("LHLO: %w", err)
	}
	return l, nil
}

// reply reads one reply, possibly of several lines ("250-…" then
// "250 …"), calling each for every line, and returns its code.
func (l *lmtpConn) reply(each func(line []byte)) (int, error) {
	code := -1
	for {
		line, err := l.readLine()
		if err != nil {
			return 0, err
		}
		if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) ||
			(len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return 0, fmt.Errorf("not a reply: %q", clip(line))
		}
		c := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if code >= 0 && c != code {
			return 0, fmt.Errorf("reply lines with codes %d and %d", code, c)
		}
		code = c
		if each != nil {
			each(line)
		}
		if len(line) == 3 || line[3] == ' ' {
			l.last = append(l.last[:0], line...)
			return code, nil
		}
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// expect reads a reply and requires its code to be in want's hundred
// (2 for 2xx, 3 for 3xx).
func (l *lmtpConn) expect(what string, class int) error {
	code, err := l.reply(nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code/100 != class {
		return fmt.Errorf("%s: %s", what, clip(l.last))
	}
	return nil
}

// deliver sends msg to one recipient and waits for its status after
// DATA. An error leaves the session in an unknown state: close it.
func (l *lmtpConn) deliver(rcpt string, msg []byte) error {
	if err := l.arm(); err != nil {
		return err
	}
	b := append(l.cmd[:0], "MAIL FROM:<"+lmtpSender+">\r\n"...)
	if !l.pipelining {
		if err := l.write(b); err != nil {
			return err
		}
		if err := l.expect("MAIL", 2); err != nil {
			return err
		}
		b = b[:0]
	}
	b = append(b, "RCPT TO:<"...)
	b = append(b, rcpt...)
	b = append(b, ">\r\n"...)
	if !l.pipelining {
		if err := l.write(b); err != nil {
			return err
		}
		if err := l.expect("RCPT", 2); err != nil {
			return err
		}
		b = b[:0]
	}
	b = append(b, "DATA\r\n"...)
	l.cmd = b
	if err := l.write(b); err != nil {
		return err
	}
	if l.pipelining {
		// All three replies, in order, whatever they are.
		err1 := l.expect("MAIL", 2)
		err2 := l.expect("RCPT", 2)
		err3 := l.expect("DATA", 3)
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				return err
			}
		}
	} else if err := l.expect("DATA", 3); err != nil {
		return err
	}
	if err := l.writeDotted(msg); err != nil {
		return err
	}
	// One status per recipient: one here.
	return l.expect("status after DATA", 2)
}

var dotEnd = []byte(".\r\n")

// writeDotted sends msg dot-stuffed, with the final dot line.
func (l *lmtpConn) writeDotted(msg []byte) error {
	rest := msg
	atLineStart := true
	for len(rest) > 0 {
		if atLineStart && rest[0] == '.' {
			l.w.WriteByte('.')
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.w.Write(rest)
			l.w.WriteString("\r\n")
			break
		}
		l.w.Write(rest[:i+1])
		rest = rest[i+1:]
		atLineStart = true
	}
	return l.write(dotEnd)
}

// quit ends the session politely; errors do not matter.
func (l *lmtpConn) quit() {
	if l.arm() == nil && l.write([]byte("QUIT\r\n")) == nil {
		l.reply(nil)
	}
	l.close()
}

// lmtpWorker is the lmtp mode: one session per connection, deliveries in
// a loop to random users.
func (r *runner) lmtpWorker(w *worker) {
	const opDeliver = 0
	var l *lmtpConn
	defer func() {
		if l != nil {
			l.quit()
		}
	}()
	for r.stop.Err() == nil {
		rcpt := r.cfg.user(1 + w.rng.IntN(r.cfg.Users))
		start := time.Now()
		if l == nil {
			var err error
			if l, err = dialLMTP(r.hard, r.cfg.addr(), r.cfg.Timeout); err != nil {
				w.fail(opDeliver, err)
				r.gate(false)
				w.pause()
				continue
			}
			start = time.Now()
		}
		msg, _ := w.gen.message(kindDelivery, rcpt, r.cfg.Size)
		if err := l.deliver(rcpt, msg); err != nil {
			w.fail(opDeliver, err)
			r.gate(false)
			l.close()
			l = nil
			w.pause()
			continue
		}
		w.ok(opDeliver, start)
		r.gate(true)
		w.backoff = 0
	}
}
