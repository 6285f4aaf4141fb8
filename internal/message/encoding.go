package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Version is the first octet of every encoded Cache. It is part of the
// format: a reader refuses any other version with ErrVersion, and a store
// that meets one re-parses the message file. Version 1 had no string
// references.
const Version = 2

// ErrVersion is returned by UnmarshalBinary for a record of another format
// version: parse the message file again and store the new record.
var ErrVersion = errors.New("cache record of another version")

// Range of an encoded Date: years 1 to 9999, offsets under 100 hours.
const (
	minUnix   = -62135596800
	maxUnix   = 253402300799
	maxOffset = 100 * 3600
)

// minPartLen is the fewest octets one encoded part takes; it bounds what a
// part count in untrusted input can make the decoder allocate.
const minPartLen = 16

var (
	errTruncated = errors.New("truncated")
	errCorrupt   = errors.New("corrupt")
)

// MarshalBinary encodes c in the format described in the package
// documentation.
func (c *Cache) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, 256+len(c.RawHeader)))
}

// AppendBinary appends the encoding of c to b.
func (c *Cache) AppendBinary(b []byte) ([]byte, error) {
	if c.Size < 0 || int64(len(c.RawHeader)) != c.Body.BodyStart || c.Body.HeaderStart != 0 || c.Body.BodyEnd != c.Size {
		return nil, fmt.Errorf("message: encode: top-level offsets do not match size %d and header of %d octets: %w", c.Size, len(c.RawHeader), errCorrupt)
	}
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(c.Size))
	b = binary.AppendUvarint(b, uint64(len(c.RawHeader)))
	b = append(b, c.RawHeader...)
	if c.Date == nil {
		b = append(b, 0)
	} else {
		_, off := c.Date.Zone()
		u := c.Date.Unix()
		if u < minUnix || u > maxUnix || off <= -maxOffset || off >= maxOffset {
			return nil, fmt.Errorf("message: encode: date %v out of range: %w", c.Date, errCorrupt)
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, u)
		b = binary.AppendVarint(b, int64(off))
	}
	e := encoder{b: b, hdr: string(c.RawHeader), budget: refBudget}
	e.envelope(&c.Envelope)
	if err := e.part(&c.Body, 0, 0, c.Size); err != nil {
		return nil, fmt.Errorf("message: encode: %w", err)
	}
	return e.b, nil
}

type encoder struct {
	b      []byte
	hdr    string // the top-level header, which strings may refer to
	budget int    // octets of header searching left
	parts  int
}

// minRef is the shortest string worth encoding as a reference into the
// header; refBudget bounds the octets searched for references, so that a
// hostile header with thousands of addresses costs linear time, not
// quadratic (past it, strings are written out).
const (
	minRef    = 4
	refBudget = 4 << 20
)

// str writes a string: uv (len<<1) then the octets, or uv (len<<1 | 1)
// then uv offset of the same octets in the top-level header.
func (e *encoder) str(s string) {
	e.tagged(s, 0)
}

// nstr writes an nstring: uv 0 for NIL, else a string whose tag is one
// more than str's.
func (e *encoder) nstr(s NString) {
	if !s.Valid {
		e.b = append(e.b, 0)
		return
	}
	e.tagged(s.Value, 1)
}

func (e *encoder) tagged(s string, plus uint64) {
	if len(s) >= minRef && e.budget >= len(e.hdr) {
		e.budget -= len(e.hdr)
		if i := strings.Index(e.hdr, s); i >= 0 {
			e.b = binary.AppendUvarint(e.b, uint64(len(s))<<1|1+plus)
			e.b = binary.AppendUvarint(e.b, uint64(i))
			return
		}
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(s))<<1+plus)
	e.b = append(e.b, s...)
}

// Address list tags: 0 NIL, 1 "same as From" (Sender and Reply-To), n+2 a
// list of n addresses.
func (e *encoder) addrs(l, from []Address, mayShare bool) {
	switch {
	case len(l) == 0:
		e.b = append(e.b, 0)
		return
	case mayShare && addrsEqual(l, from):
		e.b = append(e.b, 1)
		return
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(l))+2)
	for i := range l {
		a := &l[i]
		e.nstr(a.Name)
		e.nstr(a.ADL)
		e.nstr(a.Mailbox)
		e.nstr(a.Host)
	}
}

