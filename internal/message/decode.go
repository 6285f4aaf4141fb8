package message

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Content-Transfer-Encoding removal for IMAP BINARY[…] (RFC 3516). The
// rules are lenient and are the same ones Part.BinarySize was computed
// with, so BINARY.SIZE always equals the length BINARY returns:
//
//   - 7bit, 8bit, binary (any case): the body as stored;
//   - base64: characters outside the alphabet (line ends, spaces, junk)
//     are skipped; '=' ends a group (1 or 2 octets from its 2 or 3
//     characters) and decoding goes on after it, so concatenated base64
//     streams decode; a lone trailing character is dropped;
//   - quoted-printable: "=XX" (hex, either case) is one octet, '=' before
//     the line end (after optional white space) is a soft break, any other
//     '=' is kept as is, white space at the end of a line is removed, and
//     hard line ends are kept as stored (CRLF or LF).
//
// Any other encoding is ErrUnknownEncoding.

type transferEncoding int

const (
	encIdentity transferEncoding = iota
	encBase64
	encQP
	encUnknown
)

func encodingOf(name string) transferEncoding {
	switch strings.ToLower(name) {
	case "7bit", "8bit", "binary", "":
		return encIdentity
	case "base64":
		return encBase64
	case "quoted-printable":
		return encQP
	}
	return encUnknown
}

// AppendDecoded appends body, decoded from the Content-Transfer-Encoding
// encoding, to dst.
func AppendDecoded(dst []byte, encoding string, body []byte) ([]byte, error) {
	o := sink{b: dst}
	switch encodingOf(encoding) {
	case encIdentity:
		return append(dst, body...), nil
	case encBase64:
		decodeBase64(&o, body)
	case encQP:
		decodeQP(&o, body)
	default:
		return dst, fmt.Errorf("message: decode %q: %w", encoding, ErrUnknownEncoding)
	}
	return o.b, nil
}

// binarySize is the length AppendDecoded would produce, or -1.
func binarySize(encoding string, body []byte) int64 {
	o := sink{count: true}
	switch encodingOf(encoding) {
	case encIdentity:
		return int64(len(body))
	case encBase64:
		decodeBase64(&o, body)
	case encQP:
		return qpSize(body)
	default:
		return -1
	}
	return o.n
}

// qpSize is len(decodeQP(body)) without decoding.
func qpSize(body []byte) int64 {
	var n int64
	for len(body) > 0 {
		end, next := len(body), len(body)
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			end, next = i, i+1
			if i > 0 && body[i-1] == '\r' {
				end = i - 1
			}
		}
		line, nl := body[:end], next-end
		body = body[next:]
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
			line = line[:len(line)-1]
		}
		if len(line) > 0 && line[len(line)-1] == '=' {
			line, nl = line[:len(line)-1], 0 // soft break
		}
		n += int64(len(line) + nl)
		for i := bytes.IndexByte(line, '='); i >= 0; {
			if i+2 < len(line) {
				if _, ok := unhex(line[i+1]); ok {
					if _, ok := unhex(line[i+2]); ok {
						n -= 2
						line = line[i+3:]
						i = bytes.IndexByte(line, '=')
						continue
					}
				}
			}
			line = line[i+1:]
			i = bytes.IndexByte(line, '=')
		}
	}
	return n
}

// sink either appends or only counts.
type sink struct {
	b     []byte
	n     int64
	count bool
}

func (o *sink) put(c byte) {
	if o.count {
		o.n++
	} else {
		o.b = append(o.b, c)
	}
}

func (o *sink) write(p []byte) {
	if o.count {
		o.n += int64(len(p))
	} else {
		o.b = append(o.b, p...)
	}
}

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

func decodeBase64(o *sink, body []byte) {
	var acc uint32
	k := 0
	flush := func() {
		switch k {
		case 2:
			o.put(byte(acc >> 4))
		case 3:
			o.put(byte(acc >> 10))
			o.put(byte(acc >> 2))
		}
		acc, k = 0, 0
	}
	if o.count {
		// Same rules, counting only: every full group is 3 octets.
		var n int64
		for _, c := range body {
			if b64[c] != 0xff {
				k++
				if k == 4 {
					n += 3
					k = 0
				}
			} else if c == '=' {
				if k >= 2 {
					n += int64(k - 1)
				}
				k = 0
			}
		}
		if k >= 2 {
			n += int64(k - 1)
		}
		o.n += n
		return
	}
	for _, c := range body {
		v := b64[c]
		if v == 0xff {
			if c == '=' {
				flush()
			}
			continue
		}
		acc = acc<<6 | uint32(v)
		k++
		if k == 4 {
			o.put(byte(acc >> 16))
			o.put(byte(acc >> 8))
			o.put(byte(acc))
			acc, k = 0, 0
		}
	}
	flush()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func decodeQP(o *sink, body []byte) {
	for len(body) > 0 {
		// One line: content, then its line end (CRLF, LF, or none at EOF).
		end, next := len(body), len(body)
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			end, next = i, i+1
			if i > 0 && body[i-1] == '\r' {
				end = i - 1
			}
		}
		line, nl := body[:end], body[end:next]
		body = body[next:]
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
			line = line[:len(line)-1]
		}
		soft := len(line) > 0 && line[len(line)-1] == '='
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) {
				if h, ok := unhex(line[i+1]); ok {
					if l, ok := unhex(line[i+2]); ok {
						o.put(h<<4 | l)
						i += 2
						continue
					}
				}
			}
			o.put(c)
		}
		if !soft {
			o.write(nl)
		}
	}
}

