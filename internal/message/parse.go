package message

import (
	"bytes"
	"fmt"
	"io"
)

// Parse parses a raw message as stored. It never fails: any sequence of
// octets is some message, however broken (see the package documentation
// for what broken input becomes). The Cache keeps no reference to raw.
func Parse(raw []byte) *Cache {
	p := parser{b: raw}
	c := &Cache{Size: int64(len(raw))}
	var hi headerInfo
	p.entity(&c.Body, &hi, 0, false, true)
	if n := c.Body.BodyStart - c.Body.HeaderStart; n > 0 {
		c.RawHeader = bytes.Clone(raw[:n])
	}
	c.Envelope = hi.envelope()
	if hi.has[hDate] {
		c.Date = parseDate(hi.v[hDate])
	}
	return c
}

// ParseReaderAt reads the size octets of a stored message from r and
// parses them.
func ParseReaderAt(r io.ReaderAt, size int64) (*Cache, error) {
	if size < 0 {
		return nil, fmt.Errorf("message: parse: negative size %d", size)
	}
	buf := make([]byte, size)
	n, err := r.ReadAt(buf, 0)
	if n == len(buf) {
		err = nil // io.ReaderAt may report io.EOF with the last octets
	}
	if err != nil {
		return nil, fmt.Errorf("message: read %d octets (got %d): %w", size, n, err)
	}
	return Parse(buf), nil
}

// parser is one pass over the raw octets, line by line, with the stack of
// open multipart boundaries, in the manner of Dovecot's message-parser: a
// line that begins with "--" followed by any open boundary (the longest
// match wins, the innermost on a tie) ends every part inside that boundary's
// multipart, so a missing close delimiter is repaired by the next outer one
// or by the end of the message, and headers cut short by a boundary end
// there.
type parser struct {
	b      []byte
	pos    int      // where the next entity starts
	stack  [][]byte // open boundaries, innermost last
	hit    hit      // what ended the entity last parsed
	nparts int
	// floor is where the last line consumed by the structure ends: a
	// delimiter line, or the line end a cut-short header gave to the
	// delimiter after it. A part ending at a delimiter found right there
	// does not give up that line end again (Dovecot's rule: the line end
	// before a delimiter is the delimiter's only when nothing took it).
	floor int
}

// hit is a boundary delimiter line (idx >= 0: index in the stack) or the
// end of the input (idx == -1, line == len(b)).
type hit struct {
	line  int
	idx   int
	close bool
}

const (
	kindLeaf = iota
	kindMultipart
	kindMessage
)

