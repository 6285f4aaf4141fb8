package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Records are stored in a compact binary form: a version byte, then fields
// as uvarints and length-prefixed bytes, in the order the record's encode
// method writes them. Decoders reject truncated or overlong input.

var errCorrupt = errors.New("corrupt record")

type enc struct{ b []byte }

func (e *enc) u8(v byte)      { e.b = append(e.b, v) }
func (e *enc) uv(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) iv(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) bytes(v []byte) { e.uv(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) str(v string)   { e.uv(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) fixed(v []byte) { e.b = append(e.b, v...) }
func (e *enc) strs(v []string) {
	e.uv(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}
func (e *enc) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
}

func (d *dec) u8() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) iv() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uv()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) fixed(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) strs() []string {
	n := d.uv()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	var out []string
	for range n {
		out = append(out, d.str())
	}
	return out
}

func (d *dec) boolean() bool { return d.u8() != 0 }

// done checks the version was known and nothing is left over.
func (d *dec) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	return nil
}

func u64key(prefix []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(prefix, v)
}

func u32key(prefix []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(prefix, v)
}
