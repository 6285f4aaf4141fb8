package dbdump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrNewSection is wrapped by the error Reader.Next returns when a section
// ends with DATA=END and another section follows. By then the new section's
// header has been read and checked: Reader.Header returns it and further
// calls to Next return its records.
var ErrNewSection = errors.New("another database section follows")

// SyntaxError reports malformed input. Its message starts with the 1-based
// line number: "line 7: bad escape "\\zz" at column 5".
type SyntaxError struct {
	Line int    // 1-based line number
	Msg  string // what is wrong, without the line number
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// hexVal maps a lowercase hex digit to its value and every other byte to -1.
var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < 16; i++ {
		t[hexDigits[i]] = int8(i)
	}
	return t
}()

// Reader reads a dump written by db_dump (either format) or by Writer.
type Reader struct {
	br      *bufio.Reader
	line    int // number of the last line read, 1-based
	hdr     Header
	print   bool
	recLine int
	hdrLine int   // line number of the first line of the current header
	err     error // sticky: io.EOF or a parse or read error
}

// NewReader reads and checks the header of the first section of the dump.
func NewReader(r io.Reader) (*Reader, error) {
	return newReaderSize(r, 64<<10)
}

// newReaderSize is NewReader with a given buffer size, for tests: long lines
// are decoded in pieces of at most the buffer's size.
func newReaderSize(r io.Reader, size int) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, size)}
	if _, err := rd.br.Peek(1); err == io.EOF {
		return nil, &SyntaxError{Line: 1, Msg: "empty input: no dump header"}
	}
	if err := rd.readHeader(); err != nil {
		return nil, err
	}
	return rd, nil
}

// Header returns the header of the current section.
func (r *Reader) Header() Header {
	return r.hdr.Clone()
}

// Line returns the line number of the value line of the record last
// returned by Next, 0 before the first: for callers' messages about a
// record ("line 12: key already exists").
func (r *Reader) Line() int {
	return r.recLine
}

// Next returns the next record of the current section. The caller owns the
// returned slices; an empty key or value is a non-nil empty slice. At the
// end of the input, after DATA=END, Next returns io.EOF. When DATA=END is
// followed by another section, Next reads that section's header and returns
// an error wrapping ErrNewSection (see the package documentation). Any other
// error is final: a *SyntaxError for malformed input, or a wrapped read
// error from the underlying reader.
func (r *Reader) Next() (key, value []byte, err error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	key, value, err = r.next()
	if err != nil && !errors.Is(err, ErrNewSection) {
		r.err = err
	}
	return key, value, err
}

func (r *Reader) next() (key, value []byte, err error) {
	key, kind, err := r.readDataLine(make([]byte, 0, 64), true)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case lineEOF:
		return nil, nil, r.syntaxErr("unexpected end of input: missing DATA=END")
	case lineEnd:
		if _, err := r.br.Peek(1); err == io.EOF {
			return nil, nil, io.EOF
		}
		if err := r.readHeader(); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("line %d: %w", r.hdrLine, ErrNewSection)
	}
	keyLine := r.line
	value, kind, err = r.readDataLine(make([]byte, 0, 64), true)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case lineEOF:
		return nil, nil, r.syntaxErr("unexpected end of input: the key on line %d has no value line", keyLine)
	case lineEnd:
		return nil, nil, r.syntaxErr("DATA=END where the value of the key on line %d was expected (odd number of data lines)", keyLine)
	}
	r.recLine = r.line
	return key, value, nil
}

func (r *Reader) syntaxErr(format string, args ...any) error {
	return &SyntaxError{Line: r.line, Msg: fmt.Sprintf(format, args...)}
}

func (r *Reader) readErr(err error) error {
	return fmt.Errorf("line %d: read: %w", r.line, err)
}

type lineKind int

const (
	lineData lineKind = iota // a line starting with a space, decoded
	lineEnd                  // DATA=END
	lineEOF                  // the input ended before the line began
)

// readDataLine reads the next line, which must start with a space (or, if
// endOK, be DATA=END), decodes it per the section's format and appends the
// bytes to dst.
func (r *Reader) readDataLine(dst []byte, endOK bool) ([]byte, lineKind, error) {
	r.line++
	b, err := r.br.Peek(1)
	if len(b) == 0 {
		if err == io.EOF {
			return dst, lineEOF, nil
		}
		return dst, 0, r.readErr(err)
	}
	if b[0] != ' ' {
		text, err := r.readShortLine()
		if err != nil {
			return dst, 0, err
		}
		if endOK && string(text) == "DATA=END" {
			return dst, lineEnd, nil
		}
		hint := ""
		if bytes.HasSuffix(text, []byte("\r")) {
			hint = " (CRLF line endings?)"
		}
		if endOK {
			return dst, 0, r.syntaxErr("line does not start with a space and is not DATA=END: %s%s", quote(text), hint)
		}
		return dst, 0, r.syntaxErr("partition key line does not start with a space: %s%s", quote(text), hint)
	}
	_, _ = r.br.Discard(1)
	d := decoder{print: r.print, col: 2}
	for {
		chunk, err := r.br.ReadSlice('\n')
		done := false
		if n := len(chunk); n > 0 && chunk[n-1] == '\n' {
			chunk, done = chunk[:n-1], true
		}
		var derr error
		if dst, derr = d.decode(dst, chunk, r); derr != nil {
			return dst, 0, derr
		}
		if done || err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return dst, 0, r.readErr(err)
		}
	}
	if err := d.finish(r); err != nil {
		return dst, 0, err
	}
	return dst, lineData, nil
}