// entity parses the entity whose header starts at p.pos into pt, and its
// header fields into hi (envelope fields too when msg). On return p.hit
// and p.pos tell where it ended.
func (p *parser) entity(pt *Part, hi *headerInfo, depth int, digest, msg bool) {
	b := p.b
	p.nparts++
	start := p.pos
	pos, bodyStart, cut := start, len(b), false
	var after hit // a delimiter right after the empty line
	afterOK := false
	for pos < len(b) {
		if b[pos] == '-' && len(p.stack) > 0 {
			if h, ok := p.boundaryAt(pos); ok {
				p.hit, cut = h, true
				break
			}
		}
		end := lineEnd(b, pos)
		if b[pos] == '\n' || b[pos] == '\r' && pos+1 < len(b) && b[pos+1] == '\n' {
			bodyStart = end // after the empty line
			if end < len(b) && b[end] == '-' && len(p.stack) > 0 {
				after, afterOK = p.boundaryAt(end)
			}
			break
		}
		pos = end
	}
	if cut {
		bodyStart = p.trimNL(pos, start)
	}
	hi.scan(b[start:bodyStart], msg)
	kind, boundary := pt.setMIME(hi, digest)
	if kind != kindLeaf && (depth >= MaxDepth || p.nparts >= MaxParts) {
		// Flattened: an opaque part, labelled so that no client expects
		// children or an envelope.
		kind, pt.Type, pt.Subtype = kindLeaf, "application", "octet-stream"
	}
	if afterOK && !(kind == kindMultipart && len(boundary) >= len(p.stack[after.idx]) &&
		bytes.HasPrefix(b[bodyStart+2:], boundary)) {
		// The empty line's line end belongs to the delimiter right
		// after it, as Dovecot has it: the header then has no empty
		// line and the body is empty. (Unless the delimiter is this
		// multipart's own first one: Dovecot pushes a multipart's
		// boundary before it looks, the longest match wins.)
		p.hit, cut, pos = after, true, bodyStart
		bodyStart = p.trimNL(pos, start)
	}
	if cut {
		// The header ran into a boundary: it ends before the line end
		// that belongs to the delimiter, and the body is empty. That
		// line end is now taken: no enclosing part gives it up again.
		p.floor = pos
	}
	pt.HeaderStart, pt.BodyStart = int64(start), int64(bodyStart)

	switch {
	case cut:
		pt.BodyEnd = pt.BodyStart
		switch kind {
		case kindMultipart:
			pt.Parts = []Part{p.placeholder(bodyStart)}
		case kindMessage:
			pt.Message = &Message{Body: p.placeholder(bodyStart)}
		}
		p.pos = pos

	case kind == kindLeaf:
		h := p.scan(bodyStart)
		pt.BodyEnd = int64(p.end(h, bodyStart))
		p.hit, p.pos = h, h.line

	case kind == kindMessage:
		m := &Message{}
		var mhi headerInfo
		p.pos = bodyStart
		p.entity(&m.Body, &mhi, depth+1, false, true)
		m.Envelope = mhi.envelope()
		pt.Message = m
		// Usually where the message ends; a line end that the message's
		// cut-short header gave up stays in this part (Dovecot).
		pt.BodyEnd = int64(p.end(p.hit, bodyStart))

	case kind == kindMultipart:
		childDigest := equalFold(pt.Subtype, "digest")
		lo := bodyStart // where the body may end at the earliest
		my := -1
		if len(boundary) > 0 {
			p.stack = append(p.stack, boundary)
			my = len(p.stack) - 1
		}
		h := p.scan(bodyStart)
		for my >= 0 && h.idx == my {
			if h.close {
				// The epilogue. The line end after the close
				// delimiter is its own, never the next delimiter's
				// (Dovecot).
				p.stack = p.stack[:my]
				my = -1
				lo = lineEnd(b, h.line)
				p.floor = lo
				h = p.scan(lo)
				break
			}
			next := lineEnd(b, h.line)
			if b[next-1] != '\n' {
				// A delimiter cut off by the end of the message
				// starts no part (Dovecot).
				h = hit{line: len(b), idx: -1}
				break
			}
			if p.nparts >= MaxParts {
				h = p.scan(next)
				continue
			}
			var child Part
			var chi headerInfo
			p.pos, p.floor = next, next
			p.entity(&child, &chi, depth+1, childDigest, false)
			pt.Parts = append(pt.Parts, child)
			h = p.hit
		}
		if my >= 0 {
			p.stack = p.stack[:my]
		}
		end := p.end(h, lo)
		pt.BodyEnd = int64(end)
		if len(pt.Parts) == 0 {
			pt.Parts = []Part{p.placeholder(end)}
		}
		p.hit, p.pos = h, h.line
	}

	body := b[pt.BodyStart:pt.BodyEnd]
	if kind == kindMessage || pt.IsText() {
		pt.Lines = int64(bytes.Count(body, []byte{'\n'}))
	}
	if kind == kindLeaf {
		pt.BinarySize = binarySize(pt.Encoding, body)
	} else if encodingOf(pt.Encoding) == encIdentity {
		pt.BinarySize = pt.Size()
	} else {
		pt.BinarySize = -1
	}
}

// placeholder is the empty text/plain part that stands for the missing
// children of a multipart with none (IMAP requires at least one), or for
// the message of an empty message/rfc822 part.
func (p *parser) placeholder(at int) Part {
	p.nparts++
	a := int64(at)
	return Part{
		HeaderStart: a, BodyStart: a, BodyEnd: a,
		Type: "text", Subtype: "plain",
		Params:   []Param{{Name: "charset", Value: "us-ascii"}},
		Encoding: "7bit",
	}
}

