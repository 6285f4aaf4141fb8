package message

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
)

// Header fields kept in the record (version 4).
//
// A version 4 record may end with some of the top-level header's fields,
// so that the header fields mail clients fetch for their message lists
// (BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID …)]), and
// for a small header the whole of it, are answered without opening the
// message file. Most of those fields are the envelope and the top-level
// Content-Type written out again: a field that is exactly what a line
// template (lineTemplates) makes of the record's other contents is kept as
// the template's number, one octet, and only the others as their octets.
//
//	kept  = 0x00 (KeptNone) /
//	        state:1 octet (1 KeptFieldsOnly, 2 KeptAll) count:uv count × line
//	line  = uv 0 then str: the field's octets as stored, name to line end,
//	        folding included /
//	        uv t, 1 ≤ t ≤ len(lineTemplates): lineTemplates[t-1] applied
//	        to the record (its prefix, its value, CRLF)
//
// With state 2 the lines are every field of the header, in order, and the
// header is those lines followed by its last header-len − Σ line lengths
// octets: none, LF or CRLF (the empty line ending it). With state 1 they
// are exactly the header's fields named in KeptFields, in order. The
// encoder writes state 2 when the encoded lines take at most wholeBudget
// octets, else state 1 when those of the KeptFields take at most
// keptBudget, else 0x00;
// it checks that what it wrote renders as the octets it was given before
// it keeps it. Every version 4 record has the section, 0x00 at least. A
// decoder checks the structure; a section whose lines do
// not add up to the header's length renders as KeptNone (the caller then
// reads the file, which is always right).

// Budgets of a kept-header section, in octets: the whole header is kept
// when it takes at most wholeBudget (the fields of KeptFields cost about
// one octet each in common mail; other lines, a Received or a DKIM
// signature, cost their length, which the message file has anyway), and
// the KeptFields when they take at most keptBudget (a long References).
const (
	wholeBudget = 256
	keptBudget  = 1024
)

// KeptFields are the top-level header fields (lower case) that a version 4
// record keeps whenever they fit in it: those of the big clients' message
// list fetches (Thunderbird's, K-9's and Apple Mail's common part) and the
// MIME fields that go with them.
var KeptFields = [...]string{
	"from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date",
	"message-id", "in-reply-to", "references", "newsgroups",
	"mime-version", "content-type", "content-transfer-encoding",
	"priority", "x-priority", "importance", "list-id",
}