// readShortLine reads the rest of a line that is not a data line (header
// lines, DATA=END), without its newline, up to maxHeaderLine bytes.
func (r *Reader) readShortLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if n := len(chunk); n > 0 && chunk[n-1] == '\n' {
			chunk = chunk[:n-1]
			err = io.EOF // the line is complete
		}
		if len(line)+len(chunk) > maxHeaderLine {
			return nil, r.syntaxErr("line too long: a header or DATA=END line longer than %d bytes (is this a dump?)", maxHeaderLine)
		}
		line = append(line, chunk...)
		if err == io.EOF {
			return line, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, r.readErr(err)
		}
	}
}

// quote formats a line for an error message, shortened if long.
func quote(b []byte) string {
	const limit = 60
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}

// decoder decodes one data line, fed in chunks.
type decoder struct {
	print  bool
	col    int  // 1-based column of the next byte
	state  int  // print: 0 plain, 1 after '\', 2 after '\' and one byte; hex: 0 or 1 digits pending
	pend   byte // print: the byte after '\'; hex: the value of the high digit
	escCol int  // column of the pending '\'
}

func (d *decoder) decode(dst, chunk []byte, r *Reader) ([]byte, error) {
	if d.print {
		return d.decodePrint(dst, chunk, r)
	}
	return d.decodeHex(dst, chunk, r)
}

func (d *decoder) decodePrint(dst, chunk []byte, r *Reader) ([]byte, error) {
	for len(chunk) > 0 {
		switch d.state {
		case 0:
			i := bytes.IndexByte(chunk, '\\')
			if i < 0 {
				dst = append(dst, chunk...)
				d.col += len(chunk)
				return dst, nil
			}
			dst = append(dst, chunk[:i]...)
			d.col += i
			d.escCol = d.col
			d.state = 1
			chunk = chunk[i+1:]
		case 1:
			if chunk[0] == '\\' {
				dst = append(dst, '\\')
				d.state = 0
				d.col += 2
			} else {
				d.pend = chunk[0]
				d.state = 2
			}
			chunk = chunk[1:]
		case 2:
			hi, lo := hexVal[d.pend], hexVal[chunk[0]]
			if hi < 0 || lo < 0 {
				return dst, d.badEscape(r, []byte{'\\', d.pend, chunk[0]})
			}
			dst = append(dst, byte(hi)<<4|byte(lo))
			d.state = 0
			d.col += 3
			chunk = chunk[1:]
		}
	}
	return dst, nil
}

func (d *decoder) badEscape(r *Reader, esc []byte) error {
	msg := fmt.Sprintf("bad escape %q at column %d", esc, d.escCol)
	if len(esc) == 3 && hexVal[esc[1]|0x20] >= 0 && hexVal[esc[2]|0x20] >= 0 {
		msg += " (hex digits must be lowercase)"
	} else {
		msg += ` (want \\ or \ and two lowercase hex digits)`
	}
	return r.syntaxErr("%s", msg)
}

func (d *decoder) decodeHex(dst, chunk []byte, r *Reader) ([]byte, error) {
	i := 0
	if d.state == 1 && len(chunk) > 0 {
		lo := hexVal[chunk[0]]
		if lo < 0 {
			return dst, d.badHex(r, chunk[0])
		}
		dst = append(dst, d.pend<<4|byte(lo))
		d.state = 0
		d.col++
		i = 1
	}
	for ; i+1 < len(chunk); i += 2 {
		hi, lo := hexVal[chunk[i]], hexVal[chunk[i+1]]
		if hi < 0 {
			return dst, d.badHex(r, chunk[i])
		}
		d.col++
		if lo < 0 {
			return dst, d.badHex(r, chunk[i+1])
		}
		d.col++
		dst = append(dst, byte(hi)<<4|byte(lo))
	}
	if i < len(chunk) {
		hi := hexVal[chunk[i]]
		if hi < 0 {
			return dst, d.badHex(r, chunk[i])
		}
		d.pend = byte(hi)
		d.state = 1
		d.col++
	}
	return dst, nil
}