// Streaming decoding (NewDecoder): the same rules, applied as the bytes
// arrive, with fixed buffers.

const (
	decodeBufSize = 8 << 10 // bytes read from the source at a time
	// qpHold is the longest run of white space a quoted-printable decoder
	// holds while it cannot tell whether the run ends its line (and is
	// removed) or not. A longer run is skipped, and read again from the
	// source if it turns out to be kept, when the source is an io.Seeker;
	// else it is held whole.
	qpHold = 256
)

// NewDecoder returns a reader of r's bytes decoded from the
// Content-Transfer-Encoding enc by the rules of AppendDecoded: reading it
// to the end gives exactly what AppendDecoded gives for all of r's bytes.
// For an identity encoding it returns r itself; for an unknown one,
// ErrUnknownEncoding.
//
// The decoder reads r in chunks of a few KiB, only as its reader asks for
// more, and holds no more than a chunk and its decoded output, so a
// partial read of a large body reads little more of r than the encoded
// bytes of what it returns. Errors from r other than io.EOF are returned
// after the output decoded before them.
//
// A quoted-printable decoder over an io.ReadSeeker may seek it back to
// read a long run of white space again (see qpHold): it assumes that the
// source's offset at the start is where its bytes begin and that nothing
// else moves it.
func NewDecoder(enc string, r io.Reader) (io.Reader, error) {
	return newDecoder(enc, r, qpHold)
}

func newDecoder(enc string, r io.Reader, hold int) (io.Reader, error) {
	e := encodingOf(enc)
	switch e {
	case encIdentity:
		return r, nil
	case encUnknown:
		return nil, fmt.Errorf("message: decode %q: %w", enc, ErrUnknownEncoding)
	}
	d := &cteDecoder{src: r, enc: e, hold: min(hold, qpHold)}
	d.out = d.outBuf[:0]
	d.ws = d.wsBuf[:0:d.hold]
	if s, ok := r.(io.Seeker); ok && e == encQP {
		if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
			d.seek, d.pos = s, pos
		}
	}
	return d, nil
}

type qpState uint8

const (
	qpNone  qpState = iota
	qpWS            // white space in ws (and spill)
	qpEq            // '='
	qpEqWS          // '=', then white space in ws (and spill)
	qpEqHex         // '=' and the hex digit h
)

type cteDecoder struct {
	src  io.Reader
	enc  transferEncoding
	seek io.Seeker // src, for quoted-printable, when it can seek
	pos  int64     // src's offset after what was read of it (with seek)
	err  error     // the error Read returns once out is used up
	out  []byte    // decoded, not yet returned: out[oi:]
	oi   int

	// base64: k characters of a group in acc.
	acc uint32
	k   int

	// quoted-printable: what the bytes so far leave pending.
	st      qpState
	h       byte   // qpEqHex
	cr      bool   // a CR, which is a line end if LF follows
	ws      []byte // white space held (qpWS, qpEqWS): at most hold bytes with seek
	hold    int
	spill   int64 // white space past ws, not held, at spillAt in src (with seek)
	spillAt int64
	replay  int64 // bytes to pass as they are, read again after a seek

	in     [decodeBufSize]byte
	outBuf [decodeBufSize + qpHold + 8]byte
	wsBuf  [qpHold]byte
}

func (d *cteDecoder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for empty := 0; d.oi == len(d.out); {
		if d.err != nil {
			return 0, d.err
		}
		d.out, d.oi = d.out[:0], 0
		n, err := d.src.Read(d.in[:])
		if n < 0 || n > len(d.in) {
			d.err = fmt.Errorf("message: decode: source read returned %d", n)
			continue
		}
		d.pos += int64(n)
		if n > 0 {
			empty = 0
		}
		back := n > 0 && d.decode(d.in[:n])
		switch {
		case back: // what follows is read again
			if err != nil && err != io.EOF {
				d.err = err
			}
		case err == io.EOF && d.replay > 0:
			d.err = io.ErrUnexpectedEOF // the source changed under us
		case err == io.EOF:
			if back = d.finish(); !back {
				d.err = io.EOF
			}
		case err != nil:
			d.err = err
		case n == 0:
			if empty++; empty >= 100 {
				d.err = io.ErrNoProgress
			}
		}
		if back && d.err == nil {
			d.err = d.rewind()
		}
	}
	n := copy(p, d.out[d.oi:])
	d.oi += n
	return n, nil
}

