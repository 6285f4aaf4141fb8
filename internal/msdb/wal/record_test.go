package wal

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestLSNOrderAndUint64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var lsns []LSN
	for _, f := range []uint32{0, 1, 2, 1000, math.MaxUint32} {
		for _, o := range []uint32{0, HeaderSize, 1 << 20, math.MaxUint32} {
			lsns = append(lsns, LSN{File: f, Offset: o})
		}
	}
	for i := 0; i < 200; i++ {
		lsns = append(lsns, LSN{File: rng.Uint32(), Offset: rng.Uint32()})
	}
	for _, l := range lsns {
		if got := LSNFromUint64(l.Uint64()); got != l {
			t.Fatalf("LSNFromUint64(%v.Uint64()) = %v", l, got)
		}
		if l.Uint64()>>32 != uint64(l.File) || uint32(l.Uint64()) != l.Offset {
			t.Fatalf("%v.Uint64() = %#x: file not in the high 32 bits", l, l.Uint64())
		}
		if l.IsZero() != (l.File == 0 && l.Offset == 0) {
			t.Fatalf("%v.IsZero() = %v", l, l.IsZero())
		}
		got, err := ParseLSN(l.String())
		if err != nil || got != l {
			t.Fatalf("ParseLSN(%q) = %v, %v", l.String(), got, err)
		}
	}
	for _, a := range lsns {
		for _, b := range lsns {
			want := a.File < b.File || (a.File == b.File && a.Offset < b.Offset)
			if a.Less(b) != want {
				t.Fatalf("%v.Less(%v) = %v", a, b, a.Less(b))
			}
			if (a.Uint64() < b.Uint64()) != want {
				t.Fatalf("Uint64 of %v, %v does not order", a, b)
			}
		}
	}
	for _, v := range []uint64{0, 1, 1 << 32, math.MaxUint64, rng.Uint64()} {
		if LSNFromUint64(v).Uint64() != v {
			t.Fatalf("Uint64(LSNFromUint64(%#x)) differs", v)
		}
	}
	if s := (LSN{File: 3, Offset: 1024}).String(); s != "[3][1024]" {
		t.Fatalf("String = %q", s)
	}
}

func TestParseLSN(t *testing.T) {
	good := map[string]LSN{
		"3/1024":                {3, 1024},
		"[3][1024]":             {3, 1024},
		"3:1024":                {3, 1024},
		"0/0":                   {0, 0},
		"4294967295/4294967295": {math.MaxUint32, math.MaxUint32},
		"[1][64]":               {1, 64},
	}
	for s, want := range good {
		got, err := ParseLSN(s)
		if err != nil || got != want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	bad := []string{
		"", "3", "3/", "/3", "3/1024x", "x3/1024", "3/1024/5", "[3][1024", "[3]1024", "3][1024]",
		"3 / 1024", " 3/1024", "3/1024 ", "-1/2", "3/-2", "+3/4", "3.1024", "3,1024", "[3]/[1024]",
		"4294967296/0", "0/4294967296", "99999999999/1", "3:", ":3", "[3]:[1024]", "03/1024", "0x3/1024",
		"3/1024\n", "[][]", "abc",
	}
	for _, s := range bad {
		if got, err := ParseLSN(s); err == nil {
			t.Errorf("ParseLSN(%q) = %v, want an error", s, got)
		}
	}
}

func TestFileNames(t *testing.T) {
	for _, n := range []uint32{1, 2, 42, 1000000000, math.MaxUint32} {
		name := FileName(n)
		if len(name) != len("log.")+10 {
			t.Fatalf("FileName(%d) = %q", n, name)
		}
		got, ok := ParseFileName(name)
		if !ok || got != n {
			t.Fatalf("ParseFileName(%q) = %d, %v", name, got, ok)
		}
	}
	if FileName(3) != "log.0000000003" {
		t.Fatalf("FileName(3) = %q", FileName(3))
	}
	for _, s := range []string{
		"log.0000000000", "log.1", "log.00000000001", "log.000000001", "log.0000000001.tmp",
		"LOG.0000000001", "log0000000001", "xlog.0000000001", "log.4294967296", "log.9999999999",
		"log.+000000001", "log.-000000001", "log.00000000x1", "log. 000000001", "", "log.",
	} {
		if n, ok := ParseFileName(s); ok {
			t.Errorf("ParseFileName(%q) = %d, true", s, n)
		}
	}
}

func TestListFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		FileName(10), FileName(3), FileName(1), FileName(200),
		"log.0000000002.tmp", "log.2", "log.0000000000", "foo", "log.00000000x5", "LOG.0000000006",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, FileName(4)), 0o700); err != nil {
		t.Fatal(err)
	}
	nums, err := ListFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1, 3, 10, 200}; !slices.Equal(nums, want) {
		t.Fatalf("ListFiles = %v, want %v", nums, want)
	}
	nums, err = ListFiles(filepath.Join(dir, "missing"))
	if err != nil || len(nums) != 0 {
		t.Fatalf("ListFiles of a missing dir = %v, %v", nums, err)
	}
	if _, err := ListFiles(filepath.Join(dir, "foo")); err == nil {
		t.Fatal("ListFiles of a regular file succeeded")
	}
	empty := t.TempDir()
	if nums, err := ListFiles(empty); err != nil || len(nums) != 0 {
		t.Fatalf("ListFiles of an empty dir = %v, %v", nums, err)
	}
}

