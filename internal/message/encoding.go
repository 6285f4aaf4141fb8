package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version is the first octet of every encoded Cache. It is part of the
// format: a reader refuses a version it does not know with ErrVersion, and
// a store that meets one re-parses the message file. Version 1 had no
// string references; version 2 held the top-level header octets, which
// strings could refer to; version 3 holds only the header's length (the
// header is read from the message file), its strings refer to earlier
// octets of the record, and it leaves out a Date field that the parsed
// date gives and part fields with their commonest values.
// Version 4 is version 3 with, at its end, some or all of the top-level
// header's fields (kept.go).
// UnmarshalBinary reads versions 2 to 4; MarshalBinary writes version 4.
const Version = 4

// version2 and version3 are previous formats, still read: existing
// databases hold them.
const (
	version2 = 2
	version3 = 3
)

// ErrVersion is returned by UnmarshalBinary for a record of another format
// version: parse the message file again and store the new record.
var ErrVersion = errors.New("cache record of another version")

// Range of an encoded Date: years 1 to 9999, offsets under 100 hours.
const (
	minUnix   = -62135596800
	maxUnix   = 253402300799
	maxOffset = 100 * 3600
)

// minPartLen is the fewest octets one encoded part takes (3 offsets, flags
// and a line count, all else left out by the flags); it bounds what a part
// count in untrusted input can make the decoder allocate.
const minPartLen = 5

// Part flags: the kind (kindLeaf, kindMultipart, kindMessage) in the low
// two bits of a part's flags octet, and fields left out of a version 3
// record because they have their commonest value.
const (
	kindMask    = 3
	flagPlain   = 4  // text/plain; charset=us-ascii (RFC 2045's default)
	flag7bit    = 8  // Content-Transfer-Encoding 7bit (the default)
	flagNoExt   = 16 // no ID, description, MD5, disposition, languages, location
	flagBinSize = 32 // BinarySize is the body size
	flagsV3     = 63 // every flag version 3 knows
)

// String references (version 3): a string of at least minRef octets that
// the record already holds before it is written as a reference to them
// when that is shorter. The encoder looks for it in the first refWindow
// octets of the record only (offsets of 2 octets at most), and stops
// looking once it has scanned refBudget octets for the record, so that a
// record of many strings (a hostile message's thousands of addresses or
// parameters) costs linear time.
const (
	minRef    = 4
	refWindow = 16 << 10
	refBudget = 1 << 20
)

// dateLayouts are the forms of a Date field a version 3 record does not
// hold when the field is exactly the parsed Date so formatted: date octet
// 2+k says the top-level envelope's Date is the parsed date formatted with
// dateLayouts[k]. The list is part of the format (a change is a new
// version). "-0000" is a literal (RFC 5322's "no zone information", what
// Python's email.utils.formatdate writes by default): it gives only a zero
// offset.
var dateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 -0700", // time.RFC1123Z
	"Mon, 2 Jan 2006 15:04:05 -0700",  // the day unpadded, as in RFC 5322's examples
	"Mon, 02 Jan 2006 15:04:05 -0000",
	"Mon, 2 Jan 2006 15:04:05 -0000",
}

// maxDateLen bounds a date formatted with dateLayouts (a year of 5 digits
// at most: 9999 plus an offset).
const maxDateLen = 32

// dateLayout returns k when v is t formatted with dateLayouts[k], else -1.
// (Only t's instant in seconds and its offset matter to these layouts, so
// t formats as the date the decoder rebuilds from them.)
func dateLayout(t *time.Time, v NString) int {
	if t == nil || !v.Valid || len(v.Value) > maxDateLen {
		return -1
	}
	var buf [maxDateLen + 8]byte
	for k, l := range dateLayouts {
		if string(t.AppendFormat(buf[:0], l)) == v.Value {
			return k
		}
	}
	return -1
}

var (
	errTruncated = errors.New("truncated")
	errCorrupt   = errors.New("corrupt")
)

// MarshalBinary encodes c in the format described in the package
// documentation.
func (c *Cache) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, 256))
}

