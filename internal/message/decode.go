package message

import (
	"bytes"
	"fmt"
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
