package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// imapConn is a small IMAP4rev1 client: tagged commands, responses read
// whole with their literals inline, and the untagged data a session must
// follow (EXISTS, EXPUNGE, UIDNEXT, BYE) tracked.
type imapConn struct {
	*conn
	n      uint64
	tag    []byte // the current command's tag with its space, "a12 "
	buf    []byte // the command being built
	resp   []byte // the last response read, literals inline
	exists uint32 // messages in the selected mailbox
	uidNxt uint32 // UIDNEXT from SELECT
	bye    []byte // the BYE received, if any
}

// dialIMAP connects and reads the greeting, which must be "* OK".
func dialIMAP(ctx context.Context, addr string, timeout time.Duration, bufSize int) (*imapConn, error) {
	c, err := dial(ctx, addr, timeout, bufSize)
	if err != nil {
		return nil, err
	}
	ic := &imapConn{conn: c}
	g, err := ic.readResp()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !bytes.HasPrefix(g, []byte("* OK")) {
		c.close()
		return nil, fmt.Errorf("greeting: %q", clip(g))
	}
	return ic, nil
}

// readResp reads one response: a line and, when it ends in a literal
// {n}, the n bytes and the rest of the line, again and again. The
// literals stay inline ("{n}\r\n" and the bytes); the final CRLF is cut.
// The response is valid until the next read.
func (c *imapConn) readResp() ([]byte, error) {
	c.resp = c.resp[:0]
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		c.resp = append(c.resp, line...)
		n, ok := literalAtEnd(line)
		if !ok {
			return c.resp, nil
		}
		if n > maxLiteral {
			return nil, fmt.Errorf("literal of %d bytes", n)
		}
		c.resp = append(c.resp, '\r', '\n')
		start := len(c.resp)
		c.resp = append(c.resp, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, c.resp[start:]); err != nil {
			return nil, c.ioErr(err)
		}
	}
}

// literalAtEnd recognizes a line ending in {n} or {n+}.
func literalAtEnd(line []byte) (int, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	end := len(line) - 1
	if line[end-1] == '+' {
		end--
	}
	i := end - 1
	for i >= 0 && isDigit(line[i]) {
		i--
	}
	if i < 0 || line[i] != '{' || i == end-1 {
		return 0, false
	}
	n, err := strconv.Atoi(string(line[i+1 : end]))
	if err != nil {
		return 0, false
	}
	return n, true
}

// start begins a command with a new tag; the caller appends the rest.
func (c *imapConn) start() []byte {
	c.n++
	c.tag = append(c.tag[:0], 'a')
	c.tag = strconv.AppendUint(c.tag, c.n, 10)
	c.tag = append(c.tag, ' ')
	return append(c.buf[:0], c.tag...)
}

// send writes a command line (from start) with its CRLF.
func (c *imapConn) send(b []byte) error {
	c.buf = append(b, '\r', '\n')
	if err := c.arm(); err != nil {
		return err
	}
	return c.write(c.buf)
}

// exec sends a command and reads up to its tagged response, which must be
// OK; each untagged response is tracked, then given to fn (when not nil).
// It returns the text after "OK ", valid until the next read.
func (c *imapConn) exec(b []byte, fn func(resp []byte) error) ([]byte, error) {
	if err := c.send(b); err != nil {
		return nil, err
	}
	return c.wait(fn)
}

// wait reads responses up to the current command's tagged one.
func (c *imapConn) wait(fn func(resp []byte) error) ([]byte, error) {
	for {
		resp, err := c.readResp()
		if err != nil {
			if c.bye != nil && !errors.Is(err, errCut) {
				return nil, fmt.Errorf("%w after %q", err, clip(c.bye))
			}
			return nil, err
		}
		if bytes.HasPrefix(resp, c.tag) {
			st := resp[len(c.tag):]
			if bytes.HasPrefix(st, []byte("OK")) && (len(st) == 2 || st[2] == ' ') {
				return bytes.TrimPrefix(st[2:], []byte(" ")), nil
			}
			return nil, fmt.Errorf("%q", clip(st))
		}
		if len(resp) > 0 && resp[0] == '+' {
			return nil, fmt.Errorf("unexpected continuation %q", clip(resp))
		}
		if !bytes.HasPrefix(resp, []byte("* ")) {
			return nil, fmt.Errorf("unexpected response %q", clip(resp))
		}
		if err := c.track(resp); err != nil {
			return nil, err
		}
		if fn != nil {
			if err := fn(resp); err != nil {
				return nil, err
			}
		}
	}
}

// continuation reads responses until a command continuation request
// ("+ …"), for APPEND and IDLE.
func (c *imapConn) continuation() error {
	for {
		resp, err := c.readResp()
		if err != nil {
			return err
		}
		if len(resp) > 0 && resp[0] == '+' {
			return nil
		}
		if bytes.HasPrefix(resp, c.tag) {
			return fmt.Errorf("%q instead of a continuation", clip(resp[len(c.tag):]))
		}
		if !bytes.HasPrefix(resp, []byte("* ")) {
			return fmt.Errorf("unexpected response %q", clip(resp))
		}
		if err := c.track(resp); err != nil {
			return err
		}
	}
}