// AppendBinary appends the encoding of c to b. The header octets are not
// part of it: RawHeader, when set, must be Body.BodyStart octets long, and
// may be nil.
func (c *Cache) AppendBinary(b []byte) ([]byte, error) {
	if c.Size < 0 || c.RawHeader != nil && int64(len(c.RawHeader)) != c.Body.BodyStart ||
		c.Body.HeaderStart != 0 || c.Body.BodyStart < 0 || c.Body.BodyEnd != c.Size {
		return nil, fmt.Errorf("message: encode: top-level offsets %d/%d/%d do not match size %d and header of %d octets: %w",
			c.Body.HeaderStart, c.Body.BodyStart, c.Body.BodyEnd, c.Size, len(c.RawHeader), errCorrupt)
	}
	e := encoder{b: b, start: len(b), budget: refBudget}
	e.b = append(e.b, Version)
	e.b = binary.AppendUvarint(e.b, uint64(c.Size))
	e.b = binary.AppendUvarint(e.b, uint64(c.Body.BodyStart))
	layout := -1
	if c.Date == nil {
		e.b = append(e.b, 0)
	} else {
		_, off := c.Date.Zone()
		u := c.Date.Unix()
		if u < minUnix || u > maxUnix || off <= -maxOffset || off >= maxOffset {
			return nil, fmt.Errorf("message: encode: date %v out of range: %w", c.Date, errCorrupt)
		}
		layout = dateLayout(c.Date, c.Envelope.Date)
		e.b = append(e.b, byte(2+layout)) // 1 when layout is -1
		e.b = binary.AppendVarint(e.b, u)
		e.b = binary.AppendVarint(e.b, int64(off))
	}
	e.envelope(&c.Envelope, layout >= 0)
	if err := e.part(&c.Body, 0, 0, c.Size); err != nil {
		return nil, fmt.Errorf("message: encode: %w", err)
	}
	e.keptHeader(c)
	return e.b, nil
}

type encoder struct {
	b      []byte
	start  int // where the record starts in b
	budget int // octets the search for references may still scan
	parts  int
}

// str writes a string: uv (len<<1) then the octets, or, when the record
// already holds them before the tag and that is shorter, uv (len<<1 | 1)
// then their offset in the record.
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
	at := len(e.b)
	tag := uint64(len(s))<<1 + plus
	e.b = binary.AppendUvarint(e.b, tag)
	e.b = append(e.b, s...)
	// Look for the string (now at the end of b) in the record before its
	// tag, the first occurrence having the smallest offset.
	end := min(at, e.start+refWindow)
	if len(s) < minRef || end-e.start < len(s) || e.budget < end-e.start {
		return
	}
	e.budget -= end - e.start
	i := bytes.Index(e.b[e.start:end], e.b[len(e.b)-len(s):])
	if i >= 0 && uvlen(tag+1)+uvlen(uint64(i)) < len(e.b)-at {
		e.b = binary.AppendUvarint(e.b[:at], tag+1)
		e.b = binary.AppendUvarint(e.b, uint64(i))
	}
}

// uvlen is the length of x as a uv.
func uvlen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
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