// IsKeptField reports whether name (any case) is one of KeptFields.
func IsKeptField(name string) bool {
	for _, k := range KeptFields {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

func isKeptFieldBytes(name []byte) bool {
	for _, k := range KeptFields {
		if equalFoldBytes(name, k) {
			return true
		}
	}
	return false
}

// AllKept reports whether every one of names is in KeptFields.
func AllKept(names []string) bool {
	for _, n := range names {
		if !IsKeptField(n) {
			return false
		}
	}
	return true
}

// KeptState says what part of the top-level header a Cache holds.
type KeptState uint8

const (
	// KeptNone: none of it; the header is read from the message file.
	KeptNone KeptState = iota
	// KeptFieldsOnly: every field named in KeptFields and no other, so
	// HEADER.FIELDS of those names is answered from it exactly.
	KeptFieldsOnly
	// KeptAll: the whole header block, octet for octet (BODY[HEADER]).
	KeptAll
)

// KeptHeader returns the top-level header octets c holds without the
// message file, and which they are: the whole header (RawHeader, when it
// is loaded, or a record's complete section), its KeptFields only, or
// nothing. The block is the caller's to keep.
func (c *Cache) KeptHeader() ([]byte, KeptState) {
	if c.RawHeader != nil || c.Body.BodyStart == 0 {
		return c.RawHeader, KeptAll
	}
	if c.kept.state == KeptNone {
		return nil, KeptNone
	}
	d := decoder{s: c.kept.rec, i: c.kept.off, hlen: uint64(c.Body.BodyStart)}
	b, st := d.kept(c, make([]byte, 0, min(c.Body.BodyStart, 4<<10)), true) // the whole header at best, often far less
	if d.err != nil {
		return nil, KeptNone
	}
	return b, st
}

// keptRef is where a decoded record's kept-header section is.
type keptRef struct {
	rec   string // the record
	off   int    // the section's first octet in rec
	state KeptState
}

// A lineTemplate makes one header field from the record's other contents:
// prefix, the value, CRLF. value appends the value to b, and reports false
// when the record has none to write, or when b would grow past max octets
// (which bounds the work a long address list costs, per line).
type lineTemplate struct {
	prefix string
	value  func(c *Cache, b []byte, max int) ([]byte, bool)
}

// lineTemplates is part of the format (its order too: a change is a new
// version).
var lineTemplates = func() []lineTemplate {
	var t []lineTemplate
	addrFields := []struct {
		name string
		list func(*Envelope) []Address
	}{
		{"From", func(e *Envelope) []Address { return e.From }},
		{"Sender", func(e *Envelope) []Address { return e.Sender }},
		{"Reply-To", func(e *Envelope) []Address { return e.ReplyTo }},
		{"To", func(e *Envelope) []Address { return e.To }},
		{"Cc", func(e *Envelope) []Address { return e.Cc }},
		{"Bcc", func(e *Envelope) []Address { return e.Bcc }},
	}
	for _, f := range addrFields {
		for _, always := range []bool{false, true} {
			t = append(t, lineTemplate{f.name + ": ", func(c *Cache, b []byte, max int) ([]byte, bool) {
				return appendAddrList(b, f.list(&c.Envelope), always, max)
			}})
		}
	}
	strFields := []struct {
		name string
		v    func(*Envelope) NString
	}{
		{"Subject", func(e *Envelope) NString { return e.Subject }},
		{"Date", func(e *Envelope) NString { return e.Date }},
		{"Message-ID", func(e *Envelope) NString { return e.MessageID }},
		{"Message-Id", func(e *Envelope) NString { return e.MessageID }},
		{"In-Reply-To", func(e *Envelope) NString { return e.InReplyTo }},
	}
	for _, f := range strFields {
		t = append(t, lineTemplate{f.name + ": ", func(c *Cache, b []byte, max int) ([]byte, bool) {
			v := f.v(&c.Envelope)
			return append(b, v.Value...), v.Valid && len(b)+len(v.Value) <= max
		}})
	}
	for _, p := range []string{"MIME-Version: ", "Mime-Version: "} {
		t = append(t, lineTemplate{p, func(_ *Cache, b []byte, max int) ([]byte, bool) {
			return append(b, "1.0"...), len(b)+3 <= max
		}})
	}
	for _, sep := range []string{"; ", ";\r\n\t", ";\r\n "} {
		for _, always := range []bool{false, true} {
			t = append(t, lineTemplate{"Content-Type: ", func(c *Cache, b []byte, max int) ([]byte, bool) {
				return appendContentType(b, &c.Body, sep, always, max)
			}})
		}
	}
	t = append(t, lineTemplate{"Content-Transfer-Encoding: ", func(c *Cache, b []byte, max int) ([]byte, bool) {
		return append(b, c.Body.Encoding...), len(b)+len(c.Body.Encoding) <= max
	}})
	return t
}()

// appendAddrList writes an address list as "name <mailbox@host>" or
// "mailbox@host", comma and space between; a name is quoted when it is not
// a phrase of atoms and dots, or always. Groups and source routes are not
// written (false), nor past max octets of b.
func appendAddrList(b []byte, l []Address, always bool, max int) ([]byte, bool) {
	if len(l) == 0 {
		return b, false
	}
	for i := range l {
		a := &l[i]
		if a.ADL.Valid || !a.Mailbox.Valid || !a.Host.Valid || len(b) > max {
			return b, false
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		if a.Name.Valid {
			if always || !isPhrase(a.Name.Value) {
				b = appendQuoted(b, a.Name.Value)
			} else {
				b = append(b, a.Name.Value...)
			}
			b = append(b, " <"...)
		}
		b = append(b, a.Mailbox.Value...)
		b = append(b, '@')
		b = append(b, a.Host.Value...)
		if a.Name.Valid {
			b = append(b, '>')
		}
	}
	return b, len(b) <= max
}

// isPhrase reports whether s can be a display name unquoted: atoms and
// dots separated by single spaces.
func isPhrase(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAtext(c) && c != '.' && (c != ' ' || s[i+1] == ' ') {
			return false
		}
	}
	return true
}

// appendQuoted writes s as an RFC 5322 quoted-string.
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

// appendContentType writes a part's Content-Type value: type/subtype and
// each parameter after sep, its value quoted when it is not a MIME token,
// or always; false past max octets of b.
func appendContentType(b []byte, p *Part, sep string, always bool, max int) ([]byte, bool) {
	b = append(b, p.Type...)
	b = append(b, '/')
	b = append(b, p.Subtype...)
	for _, pr := range p.Params {
		if len(b) > max {
			return b, false
		}
		b = append(b, sep...)
		b = append(b, pr.Name...)
		b = append(b, '=')
		if always || !isTokenString(pr.Value) {
			b = appendQuoted(b, pr.Value)
		} else {
			b = append(b, pr.Value...)
		}
	}
	return b, len(b) <= max
}

func isTokenString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isToken(s[i]) {
			return false
		}
	}
	return true
}