func (d *decoder) badHex(r *Reader, c byte) error {
	msg := fmt.Sprintf("bad hex digit %q at column %d", []byte{c}, d.col)
	if c >= 'A' && c <= 'F' {
		msg += " (hex digits must be lowercase)"
	}
	return r.syntaxErr("%s", msg)
}

// finish checks that the line did not end inside an escape or a byte.
func (d *decoder) finish(r *Reader) error {
	switch {
	case d.print && d.state == 1:
		return d.badEscape(r, []byte{'\\'})
	case d.print && d.state == 2:
		return d.badEscape(r, []byte{'\\', d.pend})
	case !d.print && d.state == 1:
		return r.syntaxErr("odd number of hex digits (%d)", d.col-2)
	}
	return nil
}

// readHeader reads a section's header, up to and including HEADER=END,
// into r.hdr.
func (r *Reader) readHeader() error {
	h := Header{}
	seen := map[string]int{} // name -> line
	r.hdrLine = r.line + 1
	for {
		b, err := r.br.Peek(1)
		if len(b) == 0 {
			r.line++
			if err == io.EOF {
				return r.syntaxErr("unexpected end of input in the header: missing HEADER=END")
			}
			return r.readErr(err)
		}
		if b[0] == ' ' {
			r.line++
			return r.syntaxErr("data line before HEADER=END")
		}
		r.line++
		text, err := r.readShortLine()
		if err != nil {
			return err
		}
		eq := bytes.IndexByte(text, '=')
		if eq <= 0 {
			return r.syntaxErr("malformed header line %s: want name=value", quote(text))
		}
		name, value := string(text[:eq]), string(text[eq+1:])
		if name == "HEADER" {
			if value != "END" {
				return r.syntaxErr("malformed header line %s: want HEADER=END", quote(text))
			}
			break
		}
		key := name
		if key == "subdatabase" {
			key = "database"
		}
		if first, dup := seen[key]; dup {
			return r.syntaxErr("header %s= repeats the one on line %d", name, first)
		}
		seen[key] = r.line
		switch name {
		case "DATA":
			return r.syntaxErr("%s before HEADER=END", quote(text))
		case "VERSION":
			switch value {
			case "3", "2":
				h.Version = int(value[0] - '0')
			case "1":
				return r.syntaxErr("dump format VERSION=1 is not supported (want 2 or 3)")
			default:
				return r.syntaxErr("unsupported dump format VERSION=%s (want 2 or 3)", quote([]byte(value)))
			}
		case "format":
			switch value {
			case FormatPrint, FormatBytevalue:
				h.Format = value
			default:
				return r.syntaxErr("unknown format %s (want print or bytevalue)", quote([]byte(value)))
			}
		case "type":
			if msg := checkType(value); msg != "" {
				return r.syntaxErr("%s", msg)
			}
			h.Type = value
		case "database", "subdatabase":
			d := decoder{print: true, col: eq + 2}
			name, err := d.decodePrint(nil, []byte(value), r)
			if err == nil {
				err = d.finish(r)
			}
			if err != nil {
				return err
			}
			h.Database, h.HasDatabase = string(name), true
		case "nparts":
			if err := r.readPartitions(&h, value); err != nil {
				return err
			}
		default:
			if msg := checkExtra(name, value); msg != "" {
				return r.syntaxErr("%s", msg)
			}
			if h.Extra == nil {
				h.Extra = map[string]string{}
			}
			h.Extra[name] = value
		}
	}
	for _, need := range []string{"VERSION", "format", "type"} {
		if _, ok := seen[need]; !ok {
			return r.syntaxErr("the header has no %s= line", need)
		}
	}
	r.hdr = h
	r.print = h.Format == FormatPrint
	return nil
}

// readPartitions reads the nparts-1 partition key lines that follow an
// nparts= header line.
func (r *Reader) readPartitions(h *Header, value string) error {
	if h.Format == "" {
		return r.syntaxErr("nparts= before format=: the partition keys' encoding is not known yet")
	}
	n, err := strconv.ParseUint(value, 10, 32)
	if !isDecimal(value) || err != nil || n < 2 {
		return r.syntaxErr("header nparts=%s: want a decimal number of at least 2", quote([]byte(value)))
	}
	r.print = h.Format == FormatPrint
	h.PartitionKeys = [][]byte{}
	for i := uint64(1); i < n; i++ {
		k, kind, err := r.readDataLine([]byte{}, false)
		if err != nil {
			return err
		}
		if kind == lineEOF {
			return r.syntaxErr("unexpected end of input: nparts=%d needs %d partition key lines", n, n-1)
		}
		h.PartitionKeys = append(h.PartitionKeys, k)
	}
	return nil
}
