package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Format constants: changing any of them changes the on-disk format.
const (
	HeaderSize  = 64         // bytes of a log file's header
	Version     = 1          // format version written in every header
	FrameSize   = 8          // length word + CRC word before each body
	Align       = 8          // records start at multiples of Align
	MaxBody     = 256 << 20  // largest body a reader accepts
	bodyFixed   = 8 + 1 + 16 // LSN, type, txid, time
	magic       = "MSDBLOG\x01"
	maxTableLen = 255
)

// Record types.
const (
	TypeTxn        byte = 1
	TypeCheckpoint byte = 2
)

// Operation kinds inside a transaction record.
const (
	OpPut         byte = 1
	OpDelete      byte = 2
	OpCreateTable byte = 3
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// checksum is CRC-32C, the checksum of headers and records.
func checksum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// LSN is a log sequence number: the position of a record.
type LSN struct {
	File   uint32
	Offset uint32
}

// Uint64 packs the LSN into an integer that orders as LSNs do.
func (l LSN) Uint64() uint64 { return uint64(l.File)<<32 | uint64(l.Offset) }

// LSNFromUint64 is the inverse of Uint64.
func LSNFromUint64(v uint64) LSN { return LSN{File: uint32(v >> 32), Offset: uint32(v)} }

// Less reports whether l is before m.
func (l LSN) Less(m LSN) bool { return l.Uint64() < m.Uint64() }

// IsZero reports whether l is the zero LSN, before every record.
func (l LSN) IsZero() bool { return l == LSN{} }

// String formats as Berkeley DB does: [file][offset].
func (l LSN) String() string { return fmt.Sprintf("[%d][%d]", l.File, l.Offset) }

// ParseLSN reads "file/offset", "[file][offset]" or "file:offset".
func ParseLSN(s string) (LSN, error) {
	var f, o uint32
	for _, format := range []string{"[%d][%d]", "%d/%d", "%d:%d"} {
		if n, err := fmt.Sscanf(s, format, &f, &o); err == nil && n == 2 {
			if fmt.Sprintf(format, f, o) == s {
				return LSN{File: f, Offset: o}, nil
			}
		}
	}
	return LSN{}, fmt.Errorf("bad LSN %q: want FILE/OFFSET, e.g. 3/1024", s)
}

// Op is one operation of a transaction.
type Op struct {
	Kind  byte
	Table string
	Key   []byte
	Value []byte // OpPut: the value; OpCreateTable: the table's options
}

// Record is one decoded log record.
type Record struct {
	LSN  LSN
	Type byte
	TxID uint64
	Time time.Time
	// Ops are a transaction's operations (TypeTxn). Their slices point into
	// the reader's buffer: valid until the next read.
	Ops []Op
	// Durable is a checkpoint's LSN: every table was durable up to it.
	Durable LSN
	// Size is the record's size in the file, frame and padding included.
	Size int
}

// End is the LSN just past the record.
func (r *Record) End() LSN { return LSN{File: r.LSN.File, Offset: r.LSN.Offset + uint32(r.Size)} }

// Body builds the payload of a transaction record op by op, without the
// fixed fields, which the writer fills in when it places the record.
type Body struct {
	buf   []byte
	count int
	err   error // the first bad operation added
}

// Reset empties b, keeping its memory.
func (b *Body) Reset() { b.buf = b.buf[:0]; b.count = 0; b.err = nil }

// Err is the first error of an operation added (a bad table name).
func (b *Body) Err() error { return b.err }

// Len is the payload's length so far.
func (b *Body) Len() int { return len(b.buf) }

// Count is the number of operations added.
func (b *Body) Count() int { return b.count }

// Add appends an operation. A table name must be 1 to 255 bytes and the
// kind one of the Op constants; a bad one makes Err (and AppendTxn) fail.
func (b *Body) Add(kind byte, table string, key, value []byte) {
	if (len(table) == 0 || len(table) > maxTableLen) && b.err == nil {
		b.err = fmt.Errorf("table name of %d bytes: want 1 to %d", len(table), maxTableLen)
	}
	if kind != OpPut && kind != OpDelete && kind != OpCreateTable && b.err == nil {
		b.err = fmt.Errorf("unknown operation kind %d", kind)
	}
	b.buf = append(b.buf, kind)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(table)))
	b.buf = append(b.buf, table...)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(key)))
	b.buf = append(b.buf, key...)
	if kind != OpDelete {
		b.buf = binary.AppendUvarint(b.buf, uint64(len(value)))
		b.buf = append(b.buf, value...)
	}
	b.count++
}

// Truncate drops operations added after a mark taken with Mark.
func (b *Body) Truncate(m BodyMark) { b.buf = b.buf[:m.n]; b.count = m.count; b.err = m.err }

// Mark records the current end of b, for Truncate.
func (b *Body) Mark() BodyMark { return BodyMark{n: len(b.buf), count: b.count, err: b.err} }