// envelope writes v, without its Date when the record's date octet says
// what it is.
func (e *encoder) envelope(v *Envelope, dateKnown bool) {
	if !dateKnown {
		e.nstr(v.Date)
	}
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
// start is written relative to lo. The top-level part (depth 0) has no
// offsets in the record: the caller checked that they are 0, the header
// length and the size.
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
	flags := kind
	if pt.Type == "text" && pt.Subtype == "plain" && len(pt.Params) == 1 &&
		pt.Params[0] == (Param{Name: "charset", Value: "us-ascii"}) {
		flags |= flagPlain
	}
	if pt.Encoding == "7bit" {
		flags |= flag7bit
	}
	if !pt.ID.Valid && !pt.Description.Valid && !pt.MD5.Valid && !pt.Disposition.Valid &&
		len(pt.DispositionParams) == 0 && len(pt.Language) == 0 && !pt.Location.Valid {
		flags |= flagNoExt
	}
	if pt.BinarySize == pt.BodyEnd-pt.BodyStart {
		flags |= flagBinSize
	}
	if depth > 0 {
		e.b = binary.AppendUvarint(e.b, uint64(pt.HeaderStart-lo))
		e.b = binary.AppendUvarint(e.b, uint64(pt.BodyStart-pt.HeaderStart))
		e.b = binary.AppendUvarint(e.b, uint64(pt.BodyEnd-pt.BodyStart))
	}
	e.b = append(e.b, flags)
	if flags&flagPlain == 0 {
		e.str(pt.Type)
		e.str(pt.Subtype)
		e.params(pt.Params)
	}
	if flags&flagNoExt == 0 {
		e.nstr(pt.ID)
		e.nstr(pt.Description)
	}
	if flags&flag7bit == 0 {
		e.str(pt.Encoding)
	}
	if flags&flagNoExt == 0 {
		e.nstr(pt.MD5)
		e.nstr(pt.Disposition)
		e.params(pt.DispositionParams)
		e.b = binary.AppendUvarint(e.b, uint64(len(pt.Language)))
		for _, l := range pt.Language {
			e.str(l)
		}
		e.nstr(pt.Location)
	}
	e.b = binary.AppendUvarint(e.b, uint64(pt.Lines))
	if flags&flagBinSize == 0 {
		e.b = binary.AppendUvarint(e.b, uint64(pt.BinarySize+1))
	}
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
		e.envelope(&pt.Message.Envelope, false)
		return e.part(&pt.Message.Body, depth+1, pt.BodyStart, pt.BodyEnd)
	}
	return nil
}

// UnmarshalBinary decodes data made by MarshalBinary into c. Any input is
// safe: corrupt or hostile data gives an error, never a panic or an
// allocation much larger than data.
//
// A version 3 record (what MarshalBinary writes) holds no header octets:
// c.RawHeader is nil after it, and the header is bytes [0, c.HeaderLen())
// of the message file. A version 2 record, as older databases hold, still
// decodes, with RawHeader filled from the record (nil for an empty
// header).
func (c *Cache) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("message: decode: empty record: %w", errTruncated)
	}
	if data[0] < version2 || data[0] > Version {
		return fmt.Errorf("message: decode: record version %d, want %d to %d: %w", data[0], version2, Version, ErrVersion)
	}
	// One copy of the record, with room after it for the Date a version 3
	// record may leave out, so that every decoded string is in the one
	// allocation.
	d := decoder{i: 1, v2: data[0] == version2}
	d.buf.Grow(len(data) + maxDateLen)
	d.buf.Write(data)
	d.s = d.buf.String()
	var nc Cache
	size := d.uvarint()
	if size > 1<<62 {
		d.fail(errCorrupt)
	}
	nc.Size = int64(size)
	d.hlen = d.uvarint()
	if d.err == nil && d.hlen > size {
		d.fail(errCorrupt)
	}
	if d.v2 && d.err == nil {
		if d.hlen > uint64(len(d.s)-d.i) {
			d.fail(errTruncated)
		} else {
			d.hdr = d.s[d.i : d.i+int(d.hlen)]
			d.i += int(d.hlen)
			if d.hlen > 0 {
				nc.RawHeader = []byte(d.hdr)
			}
		}
	}
	layout := -1
	switch t := d.byte(); {
	case t == 0:
	case t == 1 || !d.v2 && int(t)-2 < len(dateLayouts):
		layout = int(t) - 2
		u, off := d.varint(), d.varint()
		if u < minUnix || u > maxUnix || off <= -maxOffset || off >= maxOffset {
			d.fail(errCorrupt)
		} else {
			nc.Date = mkDate(u, int(off))
		}
	default:
		d.fail(errCorrupt)
	}
	if layout >= 0 && d.err == nil {
		nc.Envelope.Date = d.date(nc.Date, dateLayouts[layout])
	}
	d.envelope(&nc.Envelope, layout >= 0)
	d.part(&nc.Body, 0, 0, nc.Size)
	if data[0] == Version && d.err == nil {
		off := d.i
		if _, st := d.kept(&nc, nil, false); st != KeptNone {
			nc.kept = keptRef{rec: d.s, off: off, state: st}
		}
	}
	if d.err == nil && d.i != len(d.s) {
		d.fail(errCorrupt) // trailing octets
	}
	if d.err == nil && (nc.Body.HeaderStart != 0 || uint64(nc.Body.BodyStart) != d.hlen || nc.Body.BodyEnd != nc.Size) {
		d.fail(errCorrupt)
	}
	if d.err != nil {
		return fmt.Errorf("message: decode: at octet %d of %d: %w", d.i, len(d.s), d.err)
	}
	*c = nc
	return nil
}