// encodeTxn encodes a transaction record at lsn.
func encodeTxn(lsn LSN, txid uint64, tm time.Time, ops []Op) []byte {
	var b Body
	for _, op := range ops {
		b.Add(op.Kind, op.Table, op.Key, op.Value)
	}
	return appendRecord(nil, lsn, TypeTxn, txid, tm, b.appendPayload)
}

func TestAppendRecordAndVerifyFrame(t *testing.T) {
	lsn := LSN{File: 7, Offset: 4096}
	ops := []Op{{Kind: OpPut, Table: "t", Key: []byte("k"), Value: []byte("v")}}
	rec := encodeTxn(lsn, 5, time.Unix(0, 99), ops)
	if len(rec)%Align != 0 {
		t.Fatalf("record of %d bytes is not padded", len(rec))
	}
	var b Body
	b.Add(OpPut, "t", []byte("k"), []byte("v"))
	if len(rec) != encodedSize(b.payloadLen()) {
		t.Fatalf("record of %d bytes, encodedSize says %d", len(rec), encodedSize(b.payloadLen()))
	}
	body, size, err := verifyFrame(rec, lsn)
	if err != nil || size != len(rec) {
		t.Fatalf("verifyFrame: %v (size %d)", err, size)
	}
	var r Record
	if err := decodeBody(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.LSN != lsn || r.Type != TypeTxn || r.TxID != 5 || r.Time.UnixNano() != 99 || !opsEqual(r.Ops, ops) {
		t.Fatalf("decoded %+v", r)
	}
	// Elsewhere, the record does not verify.
	for _, other := range []LSN{{7, 4104}, {8, 4096}, {6, 4096}} {
		if _, _, err := verifyFrame(rec, other); !errors.Is(err, errDamaged) {
			t.Fatalf("verifyFrame at %v: %v", other, err)
		}
	}
	// Any flipped bit in the frame or body is caught.
	n := FrameSize + int(binary.LittleEndian.Uint32(rec))
	for i := 0; i < n; i++ {
		for bit := 0; bit < 8; bit++ {
			c := slices.Clone(rec)
			c[i] ^= 1 << bit
			if _, _, err := verifyFrame(c, lsn); err == nil {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
		}
	}
	// Short buffers.
	for i := 0; i < n; i++ {
		if _, _, err := verifyFrame(rec[:i], lsn); err == nil {
			t.Fatalf("verifyFrame of %d of %d bytes succeeded", i, n)
		}
	}
}

func TestDecodeBodyRejects(t *testing.T) {
	lsn := LSN{File: 1, Offset: HeaderSize}
	fixed := func(typ byte) []byte {
		b := binary.LittleEndian.AppendUint64(nil, lsn.Uint64())
		b = append(b, typ)
		b = binary.LittleEndian.AppendUint64(b, 1)
		return binary.LittleEndian.AppendUint64(b, 2)
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	cases := map[string][]byte{
		"short":                 fixed(TypeTxn)[:bodyFixed-1],
		"unknown type":          cat(fixed(9), []byte{0}),
		"type zero":             cat(fixed(0), []byte{0}),
		"checkpoint short":      cat(fixed(TypeCheckpoint), make([]byte, 7)),
		"checkpoint long":       cat(fixed(TypeCheckpoint), make([]byte, 9)),
		"no count":              fixed(TypeTxn),
		"count too big":         cat(fixed(TypeTxn), []byte{2, OpDelete, 1, 't', 0}),
		"huge count":            cat(fixed(TypeTxn), []byte{0xff, 0xff, 0xff, 0xff, 0x0f}),
		"bad varint":            cat(fixed(TypeTxn), []byte{0x80, 0x80}),
		"unknown op":            cat(fixed(TypeTxn), []byte{1, 4, 1, 't', 0, 0}),
		"op zero":               cat(fixed(TypeTxn), []byte{1, 0, 1, 't', 0, 0}),
		"empty table":           cat(fixed(TypeTxn), []byte{1, OpDelete, 0, 0}),
		"table overruns":        cat(fixed(TypeTxn), []byte{1, OpDelete, 5, 't'}),
		"key overruns":          cat(fixed(TypeTxn), []byte{1, OpDelete, 1, 't', 3, 'k'}),
		"value missing":         cat(fixed(TypeTxn), []byte{1, OpPut, 1, 't', 0}),
		"value overruns":        cat(fixed(TypeTxn), []byte{1, OpPut, 1, 't', 0, 2, 'v'}),
		"trailing bytes":        cat(fixed(TypeTxn), []byte{1, OpDelete, 1, 't', 0, 0}),
		"trailing after empty":  cat(fixed(TypeTxn), []byte{0, 0}),
		"huge field length":     cat(fixed(TypeTxn), []byte{1, OpDelete, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
		"length past int range": cat(fixed(TypeTxn), []byte{1, OpDelete, 1, 't', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
	}
	long := make([]byte, maxTableLen+1)
	for i := range long {
		long[i] = 'x'
	}
	cases["table too long"] = cat(fixed(TypeTxn), []byte{1, OpDelete}, binary.AppendUvarint(nil, uint64(len(long))), long, []byte{0})
	for name, body := range cases {
		var r Record
		if err := decodeBody(body, &r); !errors.Is(err, errDamaged) {
			t.Errorf("%s: decodeBody = %v, want damage", name, err)
		}
	}
	// And the good ones next to them.
	for name, body := range map[string][]byte{
		"empty txn":  cat(fixed(TypeTxn), []byte{0}),
		"one delete": cat(fixed(TypeTxn), []byte{1, OpDelete, 1, 't', 0}),
		"checkpoint": cat(fixed(TypeCheckpoint), make([]byte, 8)),
		"max table":  cat(fixed(TypeTxn), []byte{1, OpDelete}, binary.AppendUvarint(nil, maxTableLen), long[:maxTableLen], []byte{0}),
	} {
		var r Record
		if err := decodeBody(body, &r); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDecodeBodyReusesRecord: decoding a checkpoint into a record that held
// a transaction clears its operations, and vice versa.
func TestDecodeBodyReusesRecord(t *testing.T) {
	lsn := LSN{File: 1, Offset: HeaderSize}
	txn := encodeTxn(lsn, 1, time.Unix(1, 0), []Op{{Kind: OpDelete, Table: "t", Key: []byte("k")}})
	cp := appendRecord(nil, lsn, TypeCheckpoint, 2, time.Unix(2, 0), func(d []byte) []byte {
		return binary.LittleEndian.AppendUint64(d, LSN{File: 1, Offset: 8}.Uint64())
	})
	var r Record
	body, _, _ := verifyFrame(txn, lsn)
	if err := decodeBody(body, &r); err != nil || len(r.Ops) != 1 {
		t.Fatalf("%v %+v", err, r)
	}
	body, _, _ = verifyFrame(cp, lsn)
	if err := decodeBody(body, &r); err != nil || len(r.Ops) != 0 || r.Durable != (LSN{File: 1, Offset: 8}) {
		t.Fatalf("%v %+v", err, r)
	}
	body, _, _ = verifyFrame(txn, lsn)
	if err := decodeBody(body, &r); err != nil || len(r.Ops) != 1 || !r.Durable.IsZero() {
		t.Fatalf("%v %+v", err, r)
	}
}
