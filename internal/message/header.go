package message

import (
	"bytes"
	"strings"
)

// A header block is read field by field. A field is a line that does not
// begin with white space plus the continuation lines (beginning with SP or
// HT) after it; its name is what comes before the first ':' of its first
// line, with trailing white space removed. A line with no ':' (an mbox
// "From " line, a body line where the blank line is missing) is kept in the
// header, as Dovecot keeps it, but has no name: no name matches it. The
// block ends at the first empty line (CRLF or bare LF) or at its end.

// field is one header field.
type field struct {
	name  []byte // nil for a line with no ':'
	raw   []byte // the whole field, name to final line end, folding kept
	value []byte // raw[after ':':], folding and final line end kept
}

// nextField returns the field at h[pos:] and the offset after it; ok is
// false at the end of the block.
func nextField(h []byte, pos int) (f field, next int, ok bool) {
	if pos >= len(h) || h[pos] == '\n' || (h[pos] == '\r' && pos+1 < len(h) && h[pos+1] == '\n') {
		return field{}, pos, false
	}
	end := lineEnd(h, pos)
	first := h[pos:end]
	for end < len(h) && (h[end] == ' ' || h[end] == '\t') {
		end = lineEnd(h, end)
	}
	f.raw = h[pos:end]
	if c := bytes.IndexByte(first, ':'); c >= 0 {
		n := c
		for n > 0 && (first[n-1] == ' ' || first[n-1] == '\t') {
			n--
		}
		if n > 0 && first[0] != ' ' && first[0] != '\t' {
			f.name = first[:n]
		}
		f.value = f.raw[c+1:]
	}
	return f, end, true
}

// lineEnd returns the offset just after the LF that ends the line at pos,
// or len(b).
func lineEnd(b []byte, pos int) int {
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(b)
}

// unfold removes the line breaks of a folded value (RFC 5322 section
// 2.2.3: CRLF followed by WSP becomes the WSP), the white space before it
// and the final line end; white space at its end is kept, as Dovecot keeps
// it. It returns a sub-slice of v when nothing needs removing inside.
func unfold(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	if n := len(v); n > 0 && v[n-1] == '\n' {
		v = v[:n-1]
	}
	if n := len(v); n > 0 && v[n-1] == '\r' {
		v = v[:n-1] // CRLF, or a CR cut off from its LF
	}
	if bytes.IndexByte(v, '\n') < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for len(v) > 0 {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			out = append(out, v...)
			break
		}
		seg := v[:i]
		if len(seg) > 0 && seg[len(seg)-1] == '\r' {
			seg = seg[:len(seg)-1]
		}
		out = append(out, seg...)
		v = v[i+1:]
	}
	return out
}

func trimWSP(v []byte) []byte {
	isWS := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(v) > 0 && isWS(v[0]) {
		v = v[1:]
	}
	for len(v) > 0 && isWS(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	return v
}

// HeaderFields returns what IMAP returns for BODY[HEADER.FIELDS (names)]
// (not false) or BODY[HEADER.FIELDS.NOT (names)] (not true) of the
// top-level header: the fields whose name matches (ASCII case-insensitive)
// or, with not, those that match none of names, each exactly as stored with
// its folding, in message order, then the empty line CRLF. A line with no
// field name matches no name, so only HEADER.FIELDS.NOT returns it (as
// Dovecot does). A last field cut off without a line end gets CRLF.
//
// It reads c.RawHeader, which must be loaded: a Cache from UnmarshalBinary
// has none (see RawHeader), and without it the answer is just CRLF.
func (c *Cache) HeaderFields(names []string, not bool) []byte {
	return FilterHeader(c.RawHeader, names, not)
}

// FilterHeader is HeaderFields for any header block, such as an
// encapsulated message's header read from the file for
// BODY[1.HEADER.FIELDS (…)].
func FilterHeader(header []byte, names []string, not bool) []byte {
	var out []byte
	for pos := 0; ; {
		f, next, ok := nextField(header, pos)
		if !ok {
			break
		}
		pos = next
		match := false
		for _, n := range names {
			if f.name != nil && equalFoldBytes(f.name, n) {
				match = true
				break
			}
		}
		if match == not {
			continue
		}
		out = append(out, f.raw...)
		if f.raw[len(f.raw)-1] != '\n' {
			out = append(out, '\r', '\n') // as Dovecot, even after a lone CR
		}
	}
	return append(out, '\r', '\n')
}

// Header returns the values of every top-level header field named name
// (ASCII case-insensitive), unfolded and trimmed, in message order; nil when
// there is none. Values are raw: RFC 2047 encoded-words are not decoded.
//
// It reads c.RawHeader, which must be loaded: a Cache from UnmarshalBinary
// has none (see RawHeader), and without it there is no field.
func (c *Cache) Header(name string) []string { return HeaderValues(c.RawHeader, name) }

// HeaderValues is Header for any header block, such as one FilterHeader
// made.
func HeaderValues(header []byte, name string) []string {
	var vals []string
	for pos := 0; ; {
		f, next, ok := nextField(header, pos)
		if !ok {
			return vals
		}
		pos = next
		if f.name != nil && equalFoldBytes(f.name, name) {
			vals = append(vals, string(trimWSP(unfold(f.value))))
		}
	}
}

// noNUL replaces NUL octets, which IMAP cannot send in a string, with
// U+FFFD.
func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// forHumans is Dovecot's clean-up of the envelope subject and display
// names: line ends and tabs become spaces, runs of white space one space,
// white space at both ends goes, and NUL becomes U+FFFD.
func forHumans(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\t' || c == '\r' || c == '\n' ||
			c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n':
			space = b.Len() > 0
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			if c == 0 {
				b.WriteString("\uFFFD")
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