// keptHeader writes c's kept-header section, if any fits.
func (e *encoder) keptHeader(c *Cache) {
	block, st := c.KeptHeader() // the header, or a decoded record's fields, re-encoded
	mark := len(e.b)
	switch {
	case st == KeptNone, c.Body.BodyStart == 0: // nothing to keep
	case st == KeptAll && e.keptLines(c, block, KeptAll, wholeBudget):
		return
	default:
		e.b = e.b[:mark]
		if e.keptLines(c, block, KeptFieldsOnly, keptBudget) {
			return
		}
	}
	e.b = append(e.b[:mark], byte(KeptNone))
}

// keptLines writes a section of state st made from block, and reports
// whether it is within budget octets and renders back as it should: block
// itself (KeptAll) or its KeptFields (KeptFieldsOnly).
func (e *encoder) keptLines(c *Cache, block []byte, st KeptState, budget int) bool {
	want := make([]byte, 0, len(block)) // what the section must render as
	n, pos := 0, 0
	for {
		f, next, ok := nextField(block, pos)
		if !ok {
			break
		}
		pos = next
		if st == KeptAll || f.name != nil && isKeptFieldBytes(f.name) {
			n++
			want = append(want, f.raw...)
		}
	}
	if st == KeptAll {
		switch string(block[pos:]) {
		case "", "\n", "\r\n":
			want = append(want, block[pos:]...)
		default:
			return false // the fields do not make the whole block
		}
	}
	start := len(e.b)
	e.b = append(e.b, byte(st))
	e.b = binary.AppendUvarint(e.b, uint64(n))
	scratch := make([]byte, 0, 128)
	for pos = 0; ; {
		f, next, ok := nextField(block, pos)
		if !ok {
			break
		}
		pos = next
		if st != KeptAll && (f.name == nil || !isKeptFieldBytes(f.name)) {
			continue
		}
		t := 0
		for i := range lineTemplates {
			lt := &lineTemplates[i]
			if !bytes.HasPrefix(f.raw, []byte(lt.prefix)) {
				continue
			}
			var ok bool
			scratch, ok = lt.value(c, append(scratch[:0], lt.prefix...), len(f.raw)-2)
			if ok && len(f.raw) == len(scratch)+2 && bytes.HasPrefix(f.raw, scratch) && bytes.HasSuffix(f.raw, []byte("\r\n")) {
				t = i + 1
				break
			}
		}
		e.b = binary.AppendUvarint(e.b, uint64(t))
		if t == 0 {
			e.str(string(f.raw))
		}
		if len(e.b)-start > budget {
			return false
		}
	}
	d := decoder{s: string(e.b[e.start:]), i: start - e.start, hlen: uint64(c.Body.BodyStart)}
	got, gst := d.kept(c, make([]byte, 0, len(want)), true)
	return d.err == nil && gst == st && bytes.Equal(got, want)
}

// kept reads a kept-header section at d.i, for c's record, and renders it
// when render is set, appending to b (which has room for the header, at
// best). The state is KeptNone when a complete section's lines do not add
// up to the header's length.
func (d *decoder) kept(c *Cache, b []byte, render bool) ([]byte, KeptState) {
	st := KeptState(d.byte())
	switch {
	case d.err != nil, st == KeptNone:
		return nil, KeptNone
	case st != KeptFieldsOnly && st != KeptAll:
		d.fail(errCorrupt)
		return nil, KeptNone
	}
	n := d.count(1, MaxParts)
	for range n {
		t := d.uvarint()
		switch {
		case d.err != nil:
			return nil, KeptNone
		case t == 0:
			s := d.str()
			if len(s) == 0 && d.err == nil {
				d.fail(errCorrupt)
			}
			if render && uint64(len(b)+len(s)) > d.hlen {
				return nil, KeptNone
			}
			b = append(b, s...)
		case t <= uint64(len(lineTemplates)):
			if !render {
				continue
			}
			// The lines are a part of the header: no longer than it, which
			// bounds what a hostile record can make this render.
			lt := &lineTemplates[t-1]
			var ok bool
			if b, ok = lt.value(c, append(b, lt.prefix...), int(min(d.hlen, math.MaxInt32))-2); !ok {
				return nil, KeptNone
			}
			b = append(b, '\r', '\n')
		default:
			d.fail(errCorrupt)
		}
		if d.err != nil {
			return nil, KeptNone
		}
	}
	if !render {
		return nil, st
	}
	if st == KeptAll {
		switch d.hlen - uint64(len(b)) {
		case 0:
		case 1:
			b = append(b, '\n')
		case 2:
			b = append(b, '\r', '\n')
		default: // also when b is longer than the header
			return nil, KeptNone
		}
	}
	if b == nil {
		b = []byte{}
	}
	return b, st
}