// track follows the untagged data every command may carry.
func (c *imapConn) track(resp []byte) error {
	rest := resp[2:]
	if bytes.HasPrefix(rest, []byte("BYE")) {
		c.bye = append(c.bye[:0], resp...)
		return nil
	}
	if bytes.HasPrefix(rest, []byte("OK [UIDNEXT ")) {
		n, _ := leadingNumber(rest[len("OK [UIDNEXT "):])
		c.uidNxt = uint32(n)
		return nil
	}
	if len(rest) == 0 || !isDigit(rest[0]) {
		return nil
	}
	n, i := leadingNumber(rest)
	word := rest[i:]
	switch {
	case bytes.Equal(word, []byte(" EXISTS")):
		c.exists = uint32(n)
	case bytes.Equal(word, []byte(" EXPUNGE")):
		if n == 0 || uint32(n) > c.exists {
			return fmt.Errorf("EXPUNGE of message %d of %d", n, c.exists)
		}
		c.exists--
	}
	return nil
}

// leadingNumber parses the digits at the start of b and says how many
// bytes they took.
func leadingNumber(b []byte) (uint64, int) {
	var n uint64
	i := 0
	for i < len(b) && isDigit(b[i]) && i < 19 {
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	return n, i
}

// appendQuoted appends s as an IMAP quoted string.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// login sends LOGIN.
func (c *imapConn) login(user, password string) error {
	b := c.start()
	b = append(b, "LOGIN "...)
	b = appendQuoted(b, user)
	b = append(b, ' ')
	b = appendQuoted(b, password)
	_, err := c.exec(b, nil)
	return err
}

// selectInbox sends SELECT INBOX and requires EXISTS.
func (c *imapConn) selectInbox() error {
	c.exists, c.uidNxt = 0, 0
	seen := false
	_, err := c.exec(append(c.start(), "SELECT INBOX"...), func(resp []byte) error {
		if bytes.HasSuffix(resp, []byte(" EXISTS")) {
			seen = true
		}
		return nil
	})
	if err == nil && !seen {
		err = errors.New("no EXISTS in the reply")
	}
	return err
}

// logout sends LOGOUT and requires a BYE before the OK.
func (c *imapConn) logout() error {
	c.bye = nil
	_, err := c.exec(append(c.start(), "LOGOUT"...), nil)
	if err == nil && c.bye == nil {
		err = errors.New("no BYE before the OK")
	}
	return err
}

// statusMessages asks STATUS INBOX (MESSAGES).
func (c *imapConn) statusMessages() (int, error) {
	n := -1
	_, err := c.exec(append(c.start(), "STATUS INBOX (MESSAGES)"...), func(resp []byte) error {
		if !bytes.HasPrefix(resp, []byte("* STATUS ")) {
			return nil
		}
		i := bytes.LastIndex(resp, []byte("MESSAGES "))
		if i < 0 {
			return fmt.Errorf("no MESSAGES in %q", clip(resp))
		}
		v, k := leadingNumber(resp[i+len("MESSAGES "):])
		if k == 0 {
			return fmt.Errorf("bad MESSAGES in %q", clip(resp))
		}
		n = int(v)
		return nil
	})
	if err == nil && n < 0 {
		err = errors.New("no STATUS response")
	}
	return n, err
}

// fetchData is what parseFetch found in one FETCH response. Slices point
// into the response.
type fetchData struct {
	seq      uint32
	uid      uint32
	size     int64 // RFC822.SIZE, -1 when absent
	hasFlags bool
	flags    []byte // inside the parentheses
	hasEnv   bool
	subject  []byte // the envelope's subject (nil for NIL)
	hasBody  bool
	body     []byte // BODY[]
}

// parseFetch parses "* n FETCH (…)". ok is false for other responses.
func parseFetch(resp []byte, f *fetchData) (ok bool, err error) {
	*f = fetchData{size: -1}
	if !bytes.HasPrefix(resp, []byte("* ")) {
		return false, nil
	}
	p := pcur{b: resp, i: 2}
	n, k := leadingNumber(resp[2:])
	if k == 0 {
		return false, nil
	}
	p.i += k
	if !bytes.HasPrefix(resp[p.i:], []byte(" FETCH (")) {
		return false, nil
	}
	f.seq = uint32(n)
	p.i += len(" FETCH (")
	for {
		if p.peek() == ')' {
			p.i++
			break
		}
		name := p.itemName()
		if len(name) == 0 {
			return true, p.errorf("FETCH item name expected")
		}
		if err := p.sp(); err != nil {
			return true, err
		}
		switch {
		case bytes.EqualFold(name, []byte("UID")):
			v, err := p.number()
			if err != nil {
				return true, err
			}
			f.uid = uint32(v)
		case bytes.EqualFold(name, []byte("RFC822.SIZE")):
			v, err := p.number()
			if err != nil {
				return true, err
			}
			f.size = int64(v)
		case bytes.EqualFold(name, []byte("FLAGS")):
			start := p.i
			if p.peek() != '(' {
				return true, p.errorf("FLAGS list expected")
			}
			if err := p.skipValue(); err != nil {
				return true, err
			}
			f.hasFlags, f.flags = true, resp[start+1:p.i-1]
		case bytes.EqualFold(name, []byte("ENVELOPE")):
			if err := p.envelope(f); err != nil {
				return true, err
			}
		case bytes.EqualFold(name, []byte("BODY[]")):
			v, _, err := p.nstring()
			if err != nil {
				return true, err
			}
			f.hasBody, f.body = true, v
		default:
			if err := p.skipValue(); err != nil {
				return true, err
			}
		}
		switch p.peek() {
		case ' ':
			p.i++
		case ')':
		default:
			return true, p.errorf("space or ) expected")
		}
	}
	if p.i != len(resp) {
		return true, p.errorf("junk after FETCH data")
	}
	return true, nil
}

// pcur parses IMAP data.
type pcur struct {
	b []byte
	i int
}

func (p *pcur) errorf(format string, args ...any) error {
	return fmt.Errorf("%s at byte %d of %q", fmt.Sprintf(format, args...), p.i, clip(p.b))
}

func (p *pcur) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *pcur) sp() error {
	if p.peek() != ' ' {
		return p.errorf("space expected")
	}
	p.i++
	return nil
}