// end is where an entity whose body starts at lo ends, given what
// stopped it: the end of the input, or the line end before a delimiter.
func (p *parser) end(h hit, lo int) int {
	if h.idx < 0 {
		return len(p.b)
	}
	return p.trimNL(h.line, lo)
}

// trimNL steps back over the CRLF (or LF) before pos, not past lo nor the
// floor.
func (p *parser) trimNL(pos, lo int) int {
	lo = max(lo, p.floor)
	if pos > lo && p.b[pos-1] == '\n' {
		pos--
		if pos > lo && p.b[pos-1] == '\r' {
			pos--
		}
	}
	return pos
}

var nlDashes = []byte("\n--")

// scan finds the first delimiter line of an open boundary at or after the
// line starting at pos.
func (p *parser) scan(pos int) hit {
	b := p.b
	if len(p.stack) > 0 {
		for pos < len(b) {
			if b[pos] == '-' {
				if h, ok := p.boundaryAt(pos); ok {
					return h
				}
			}
			i := bytes.Index(b[pos:], nlDashes)
			if i < 0 {
				break
			}
			pos += i + 1
		}
	}
	return hit{line: len(b), idx: -1}
}

// boundaryAt reports whether the line at pos is a delimiter of an open
// boundary: "--" then the boundary (only the prefix has to match, as RFC
// 2046 and Dovecot have it), "--" after it for the close delimiter.
func (p *parser) boundaryAt(pos int) (hit, bool) {
	b := p.b
	if pos+2 > len(b) || b[pos] != '-' || b[pos+1] != '-' {
		return hit{}, false
	}
	rest := b[pos+2:]
	best := -1
	for i := len(p.stack) - 1; i >= 0; i-- {
		bd := p.stack[i]
		if len(bd) <= len(rest) && bytes.Equal(rest[:len(bd)], bd) &&
			(best < 0 || len(bd) > len(p.stack[best])) {
			best = i
		}
	}
	if best < 0 {
		return hit{}, false
	}
	after := rest[len(p.stack[best]):]
	return hit{line: pos, idx: best, close: len(after) >= 2 && after[0] == '-' && after[1] == '-'}, true
}

// setMIME fills pt's MIME fields from its header and says what kind of
// entity it is; boundary is the multipart boundary.
func (pt *Part) setMIME(hi *headerInfo, digest bool) (kind int, boundary []byte) {
	var typ, sub []byte
	var params []Param
	if hi.has[hContentType] {
		typ, sub, params = parseContentType(hi.v[hContentType])
	}
	switch {
	case len(typ) > 0:
		pt.Type = intern(typ)
		switch {
		case len(sub) > 0:
			pt.Subtype = intern(sub)
		case equalFold(pt.Type, "text"):
			pt.Subtype = "plain"
		case equalFold(pt.Type, "multipart"):
			pt.Subtype = "mixed" // RFC 2046 5.1.3: unknown subtypes are mixed
		default:
			pt.Subtype = "unknown"
		}
		pt.Params = params
	case digest:
		pt.Type, pt.Subtype = "message", "rfc822"
	default:
		pt.Type, pt.Subtype = "text", "plain"
	}
	if equalFold(pt.Type, "text") {
		if _, ok := paramValue(pt.Params, "charset"); !ok {
			// RFC 2046's default, written out as Dovecot does.
			pt.Params = append(pt.Params, Param{Name: "charset", Value: "us-ascii"})
		}
	}

	pt.Encoding = "7bit"
	if hi.has[hCTE] {
		if enc := parseEncoding(hi.v[hCTE]); enc != nil {
			pt.Encoding = intern(enc)
		}
	}
	pt.ID = hi.nstring(hID)
	pt.Description = hi.nstring(hDesc)
	pt.MD5 = hi.nstring(hMD5)
	pt.Location = hi.nstring(hLoc)
	if hi.has[hDisp] {
		if d, dp := parseDisposition(hi.v[hDisp]); d != nil {
			pt.Disposition = nstr(intern(d))
			pt.DispositionParams = dp
		}
	}
	if hi.has[hLang] {
		pt.Language = parseLanguage(hi.v[hLang])
	}

	switch {
	case equalFold(pt.Type, "multipart"):
		// Without a boundary it has no parts: Dovecot, and this package,
		// give it one empty placeholder part.
		bd, _ := paramValue(pt.Params, "boundary")
		return kindMultipart, []byte(bd)
	case equalFold(pt.Type, "message") &&
		(equalFold(pt.Subtype, "rfc822") || equalFold(pt.Subtype, "global")):
		return kindMessage, nil
	}
	return kindLeaf, nil
}