func addrsEqual(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (e *encoder) envelope(v *Envelope) {
	e.nstr(v.Date)
	e.nstr(v.Subject)
	e.addrs(v.From, nil, false)
	e.addrs(v.Sender, v.From, true)
	e.addrs(v.ReplyTo, v.From, true)
	e.addrs(v.To, nil, false)
	e.addrs(v.Cc, nil, false)
	e.addrs(v.Bcc, nil, false)
	e.nstr(v.InReplyTo)
	e.nstr(v.MessageID)
}

func (e *encoder) params(ps []Param) {
	e.b = binary.AppendUvarint(e.b, uint64(len(ps)))
	for _, p := range ps {
		e.str(p.Name)
		e.str(p.Value)
	}
}

// part encodes pt, which must lie in [lo, hi] of the message; its header
// start is written relative to lo.
func (e *encoder) part(pt *Part, depth int, lo, hi int64) error {
	e.parts++
	if depth > MaxDepth || e.parts > MaxParts {
		return fmt.Errorf("part tree deeper than %d or larger than %d parts: %w", MaxDepth, MaxParts, errCorrupt)
	}
	if pt.HeaderStart < lo || pt.BodyStart < pt.HeaderStart || pt.BodyEnd < pt.BodyStart || pt.BodyEnd > hi {
		return fmt.Errorf("part offsets %d/%d/%d outside %d..%d: %w", pt.HeaderStart, pt.BodyStart, pt.BodyEnd, lo, hi, errCorrupt)
	}
	if pt.Lines < 0 || pt.BinarySize < -1 {
		return fmt.Errorf("negative line count or binary size: %w", errCorrupt)
	}
	kind := byte(kindLeaf)
	switch {
	case len(pt.Parts) > 0 && pt.Message != nil:
		return fmt.Errorf("part is both multipart and message: %w", errCorrupt)
	case len(pt.Parts) > 0:
		kind = kindMultipart
	case pt.Message != nil:
		kind = kindMessage
	}
	e.b = binary.AppendUvarint(e.b, uint64(pt.HeaderStart-lo))
	e.b = binary.AppendUvarint(e.b, uint64(pt.BodyStart-pt.HeaderStart))
	e.b = binary.AppendUvarint(e.b, uint64(pt.BodyEnd-pt.BodyStart))
	e.b = append(e.b, kind)
	e.str(pt.Type)
	e.str(pt.Subtype)
	e.params(pt.Params)
	e.nstr(pt.ID)
	e.nstr(pt.Description)
	e.str(pt.Encoding)
	e.nstr(pt.MD5)
	e.nstr(pt.Disposition)
	e.params(pt.DispositionParams)
	e.b = binary.AppendUvarint(e.b, uint64(len(pt.Language)))
	for _, l := range pt.Language {
		e.str(l)
	}
	e.nstr(pt.Location)
	e.b = binary.AppendUvarint(e.b, uint64(pt.Lines))
	e.b = binary.AppendUvarint(e.b, uint64(pt.BinarySize+1))
	switch kind {
	case kindMultipart:
		e.b = binary.AppendUvarint(e.b, uint64(len(pt.Parts)))
		cur := pt.BodyStart
		for i := range pt.Parts {
			if err := e.part(&pt.Parts[i], depth+1, cur, pt.BodyEnd); err != nil {
				return err
			}
			cur = pt.Parts[i].BodyEnd
		}
	case kindMessage:
		e.envelope(&pt.Message.Envelope)
		return e.part(&pt.Message.Body, depth+1, pt.BodyStart, pt.BodyEnd)
	}
	return nil
}

// UnmarshalBinary decodes data made by MarshalBinary into c. Any input is
// safe: corrupt or hostile data gives an error, never a panic or an
// allocation much larger than data.
func (c *Cache) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("message: decode: empty record: %w", errTruncated)
	}
	if data[0] != Version {
		return fmt.Errorf("message: decode: record version %d, want %d: %w", data[0], Version, ErrVersion)
	}
	d := decoder{s: string(data), i: 1}
	var nc Cache
	size := d.uvarint()
	if size > 1<<62 {
		d.fail(errCorrupt)
	}
	nc.Size = int64(size)
	if n := d.uvarint(); d.err == nil {
		if n > uint64(len(d.s)-d.i) {
			d.fail(errTruncated)
		} else {
			d.hdr = d.s[d.i : d.i+int(n)]
			d.i += int(n)
			if n > 0 {
				nc.RawHeader = []byte(d.hdr)
			}
		}
	}
	switch d.byte() {
	case 0:
	case 1:
		u, off := d.varint(), d.varint()
		if u < minUnix || u > maxUnix || off <= -maxOffset || off >= maxOffset {
			d.fail(errCorrupt)
		} else {
			nc.Date = mkDate(u, int(off))
		}
	default:
		d.fail(errCorrupt)
	}
	d.envelope(&nc.Envelope)
	d.part(&nc.Body, 0, 0, nc.Size)
	if d.err == nil && d.i != len(d.s) {
		d.fail(errCorrupt) // trailing octets
	}
	if d.err == nil && (nc.Body.HeaderStart != 0 || nc.Body.BodyStart != int64(len(nc.RawHeader)) || nc.Body.BodyEnd != nc.Size) {
		d.fail(errCorrupt)
	}
	if d.err != nil {
		return fmt.Errorf("message: decode: at octet %d of %d: %w", d.i, len(d.s), d.err)
	}
	*c = nc
	return nil
}

