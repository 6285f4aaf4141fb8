package dbdump

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader: the Reader never panics or hangs, every error it reports for
// malformed input is a *SyntaxError, and whatever it reads without error,
// written again with Writer, reads back as the same sections; that second
// dump is canonical (writing it again gives the same bytes).
func FuzzReader(f *testing.F) {
	seeds := []string{
		hdr + " k\n v\nDATA=END\n",
		hexHdr + " 6b\n 00ff\n \n \nDATA=END\n",
		hdr + " a\\\\b\\00\n \nDATA=END\nVERSION=2\nformat=bytevalue\ndatabase=x\\0a\ntype=hash\nHEADER=END\n 61\n 62\nDATA=END\n",
		"VERSION=3\nformat=print\ntype=btree\nnparts=3\n g\n p\nduplicates=1\nre_pad=0x20\nHEADER=END\n a\n 1\nDATA=END\n",
		hdr + " \\zz\n",
		hdr + " k\nDATA=END\n",
		"VERSION=3\nformat=print\ntype=recno\nHEADER=END\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if files, err := filepath.Glob(filepath.Join("testdata", "bdb_*.dump")); err == nil {
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, bufSize := range []int{0, 16} {
			secs, err := readAllSections(bytes.NewReader(data), bufSize)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Line < 1 {
					t.Fatalf("error %v is not a *SyntaxError with a line number", err)
				}
				continue
			}
			var first bytes.Buffer
			if err := writeSections(&first, secs); err != nil {
				t.Fatalf("re-encoding what was read: %v", err)
			}
			again, err := readAllSections(bytes.NewReader(first.Bytes()), bufSize)
			if err != nil {
				t.Fatalf("reading the re-encoded dump: %v\n%q", err, first.Bytes())
			}
			if len(again) != len(secs) {
				t.Fatalf("re-encoded dump has %d sections, want %d", len(again), len(secs))
			}
			for i := range secs {
				if !equalHeaders(again[i].hdr, normalized(t, secs[i].hdr)) {
					t.Fatalf("section %d: header %+v, want %+v", i, again[i].hdr, secs[i].hdr)
				}
				if !equalRecords(again[i].recs, secs[i].recs) {
					t.Fatalf("section %d: records differ after re-encoding", i)
				}
			}
			var second bytes.Buffer
			if err := writeSections(&second, again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatalf("re-encoding is not canonical:\n%q\n%q", first.Bytes(), second.Bytes())
			}
		}
	})
}
