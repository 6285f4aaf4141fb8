package dbdump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWriterExactOutput(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	recs := []record{
		{[]byte("key"), []byte("value with spaces")},
		{[]byte{}, []byte{}},
		{[]byte(`back\slash`), []byte("tab\there\nnl\x00\x7f\x80\xff~ ")},
	}
	for _, r := range recs {
		if err := w.Write(r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n" +
		" key\n value with spaces\n" +
		" \n \n" +
		" back\\\\slash\n tab\\09here\\0anl\\00\\7f\\80\\ff~ \n" +
		"DATA=END\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// TestEscapeEveryByte checks the print encoding of each byte against the
// rule confirmed with db5.3_dump -p (and against its output in testdata).
func TestEscapeEveryByte(t *testing.T) {
	for i := 0; i < 256; i++ {
		c := byte(i)
		var want string
		switch {
		case c == '\\':
			want = `\\`
		case c >= ' ' && c <= '~':
			want = string(rune(c))
		default:
			want = fmt.Sprintf(`\%02x`, c)
		}
		if got := string(appendPrint(nil, []byte{c})); got != want {
			t.Errorf("byte %#02x: got %q, want %q", c, got, want)
		}
		if got, want := string(appendHex(nil, []byte{c})), fmt.Sprintf("%02x", c); got != want {
			t.Errorf("byte %#02x hex: got %q, want %q", c, got, want)
		}
	}
}

// allBytesRecords are the records of testdata/bdb_allbytes_*.dump, in
// Berkeley DB's btree order.
func allBytesRecords() []record {
	recs := []record{
		{[]byte{}, []byte(`\\AZ`)},
		{[]byte{0}, []byte{}},
	}
	for i := 0; i < 256; i++ {
		recs = append(recs, record{[]byte{'k', byte(i)}, []byte{byte(i)}})
	}
	return recs
}

// TestBDBOutput reads real db5.3_dump output and checks that the Writer
// reproduces its data lines byte for byte.
func TestBDBOutput(t *testing.T) {
	for _, format := range []string{FormatPrint, FormatBytevalue} {
		t.Run(format, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "bdb_allbytes_"+format+".dump"))
			if err != nil {
				t.Fatal(err)
			}
			secs, err := readAllSections(bytes.NewReader(data), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(secs) != 1 {
				t.Fatalf("got %d sections, want 1", len(secs))
			}
			want := Header{Version: 3, Format: format, Type: TypeBtree, Extra: map[string]string{"db_pagesize": "4096"}}
			if !equalHeaders(secs[0].hdr, want) {
				t.Errorf("header %+v, want %+v", secs[0].hdr, want)
			}
			if !equalRecords(secs[0].recs, allBytesRecords()) {
				t.Errorf("records differ from the expected ones")
			}
			// Our writer, given the same header, writes the same bytes.
			got := encodeRecords(t, secs[0].hdr, allBytesRecords())
			if !bytes.Equal(got, data) {
				t.Errorf("writer output differs from db5.3_dump's:\n%s\n---\n%s", got, data)
			}
		})
	}
}

func TestBDBFixtures(t *testing.T) {
	multi := []section{
		{Header{Version: 3, Type: TypeHash, Database: "one", HasDatabase: true, Extra: map[string]string{"db_pagesize": "4096"}},
			[]record{{[]byte("a"), []byte("b")}}},
		{Header{Version: 3, Type: TypeBtree, Database: "t\\w=o\n", HasDatabase: true, Extra: map[string]string{"db_pagesize": "4096"}},
			[]record{{[]byte("c"), []byte("d")}}},
	}
	partition := []section{
		{Header{Version: 3, Type: TypeBtree, PartitionKeys: [][]byte{[]byte("g"), []byte("p")}, Extra: map[string]string{"db_pagesize": "4096"}},
			[]record{{[]byte("a"), []byte("1")}, {[]byte("h"), []byte("2")}, {[]byte("q"), []byte("3")}}},
	}
	hashDup := []section{
		{Header{Version: 3, Format: FormatPrint, Type: TypeHash, Extra: map[string]string{"db_pagesize": "4096", "h_nelem": "1002", "duplicates": "1"}},
			[]record{{[]byte{0}, []byte(`\`)}, {[]byte("k"), []byte("1")}, {[]byte("k"), []byte("2")}}},
	}
	withFormat := func(secs []section, format string) []section {
		out := make([]section, len(secs))
		for i, s := range secs {
			out[i] = section{s.hdr.Clone(), s.recs}
			out[i].hdr.Format = format
		}
		return out
	}
	tests := []struct {
		file string
		want []section
	}{
		{"bdb_multi_print.dump", withFormat(multi, FormatPrint)},
		{"bdb_multi_bytevalue.dump", withFormat(multi, FormatBytevalue)},
		{"bdb_partition_print.dump", withFormat(partition, FormatPrint)},
		{"bdb_partition_bytevalue.dump", withFormat(partition, FormatBytevalue)},
		{"bdb_hash_dup_print.dump", hashDup},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			secs, err := readAllSections(bytes.NewReader(data), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(secs) != len(tc.want) {
				t.Fatalf("got %d sections, want %d", len(secs), len(tc.want))
			}
			for i := range secs {
				if !equalHeaders(secs[i].hdr, tc.want[i].hdr) {
					t.Errorf("section %d: header %+v, want %+v", i, secs[i].hdr, tc.want[i].hdr)
				}
				if !equalRecords(secs[i].recs, tc.want[i].recs) {
					t.Errorf("section %d: records %q, want %q", i, secs[i].recs, tc.want[i].recs)
				}
			}
			// Written back with the same headers, the dump is identical.
			var buf bytes.Buffer
			if err := writeSections(&buf, secs); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), data) {
				t.Errorf("rewritten dump differs:\n%s\n---\n%s", buf.Bytes(), data)
			}
		})
	}
}

func TestRefusedTypes(t *testing.T) {
	tests := map[string]string{
		"bdb_recno_print.dump":      "line 3: type=recno is not supported: its keys are record numbers",
		"bdb_recno_bytevalue.dump":  "line 3: type=recno is not supported",
		"bdb_recno_keys_print.dump": "line 3: type=recno is not supported",
		"bdb_queue_print.dump":      "line 3: type=queue is not supported: its keys are record numbers",
	}
	for file, want := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewReader(bytes.NewReader(data))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got error %v, want one starting %q", file, err, want)
		}
	}
}

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := randomRecords(rng, 500, 300)
	recs = append(recs,
		record{allBytes(), allBytes()},
		record{[]byte{}, []byte{}},
		record{[]byte(`\`), []byte(`\\\`)},
		record{[]byte(`\\0a`), []byte(`\zz`)},
		record{[]byte(" "), []byte("DATA=END")},
	)
	for _, format := range []string{FormatPrint, FormatBytevalue} {
		for _, bufSize := range []int{0, 16, 17, 100} {
			t.Run(fmt.Sprintf("%s/buf%d", format, bufSize), func(t *testing.T) {
				h := Header{Format: format, Type: TypeHash}
				data := encodeRecords(t, h, recs)
				secs, err := readAllSections(bytes.NewReader(data), bufSize)
				if err != nil {
					t.Fatal(err)
				}
				if len(secs) != 1 || !equalHeaders(secs[0].hdr, normalized(t, h)) {
					t.Fatalf("got sections %+v", secs)
				}
				if !equalRecords(secs[0].recs, recs) {
					t.Fatal("records differ after a round trip")
				}
			})
		}
	}
}

// TestOneByteReader feeds the Reader one byte per Read call.
func TestOneByteReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := randomRecords(rng, 50, 100)
	for _, format := range []string{FormatPrint, FormatBytevalue} {
		data := encodeRecords(t, Header{Format: format}, recs)
		secs, err := readAllSections(iotest.OneByteReader(bytes.NewReader(data)), 16)
		if err != nil {
			t.Fatal(err)
		}
		if !equalRecords(secs[0].recs, recs) {
			t.Fatalf("%s: records differ", format)
		}
	}
}

func TestLongValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 6<<20)
	for i := range big {
		big[i] = byte(rng.IntN(256))
	}
	text := bytes.Repeat([]byte("plain text\\"), 500_000)
	recs := []record{
		{[]byte("big"), big},
		{bytes.Clone(big[:3<<20]), []byte("big key")},
		{[]byte("text"), text},
	}
	for _, format := range []string{FormatPrint, FormatBytevalue} {
		t.Run(format, func(t *testing.T) {
			// Stream through a pipe: neither side holds the dump.
			pr, pw := io.Pipe()
			go func() {
				pw.CloseWithError(writeSections(pw, []section{{hdr: Header{Format: format}, recs: recs}}))
			}()
			secs, err := readAllSections(pr, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !equalRecords(secs[0].recs, recs) {
				t.Fatal("long records differ after a round trip")
			}
		})
	}
}

func TestMultiSection(t *testing.T) {
	in := "VERSION=3\nformat=print\ndatabase=a\ntype=btree\nHEADER=END\n k1\n v1\n k2\n v2\nDATA=END\n" +
		"VERSION=3\nformat=bytevalue\nsubdatabase=\ntype=hash\nHEADER=END\nDATA=END\n" +
		"VERSION=2\nformat=print\ntype=btree\nHEADER=END\n k3\n v3\nDATA=END\n"
	r, err := NewReader(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.Database != "a" || !h.HasDatabase || h.Format != FormatPrint {
		t.Fatalf("first header %+v", h)
	}
	expect := func(k, v string, line int) {
		t.Helper()
		gk, gv, err := r.Next()
		if err != nil || string(gk) != k || string(gv) != v || r.Line() != line {
			t.Fatalf("Next = %q, %q, %v at line %d; want %q, %q at line %d", gk, gv, err, r.Line(), k, v, line)
		}
	}
	expectNew := func(line int) {
		t.Helper()
		_, _, err := r.Next()
		if !errors.Is(err, ErrNewSection) {
			t.Fatalf("Next: %v, want ErrNewSection", err)
		}
		if want := fmt.Sprintf("line %d: another database section follows", line); err.Error() != want {
			t.Fatalf("Next: %q, want %q", err, want)
		}
	}
	expect("k1", "v1", 7)
	expect("k2", "v2", 9)
	expectNew(11)
	if h := r.Header(); h.Database != "" || !h.HasDatabase || h.Format != FormatBytevalue || h.Type != TypeHash {
		t.Fatalf("second header %+v", h)
	}
	expectNew(17)
	if h := r.Header(); h.HasDatabase || h.Version != 2 {
		t.Fatalf("third header %+v", h)
	}
	expect("k3", "v3", 22)
	for range 2 {
		if _, _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next at end: %v, want io.EOF", err)
		}
	}
}

func TestHeaderWriting(t *testing.T) {
	h := Header{
		Format:        FormatBytevalue,
		Type:          TypeHash,
		Database:      "db\\1\n",
		HasDatabase:   true,
		PartitionKeys: [][]byte{[]byte("m")},
		Extra: map[string]string{
			"keys": "1", "db_pagesize": "8192", "h_ffactor": "8", "chksum": "1", "dupsort": "1", "duplicates": "1",
		},
	}
	var buf bytes.Buffer
	w, err := NewWriterHeader(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("k"), []byte{0, 0xff}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "VERSION=3\nformat=bytevalue\ndatabase=db\\\\1\\0a\ntype=hash\nh_ffactor=8\n" +
		"chksum=1\nduplicates=1\ndupsort=1\ndb_pagesize=8192\nnparts=2\n 6d\nkeys=1\nHEADER=END\n 6b\n 00ff\nDATA=END\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	secs, err := readAllSections(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !equalHeaders(secs[0].hdr, normalized(t, h)) {
		t.Errorf("header read back %+v", secs[0].hdr)
	}
}

func TestWriterRefusesBadHeaders(t *testing.T) {
	bad := []Header{
		{Version: 1},
		{Format: "text"},
		{Type: "recno"},
		{Type: "queue"},
		{Type: "heap"},
		{Type: "btre"},
		{Database: "x"},
		{Extra: map[string]string{"foo": "1"}},
		{Extra: map[string]string{"nparts": "2"}},
		{Extra: map[string]string{"database": "x"}},
		{Extra: map[string]string{"duplicates": "yes"}},
		{Extra: map[string]string{"db_pagesize": "4k"}},
		{Extra: map[string]string{"re_pad": ""}},
		{Extra: map[string]string{"re_pad": "a\nb"}},
		{PartitionKeys: [][]byte{}},
	}
	for _, h := range bad {
		if _, err := NewWriterHeader(io.Discard, h); err == nil {
			t.Errorf("NewWriterHeader(%+v) succeeded", h)
		}
	}
}

var errBoom = errors.New("boom")

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errBoom
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	// The header fits the buffer; the error shows when it is flushed.
	w, err := NewWriter(&failWriter{n: 10})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	if err := w.Write(big, nil); !errors.Is(err, errBoom) {
		t.Fatalf("Write: %v, want errBoom", err)
	}
	if err := w.Close(); !errors.Is(err, errBoom) {
		t.Fatalf("Close: %v, want errBoom", err)
	}

	w, err = NewWriter(&failWriter{n: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("k"), []byte("v")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestReaderReadError(t *testing.T) {
	in := io.MultiReader(strings.NewReader("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\n v"), iotest.ErrReader(errBoom))
	r, err := NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Next()
	if !errors.Is(err, errBoom) || !strings.HasPrefix(err.Error(), "line 6: read: ") {
		t.Fatalf("Next: %v, want a wrapped errBoom on line 6", err)
	}
	if _, _, err2 := r.Next(); err2 != err {
		t.Fatalf("second Next: %v, want the same error", err2)
	}
	_, err = NewReader(io.MultiReader(strings.NewReader("VERSION=3\n"), iotest.ErrReader(errBoom)))
	if !errors.Is(err, errBoom) {
		t.Fatalf("NewReader: %v, want errBoom", err)
	}
}

const hdr = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
const hexHdr = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bad escape", hdr + " a\n b\n c\n x\\zzy\n", `line 8: bad escape "\\zz" at column 3 (want \\ or \ and two lowercase hex digits)`},
		{"uppercase escape", hdr + " \\4A\n", `line 5: bad escape "\\4A" at column 2 (hex digits must be lowercase)`},
		{"escape at end of line", hdr + " k\n ab\\\n", `line 6: bad escape "\\" at column 4 (want \\ or \ and two lowercase hex digits)`},
		{"half escape at end of line", hdr + " k\\4\n", `line 5: bad escape "\\4" at column 3 (want \\ or \ and two lowercase hex digits)`},
		{"escape at end of input", hdr + " k\\", `line 5: bad escape "\\" at column 3 (want \\ or \ and two lowercase hex digits)`},
		{"missing value before DATA=END", hdr + " k\n v\n k2\nDATA=END\n", "line 8: DATA=END where the value of the key on line 7 was expected (odd number of data lines)"},
		{"missing value at EOF", hdr + " k\n v\n k2\n", "line 8: unexpected end of input: the key on line 7 has no value line"},
		{"missing value at EOF, no newline", hdr + " k", "line 6: unexpected end of input: the key on line 5 has no value line"},
		{"no leading space", hdr + " k\nv\n", `line 6: line does not start with a space and is not DATA=END: "v"`},
		{"empty line", hdr + " k\n\n", `line 6: line does not start with a space and is not DATA=END: ""`},
		{"CRLF", hdr + " k\n v\nDATA=END\r\n", `line 7: line does not start with a space and is not DATA=END: "DATA=END\r" (CRLF line endings?)`},
		{"long bad line", hdr + strings.Repeat("x", 100) + "\n", `line 5: line does not start with a space and is not DATA=END: "` + strings.Repeat("x", 60) + `"...`},
		{"odd hex", hexHdr + " 6b\n 616\n", "line 6: odd number of hex digits (3)"},
		{"bad hex digit", hexHdr + " 6b\n 61g1\n", `line 6: bad hex digit "g" at column 4`},
		{"bad hex first digit", hexHdr + " 6b\n 61\n x1\n", `line 7: bad hex digit "x" at column 2`},
		{"uppercase hex", hexHdr + " 6B\n", `line 5: bad hex digit "B" at column 3 (hex digits must be lowercase)`},
		{"space in hex", hexHdr + " 6b 6b\n", `line 5: bad hex digit " " at column 4`},
		{"missing DATA=END", hdr + " k\n v\n", "line 7: unexpected end of input: missing DATA=END"},
		{"missing DATA=END, empty data", hdr, "line 5: unexpected end of input: missing DATA=END"},
		{"garbage after DATA=END", hdr + "DATA=END\ngarbage\n", `line 6: malformed header line "garbage": want name=value`},
		{"blank line after DATA=END", hdr + "DATA=END\n\n", `line 6: malformed header line "": want name=value`},
		{"second header incomplete", hdr + "DATA=END\nVERSION=3\n", "line 7: unexpected end of input in the header: missing HEADER=END"},
		{"second header without type", hdr + "DATA=END\nVERSION=3\nformat=print\nHEADER=END\n", "line 8: the header has no type= line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAllSections(strings.NewReader(tc.in), 0)
			checkSyntaxError(t, err, tc.want)
			// Small buffers split lines; the error stays the same.
			_, err = readAllSections(strings.NewReader(tc.in), 16)
			checkSyntaxError(t, err, tc.want)
		})
	}
}

func checkSyntaxError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error\n%s\nwant\n%s", err, want)
	}
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.HasPrefix(want, fmt.Sprintf("line %d: ", se.Line)) {
		t.Fatalf("error %v is not a *SyntaxError with its line", err)
	}
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty input", "", "line 1: empty input: no dump header"},
		{"data before HEADER=END", "VERSION=3\nformat=print\n k\n", "line 3: data line before HEADER=END"},
		{"DATA=END before HEADER=END", "VERSION=3\nDATA=END\n", `line 2: "DATA=END" before HEADER=END`},
		{"EOF in header", "VERSION=3\nformat=print\n", "line 3: unexpected end of input in the header: missing HEADER=END"},
		{"no equals", "VERSION=3\nbogus\n", `line 2: malformed header line "bogus": want name=value`},
		{"empty name", "VERSION=3\n=3\n", `line 2: malformed header line "=3": want name=value`},
		{"HEADER=other", "VERSION=3\nHEADER=DONE\n", `line 2: malformed header line "HEADER=DONE": want HEADER=END`},
		{"unknown key", "VERSION=3\nformat=print\ntype=btree\ncolour=blue\nHEADER=END\n", `line 4: unknown header name "colour"`},
		{"repeated key", "VERSION=3\nformat=print\nVERSION=3\n", "line 3: header VERSION= repeats the one on line 1"},
		{"database and subdatabase", "VERSION=3\ndatabase=a\nsubdatabase=b\n", "line 3: header subdatabase= repeats the one on line 2"},
		{"no VERSION", "format=print\ntype=btree\nHEADER=END\n", "line 3: the header has no VERSION= line"},
		{"no format", "VERSION=3\ntype=btree\nHEADER=END\n", "line 3: the header has no format= line"},
		{"VERSION=1", "VERSION=1\n", "line 1: dump format VERSION=1 is not supported (want 2 or 3)"},
		{"VERSION=4", "VERSION=4\n", `line 1: unsupported dump format VERSION="4" (want 2 or 3)`},
		{"VERSION CR", "VERSION=3\r\n", `line 1: unsupported dump format VERSION="3\r" (want 2 or 3)`},
		{"bad format", "VERSION=3\nformat=text\n", `line 2: unknown format "text" (want print or bytevalue)`},
		{"recno", "VERSION=3\nformat=print\ntype=recno\n", "line 3: type=recno is not supported: its keys are record numbers; only btree and hash databases can be read"},
		{"queue", "VERSION=3\nformat=print\ntype=queue\n", "line 3: type=queue is not supported: its keys are record numbers; only btree and hash databases can be read"},
		{"heap", "VERSION=3\nformat=print\ntype=heap\n", "line 3: type=heap is not supported: its keys are record IDs; only btree and hash databases can be read"},
		{"unknown type", "VERSION=3\nformat=print\ntype=tree\n", `line 3: unknown type "tree" (want btree or hash)`},
		{"bad flag", "VERSION=3\nduplicates=2\n", `line 2: header duplicates="2": want 0 or 1`},
		{"bad number", "VERSION=3\ndb_pagesize=4k\n", `line 2: header db_pagesize="4k": want a decimal number`},
		{"huge number", "VERSION=3\nh_nelem=99999999999\n", `line 2: header h_nelem="99999999999": number out of range`},
		{"empty value", "VERSION=3\nchksum=\n", "line 2: header chksum= has an empty value"},
		{"bad database escape", "VERSION=3\ndatabase=ab\\q\n", `line 2: bad escape "\\q" at column 12 (want \\ or \ and two lowercase hex digits)`},
		{"nparts before format", "VERSION=3\nnparts=2\n", "line 2: nparts= before format=: the partition keys' encoding is not known yet"},
		{"nparts too small", "VERSION=3\nformat=print\nnparts=1\n", `line 3: header nparts="1": want a decimal number of at least 2`},
		{"nparts not a number", "VERSION=3\nformat=print\nnparts=x\n", `line 3: header nparts="x": want a decimal number of at least 2`},
		{"nparts missing keys", "VERSION=3\nformat=print\nnparts=3\n a\n", "line 5: unexpected end of input: nparts=3 needs 2 partition key lines"},
		{"nparts key not a data line", "VERSION=3\nformat=print\nnparts=3\n a\ntype=btree\n", `line 5: partition key line does not start with a space: "type=btree"`},
		{"nparts bad key", "VERSION=3\nformat=bytevalue\nnparts=2\n 6\n", "line 4: odd number of hex digits (1)"},
		{"too long", "VERSION=3\ndatabase=" + strings.Repeat("x", maxHeaderLine), "line 2: line too long: a header or DATA=END line longer than 65536 bytes (is this a dump?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in))
			checkSyntaxError(t, err, tc.want)
		})
	}
}

func TestStickyAndEOF(t *testing.T) {
	r, err := NewReader(strings.NewReader(hdr + " k\n v\nDATA=END\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k, v, err := r.Next(); err != nil || string(k) != "k" || string(v) != "v" {
		t.Fatalf("Next: %q %q %v", k, v, err)
	}
	for range 3 {
		if _, _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next: %v, want io.EOF", err)
		}
	}
	// A last line without its newline is taken.
	secs, err := readAllSections(strings.NewReader(hdr+" k\n v\nDATA=END"), 0)
	if err != nil || len(secs[0].recs) != 1 {
		t.Fatalf("no final newline: %v %v", secs, err)
	}
	// Raw bytes that db_dump would escape are taken as themselves in
	// print format, as db_load does.
	secs, err = readAllSections(strings.NewReader(hdr+" \t\xff\r\n =\\\\\nDATA=END\n"), 0)
	if err != nil || !equalRecords(secs[0].recs, []record{{[]byte("\t\xff\r"), []byte(`=\`)}}) {
		t.Fatalf("raw bytes: %+v %v", secs, err)
	}
}

func TestHeaderIsACopy(t *testing.T) {
	r, err := NewReader(strings.NewReader("VERSION=3\nformat=print\ntype=btree\ndb_pagesize=512\nnparts=2\n m\nHEADER=END\nDATA=END\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := r.Header()
	h.Extra["db_pagesize"] = "1"
	h.PartitionKeys[0][0] = 'x'
	if h2 := r.Header(); h2.Extra["db_pagesize"] != "512" || string(h2.PartitionKeys[0]) != "m" {
		t.Fatalf("Header() shares state: %+v", h2)
	}
}

func BenchmarkWritePrint(b *testing.B)     { benchmarkWrite(b, FormatPrint) }
func BenchmarkWriteBytevalue(b *testing.B) { benchmarkWrite(b, FormatBytevalue) }
func BenchmarkReadPrint(b *testing.B)      { benchmarkRead(b, FormatPrint) }
func BenchmarkReadBytevalue(b *testing.B)  { benchmarkRead(b, FormatBytevalue) }

func benchRecords() []record {
	return randomRecords(rand.New(rand.NewPCG(7, 8)), 1000, 2000)
}

func benchmarkWrite(b *testing.B, format string) {
	recs := benchRecords()
	n := 0
	for _, r := range recs {
		n += len(r.key) + len(r.value)
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		if err := writeSections(io.Discard, []section{{hdr: Header{Format: format}, recs: recs}}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkRead(b *testing.B, format string) {
	recs := benchRecords()
	data := encodeRecords(b, Header{Format: format}, recs)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := readAllSections(bytes.NewReader(data), 0); err != nil {
			b.Fatal(err)
		}
	}
}