// decode decodes b, all of it unless it must seek back (true).
func (d *cteDecoder) decode(b []byte) (back bool) {
	if d.enc == encBase64 {
		acc, k, out := d.acc, d.k, d.out
		for _, c := range b {
			v := b64[c]
			if v == 0xff {
				if c == '=' {
					d.acc, d.k, d.out = acc, k, out
					d.flushBase64()
					acc, k, out = 0, 0, d.out
				}
				continue
			}
			acc = acc<<6 | uint32(v)
			if k++; k == 4 {
				out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
				acc, k = 0, 0
			}
		}
		d.acc, d.k, d.out = acc, k, out
		return false
	}
	at := d.pos - int64(len(b)) // offset of b[0] in src
	if d.replay > 0 {
		m := int(min(d.replay, int64(len(b))))
		d.out = append(d.out, b[:m]...)
		d.replay -= int64(m)
		b, at = b[m:], at+int64(m)
	}
	for i, c := range b {
		if d.qpByte(c, at+int64(i)) {
			return true
		}
	}
	return false
}

// finish ends the input: true if it must seek back after all.
func (d *cteDecoder) finish() (back bool) {
	if d.enc == encBase64 {
		d.flushBase64()
		return false
	}
	if d.cr {
		d.cr = false
		if d.content('\r', d.pos-1) {
			return true
		}
	}
	d.lineEnd("")
	return false
}

func (d *cteDecoder) flushBase64() {
	switch d.k {
	case 2:
		d.out = append(d.out, byte(d.acc>>4))
	case 3:
		d.out = append(d.out, byte(d.acc>>10), byte(d.acc>>2))
	}
	d.acc, d.k = 0, 0
}

// rewind seeks src back to the white space that was not held, to pass it
// on as it is and decode what follows it again.
func (d *cteDecoder) rewind() error {
	if _, err := d.seek.Seek(d.spillAt, io.SeekStart); err != nil {
		return fmt.Errorf("message: decode: %w", err)
	}
	d.pos, d.st, d.cr = d.spillAt, qpNone, false
	return nil
}

// qpByte decodes the quoted-printable byte c at offset at of src; true if
// it must seek back (c is then read again).
func (d *cteDecoder) qpByte(c byte, at int64) bool {
	if d.cr {
		d.cr = false
		if c == '\n' {
			d.lineEnd("\r\n")
			return false
		}
		if d.content('\r', at-1) {
			return true
		}
	}
	switch c {
	case '\r':
		d.cr = true
	case '\n':
		d.lineEnd("\n")
	default:
		return d.content(c, at)
	}
	return false
}

// lineEnd ends a line with nl (empty at the end of the input): pending
// white space is dropped, and a pending '=' makes it a soft break.
func (d *cteDecoder) lineEnd(nl string) {
	switch d.st {
	case qpEq, qpEqWS:
		nl = ""
	case qpEqHex:
		d.out = append(d.out, '=', d.h)
	}
	d.st, d.ws, d.spill = qpNone, d.ws[:0], 0
	d.out = append(d.out, nl...)
}

// content decodes c, a byte of a line's content; true if it must seek
// back first (c is then read again).
func (d *cteDecoder) content(c byte, at int64) bool {
	switch {
	case c == ' ' || c == '\t':
		switch d.st {
		case qpNone:
			d.st = qpWS
		case qpEq:
			d.st = qpEqWS
		case qpEqHex:
			d.out = append(d.out, '=', d.h)
			d.st = qpWS
		}
		if len(d.ws) < d.hold || d.seek == nil {
			d.ws = append(d.ws, c)
		} else {
			if d.spill == 0 {
				d.spillAt = at
			}
			d.spill++
		}
		return false
	case d.st == qpEq:
		if _, ok := unhex(c); ok {
			d.st, d.h = qpEqHex, c
			return false
		}
	case d.st == qpEqHex:
		if l, ok := unhex(c); ok {
			h, _ := unhex(d.h)
			d.out = append(d.out, h<<4|l)
			d.st = qpNone
			return false
		}
	}
	// c is content after what is pending, which is therefore kept as is.
	switch d.st {
	case qpEq:
		d.out = append(d.out, '=')
	case qpEqHex:
		d.out = append(d.out, '=', d.h)
	case qpEqWS:
		d.out = append(d.out, '=')
		fallthrough
	case qpWS:
		d.out = append(d.out, d.ws...)
		d.ws = d.ws[:0]
		if d.spill > 0 {
			d.replay, d.spill = d.spill, 0
			return true
		}
	}
	d.st = qpNone
	if c == '=' {
		d.st = qpEq
	} else {
		d.out = append(d.out, c)
	}
	return false
}