// BodyMark is a position in a Body.
type BodyMark struct {
	n, count int
	err      error
}

// payload is the encoded payload of a transaction: count, then the ops.
func (b *Body) payloadLen() int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], uint64(b.count)) + len(b.buf)
}

func (b *Body) appendPayload(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(b.count))
	return append(dst, b.buf...)
}

// padded rounds n up to a multiple of Align.
func padded(n int) int { return (n + Align - 1) &^ (Align - 1) }

// encodedSize is the size in the file of a record with the given payload length.
func encodedSize(payload int) int { return padded(FrameSize + bodyFixed + payload) }

// appendRecord encodes a record at lsn into dst.
func appendRecord(dst []byte, lsn LSN, typ byte, txid uint64, t time.Time, payload func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, FrameSize)...)
	dst = binary.LittleEndian.AppendUint64(dst, lsn.Uint64())
	dst = append(dst, typ)
	dst = binary.LittleEndian.AppendUint64(dst, txid)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.UnixNano()))
	dst = payload(dst)
	body := dst[start+FrameSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], checksum(body))
	for (len(dst)-start)%Align != 0 {
		dst = append(dst, 0)
	}
	return dst
}

// errDamaged marks a record that does not verify.
var errDamaged = errors.New("damaged record")

// decodeBody decodes a verified body (CRC already checked) into rec.
func decodeBody(body []byte, rec *Record) error {
	if len(body) < bodyFixed {
		return fmt.Errorf("%w: body of %d bytes is shorter than %d", errDamaged, len(body), bodyFixed)
	}
	rec.LSN = LSNFromUint64(binary.LittleEndian.Uint64(body))
	rec.Type = body[8]
	rec.TxID = binary.LittleEndian.Uint64(body[9:])
	rec.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(body[17:])))
	rec.Ops = rec.Ops[:0]
	rec.Durable = LSN{}
	p := body[bodyFixed:]
	switch rec.Type {
	case TypeCheckpoint:
		if len(p) != 8 {
			return fmt.Errorf("%w: checkpoint payload of %d bytes", errDamaged, len(p))
		}
		rec.Durable = LSNFromUint64(binary.LittleEndian.Uint64(p))
		return nil
	case TypeTxn:
	default:
		return fmt.Errorf("%w: unknown record type %d", errDamaged, rec.Type)
	}
	count, n := binary.Uvarint(p)
	if n <= 0 || count > uint64(len(p)) {
		return fmt.Errorf("%w: bad operation count", errDamaged)
	}
	p = p[n:]
	field := func() ([]byte, error) {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return nil, fmt.Errorf("%w: operation field overruns the record", errDamaged)
		}
		f := p[n : n+int(l)]
		p = p[n+int(l):]
		return f, nil
	}
	for i := uint64(0); i < count; i++ {
		if len(p) == 0 {
			return fmt.Errorf("%w: %d operations announced, %d present", errDamaged, count, i)
		}
		var op Op
		op.Kind = p[0]
		p = p[1:]
		if op.Kind != OpPut && op.Kind != OpDelete && op.Kind != OpCreateTable {
			return fmt.Errorf("%w: unknown operation kind %d", errDamaged, op.Kind)
		}
		table, err := field()
		if err != nil {
			return err
		}
		if len(table) == 0 || len(table) > maxTableLen {
			return fmt.Errorf("%w: table name of %d bytes", errDamaged, len(table))
		}
		op.Table = string(table)
		if op.Key, err = field(); err != nil {
			return err
		}
		if op.Kind != OpDelete {
			if op.Value, err = field(); err != nil {
				return err
			}
		}
		rec.Ops = append(rec.Ops, op)
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes after the last operation", errDamaged, len(p))
	}
	return nil
}

// verifyFrame checks the record frame at buf[0:], which sits at lsn, and
// returns its body. It does not decode the body.
func verifyFrame(buf []byte, lsn LSN) (body []byte, size int, err error) {
	if len(buf) < FrameSize {
		return nil, 0, fmt.Errorf("%w: %d bytes, shorter than a record frame", errDamaged, len(buf))
	}
	n := binary.LittleEndian.Uint32(buf)
	sum := binary.LittleEndian.Uint32(buf[4:])
	if n < bodyFixed || n > MaxBody {
		return nil, 0, fmt.Errorf("%w: length %d out of range", errDamaged, n)
	}
	if int(n) > len(buf)-FrameSize {
		return nil, 0, fmt.Errorf("%w: length %d runs past the end of the file", errDamaged, n)
	}
	body = buf[FrameSize : FrameSize+int(n)]
	// The LSN first: it is cheap, and a scan for valid records past damage
	// (classify) then costs a checksum only where a record could really be.
	if got := LSNFromUint64(binary.LittleEndian.Uint64(body)); got != lsn {
		return nil, 0, fmt.Errorf("%w: record says it is at %v", errDamaged, got)
	}
	if checksum(body) != sum {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", errDamaged)
	}
	return body, padded(FrameSize + int(n)), nil
}
