package message

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the first octet of every encoded Cache. It is part of the
// format: a reader refuses any other version, and a store that meets one
// re-parses the message file.
const Version = 1

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
	b = appendBytes(b, c.RawHeader)
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
	b = appendEnvelope(b, &c.Envelope)
	e := encoder{b: b}
	if err := e.part(&c.Body, 0, 0, c.Size); err != nil {
		return nil, fmt.Errorf("message: encode: %w", err)
	}
	return e.b, nil
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendNString(b []byte, s NString) []byte {
	if !s.Valid {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Value))+1)
	return append(b, s.Value...)
}

// Address list tags: 0 NIL, 1 "same as From" (Sender and Reply-To), n+2 a
// list of n addresses.
func appendAddrs(b []byte, l, from []Address, mayShare bool) []byte {
	switch {
	case len(l) == 0:
		return append(b, 0)
	case mayShare && addrsEqual(l, from):
		return append(b, 1)
	}
	b = binary.AppendUvarint(b, uint64(len(l))+2)
	for i := range l {
		a := &l[i]
		b = appendNString(b, a.Name)
		b = appendNString(b, a.ADL)
		b = appendNString(b, a.Mailbox)
		b = appendNString(b, a.Host)
	}
	return b
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

func appendEnvelope(b []byte, e *Envelope) []byte {
	b = appendNString(b, e.Date)
	b = appendNString(b, e.Subject)
	b = appendAddrs(b, e.From, nil, false)
	b = appendAddrs(b, e.Sender, e.From, true)
	b = appendAddrs(b, e.ReplyTo, e.From, true)
	b = appendAddrs(b, e.To, nil, false)
	b = appendAddrs(b, e.Cc, nil, false)
	b = appendAddrs(b, e.Bcc, nil, false)
	b = appendNString(b, e.InReplyTo)
	return appendNString(b, e.MessageID)
}

func appendParams(b []byte, ps []Param) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = appendString(b, p.Name)
		b = appendString(b, p.Value)
	}
	return b
}

type encoder struct {
	b     []byte
	parts int
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
	kind := byte(kindLeaf)
	switch {
	case len(pt.Parts) > 0 && pt.Message != nil:
		return fmt.Errorf("part is both multipart and message: %w", errCorrupt)
	case len(pt.Parts) > 0:
		kind = kindMultipart
	case pt.Message != nil:
		kind = kindMessage
	}
	b := e.b
	b = binary.AppendUvarint(b, uint64(pt.HeaderStart-lo))
	b = binary.AppendUvarint(b, uint64(pt.BodyStart-pt.HeaderStart))
	b = binary.AppendUvarint(b, uint64(pt.BodyEnd-pt.BodyStart))
	b = append(b, kind)
	b = appendString(b, pt.Type)
	b = appendString(b, pt.Subtype)
	b = appendParams(b, pt.Params)
	b = appendNString(b, pt.ID)
	b = appendNString(b, pt.Description)
	b = appendString(b, pt.Encoding)
	b = appendNString(b, pt.MD5)
	b = appendNString(b, pt.Disposition)
	b = appendParams(b, pt.DispositionParams)
	b = binary.AppendUvarint(b, uint64(len(pt.Language)))
	for _, l := range pt.Language {
		b = appendString(b, l)
	}
	b = appendNString(b, pt.Location)
	if pt.Lines < 0 || pt.BinarySize < -1 {
		return fmt.Errorf("negative line count or binary size: %w", errCorrupt)
	}
	b = binary.AppendUvarint(b, uint64(pt.Lines))
	b = binary.AppendUvarint(b, uint64(pt.BinarySize+1))
	e.b = b
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
		e.b = appendEnvelope(e.b, &pt.Message.Envelope)
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
		return fmt.Errorf("message: decode: record version %d, want %d: %w", data[0], Version, errCorrupt)
	}
	d := decoder{s: string(data), i: 1}
	var nc Cache
	size := d.uvarint()
	if size > 1<<62 {
		d.fail(errCorrupt)
	}
	nc.Size = int64(size)
	if h := d.bytes(); len(h) > 0 {
		nc.RawHeader = []byte(h)
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
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.i) {
		d.fail(errTruncated)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *decoder) bytes() string { return d.str() }

func (d *decoder) nstring() NString {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return NString{}
	}
	n--
	if n > uint64(len(d.s)-d.i) {
		d.fail(errTruncated)
		return NString{}
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return NString{Value: s, Valid: true}
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
	n := d.count(2, MaxParts)
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