// decoder reads from one string copy of the record, so every decoded
// string is a substring of it and costs no allocation. After the first
// error every read returns a zero value.
type decoder struct {
	s     string
	hdr   string // the top-level header, within s
	i     int
	err   error
	parts int
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.i >= len(d.s) {
		d.fail(errTruncated)
		return 0
	}
	c := d.s[d.i]
	d.i++
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for n := 0; ; n++ {
		if d.i >= len(d.s) {
			d.fail(errTruncated)
			return 0
		}
		c := d.s[d.i]
		d.i++
		if n == binary.MaxVarintLen64-1 && c > 1 {
			d.fail(errCorrupt) // overflow
			return 0
		}
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a count of elements of at least min octets each, at most max.
func (d *decoder) count(min, max int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(max) || n > uint64((len(d.s)-d.i)/min) {
		d.fail(errCorrupt)
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	return d.tagged(d.uvarint())
}

// tagged reads the rest of a string whose tag t was read.
func (d *decoder) tagged(t uint64) string {
	if d.err != nil {
		return ""
	}
	n := t >> 1
	if t&1 == 1 {
		off := d.uvarint()
		if d.err != nil {
			return ""
		}
		if off > uint64(len(d.hdr)) || n > uint64(len(d.hdr))-off {
			d.fail(errCorrupt)
			return ""
		}
		return d.hdr[off : off+n]
	}
	if n > uint64(len(d.s)-d.i) {
		d.fail(errTruncated)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *decoder) nstring() NString {
	t := d.uvarint()
	if d.err != nil || t == 0 {
		return NString{}
	}
	return NString{Value: d.tagged(t - 1), Valid: d.err == nil}
}

func (d *decoder) addrs(from []Address, mayShare bool) []Address {
	tag := d.uvarint()
	switch {
	case d.err != nil || tag == 0:
		return nil
	case tag == 1:
		if !mayShare || from == nil {
			d.fail(errCorrupt)
			return nil
		}
		return from
	}
	n := tag - 2
	if n > MaxAddresses || n > uint64((len(d.s)-d.i)/4) {
		d.fail(errCorrupt)
		return nil
	}
	if n == 0 {
		return nil // an empty list is NIL
	}
	l := make([]Address, n)
	for i := range l {
		l[i] = Address{Name: d.nstring(), ADL: d.nstring(), Mailbox: d.nstring(), Host: d.nstring()}
	}
	return l
}

func (d *decoder) envelope(e *Envelope) {
	e.Date = d.nstring()
	e.Subject = d.nstring()
	e.From = d.addrs(nil, false)
	e.Sender = d.addrs(e.From, true)
	e.ReplyTo = d.addrs(e.From, true)
	e.To = d.addrs(nil, false)
	e.Cc = d.addrs(nil, false)
	e.Bcc = d.addrs(nil, false)
	e.InReplyTo = d.nstring()
	e.MessageID = d.nstring()
}

func (d *decoder) params() []Param {
	n := d.count(2, MaxParams)
	if n == 0 {
		return nil
	}
	ps := make([]Param, n)
	for i := range ps {
		ps[i] = Param{Name: d.str(), Value: d.str()}
	}
	return ps
}

// part decodes one part that must lie in [lo, hi].
func (d *decoder) part(pt *Part, depth int, lo, hi int64) {
	d.parts++
	if depth > MaxDepth || d.parts > MaxParts {
		d.fail(errCorrupt)
		return
	}
	span := uint64(hi - lo)
	hs := d.uvarint()
	hl := d.uvarint()
	bl := d.uvarint()
	if d.err != nil {
		return
	}
	if hs > span || hl > span-hs || bl > span-hs-hl {
		d.fail(errCorrupt)
		return
	}
	pt.HeaderStart = lo + int64(hs)
	pt.BodyStart = pt.HeaderStart + int64(hl)
	pt.BodyEnd = pt.BodyStart + int64(bl)
	kind := d.byte()
	pt.Type = d.str()
	pt.Subtype = d.str()
	pt.Params = d.params()
	pt.ID = d.nstring()
	pt.Description = d.nstring()
	pt.Encoding = d.str()
	pt.MD5 = d.nstring()
	pt.Disposition = d.nstring()
	pt.DispositionParams = d.params()
	if n := d.count(1, MaxAddresses); n > 0 {
		pt.Language = make([]string, n)
		for i := range pt.Language {
			pt.Language[i] = d.str()
		}
	}
	pt.Location = d.nstring()
	lines := d.uvarint()
	bin := d.uvarint()
	if lines > 1<<62 || bin > 1<<62 {
		d.fail(errCorrupt)
	}
	pt.Lines = int64(lines)
	pt.BinarySize = int64(bin) - 1
	if d.err != nil {
		return
	}
	switch kind {
	case kindLeaf:
	case kindMultipart:
		n := d.count(minPartLen, MaxParts)
		if n == 0 {
			d.fail(errCorrupt) // a multipart always has a part
			return
		}
		pt.Parts = make([]Part, n)
		cur := pt.BodyStart
		for i := range pt.Parts {
			d.part(&pt.Parts[i], depth+1, cur, pt.BodyEnd)
			if d.err != nil {
				return
			}
			cur = pt.Parts[i].BodyEnd
		}
	case kindMessage:
		m := &Message{}
		d.envelope(&m.Envelope)
		d.part(&m.Body, depth+1, pt.BodyStart, pt.BodyEnd)
		pt.Message = m
	default:
		d.fail(errCorrupt)
	}
}