// decoder reads from one string copy of the record, so every decoded
// string is a substring of it (or, for a Date the record leaves out, of
// what follows it in the same buffer) and costs no allocation. After the
// first error every read returns a zero value.
type decoder struct {
	buf   strings.Builder // s, then the formatted Date if any
	s     string          // the record
	v2    bool            // version 2: strings may refer to hdr, no flags
	hdr   string          // the top-level header, within s (version 2)
	hlen  uint64          // the top-level header length
	i     int
	err   error
	parts int
}

// date formats t with layout after the record in d.buf.
func (d *decoder) date(t *time.Time, layout string) NString {
	var tmp [maxDateLen + 8]byte
	n := d.buf.Len()
	d.buf.Write(t.AppendFormat(tmp[:0], layout))
	return NString{Value: d.buf.String()[n:], Valid: true}
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
	at := d.i
	return d.tagged(d.uvarint(), at)
}

// tagged reads the rest of a string whose tag t, at octet at of the
// record, was read: len = t>>1 octets inline, or, when t's low bit is set,
// a reference to the len octets at an offset: into the record, all before
// the tag (version 3), or into the header (version 2).
func (d *decoder) tagged(t uint64, at int) string {
	if d.err != nil {
		return ""
	}
	n := t >> 1
	if t&1 == 1 {
		off := d.uvarint()
		if d.err != nil {
			return ""
		}
		to := d.s[:at] // the record before the tag
		if d.v2 {
			to = d.hdr
		}
		if off > uint64(len(to)) || n > uint64(len(to))-off {
			d.fail(errCorrupt)
			return ""
		}
		return to[off : off+n]
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
	at := d.i
	t := d.uvarint()
	if d.err != nil || t == 0 {
		return NString{}
	}
	return NString{Value: d.tagged(t-1, at), Valid: d.err == nil}
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

// envelope decodes an envelope into e; its Date is already there when
// dateKnown.
func (d *decoder) envelope(e *Envelope, dateKnown bool) {
	if !dateKnown {
		e.Date = d.nstring()
	}
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
	var hs, hl, bl uint64
	if depth == 0 && !d.v2 {
		hs, hl, bl = 0, d.hlen, span-d.hlen // d.hlen <= span was checked
	} else {
		hs, hl, bl = d.uvarint(), d.uvarint(), d.uvarint()
	}
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
	flags := d.byte()
	if d.v2 && flags > kindMask || flags > flagsV3 {
		d.fail(errCorrupt)
		return
	}
	if flags&flagPlain != 0 {
		pt.Type, pt.Subtype = "text", "plain"
		pt.Params = []Param{{Name: "charset", Value: "us-ascii"}}
	} else {
		pt.Type = d.str()
		pt.Subtype = d.str()
		pt.Params = d.params()
	}
	if flags&flagNoExt == 0 {
		pt.ID = d.nstring()
		pt.Description = d.nstring()
	}
	if flags&flag7bit != 0 {
		pt.Encoding = "7bit"
	} else {
		pt.Encoding = d.str()
	}
	if flags&flagNoExt == 0 {
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
	}
	lines := d.uvarint()
	bin := bl + 1
	if flags&flagBinSize == 0 {
		bin = d.uvarint()
	}
	if lines > 1<<62 || bin > 1<<62 {
		d.fail(errCorrupt)
	}
	pt.Lines = int64(lines)
	pt.BinarySize = int64(bin) - 1
	if d.err != nil {
		return
	}
	switch flags & kindMask {
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
		d.envelope(&m.Envelope, false)
		d.part(&m.Body, depth+1, pt.BodyStart, pt.BodyEnd)
		pt.Message = m
	default:
		d.fail(errCorrupt)
	}
}
