package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzBase is a valid log file 1 of a few records, built without a Writer.
func fuzzBase() (file []byte, lsns []LSN) {
	h := Header{Number: 1, Env: testEnv, Start: LSN{File: 1, Offset: HeaderSize}, Created: time.Unix(0, 1700000000000000000)}
	file = h.encode()
	add := func(typ byte, txid uint64, payload func([]byte) []byte) {
		lsn := LSN{File: 1, Offset: uint32(len(file))}
		lsns = append(lsns, lsn)
		file = appendRecord(file, lsn, typ, txid, time.Unix(0, int64(txid)*1e9), payload)
	}
	var b Body
	b.Add(OpCreateTable, "mail", nil, []byte("opts"))
	b.Add(OpPut, "mail", []byte("k1"), []byte("hello, world"))
	add(TypeTxn, 1, b.appendPayload)
	cp := LSN{File: 1, Offset: uint32(len(file))}
	add(TypeCheckpoint, 2, func(d []byte) []byte { return binary.LittleEndian.AppendUint64(d, cp.Uint64()) })
	b.Reset()
	add(TypeTxn, 3, b.appendPayload)
	b.Add(OpDelete, "mail", []byte("k1"), nil)
	b.Add(OpPut, "x", nil, bytes.Repeat([]byte{0xa5}, 100))
	add(TypeTxn, 4, b.appendPayload)
	return file, lsns
}

