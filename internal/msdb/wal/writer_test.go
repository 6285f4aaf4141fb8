package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testMaxSize = 64 << 10

// TestRoundTripRotation appends many random transactions and checkpoints to
// a log of 64 KiB files and reads them all back.
func TestRoundTripRotation(t *testing.T) {
	dir, w := newLog(t, testMaxSize)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []wantRec
	var b Body
	bigAt := map[int]bool{40: true, 41: true, 250: true}
	for i := 0; i < 500; i++ {
		before := w.End()
		var wr wantRec
		var size int
		if rng.IntN(10) == 0 && !bigAt[i] {
			tm := time.Unix(0, rng.Int64())
			lsn, err := w.AppendCheckpoint(uint64(i), tm)
			if err != nil {
				t.Fatalf("AppendCheckpoint: %v", err)
			}
			// A checkpoint says the tables are durable up to itself.
			wr = wantRec{LSN: lsn, Type: TypeCheckpoint, TxID: uint64(i), Time: tm, Durable: lsn}
			size = encodedSize(8)
		} else {
			ops := randomOps(rng, &b, bigAt[i])
			tm := time.Unix(0, rng.Int64())
			txid := rng.Uint64()
			size = encodedSize(b.payloadLen())
			lsn, err := w.AppendTxn(txid, tm, &b)
			if err != nil {
				t.Fatalf("AppendTxn %d: %v", i, err)
			}
			wr = wantRec{LSN: lsn, Type: TypeTxn, TxID: txid, Time: tm, Ops: ops}
		}
		// The record goes at the end, or at the start of the next file.
		if wr.LSN != before && wr.LSN != (LSN{File: before.File + 1, Offset: HeaderSize}) {
			t.Fatalf("record %d placed at %v, writer's end was %v", i, wr.LSN, before)
		}
		if wr.LSN.Offset%Align != 0 {
			t.Fatalf("record %d at unaligned %v", i, wr.LSN)
		}
		if got := w.End(); got != (LSN{File: wr.LSN.File, Offset: wr.LSN.Offset + uint32(size)}) {
			t.Fatalf("after record %d of %d bytes at %v, End is %v", i, size, wr.LSN, got)
		}
		want = append(want, wr)
		if rng.IntN(3) == 0 {
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if w.Durable() != w.End() {
				t.Fatalf("after Flush, Durable %v != End %v", w.Durable(), w.End())
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ends, recs := readLog(t, dir)
	checkRecords(t, recs, want)
	checkContiguous(t, ends, recs)
	if len(ends) < 10 {
		t.Fatalf("only %d files: the test should rotate many times", len(ends))
	}

	perFile := map[uint32][]Record{}
	for _, r := range recs {
		perFile[r.LSN.File] = append(perFile[r.LSN.File], r)
	}
	bigFiles := 0
	for i, fe := range ends {
		n := uint32(i + 1)
		h := fe.Header
		if h.Number != n || h.Env != testEnv || h.Start != (LSN{File: n, Offset: HeaderSize}) {
			t.Fatalf("file %d: header %+v", n, h)
		}
		if i == 0 && !h.PrevEnd.IsZero() {
			t.Fatalf("file 1: PrevEnd %v, want zero", h.PrevEnd)
		}
		if i > 0 && h.PrevEnd != ends[i-1].End {
			t.Fatalf("file %d: PrevEnd %v, file %d ends at %v", n, h.PrevEnd, n-1, ends[i-1].End)
		}
		if fe.Damage != nil {
			t.Fatalf("file %d: %v", n, fe.Damage)
		}
		if fe.Size != int64(fe.End.Offset) {
			t.Fatalf("file %d: size %d after Close, its records end at %v", n, fe.Size, fe.End)
		}
		if fe.Records != len(perFile[n]) || fe.Records == 0 {
			t.Fatalf("file %d: Records %d, %d read", n, fe.Records, len(perFile[n]))
		}
		if fe.End.Offset > testMaxSize {
			// Only a record bigger than a file is allowed past maxSize, alone.
			if fe.Records != 1 {
				t.Fatalf("file %d ends at %v past maxSize with %d records", n, fe.End, fe.Records)
			}
			bigFiles++
		}
		if i+1 < len(ends) {
			// Rotation only when the next record would not have fitted.
			next := perFile[n+1][0]
			if int64(fe.End.Offset)+int64(next.Size) <= testMaxSize {
				t.Fatalf("file %d rotated at %v, but the next record (%d bytes) fitted", n, fe.End, next.Size)
			}
		}
	}
	if bigFiles != len(bigAt) {
		t.Fatalf("%d files hold one oversized record, want %d", bigFiles, len(bigAt))
	}
}

// TestEmptyAndEdgeOps round-trips transactions with no operations, empty
// keys and values, 255-byte table names and deletes given a value.
func TestEmptyAndEdgeOps(t *testing.T) {
	dir, w := newLog(t, testMaxSize)
	long := strings.Repeat("t", maxTableLen)
	var want []wantRec
	want = append(want, appendTxn(t, w, 1, nil))
	want = append(want, appendTxn(t, w, 2, []Op{
		{Kind: OpPut, Table: "a", Key: nil, Value: nil},
		{Kind: OpPut, Table: "a", Key: []byte{}, Value: []byte{}},
		{Kind: OpDelete, Table: long, Key: nil, Value: []byte("ignored")},
		{Kind: OpCreateTable, Table: long, Key: []byte{0}, Value: []byte{0, 0, 0}},
		{Kind: OpDelete, Table: "b", Key: []byte{0, 0, 0, 0, 0, 0, 0, 0}},
	}))
	want = append(want, appendTxn(t, w, 3, nil))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ends, recs := readLog(t, dir)
	checkRecords(t, recs, want)
	checkContiguous(t, ends, recs)
	if got := recs[0].Size; got != encodedSize(1) {
		t.Fatalf("empty transaction is %d bytes, want %d", got, encodedSize(1))
	}
}

// TestBodyMarkTruncate checks that operations dropped with Truncate are not
// written, and Reset empties a Body.
func TestBodyMarkTruncate(t *testing.T) {
	var b Body
	b.Add(OpPut, "t", []byte("k1"), []byte("v1"))
	m := b.Mark()
	n := b.Len()
	b.Add(OpPut, "t", []byte("k2"), []byte("v2"))
	b.Add(OpDelete, "t", []byte("k3"), nil)
	b.Truncate(m)
	if b.Len() != n || b.Count() != 1 {
		t.Fatalf("after Truncate: len %d count %d, want %d 1", b.Len(), b.Count(), n)
	}
	b.Add(OpDelete, "u", []byte("k4"), nil)

	dir, w := newLog(t, testMaxSize)
	lsn, err := w.AppendTxn(9, time.Unix(5, 0), &b)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if b.Len() != 0 || b.Count() != 0 {
		t.Fatalf("after Reset: len %d count %d", b.Len(), b.Count())
	}
	lsn2, err := w.AppendTxn(10, time.Unix(6, 0), &b)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, recs := readLog(t, dir)
	checkRecords(t, recs, []wantRec{
		{LSN: lsn, Type: TypeTxn, TxID: 9, Time: time.Unix(5, 0), Ops: []Op{
			{Kind: OpPut, Table: "t", Key: []byte("k1"), Value: []byte("v1")},
			{Kind: OpDelete, Table: "u", Key: []byte("k4")},
		}},
		{LSN: lsn2, Type: TypeTxn, TxID: 10, Time: time.Unix(6, 0)},
	})
}

// TestPreallocation checks that Flush extends the file with zeros in 1 MiB
// steps ahead of its end, that a reader sees those zeros as a clean end, and
// that Close trims them.
func TestPreallocation(t *testing.T) {
	const maxSize = 8 << 20
	dir, w := newLog(t, maxSize)
	name := filepath.Join(dir, FileName(1))
	size := func() int64 {
		t.Helper()
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	var want []wantRec
	want = append(want, appendTxn(t, w, 1, put("t", "a", 100)))
	if got := size(); got != HeaderSize {
		t.Fatalf("before Flush the file is %d bytes, want just the header", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != HeaderSize+preallocStep {
		t.Fatalf("after the first Flush the file is %d bytes, want %d", got, HeaderSize+preallocStep)
	}
	fe, recs := readOne(t, dir, 1)
	if fe.Damage != nil || fe.End != w.End() || fe.Size != HeaderSize+preallocStep {
		t.Fatalf("reading a preallocated file: %+v", fe)
	}
	checkRecords(t, recs, want)

	// A record that passes the preallocated end extends by another step.
	want = append(want, appendTxn(t, w, 2, put("t", "b", preallocStep+preallocStep/2)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, min := size(), int64(w.End().Offset); got < min || got != HeaderSize+2*preallocStep {
		t.Fatalf("after the second Flush the file is %d bytes (records end at %d), want %d", got, min, HeaderSize+2*preallocStep)
	}
	// A record far past the allocated end extends to its end at least.
	want = append(want, appendTxn(t, w, 3, put("t", "c", 3*preallocStep)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := size(); got < int64(w.End().Offset) || got > maxSize {
		t.Fatalf("after the third Flush the file is %d bytes, records end at %v", got, w.End())
	}
	b := fileBytes(t, dir, 1)
	if expectedBytes(b, int(w.End().Offset)) != 0 {
		t.Fatalf("preallocated bytes are not zeros")
	}
	fe, recs = readOne(t, dir, 1)
	if fe.Damage != nil || fe.End != w.End() {
		t.Fatalf("reading a preallocated file: %+v", fe)
	}
	checkRecords(t, recs, want)

	end := w.End()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != int64(end.Offset) {
		t.Fatalf("after Close the file is %d bytes, want %d", got, end.Offset)
	}
}

// TestPreallocationCappedAtMaxSize checks that preallocation stops at maxSize.
func TestPreallocationCappedAtMaxSize(t *testing.T) {
	dir, w := newLog(t, testMaxSize)
	appendTxn(t, w, 1, put("t", "a", 100))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := int64(len(fileBytes(t, dir, 1))); got != testMaxSize {
		t.Fatalf("file preallocated to %d bytes, want maxSize %d", got, testMaxSize)
	}
	w.Abandon()
}

// fillTo appends transactions to w until its end is exactly at off, which must
// be aligned and at least 48 bytes past the current end.
func fillTo(t testing.TB, w *Writer, txid *uint64, off uint32) []wantRec {
	t.Helper()
	var want []wantRec
	for w.End().Offset < off {
		gap := int(off - w.End().Offset)
		n := 0
		if gap > 4096 {
			n = 3000
		} else {
			// Find a value length that makes the record exactly gap bytes.
			for n = 0; ; n++ {
				var b Body
				b.Add(OpPut, "t", nil, make([]byte, n))
				if s := encodedSize(b.payloadLen()); s == gap {
					break
				} else if s > gap {
					t.Fatalf("cannot make a record of %d bytes", gap)
				}
			}
		}
		*txid++
		want = append(want, appendTxn(t, w, *txid, []Op{{Kind: OpPut, Table: "t", Value: make([]byte, n)}}))
	}
	if w.End().Offset != off {
		t.Fatalf("filled to %v, want offset %d", w.End(), off)
	}
	return want
}

// TestResumeAfterCrashWithPreallocatedZeros abandons a writer whose file has
// preallocated zeros past its last record, then resumes after the record.
func TestResumeAfterCrashWithPreallocatedZeros(t *testing.T) {
	dir, w := newLog(t, testMaxSize)
	var want []wantRec
	var txid uint64
	for i := 0; i < 5; i++ {
		txid++
		want = append(want, appendTxn(t, w, txid, put("t", "k", 500+i)))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	durable := w.Durable()
	// Appended but never flushed: lost in the crash.
	txid++
	appendTxn(t, w, txid, put("t", "lost", 100))
	w.Abandon()

	fe, recs := readOne(t, dir, 1)
	if fe.Damage != nil {
		t.Fatalf("crash with preallocated zeros: %v", fe.Damage)
	}
	if fe.End != durable || fe.Size != testMaxSize {
		t.Fatalf("End %v Size %d, want %v %d", fe.End, fe.Size, durable, testMaxSize)
	}
	checkRecords(t, recs, want)

	w, err := Resume(dir, testEnv, testMaxSize, fe.End)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if w.End() != fe.End || w.Durable() != fe.End {
		t.Fatalf("resumed writer: End %v Durable %v, want %v", w.End(), w.Durable(), fe.End)
	}
	// Enough to rotate twice.
	for i := 0; i < 100; i++ {
		txid++
		want = append(want, appendTxn(t, w, txid, put("t", "k", 2000+i)))
		if i%7 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want[5].LSN != fe.End {
		t.Fatalf("first record after Resume at %v, want %v", want[5].LSN, fe.End)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ends, recs := readLog(t, dir)
	checkRecords(t, recs, want)
	checkContiguous(t, ends, recs)
	if len(ends) < 3 {
		t.Fatalf("%d files, want a rotation after Resume", len(ends))
	}
	for i, fe := range ends {
		if fe.Damage != nil || fe.Size != int64(fe.End.Offset) {
			t.Fatalf("file %d: damage %v, size %d, end %v", i+1, fe.Damage, fe.Size, fe.End)
		}
		if i > 0 && fe.Header.PrevEnd != ends[i-1].End {
			t.Fatalf("file %d: PrevEnd %v, want %v", i+1, fe.Header.PrevEnd, ends[i-1].End)
		}
	}
}

// TestResumeAfterCrashMidFile resumes in the second file after a crash
// that leaves it preallocated, and checks the zeros are trimmed on Close.
func TestResumeAfterCrashMidFile(t *testing.T) {
	dir, w := newLog(t, testMaxSize)
	var want []wantRec
	var txid uint64
	for w.End().File < 2 || w.End().Offset < 3000 {
		txid++
		want = append(want, appendTxn(t, w, txid, put("t", "k", 1500)))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Abandon()
	ends, recs := readLog(t, dir)
	checkRecords(t, recs, want)
	last := ends[len(ends)-1]
	if last.Size <= int64(last.End.Offset) {
		t.Fatalf("expected preallocated zeros after the last record: size %d end %v", last.Size, last.End)
	}
	w, err := Resume(dir, testEnv, testMaxSize, last.End)
	if err != nil {
		t.Fatal(err)
	}
	txid++
	want = append(want, appendTxn(t, w, txid, put("t", "after", 10)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ends, recs = readLog(t, dir)
	checkRecords(t, recs, want)
	checkContiguous(t, ends, recs)
	last = ends[len(ends)-1]
	if last.Damage != nil || last.Size != int64(last.End.Offset) {
		t.Fatalf("after Resume and Close: %+v", last)
	}
}

// TestResumeAfterClose continues a cleanly closed log.
func TestResumeAfterClose(t *testing.T) {
	dir, want := smallLog(t, 4)
	fe, _ := readOne(t, dir, 1)
	w, err := Resume(dir, testEnv, testMaxSize, fe.End)
	if err != nil {
		t.Fatal(err)
	}
	lsn, err := w.AppendCheckpoint(100, time.Unix(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if lsn != fe.End {
		t.Fatalf("checkpoint at %v, want %v", lsn, fe.End)
	}
	want = append(want, wantRec{LSN: lsn, Type: TypeCheckpoint, TxID: 100, Time: time.Unix(1, 2), Durable: lsn})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ends, recs := readLog(t, dir)
	checkRecords(t, recs, want)
	checkContiguous(t, ends, recs)
}

// TestUnalignedMaxSizeCrashZeros: a log whose maxSize is not a multiple of 8
// preallocates up to maxSize; if a record ends within 8 bytes of maxSize and
// the writer crashes, fewer than 8 zero bytes follow the last record. Those
// zeros were never written by a record and must read as a clean end, as
// every other run of preallocated zeros does.
func TestUnalignedMaxSizeCrashZeros(t *testing.T) {
	const maxSize = testMaxSize + 4
	dir, w := newLog(t, maxSize)
	var txid uint64
	want := fillTo(t, w, &txid, testMaxSize)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Abandon()
	if got := len(fileBytes(t, dir, 1)); got != maxSize {
		t.Fatalf("file is %d bytes, want %d", got, maxSize)
	}
	fe, recs := readOne(t, dir, 1)
	checkRecords(t, recs, want)
	if fe.End.Offset != testMaxSize {
		t.Fatalf("End %v, want offset %d", fe.End, testMaxSize)
	}
	if fe.Damage != nil {
		t.Fatalf("4 preallocated zero bytes after the last record read as damage: %v (Torn %v, Bytes %d)",
			fe.Damage, fe.Damage.Torn, fe.Damage.Bytes)
	}
}

// TestStickyErrorAbandon: after Abandon nothing more is appended or flushed.
func TestStickyErrorAbandon(t *testing.T) {
	_, w := newLog(t, testMaxSize)
	appendTxn(t, w, 1, put("t", "k", 10))
	w.Abandon()
	if w.Err() == nil {
		t.Fatal("no sticky error after Abandon")
	}
	var b Body
	if _, err := w.AppendTxn(2, time.Now(), &b); err == nil {
		t.Fatal("AppendTxn after Abandon succeeded")
	}
	if _, err := w.AppendCheckpoint(3, time.Now()); err == nil {
		t.Fatal("AppendCheckpoint after Abandon succeeded")
	}
	if err := w.Flush(); err == nil {
		t.Fatal("Flush after Abandon succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Abandon: %v", err)
	}
}

// TestStickyErrorFailedFlush closes the file underneath the writer, so that
// Flush fails, both when it must extend the file and when it need not, and
// checks that the error sticks.
func TestStickyErrorFailedFlush(t *testing.T) {
	for _, extend := range []bool{true, false} {
		name := "write"
		if extend {
			name = "extend"
		}
		t.Run(name, func(t *testing.T) {
			dir, w := newLog(t, testMaxSize)
			first := appendTxn(t, w, 1, put("t", "k", 10))
			if !extend {
				if err := w.Flush(); err != nil { // preallocates to maxSize
					t.Fatal(err)
				}
			}
			durable := w.Durable()
			syncs := w.Syncs()
			appendTxn(t, w, 2, put("t", "k", 10))
			w.f.Close() // the file goes away underneath
			err := w.Flush()
			if err == nil {
				t.Fatal("Flush to a closed file succeeded")
			}
			if w.Err() == nil || w.Err().Error() != err.Error() {
				t.Fatalf("sticky error %v, Flush returned %v", w.Err(), err)
			}
			if w.Durable() != durable || w.Syncs() != syncs {
				t.Fatalf("failed Flush moved Durable to %v (was %v) or counted a sync", w.Durable(), durable)
			}
			var b Body
			b.Add(OpPut, "t", []byte("x"), nil)
			if _, err := w.AppendTxn(3, time.Now(), &b); err == nil {
				t.Fatal("AppendTxn after a failed Flush succeeded")
			}
			if _, err := w.AppendCheckpoint(4, time.Now()); err == nil {
				t.Fatal("AppendCheckpoint after a failed Flush succeeded")
			}
			if err2 := w.Flush(); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second Flush: %v, want the sticky %v", err2, err)
			}
			if err := w.Close(); err == nil {
				t.Fatal("Close after a failed Flush succeeded")
			}
			fe, recs := readOne(t, dir, 1)
			if fe.Damage != nil {
				t.Fatal(fe.Damage)
			}
			var want []wantRec
			if !extend {
				want = []wantRec{first}
			}
			checkRecords(t, recs, want)
		})
	}
}

// TestClosedWriter: a closed writer refuses appends; Close is idempotent.
func TestClosedWriter(t *testing.T) {
	_, w := newLog(t, testMaxSize)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var b Body
	if _, err := w.AppendTxn(1, time.Now(), &b); err == nil {
		t.Fatal("AppendTxn after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestFlushCountsSyncs: an empty Flush does not sync; a Flush with records does.
func TestFlushCountsSyncs(t *testing.T) {
	_, w := newLog(t, testMaxSize)
	defer w.Close()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Syncs() != 0 {
		t.Fatalf("empty Flush synced")
	}
	start := w.Durable()
	appendTxn(t, w, 1, put("t", "k", 1))
	if w.Durable() != start {
		t.Fatalf("Durable moved to %v before Flush", w.Durable())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Syncs() != 1 || w.Durable() != w.End() {
		t.Fatalf("after Flush: syncs %d durable %v end %v", w.Syncs(), w.Durable(), w.End())
	}
}

// TestCreate checks Create's header and that it refuses an existing file.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	prev := LSN{File: 4, Offset: 4096}
	w, err := Create(dir, testEnv, testMaxSize, 5, prev)
	if err != nil {
		t.Fatal(err)
	}
	if w.End() != (LSN{File: 5, Offset: HeaderSize}) || w.Durable() != w.End() {
		t.Fatalf("new writer: End %v Durable %v", w.End(), w.Durable())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if h.Number != 5 || h.Env != testEnv || h.PrevEnd != prev || h.Start != (LSN{File: 5, Offset: HeaderSize}) {
		t.Fatalf("header %+v", h)
	}
	if _, err := Create(dir, testEnv, testMaxSize, 5, prev); err == nil {
		t.Fatal("Create over an existing log file succeeded")
	}
	if !bytes.Equal(fileBytes(t, dir, 5), h.encode()) {
		t.Fatal("refused Create changed the existing file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want 1 (no .tmp left)", len(ents))
	}
}

// TestCallbackError: an error from fn stops ReadFile and is returned.
func TestCallbackError(t *testing.T) {
	dir, _ := smallLog(t, 5)
	stop := errors.New("stop")
	calls := 0
	_, err := ReadFile(dir, 1, 0, func(r *Record) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("ReadFile returned %v after %d calls, want stop after 2", err, calls)
	}
}

// TestReadFileFrom: records before from are skipped but End covers them.
func TestReadFileFrom(t *testing.T) {
	dir, want := smallLog(t, 8)
	full, _ := readOne(t, dir, 1)
	for _, from := range []uint32{0, HeaderSize, want[3].LSN.Offset, want[3].LSN.Offset + 1, want[7].LSN.Offset, full.End.Offset, full.End.Offset + 100} {
		var got []Record
		fe, err := ReadFile(dir, 1, from, func(r *Record) error {
			got = append(got, copyRecord(r))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var w []wantRec
		for _, r := range want {
			if r.LSN.Offset >= from {
				w = append(w, r)
			}
		}
		checkRecords(t, got, w)
		if fe.End != full.End || fe.Records != len(w) || fe.Damage != nil {
			t.Fatalf("from %d: End %v Records %d, want %v %d", from, fe.End, fe.Records, full.End, len(w))
		}
	}
}

// TestRoundTripLargeFile writes one big file whose records straddle the
// reader's 1 MiB chunks in every way, and reads it back from several offsets.
func TestRoundTripLargeFile(t *testing.T) {
	dir, w := newLog(t, 64<<20)
	rng := rand.New(rand.NewPCG(5, 6))
	var want []wantRec
	var b Body
	for i := 0; w.End().Offset < 12<<20; i++ {
		b.Reset()
		var ops []Op
		var n int
		switch rng.IntN(4) {
		case 0:
			n = rng.IntN(100)
		case 1:
			n = rng.IntN(300 << 10)
		case 2:
			n = preallocStep - 64 + rng.IntN(128) // about one chunk
		case 3:
			n = preallocStep + rng.IntN(2*preallocStep)
		}
		v := randBytes(rng, n)
		b.Add(OpPut, "big", []byte{byte(i)}, v)
		ops = append(ops, Op{Kind: OpPut, Table: "big", Key: []byte{byte(i)}, Value: v})
		tm := time.Unix(0, int64(i))
		lsn, err := w.AppendTxn(uint64(i), tm, &b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, wantRec{LSN: lsn, Type: TypeTxn, TxID: uint64(i), Time: tm, Ops: ops})
		if rng.IntN(2) == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ends, recs := readLog(t, dir)
	if len(ends) != 1 {
		t.Fatalf("%d files", len(ends))
	}
	checkRecords(t, recs, want)
	checkContiguous(t, ends, recs)
	for _, k := range []int{1, len(want) / 2, len(want) - 1} {
		var got []Record
		fe, err := ReadFile(dir, 1, want[k].LSN.Offset, func(r *Record) error {
			got = append(got, copyRecord(r))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, got, want[k:])
		if fe.End != ends[0].End {
			t.Fatalf("End %v reading from %v", fe.End, want[k].LSN)
		}
	}
}

// TestDurableFromAnotherGoroutine reads Durable while the writer appends;
// it only moves forward. (Run with -race.)
func TestDurableFromAnotherGoroutine(t *testing.T) {
	_, w := newLog(t, testMaxSize)
	done := make(chan struct{})
	errc := make(chan string, 1)
	go func() {
		defer close(errc)
		var last LSN
		for {
			select {
			case <-done:
				return
			default:
			}
			d := w.Durable()
			if d.Less(last) {
				errc <- fmt.Sprintf("Durable went back from %v to %v", last, d)
				return
			}
			last = d
			_ = w.Syncs()
		}
	}()
	for i := 0; i < 200; i++ {
		appendTxn(t, w, uint64(i+1), put("t", "k", 1000))
		if i%5 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	if msg := <-errc; msg != "" {
		t.Fatal(msg)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDurableAndSyncsFromAnotherGoroutine: Durable and Syncs may be read
// from any goroutine while the writer appends (End only from the writer's,
// as its doc says). Under -race this would report a data race.
func TestDurableAndSyncsFromAnotherGoroutine(t *testing.T) {
	_, w := newLog(t, testMaxSize)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = w.Durable()
			_ = w.Syncs()
		}
	}()
	for i := 0; i < 200; i++ {
		appendTxn(t, w, uint64(i+1), put("t", "k", 1000))
		if i%5 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	<-stopped
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTableNameLimits: Body.Add and AppendTxn accept any table name, but the
// reader rejects names of 0 or more than 255 bytes as damage. A record the
// writer accepted and synced must read back; otherwise AppendTxn must refuse
// it. Followed by other records, such a record is "corruption" that stops
// recovery.
func TestTableNameLimits(t *testing.T) {
	for _, table := range []string{"", strings.Repeat("x", maxTableLen+1)} {
		t.Run(fmt.Sprint(len(table)), func(t *testing.T) {
			dir, w := newLog(t, testMaxSize)
			var b Body
			b.Add(OpPut, table, []byte("k"), []byte("v"))
			lsn, err := w.AppendTxn(1, time.Unix(1, 0), &b)
			if err != nil {
				return // refused: fine
			}
			next := appendTxn(t, w, 2, put("t", "k", 1))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			fe, recs := readOne(t, dir, 1)
			if fe.Damage != nil {
				t.Fatalf("AppendTxn accepted a %d-byte table name at %v, but the record reads as: %v", len(table), lsn, fe.Damage)
			}
			checkRecords(t, recs, []wantRec{
				{LSN: lsn, Type: TypeTxn, TxID: 1, Time: time.Unix(1, 0), Ops: []Op{{Kind: OpPut, Table: table, Key: []byte("k"), Value: []byte("v")}}},
				next,
			})
		})
	}
}

// TestBodyTruncateDropsBadOp: Truncate drops the operations added after the
// mark, so a bad one among them must no longer make AppendTxn fail.
func TestBodyTruncateDropsBadOp(t *testing.T) {
	var b Body
	b.Add(OpPut, "t", []byte("k"), []byte("v"))
	m := b.Mark()
	b.Add(OpPut, "", []byte("k"), []byte("v")) // a bad table name
	b.Truncate(m)
	dir, w := newLog(t, testMaxSize)
	lsn, err := w.AppendTxn(1, time.Unix(1, 0), &b)
	if err != nil {
		t.Fatalf("AppendTxn of a body whose bad operation was truncated away: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, recs := readLog(t, dir)
	checkRecords(t, recs, []wantRec{{LSN: lsn, Type: TypeTxn, TxID: 1, Time: time.Unix(1, 0),
		Ops: []Op{{Kind: OpPut, Table: "t", Key: []byte("k"), Value: []byte("v")}}}})
}

// TestUnknownOpKind: like a bad table name, an operation kind the reader
// rejects must make AppendTxn fail rather than write a record that reads
// back as corruption.
func TestUnknownOpKind(t *testing.T) {
	for _, kind := range []byte{0, 4, 0xff} {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			dir, w := newLog(t, testMaxSize)
			var b Body
			b.Add(kind, "t", []byte("k"), []byte("v"))
			lsn, err := w.AppendTxn(1, time.Unix(1, 0), &b)
			if err != nil {
				return // refused: fine
			}
			appendTxn(t, w, 2, put("t", "k", 1))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			fe, _ := readOne(t, dir, 1)
			if fe.Damage != nil {
				t.Fatalf("AppendTxn accepted operation kind %d at %v, but the record reads as: %v", kind, lsn, fe.Damage)
			}
		})
	}
}
