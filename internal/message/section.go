package message

import (
	"fmt"
	"strconv"
	"strings"
)

// Part returns the part with the IMAP part number path (RFC 3501 section
// 6.4.5, RFC 9051 section 6.4.5); an empty path is the top-level entity.
//
// Numbering: the parts of a multipart are numbered from 1; a message (the
// top level, or the body of a message/rfc822 part) that is not multipart has
// exactly one part, 1, which is its body; the part numbers inside a
// message/rfc822 part are those of the message it encapsulates. So for a
// single-part message Part([]int{1}) is c.Body, and for a message/rfc822
// part n whose message is text/plain, n.1 is that message's Body.
func (c *Cache) Part(path []int) (*Part, error) {
	pt := &c.Body
	atMessage := true // pt is a message whose numbering the next number enters
	for i, n := range path {
		if n < 1 {
			return nil, fmt.Errorf("message: part %s: %w", partString(path[:i+1]), ErrNoSection)
		}
		if !atMessage && !pt.IsMultipart() && pt.Message != nil {
			pt, atMessage = &pt.Message.Body, true
		}
		switch {
		case pt.IsMultipart():
			if n > len(pt.Parts) {
				return nil, fmt.Errorf("message: part %s: %w", partString(path[:i+1]), ErrNoSection)
			}
			pt = &pt.Parts[n-1]
		case atMessage && n == 1:
			// Part 1 of a non-multipart message is its body: same entity.
		default:
			return nil, fmt.Errorf("message: part %s: %w", partString(path[:i+1]), ErrNoSection)
		}
		atMessage = false
	}
	return pt, nil
}

// Section returns the octet range raw[off:off+n] of the stored message that
// IMAP sends for BODY[<path>.<spec>] (and BODY.PEEK, BINARY before its
// decoding, and the base of a <partial>). spec is, case-insensitively:
//
//	""                  the part's body; with an empty path the whole message
//	"MIME"              the part's MIME header, with its ending empty line
//	                    (not allowed with an empty path)
//	"HEADER"            the header of the message (top level for an empty
//	"HEADER.FIELDS"     path, else the message encapsulated in a
//	"HEADER.FIELDS.NOT" message/rfc822 part), with its ending empty line;
//	                    filter it with FilterHeader (or, for the top
//	                    level with RawHeader loaded, HeaderFields)
//	"TEXT"              the body of that message
//
// For part 1 of a non-multipart message, MIME is the message header (the
// part's header is the message's), as Dovecot answers.
func (c *Cache) Section(path []int, spec string) (off, n int64, err error) {
	pt, err := c.Part(path)
	if err != nil {
		return 0, 0, err
	}
	s := strings.ToUpper(spec)
	switch s {
	case "":
		if len(path) == 0 {
			return 0, c.Size, nil
		}
		return pt.BodyStart, pt.Size(), nil
	case "MIME":
		if len(path) == 0 {
			return 0, 0, fmt.Errorf("message: section MIME: %w", ErrBadSpec)
		}
		return pt.HeaderStart, pt.BodyStart - pt.HeaderStart, nil
	case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT":
		m := pt
		if len(path) > 0 {
			if pt.Message == nil {
				return 0, 0, fmt.Errorf("message: section %s.%s: %w", partString(path), s, ErrNotMessage)
			}
			m = &pt.Message.Body
		}
		if s == "TEXT" {
			return m.BodyStart, m.Size(), nil
		}
		return m.HeaderStart, m.BodyStart - m.HeaderStart, nil
	}
	return 0, 0, fmt.Errorf("message: section %q: %w", spec, ErrBadSpec)
}

func partString(path []int) string {
	var sb strings.Builder
	for i, n := range path {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(strconv.Itoa(n))
	}
	return sb.String()
}
