package imapwire

// M-Store: this file is not upstream. Upstream's server skipped the rest
// of a refused command with DiscardLine, which stops at the first line
// end: the octets of a literal announced after the point of failure (and
// the lines after it) were then read as new commands, so the body of a
// message given to a refused APPEND could run as the session's commands.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrDiscardLimit is returned by DiscardCommand when the lines of the
// command exceed the limit it was given: the connection must end.
var ErrDiscardLimit = errors.New("imapwire: command too long to skip")

// ErrLiteralSize is returned by DiscardCommand when a command announces
// a literal whose size cannot be read (more digits than an int64 holds):
// the end of the command cannot be found, and the connection must end.
var ErrLiteralSize = errors.New("imapwire: literal size out of range, the end of the command is unknown")

// DiscardCommand reads and throws away the rest of a command the server
// refuses part-way, so that no part of it is taken for a command: the
// rest of the line, every non-synchronizing literal announced at the end
// of a line ({n+}, ~{n+}; RFC 7888 4) and the line after each.
//
// A synchronizing literal ({n}) ends the command when the server did not
// send it a continuation request: the client sends no more of the command
// once it has the tagged answer instead (RFC 9051 7.5), so the next line
// is a new command. The caller must answer the command and must not send
// "+ " after a failure.
//
// Literal octets are streamed to io.Discard, never held in memory, and
// the line length limit (MaxSize) does not apply: stopping early would
// leave the rest to be parsed as commands. skipLiteral, if not nil, is
// called with the size of each literal about to be skipped; an error from
// it stops the discard and is returned. max, when positive, bounds the
// octets of the command read here, lines and literals; past it (a literal
// counts in full before it is read), ErrDiscardLimit.
func (dec *Decoder) DiscardCommand(max int64, skipLiteral func(size int64) error) error {
	var read int64
	if lit := dec.lit; lit != nil {
		if !lit.nonSync && !lit.accepted {
			lit.cancel()
			dec.crlf = true
			return nil
		}
		if read += lit.size - lit.read; max > 0 && read > max {
			return ErrDiscardLimit
		}
		if skipLiteral != nil {
			if err := skipLiteral(lit.size); err != nil {
				return err
			}
		}
		if _, err := io.Copy(io.Discard, lit); err != nil {
			return fmt.Errorf("imapwire: discarding a literal: %w", err)
		}
		if lit.read < lit.size { // the connection ended inside the literal
			return fmt.Errorf("imapwire: discarding a literal: %w", io.ErrUnexpectedEOF)
		}
	} else if dec.crlf {
		return nil
	}
	for {
		if err := dec.discardLine(&read, max); err != nil {
			return err
		}
		size, nonSync, ok, err := dec.tail.literal()
		if err != nil {
			return err
		}
		if !ok || !nonSync {
			dec.crlf = true
			return nil
		}
		if read += size; max > 0 && read > max {
			return ErrDiscardLimit
		}
		if skipLiteral != nil {
			if err := skipLiteral(size); err != nil {
				return err
			}
		}
		if _, err := io.CopyN(io.Discard, dec.r, size); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("imapwire: discarding a literal: %w", err)
		}
		dec.tail.reset()
	}
}

// discardLine reads up to and including the next LF, keeping only its
// last bytes in dec.tail, and adds what it read to *n; past max (when
// positive), ErrDiscardLimit.
func (dec *Decoder) discardLine(n *int64, max int64) error {
	for {
		line, err := dec.r.ReadSlice('\n')
		dec.tail.write(line)
		if *n += int64(len(line)); max > 0 && *n > max {
			return ErrDiscardLimit
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("imapwire: discarding a command: %w", err)
	}
}

// lineTailSize holds "{" + the 19 digits of the largest int64 + "+}\r\n"
// with room to spare.
const lineTailSize = 32

// lineTail keeps the last bytes read of a command line: enough to tell
// whether the line ends with a literal announcement, even one the decoder
// stopped inside.
type lineTail struct {
	buf [lineTailSize]byte
	end int // where the next byte goes
	n   int // bytes held
}

func (t *lineTail) push(b byte) {
	t.buf[t.end] = b
	t.end = (t.end + 1) % lineTailSize
	if t.n < lineTailSize {
		t.n++
	}
}

// pop forgets the last byte pushed (an unread byte).
func (t *lineTail) pop() {
	if t.n == 0 {
		return
	}
	t.end = (t.end + lineTailSize - 1) % lineTailSize
	t.n--
}

func (t *lineTail) reset() {
	t.end, t.n = 0, 0
}

func (t *lineTail) write(p []byte) {
	if len(p) > lineTailSize {
		p = p[len(p)-lineTailSize:]
	}
	for _, b := range p {
		t.push(b)
	}
}

func (t *lineTail) bytes() []byte {
	out := make([]byte, t.n)
	start := t.end - t.n + lineTailSize
	for i := range out {
		out[i] = t.buf[(start+i)%lineTailSize]
	}
	return out
}

// literal reports whether the line ends with a literal announcement
// ("{" number ["+"] "}" CRLF; a lone LF, and a space before the line end,
// are taken as the decoder's CRLF takes them).
func (t *lineTail) literal() (size int64, nonSync, ok bool, err error) {
	b, found := bytes.CutSuffix(t.bytes(), []byte("\n"))
	if !found {
		return 0, false, false, nil
	}
	b = bytes.TrimSuffix(b, []byte("\r"))
	b = bytes.TrimSuffix(b, []byte(" "))
	if b, found = bytes.CutSuffix(b, []byte("}")); !found {
		return 0, false, false, nil
	}
	b, nonSync = bytes.CutSuffix(b, []byte("+"))
	i := len(b)
	for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' {
		i--
	}
	if i == len(b) {
		return 0, false, false, nil
	}
	if i == 0 {
		if t.n == lineTailSize {
			// The digits fill what was kept: a literal too large to
			// name, or not one; either way the end is unknown.
			return 0, false, false, ErrLiteralSize
		}
		return 0, false, false, nil
	}
	if b[i-1] != '{' {
		return 0, false, false, nil
	}
	size, err = strconv.ParseInt(string(b[i:]), 10, 64)
	if err != nil {
		return 0, false, false, fmt.Errorf("%w: %w", ErrLiteralSize, err)
	}
	return size, nonSync, true, nil
}