func (p *pcur) number() (uint64, error) {
	n, k := leadingNumber(p.b[p.i:])
	if k == 0 {
		return 0, p.errorf("number expected")
	}
	p.i += k
	return n, nil
}

// itemName reads a FETCH item name such as UID or BODY[HEADER.FIELDS (X)]<0>.
func (p *pcur) itemName() []byte {
	start, depth := p.i, 0
	for p.i < len(p.b) {
		ch := p.b[p.i]
		if depth == 0 && (ch == ' ' || ch == '(' || ch == ')') {
			break
		}
		switch ch {
		case '[':
			depth++
		case ']':
			depth--
		}
		p.i++
	}
	return p.b[start:p.i]
}

// nstring reads a quoted string, a literal or NIL; a quoted string comes
// back with its escapes.
func (p *pcur) nstring() (v []byte, isNil bool, err error) {
	switch p.peek() {
	case '"':
		p.i++
		start := p.i
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '\\':
				p.i += 2
				continue
			case '"':
				v = p.b[start:p.i]
				p.i++
				return v, false, nil
			}
			p.i++
		}
		return nil, false, p.errorf("unterminated quoted string")
	case '{':
		p.i++
		n, err := p.number()
		if err != nil {
			return nil, false, err
		}
		if p.peek() == '+' {
			p.i++
		}
		if !bytes.HasPrefix(p.b[p.i:], []byte("}\r\n")) || p.i+3+int(n) > len(p.b) {
			return nil, false, p.errorf("bad literal")
		}
		p.i += 3
		v = p.b[p.i : p.i+int(n)]
		p.i += int(n)
		return v, false, nil
	}
	if len(p.b)-p.i >= 3 && bytes.EqualFold(p.b[p.i:p.i+3], []byte("NIL")) {
		p.i += 3
		return nil, true, nil
	}
	return nil, false, p.errorf("string expected")
}

// skipValue skips an atom, number, NIL, string, literal or list.
func (p *pcur) skipValue() error {
	switch p.peek() {
	case '(':
		p.i++
		for {
			switch p.peek() {
			case ')':
				p.i++
				return nil
			case ' ':
				p.i++
				continue
			case 0:
				return p.errorf("unterminated list")
			}
			if err := p.skipValue(); err != nil {
				return err
			}
		}
	case '"', '{':
		_, _, err := p.nstring()
		return err
	}
	start := p.i
	for p.i < len(p.b) {
		ch := p.b[p.i]
		if ch == ' ' || ch == ')' || ch == '(' {
			break
		}
		p.i++
	}
	if p.i == start {
		return p.errorf("value expected")
	}
	return nil
}

// envelope reads an ENVELOPE, keeping its subject.
func (p *pcur) envelope(f *fetchData) error {
	if p.peek() != '(' {
		return p.errorf("envelope expected")
	}
	p.i++
	if _, _, err := p.nstring(); err != nil { // date
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	subj, _, err := p.nstring()
	if err != nil {
		return err
	}
	for fields := 2; ; fields++ {
		switch p.peek() {
		case ')':
			p.i++
			if fields != 10 {
				return p.errorf("envelope of %d fields", fields)
			}
			f.hasEnv, f.subject = true, subj
			return nil
		case 0:
			return p.errorf("unterminated envelope")
		}
		if err := p.sp(); err != nil {
			return err
		}
		if err := p.skipValue(); err != nil {
			return err
		}
	}
}

// hasFlag says whether a FLAGS list holds flag.
func hasFlag(list []byte, flag string) bool {
	for len(list) > 0 {
		i := bytes.IndexByte(list, ' ')
		var f []byte
		if i < 0 {
			f, list = list, nil
		} else {
			f, list = list[:i], list[i+1:]
		}
		if bytes.EqualFold(f, []byte(flag)) {
			return true
		}
	}
	return false
}