// The header fields the cache needs; the first occurrence of each counts.
const (
	hContentType = iota
	hCTE
	hID
	hDesc
	hMD5
	hDisp
	hLang
	hLoc
	hDate // envelope fields from here on
	hSubject
	hFrom
	hSender
	hReplyTo
	hTo
	hCc
	hBcc
	hInReplyTo
	hMessageID
	nFields
)

var contentFields = [...]string{
	hContentType: "type", hCTE: "transfer-encoding", hID: "id", hDesc: "description",
	hMD5: "md5", hDisp: "disposition", hLang: "language", hLoc: "location",
}

// envelopeFields is indexed by field - hDate.
var envelopeFields = [...]string{
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
	"in-reply-to", "message-id",
}

// Both tables cover their fields exactly (a compile-time check).
var (
	_ [nFields - hDate]struct{} = [len(envelopeFields)]struct{}{}
	_ [hDate]struct{}           = [len(contentFields)]struct{}{}
)

// headerInfo holds the unfolded values of the fields an entity's header
// has.
type headerInfo struct {
	v   [nFields][]byte
	has [nFields]bool
	// more holds the later occurrences of address fields: Dovecot, and
	// this package, join repeated address fields into one list.
	more  [][2]int // (field, index into moreV)
	moreV [][]byte
}

func (hi *headerInfo) scan(h []byte, msg bool) {
	for pos := 0; ; {
		f, next, ok := nextField(h, pos)
		if !ok {
			return
		}
		pos = next
		k := classify(f.name, msg)
		switch {
		case k < 0:
		case !hi.has[k]:
			hi.has[k] = true
			hi.v[k] = unfold(f.value)
		case k >= hFrom && k <= hBcc:
			hi.more = append(hi.more, [2]int{k, len(hi.moreV)})
			hi.moreV = append(hi.moreV, unfold(f.value))
		}
	}
}

func classify(name []byte, msg bool) int {
	if len(name) > 8 && equalFoldBytes(name[:8], "content-") {
		rest := name[8:]
		for k, s := range contentFields {
			if equalFoldBytes(rest, s) {
				return k
			}
		}
		return -1
	}
	if msg && len(name) >= 2 && len(name) <= 11 {
		for k, s := range envelopeFields {
			if equalFoldBytes(name, s) {
				return hDate + k
			}
		}
	}
	return -1
}

func (hi *headerInfo) nstring(k int) NString {
	if !hi.has[k] {
		return NString{}
	}
	return nstr(noNUL(string(hi.v[k])))
}

func (hi *headerInfo) addresses(k int) []Address {
	if !hi.has[k] {
		return nil
	}
	l := appendAddressList(nil, hi.v[k])
	for _, m := range hi.more {
		if m[0] == k {
			l = appendAddressList(l, hi.moreV[m[1]])
		}
	}
	return l
}

func (hi *headerInfo) envelope() Envelope {
	e := Envelope{
		Date:      hi.nstring(hDate),
		Subject:   hi.nstring(hSubject),
		From:      hi.addresses(hFrom),
		Sender:    hi.addresses(hSender),
		ReplyTo:   hi.addresses(hReplyTo),
		To:        hi.addresses(hTo),
		Cc:        hi.addresses(hCc),
		Bcc:       hi.addresses(hBcc),
		InReplyTo: hi.nstring(hInReplyTo),
		MessageID: hi.nstring(hMessageID),
	}
	if e.Subject.Valid {
		e.Subject.Value = forHumans(e.Subject.Value)
	}
	if e.Sender == nil {
		e.Sender = e.From
	}
	if e.ReplyTo == nil {
		e.ReplyTo = e.From
	}
	return e
}