// fuzzFile builds the file a FuzzReadFile input describes.
func fuzzFile(base []byte, data []byte, at uint16, mode, hpos, hxor uint8) []byte {
	recs := base[HeaderSize:]
	pos := int(at) % (len(recs) + 1)
	file := append([]byte(nil), base[:HeaderSize]...)
	switch mode & 3 {
	case 0: // cut the records at pos, append data
		file = append(file, recs[:pos]...)
		file = append(file, data...)
	case 1: // overwrite the records from pos with data
		file = append(file, recs...)
		if end := HeaderSize + pos + len(data); end > len(file) {
			file = append(file, make([]byte, end-len(file))...)
		}
		copy(file[HeaderSize+pos:], data)
	case 2: // data replaces the records
		file = append(file, data...)
	case 3: // data follows the records
		file = append(file, recs...)
		file = append(file, data...)
	}
	if mode&0x10 != 0 { // cut 1 to 8 bytes off the end
		if cut := int(mode>>5) + 1; len(file)-cut >= HeaderSize {
			file = file[:len(file)-cut]
		}
	}
	if hxor != 0 {
		file[int(hpos)%HeaderSize] ^= hxor
		if mode&4 != 0 { // keep the header checksum valid, to get past it
			binary.LittleEndian.PutUint32(file[56:], checksum(file[:56]))
		}
	}
	return file
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readFuzzFile reads file 1 of dir from `from`, copying the records.
func readFuzzFile(dir string, from uint32) (FileEnd, []Record, error) {
	var recs []Record
	fe, err := ReadFile(dir, 1, from, func(r *Record) error {
		recs = append(recs, copyRecord(r))
		return nil
	})
	return fe, recs, err
}

func FuzzReadFile(f *testing.F) {
	base, lsns := fuzzBase()
	last := lsns[len(lsns)-1]
	lastRec := base[last.Offset:]
	recsLen := uint16(len(base) - HeaderSize)

	f.Add([]byte(nil), uint16(0), uint8(3), uint8(0), uint8(0), uint16(0))                             // the valid file
	f.Add([]byte(nil), uint16(0), uint8(2), uint8(0), uint8(0), uint16(0))                             // header only
	f.Add(make([]byte, 64), uint16(0), uint8(3), uint8(0), uint8(0), uint16(0))                        // zero padding
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint16(0), uint8(3), uint8(0), uint8(0), uint16(0))       // garbage after
	f.Add([]byte(nil), uint16(lsns[3].Offset-HeaderSize+20), uint8(0), uint8(0), uint8(0), uint16(0))  // torn last record
	f.Add([]byte(nil), uint16(lsns[1].Offset-HeaderSize+5), uint8(0), uint8(0), uint8(0), uint16(0))   // torn in the frame
	f.Add([]byte{0xff}, uint16(lsns[1].Offset-HeaderSize+12), uint8(1), uint8(0), uint8(0), uint16(0)) // corrupt middle record
	f.Add(make([]byte, 8), uint16(lsns[2].Offset-HeaderSize), uint8(1), uint8(0), uint8(0), uint16(0)) // zero frame in the middle
	f.Add(lastRec, uint16(0), uint8(3), uint8(0), uint8(0), uint16(0))                                 // last record copied after itself
	f.Add(lastRec, uint16(lsns[1].Offset-HeaderSize), uint8(1), uint8(0), uint8(0), uint16(0))         // copied over a middle record
	f.Add(append(make([]byte, 24), lastRec...), uint16(recsLen), uint8(0), uint8(0), uint8(0), uint16(0))
	f.Add([]byte(nil), uint16(0), uint8(3), uint8(8), uint8(1), uint16(0))              // bad version, bad checksum
	f.Add([]byte(nil), uint16(0), uint8(7), uint8(8), uint8(1), uint16(0))              // bad version, good checksum
	f.Add([]byte(nil), uint16(0), uint8(7), uint8(12), uint8(2), uint16(0))             // wrong number
	f.Add([]byte(nil), uint16(0), uint8(7), uint8(60), uint8(9), uint16(0))             // reserved bytes
	f.Add([]byte(nil), uint16(0), uint8(7), uint8(40), uint8(0xff), uint16(0))          // PrevEnd
	f.Add([]byte(nil), uint16(0), uint8(3), uint8(0), uint8(0), uint16(lsns[2].Offset)) // read from the third record
	f.Add([]byte{0x40, 0, 0, 0, 0, 0, 0, 0}, uint16(recsLen), uint8(0), uint8(0), uint8(0), uint16(lsns[1].Offset+1))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}, uint16(0), uint8(2), uint8(0), uint8(0), uint16(0)) // huge length

	// One directory for all inputs: a worker runs them one at a time, and
	// each overwrites the file.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, at uint16, mode, hpos, hxor uint8, from uint16) {
		if len(data) > 1<<16 {
			return
		}
		file := fuzzFile(base, data, at, mode, hpos, hxor)
		writeFileBytes(t, dir, 1, file)
		name := filepath.Join(dir, FileName(1))

		fe, recs, err := readFuzzFile(dir, 0)
		h, herr := decodeHeader(file, name)
		if herr == nil && h.Number != 1 {
			herr = errors.New("wrong number")
		}
		if err != nil {
			if herr == nil {
				t.Fatalf("ReadFile failed on a file with a good header: %v", err)
			}
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if herr != nil {
			t.Fatalf("ReadFile accepted a bad header (%v)", herr)
		}
		size := int64(len(file))
		if fe.Size != size {
			t.Fatalf("Size %d, file is %d bytes", fe.Size, size)
		}
		if fe.Header.Number != 1 || fe.Header.Start != (LSN{File: 1, Offset: HeaderSize}) {
			t.Fatalf("header %+v", fe.Header)
		}
		if fe.End.File != 1 || fe.End.Offset < HeaderSize || fe.End.Offset%Align != 0 {
			t.Fatalf("End %v", fe.End)
		}
		if int64(fe.End.Offset) > size {
			t.Fatalf("End %v is past the end of the %d-byte file", fe.End, size)
		}
		if fe.Records != len(recs) {
			t.Fatalf("Records %d, %d passed to fn", fe.Records, len(recs))
		}
		// Every record verifies where it is, and they follow each other.
		next := LSN{File: 1, Offset: HeaderSize}
		for _, r := range recs {
			if r.LSN != next {
				t.Fatalf("record at %v, want %v", r.LSN, next)
			}
			if r.Size%Align != 0 || int64(r.LSN.Offset)+int64(r.Size) > size {
				t.Fatalf("record at %v of size %d in a %d-byte file", r.LSN, r.Size, size)
			}
			body, rsize, err := verifyFrame(file[r.LSN.Offset:], r.LSN)
			if err != nil || rsize != r.Size {
				t.Fatalf("record at %v passed to fn does not verify: %v", r.LSN, err)
			}
			var again Record
			if err := decodeBody(body, &again); err != nil {
				t.Fatalf("record at %v passed to fn does not decode: %v", r.LSN, err)
			}
			if again.LSN != r.LSN || again.Type != r.Type || again.TxID != r.TxID || again.Durable != r.Durable || !opsEqual(again.Ops, r.Ops) {
				t.Fatalf("record at %v passed to fn differs from its bytes", r.LSN)
			}
			next = r.End()
		}
		if fe.End != next {
			t.Fatalf("End %v, the records end at %v", fe.End, next)
		}
		d := fe.Damage
		if d == nil {
			if !allZero(file[fe.End.Offset:]) {
				t.Fatalf("clean end at %v, but non-zero bytes follow", fe.End)
			}
		} else {
			_ = d.Error()
			if d.At != fe.End || d.At.Offset < fe.End.Offset {
				t.Fatalf("damage at %v, End %v", d.At, fe.End)
			}
			if d.File != name || d.Reason == nil || !errors.Is(d, errDamaged) {
				t.Fatalf("damage %+v", d)
			}
			if int64(d.At.Offset) >= size {
				t.Fatalf("damage at %v past the end of the %d-byte file", d.At, size)
			}
			if want := expectedBytes(file, int(d.At.Offset)); d.Bytes != want {
				t.Fatalf("Bytes %d, want %d", d.Bytes, want)
			}
			if d.Bytes == 0 {
				t.Fatalf("damage at %v of only zero bytes: %v", d.At, d)
			}
			// A record is whole only with its padding.
			if body, rsize, err := verifyFrame(file[d.At.Offset:], d.At); err == nil && int64(d.At.Offset)+int64(rsize) <= size {
				var r Record
				if decodeBody(body, &r) == nil {
					t.Fatalf("damage at %v, but a valid record is there", d.At)
				}
			}
			valid := -1
			for o := int(d.At.Offset) + Align; o+FrameSize <= len(file); o += Align {
				if _, rsize, err := verifyFrame(file[o:], LSN{File: 1, Offset: uint32(o)}); err == nil && o+rsize <= len(file) {
					valid = o
					break
				}
			}
			if d.Torn != (valid < 0) {
				t.Fatalf("Torn %v, but the first valid frame after the damage is at %d: %v", d.Torn, valid, d)
			}
			if !d.Torn && !strings.Contains(d.Error(), fmt.Sprintf("offset %d", valid)) {
				t.Fatalf("corruption message %q does not name offset %d", d.Error(), valid)
			}
		}

		// Reading from an offset passes on the records from there, and
		// finds the same end.
		fe2, recs2, err := readFuzzFile(dir, uint32(from))
		if err != nil {
			t.Fatalf("second read: %v", err)
		}
		var want []Record
		for _, r := range recs {
			if r.LSN.Offset >= uint32(from) {
				want = append(want, r)
			}
		}
		if len(recs2) != len(want) || fe2.Records != len(want) || fe2.End != fe.End || (fe2.Damage == nil) != (fe.Damage == nil) {
			t.Fatalf("reading from %d: %d records, End %v; want %d, %v", from, len(recs2), fe2.End, len(want), fe.End)
		}
		for i := range want {
			if recs2[i].LSN != want[i].LSN || !opsEqual(recs2[i].Ops, want[i].Ops) {
				t.Fatalf("reading from %d: record %d at %v, want %v", from, i, recs2[i].LSN, want[i].LSN)
			}
		}
		if fe.Damage != nil && (fe2.Damage.At != fe.Damage.At || fe2.Damage.Torn != fe.Damage.Torn || fe2.Damage.Bytes != fe.Damage.Bytes) {
			t.Fatalf("reading from %d: damage %+v, want %+v", from, fe2.Damage, fe.Damage)
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	base, lsns := fuzzBase()
	for _, lsn := range lsns {
		n := binary.LittleEndian.Uint32(base[lsn.Offset:])
		f.Add(base[lsn.Offset+FrameSize : lsn.Offset+FrameSize+n])
	}
	fixed := func(typ byte) []byte {
		b := binary.LittleEndian.AppendUint64(nil, LSN{File: 3, Offset: 1024}.Uint64())
		b = append(b, typ)
		b = binary.LittleEndian.AppendUint64(b, 77)
		return binary.LittleEndian.AppendUint64(b, 1<<62)
	}
	f.Add([]byte(nil))
	f.Add(fixed(TypeTxn))
	f.Add(append(fixed(TypeTxn), 0))
	f.Add(append(fixed(TypeTxn), 0x80, 0)) // a count of 0 in a non-minimal varint
	f.Add(append(fixed(TypeTxn), 1, OpDelete, 1, 't', 0))
	f.Add(append(fixed(TypeTxn), 2, OpPut, 1, 't', 1, 'k', 1, 'v', OpCreateTable, 2, 'a', 'b', 0, 3, 1, 2, 3))
	f.Add(append(fixed(TypeTxn), 1, OpPut, 1, 't', 0x80, 0x80, 0, 0))
	f.Add(append(fixed(TypeCheckpoint), 1, 2, 3, 4, 5, 6, 7, 8))
	f.Add(append(fixed(9), 0))

	f.Fuzz(func(t *testing.T, body []byte) {
		var r Record
		r.Ops = append(r.Ops, Op{Kind: 99}) // must be cleared
		r.Durable = LSN{File: 9, Offset: 9}
		if err := decodeBody(body, &r); err != nil {
			if !errors.Is(err, errDamaged) {
				t.Fatalf("error %v is not damage", err)
			}
			return
		}
		if r.LSN != LSNFromUint64(binary.LittleEndian.Uint64(body)) || r.Type != body[8] ||
			r.TxID != binary.LittleEndian.Uint64(body[9:]) || r.Time.UnixNano() != int64(binary.LittleEndian.Uint64(body[17:])) {
			t.Fatalf("fixed fields decoded as %+v", r)
		}
		var enc []byte
		switch r.Type {
		case TypeCheckpoint:
			if len(r.Ops) != 0 {
				t.Fatalf("checkpoint with %d ops", len(r.Ops))
			}
			enc = appendRecord(nil, r.LSN, TypeCheckpoint, r.TxID, r.Time, func(d []byte) []byte {
				return binary.LittleEndian.AppendUint64(d, r.Durable.Uint64())
			})
		case TypeTxn:
			if !r.Durable.IsZero() {
				t.Fatalf("transaction with Durable %v", r.Durable)
			}
			var b Body
			for _, op := range r.Ops {
				if op.Kind != OpPut && op.Kind != OpDelete && op.Kind != OpCreateTable {
					t.Fatalf("op kind %d", op.Kind)
				}
				if len(op.Table) == 0 || len(op.Table) > maxTableLen {
					t.Fatalf("table name of %d bytes", len(op.Table))
				}
				if op.Kind == OpDelete && op.Value != nil {
					t.Fatalf("delete with a value")
				}
				b.Add(op.Kind, op.Table, op.Key, op.Value)
			}
			if err := b.Err(); err != nil {
				t.Fatalf("Body refuses decoded operations: %v", err)
			}
			if b.Count() != len(r.Ops) || bodyFixed+b.payloadLen() > len(body) {
				t.Fatalf("re-encoded payload of %d bytes from a body of %d", b.payloadLen(), len(body))
			}
			enc = appendRecord(nil, r.LSN, TypeTxn, r.TxID, r.Time, b.appendPayload)
		default:
			t.Fatalf("decoded a record of type %d", r.Type)
		}
		nb, size, err := verifyFrame(enc, r.LSN)
		if err != nil || size != len(enc) || len(enc)%Align != 0 {
			t.Fatalf("re-encoded record does not verify: %v", err)
		}
		// The only freedom in the encoding is non-minimal varints.
		if !bytes.Equal(nb, body) && len(nb) >= len(body) {
			t.Fatalf("re-encoded body differs from the original of the same length or shorter:\n%x\n%x", nb, body)
		}
		var r2 Record
		if err := decodeBody(nb, &r2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if r2.LSN != r.LSN || r2.Type != r.Type || r2.TxID != r.TxID || !r2.Time.Equal(r.Time) ||
			r2.Durable != r.Durable || !opsEqual(r2.Ops, r.Ops) {
			t.Fatalf("re-encoded record decodes differently:\n%+v\n%+v", r2, r)
		}
	})
}
