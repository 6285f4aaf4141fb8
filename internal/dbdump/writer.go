package dbdump

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

const hexDigits = "0123456789abcdef"

// printable reports whether db_dump -p writes byte c as itself: isprint()
// in the C locale, minus the backslash, which it doubles.
func printable(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '\\'
}

// appendPrint appends b encoded in the print format.
func appendPrint(dst, b []byte) []byte {
	for _, c := range b {
		switch {
		case printable(c):
			dst = append(dst, c)
		case c == '\\':
			dst = append(dst, '\\', '\\')
		default:
			dst = append(dst, '\\', hexDigits[c>>4], hexDigits[c&0x0f])
		}
	}
	return dst
}

// appendHex appends b encoded in the bytevalue format.
func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0x0f])
	}
	return dst
}

// errClosed is returned by Write after Close.
var errClosed = errors.New("dbdump: write after Close")

// Writer writes one section of a dump: the header, then a key line and a
// value line per record, then DATA=END on Close. It buffers its output;
// Close flushes it. It does not sort, nor check for duplicate keys: a
// btree dump that db_load reads into a database without duplicates keeps
// the last value of a repeated key. Berkeley DB's own dumps of a btree are
// sorted by key (bytewise, shorter first), of a hash are not.
type Writer struct {
	bw     *bufio.Writer
	hex    bool
	err    error // sticky
	closed bool
	buf    []byte
}

// NewWriter writes the header of a section holding a btree database in the
// print format, the way db_dump -p does:
//
//	VERSION=3
//	format=print
//	type=btree
//	HEADER=END
func NewWriter(w io.Writer) (*Writer, error) {
	return NewWriterHeader(w, Header{})
}

// NewWriterHeader validates h, fills in its defaults (VERSION=3,
// format=print, type=btree) and writes it. It refuses what db_load would
// refuse or what this package cannot read back: a type other than btree or
// hash, an unknown name or a bad value in Extra.
func NewWriterHeader(w io.Writer, h Header) (*Writer, error) {
	h, err := normalizeHeader(h)
	if err != nil {
		return nil, err
	}
	wr := &Writer{bw: bufio.NewWriterSize(w, 64<<10), hex: h.Format == FormatBytevalue}
	if _, err := wr.bw.Write(appendHeader(nil, &h)); err != nil {
		return nil, fmt.Errorf("dbdump: write header: %w", err)
	}
	return wr, nil
}

// Write writes one record: its key line and its value line. Either may be
// empty.
func (w *Writer) Write(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	if err := w.writeLine(key); err != nil {
		w.err = fmt.Errorf("dbdump: write: %w", err)
		return w.err
	}
	if err := w.writeLine(value); err != nil {
		w.err = fmt.Errorf("dbdump: write: %w", err)
		return w.err
	}
	return nil
}

// writeLine writes b as one data line, encoding it in pieces so that a
// value of any size needs only a small buffer.
func (w *Writer) writeLine(b []byte) error {
	const chunk = 16 << 10
	if err := w.bw.WriteByte(' '); err != nil {
		return err
	}
	for len(b) > 0 {
		n := min(len(b), chunk)
		if w.hex {
			w.buf = appendHex(w.buf[:0], b[:n])
		} else {
			w.buf = appendPrint(w.buf[:0], b[:n])
		}
		if _, err := w.bw.Write(w.buf); err != nil {
			return err
		}
		b = b[n:]
	}
	return w.bw.WriteByte('\n')
}

// Close writes the trailer DATA=END and flushes the output. It does not
// close the underlying io.Writer, so that another section may follow.
// Calling Close again returns the first result.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if _, err := w.bw.WriteString("DATA=END\n"); err != nil {
		w.err = fmt.Errorf("dbdump: write trailer: %w", err)
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("dbdump: flush: %w", err)
		return w.err
	}
	return nil
}
