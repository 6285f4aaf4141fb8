package wal

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testEnv is the environment id used by the tests.
var testEnv = EnvID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// wantRec is what a test appended: the record it expects to read back.
type wantRec struct {
	LSN     LSN
	Type    byte
	TxID    uint64
	Time    time.Time
	Ops     []Op
	Durable LSN
}

func copyRecord(r *Record) Record {
	c := *r
	c.Ops = nil
	for _, op := range r.Ops {
		c.Ops = append(c.Ops, Op{
			Kind:  op.Kind,
			Table: op.Table,
			Key:   bytes.Clone(op.Key),
			Value: bytes.Clone(op.Value),
		})
	}
	return c
}

// readLog reads every file of the log in dir, failing the test on errors.
func readLog(t testing.TB, dir string) ([]FileEnd, []Record) {
	t.Helper()
	nums, err := ListFiles(dir)
	if err != nil {
		t.Fatalf("ListFiles: %v", err)
	}
	var ends []FileEnd
	var recs []Record
	for i, n := range nums {
		if n != uint32(i+1) {
			t.Fatalf("log files %v are not numbered 1.. without gaps", nums)
		}
		fe, err := ReadFile(dir, n, 0, func(r *Record) error {
			recs = append(recs, copyRecord(r))
			return nil
		})
		if err != nil {
			t.Fatalf("ReadFile(%d): %v", n, err)
		}
		ends = append(ends, fe)
	}
	return ends, recs
}

// readOne reads file n, returning its FileEnd and records.
func readOne(t testing.TB, dir string, n uint32) (FileEnd, []Record) {
	t.Helper()
	var recs []Record
	fe, err := ReadFile(dir, n, 0, func(r *Record) error {
		recs = append(recs, copyRecord(r))
		return nil
	})
	if err != nil {
		t.Fatalf("ReadFile(%d): %v", n, err)
	}
	return fe, recs
}

func opsEqual(a, b []Op) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].Table != b[i].Table ||
			!bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// checkRecords compares what was read with what was appended.
func checkRecords(t testing.TB, got []Record, want []wantRec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, appended %d", len(got), len(want))
	}
	for i := range want {
		g, w := &got[i], &want[i]
		if g.LSN != w.LSN {
			t.Fatalf("record %d: LSN %v, AppendTxn returned %v", i, g.LSN, w.LSN)
		}
		if g.Type != w.Type || g.TxID != w.TxID || g.Time.UnixNano() != w.Time.UnixNano() {
			t.Fatalf("record %d at %v: type/txid/time %d/%d/%d, want %d/%d/%d", i, g.LSN,
				g.Type, g.TxID, g.Time.UnixNano(), w.Type, w.TxID, w.Time.UnixNano())
		}
		if g.Durable != w.Durable {
			t.Fatalf("record %d at %v: durable %v, want %v", i, g.LSN, g.Durable, w.Durable)
		}
		if !opsEqual(g.Ops, w.Ops) {
			t.Fatalf("record %d at %v: ops differ (%d ops read, %d appended)", i, g.LSN, len(g.Ops), len(w.Ops))
		}
		if g.LSN.Offset%Align != 0 || g.Size%Align != 0 || g.Size < FrameSize+bodyFixed {
			t.Fatalf("record %d at %v: misaligned (size %d)", i, g.LSN, g.Size)
		}
	}
}

