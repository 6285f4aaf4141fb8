package pop3

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWriteMessage(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lines int
		want  string
	}{
		{"empty", "", -1, ".\r\n"},
		{"crlf", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
		{"bare lf", "A: b\n\nbody\nmore\n", -1, "A: b\r\n\r\nbody\r\nmore\r\n.\r\n"},
		{"mixed", "A: b\r\n\nx\ny\r\n", -1, "A: b\r\n\r\nx\r\ny\r\n.\r\n"},
		{"no final newline", "A: b\r\n\r\nlast", -1, "A: b\r\n\r\nlast\r\n.\r\n"},
		{"bare cr kept", "A: b\r\n\r\nx\ry\r\n", -1, "A: b\r\n\r\nx\ry\r\n.\r\n"},
		{"final bare cr", "A: b\r\n\r\nx\r", -1, "A: b\r\n\r\nx\r\r\n.\r\n"},
		{"dots", ".A: b\r\n\r\n.\r\n..\r\n.x\nx.\r\n", -1, "..A: b\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n.\r\n"},
		{"lone dot last", "A: b\n\n.", -1, "A: b\r\n\r\n..\r\n.\r\n"},
		{"top 0", "A: b\r\nC: d\r\n\r\nl1\r\nl2\r\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
		{"top 1", "A: b\r\nC: d\r\n\r\nl1\r\nl2\r\n", 1, "A: b\r\nC: d\r\n\r\nl1\r\n.\r\n"},
		{"top 2 lf", "A: b\n\nl1\n.l2\nl3\n", 2, "A: b\r\n\r\nl1\r\n..l2\r\n.\r\n"},
		{"top more than body", "A: b\r\n\r\nl1\r\n", 10, "A: b\r\n\r\nl1\r\n.\r\n"},
		{"top no body", "A: b\r\nC: d\r\n", 0, "A: b\r\nC: d\r\n.\r\n"},
		{"top no blank line no end", "A: b", 0, "A: b\r\n.\r\n"},
		{"top empty header", "\r\nbody\r\nmore\r\n", 1, "\r\nbody\r\n.\r\n"},
		{"top cr-only line is not the separator", "A: b\r\n\r\r\n\r\nx\r\n", 0, "A: b\r\n\r\r\n\r\n.\r\n"},
		{"top unterminated last body line", "A: b\n\nl1", 5, "A: b\r\n\r\nl1\r\n.\r\n"},
	}
	for _, tt := range tests {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"onebyte", iotest.OneByteReader}} {
			var out bytes.Buffer
			if err := writeMessage(&out, rd.wrap(strings.NewReader(tt.in)), tt.lines); err != nil {
				t.Fatalf("%s/%s: %v", tt.name, rd.name, err)
			}
			if out.String() != tt.want {
				t.Errorf("%s/%s:\n got %q\nwant %q", tt.name, rd.name, out.String(), tt.want)
			}
		}
	}
}

// TestWriteMessageLongLines crosses the read buffer's size with lines,
// CRLFs split across two buffers, and dots at line starts after them.
func TestWriteMessageLongLines(t *testing.T) {
	for _, n := range []int{copyBufSize - 2, copyBufSize - 1, copyBufSize, copyBufSize + 1, 3*copyBufSize + 7} {
		for _, eol := range []string{"\r\n", "\n"} {
			in := "Subject: x" + eol + eol + strings.Repeat("a", n) + eol + "." + strings.Repeat("b", n) + "\r" + eol + "end"
			var out bytes.Buffer
			if err := writeMessage(&out, strings.NewReader(in), -1); err != nil {
				t.Fatal(err)
			}
			want := "Subject: x\r\n\r\n" + strings.Repeat("a", n) + "\r\n.." + strings.Repeat("b", n) + "\r"
			if eol == "\n" {
				want += "\n" // "\r\n" in the input: the CR ends the line
			} else {
				want += "\r\n"
			}
			want += "end\r\n.\r\n"
			if got := out.String(); got != want {
				t.Errorf("n=%d eol=%q: output differs (len %d, want %d)", n, eol, len(got), len(want))
			}
			if got := unstuff(t, out.Bytes()); !bytes.Equal(got, normalize([]byte(in))) {
				t.Errorf("n=%d eol=%q: unstuffed output is not the normalized input", n, eol)
			}
		}
	}
}

func TestWriteMessageReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("A: b\r\n\r\n"), iotest.ErrReader(boom))
	err := writeMessage(io.Discard, r, -1)
	if !errors.Is(err, errReadMessage) || !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
}

// normalize is what a message becomes on the wire before dot-stuffing:
// LF not after CR becomes CRLF; a final line without an end gets CRLF.
func normalize(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

// unstuff undoes a multi-line payload: checks the terminator and that
// every line ends in CRLF, and removes the stuffed dots.
func unstuff(t testing.TB, b []byte) []byte {
	t.Helper()
	if !bytes.HasSuffix(b, []byte(".\r\n")) || len(b) > 3 && !bytes.HasSuffix(b, []byte("\r\n.\r\n")) {
		t.Fatalf("payload does not end in CRLF.CRLF: %q", tail(b))
	}
	b = b[:len(b)-3]
	var out []byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("line without CRLF: %q", b)
		}
		line := b[:i+2]
		if bytes.IndexByte(line[:i], '\n') >= 0 {
			t.Fatalf("bare LF in %q", line)
		}
		if line[0] == '.' {
			if i == 0 || line[1] != '.' {
				t.Fatalf("unstuffed dot line %q", line)
			}
			line = line[1:]
		}
		out = append(out, line...)
		b = b[i+2:]
	}
	return out
}

func tail(b []byte) []byte {
	if len(b) > 40 {
		return b[len(b)-40:]
	}
	return b
}

func FuzzWriteMessage(f *testing.F) {
	f.Add([]byte("A: b\r\n\r\n.x\n"), int8(-1))
	f.Add([]byte("\n\n\r\r\n."), int8(1))
	f.Fuzz(func(t *testing.T, in []byte, lines int8) {
		var out bytes.Buffer
		if err := writeMessage(&out, bytes.NewReader(in), int(lines)); err != nil {
			t.Fatal(err)
		}
		got := unstuff(t, out.Bytes())
		if lines < 0 && !bytes.Equal(got, normalize(in)) {
			t.Fatalf("RETR of %q gave %q", in, got)
		}
		if lines >= 0 && !bytes.HasPrefix(normalize(in), got) {
			t.Fatalf("TOP of %q gave %q, not a prefix", in, got)
		}
	})
}