// checkContiguous checks that the records of every file follow each other
// from the header on, and that each FileEnd ends after its last record.
func checkContiguous(t testing.TB, ends []FileEnd, recs []Record) {
	t.Helper()
	i := 0
	for _, fe := range ends {
		n := fe.Header.Number
		next := LSN{File: n, Offset: HeaderSize}
		for ; i < len(recs) && recs[i].LSN.File == n; i++ {
			if recs[i].LSN != next {
				t.Fatalf("record at %v, want %v (records must follow each other)", recs[i].LSN, next)
			}
			next = recs[i].End()
		}
		if fe.End != next {
			t.Fatalf("file %d: End %v, its last record ends at %v", n, fe.End, next)
		}
	}
	if i != len(recs) {
		t.Fatalf("record at %v is not in any file read", recs[i].LSN)
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randTable(rng *rand.Rand) string {
	n := 1 + rng.IntN(12)
	if rng.IntN(20) == 0 {
		n = maxTableLen
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return string(b)
}

func randLen(rng *rand.Rand, small, large int) int {
	switch r := rng.IntN(10); {
	case r < 2:
		return 0
	case r < 9:
		return 1 + rng.IntN(small)
	default:
		return 1 + rng.IntN(large)
	}
}

// randomOps makes a random transaction's operations, added to b, and returns
// them as the reader should decode them. big adds one value of a few MB.
func randomOps(rng *rand.Rand, b *Body, big bool) []Op {
	b.Reset()
	var ops []Op
	n := rng.IntN(8)
	if big && n == 0 {
		n = 1
	}
	for i := 0; i < n; i++ {
		kind := []byte{OpPut, OpDelete, OpCreateTable}[rng.IntN(3)]
		table := randTable(rng)
		key := randBytes(rng, randLen(rng, 40, 2000))
		value := randBytes(rng, randLen(rng, 200, 20000))
		if big && i == 0 {
			kind = OpPut
			value = randBytes(rng, 2<<20+rng.IntN(1<<20))
		}
		b.Add(kind, table, key, value)
		if kind == OpDelete {
			value = nil // a delete carries no value
		}
		ops = append(ops, Op{Kind: kind, Table: table, Key: key, Value: value})
	}
	if b.Count() != len(ops) {
		panic("Body.Count does not count")
	}
	return ops
}

// fileBytes returns the contents of log file n.
func fileBytes(t testing.TB, dir string, n uint32) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileName(n)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFileBytes(t testing.TB, dir string, n uint32, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, FileName(n)), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// expectedBytes is Damage.Bytes as specified: from at to the last non-zero
// byte of b, inclusive; 0 when there is none.
func expectedBytes(b []byte, at int) int64 {
	for i := len(b) - 1; i >= at; i-- {
		if b[i] != 0 {
			return int64(i + 1 - at)
		}
	}
	return 0
}

// newLog creates a log in a fresh directory.
func newLog(t testing.TB, maxSize int64) (string, *Writer) {
	t.Helper()
	dir := t.TempDir()
	w, err := Create(dir, testEnv, maxSize, 1, LSN{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return dir, w
}

// appendTxn appends a transaction with the given ops and returns what to expect.
func appendTxn(t testing.TB, w *Writer, txid uint64, ops []Op) wantRec {
	t.Helper()
	var b Body
	want := make([]Op, 0, len(ops))
	for _, op := range ops {
		b.Add(op.Kind, op.Table, op.Key, op.Value)
		if op.Kind == OpDelete {
			op.Value = nil
		}
		want = append(want, op)
	}
	tm := time.Unix(0, int64(txid)*1000+7)
	lsn, err := w.AppendTxn(txid, tm, &b)
	if err != nil {
		t.Fatalf("AppendTxn: %v", err)
	}
	return wantRec{LSN: lsn, Type: TypeTxn, TxID: txid, Time: tm, Ops: want}
}

// put is a single-put transaction's ops with a value of n bytes.
func put(table string, key string, n int) []Op {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(i*7 + 1)
	}
	return []Op{{Kind: OpPut, Table: table, Key: []byte(key), Value: v}}
}

// smallLog writes count small transactions to a new log (one file), closes it
// and returns the directory and the records.
func smallLog(t testing.TB, count int) (string, []wantRec) {
	t.Helper()
	dir, w := newLog(t, 1<<20)
	var want []wantRec
	for i := 0; i < count; i++ {
		want = append(want, appendTxn(t, w, uint64(i+1), put("tbl", "key", 10+i*13)))
		if i%3 == 2 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, want
}
