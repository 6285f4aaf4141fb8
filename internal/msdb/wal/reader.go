package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Damage describes bytes in a log file that are not a valid record.
type Damage struct {
	File   string // path of the log file
	At     LSN    // where the damage starts
	Reason error
	// Torn is true when no valid record follows the damage in the file: a
	// write that was cut short, whose group was never acknowledged.
	Torn bool
	// Bytes is how many bytes from At to the last non-zero byte of the file.
	Bytes int64
}

func (d *Damage) Error() string {
	kind := "corrupt record"
	if d.Torn {
		kind = "torn tail"
	}
	return fmt.Sprintf("log file %s: %s at offset %d (LSN %v): %v", d.File, kind, d.At.Offset, d.At, d.Reason)
}

func (d *Damage) Unwrap() error { return d.Reason }

// FileEnd is what reading one log file found.
type FileEnd struct {
	Header  Header
	End     LSN     // just past the last valid record
	Size    int64   // the file's size
	Records int     // records read (from the starting offset)
	Damage  *Damage // nil when the file ends cleanly after End
}

// ReadFile reads log file n in dir, calling fn for every valid record at or
// after offset from (0 means the first record). fn's record and its slices
// are valid only during the call; an error from fn stops the read and is
// returned. Damage is reported in FileEnd, not as an error: the caller knows
// whether the file is the last one.
func ReadFile(dir string, n uint32, from uint32, fn func(*Record) error) (FileEnd, error) {
	name := filepath.Join(dir, FileName(n))
	var fe FileEnd
	h, err := ReadHeader(dir, n)
	if err != nil {
		return fe, err
	}
	fe.Header = h
	f, err := os.Open(name)
	if err != nil {
		return fe, fmt.Errorf("open log file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fe, fmt.Errorf("log file %s: %w", name, err)
	}
	fe.Size = st.Size()
	r := &chunkReader{f: f, off: HeaderSize, size: st.Size()}
	fe.End = LSN{File: n, Offset: HeaderSize}
	var rec Record
	for {
		off := r.off
		lsn := LSN{File: n, Offset: uint32(off)}
		if off >= r.size {
			return fe, nil
		}
		frame, err := r.peek(FrameSize)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fe, fmt.Errorf("log file %s: %w", name, err)
		}
		var reason error
		if len(frame) < FrameSize || binary.LittleEndian.Uint64(frame) == 0 {
			// Zeros (or nothing) to the end of the file end the records.
			nz, err := lastNonZero(f, off, r.size)
			if err != nil {
				return fe, fmt.Errorf("log file %s: %w", name, err)
			}
			if nz < 0 {
				return fe, nil
			}
			if len(frame) < FrameSize {
				reason = fmt.Errorf("%w: %d bytes, shorter than a record frame", errDamaged, len(frame))
			} else {
				reason = fmt.Errorf("%w: zero length word followed by data", errDamaged)
			}
		} else {
			size := int(binary.LittleEndian.Uint32(frame))
			need := FrameSize + size
			if size > MaxBody {
				need = FrameSize
			}
			buf, err := r.peek(need)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return fe, fmt.Errorf("log file %s: %w", name, err)
			}
			var body []byte
			var rsize int
			body, rsize, reason = verifyFrame(buf, lsn)
			if reason == nil && off+int64(rsize) > r.size {
				// A record is whole only with its padding, written with it.
				reason = fmt.Errorf("%w: record ends %d bytes past the end of the file", errDamaged, off+int64(rsize)-r.size)
			}
			if reason == nil {
				reason = decodeBody(body, &rec)
			}
			if reason == nil {
				rec.Size = rsize
				if err := r.skip(rsize); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					return fe, fmt.Errorf("log file %s: %w", name, err)
				}
				fe.End = rec.End()
				if uint32(off) >= from {
					fe.Records++
					if err := fn(&rec); err != nil {
						return fe, err
					}
				}
				continue
			}
		}
		d, err := classify(f, name, lsn, r.size, reason)
		if err != nil {
			return fe, err
		}
		fe.Damage = d
		return fe, nil
	}
}

// classify decides whether damage at lsn is a torn tail (nothing valid after
// it) or corruption (a valid record further on).
func classify(f *os.File, name string, at LSN, size int64, reason error) (*Damage, error) {
	d := &Damage{File: name, At: at, Reason: reason, Torn: true}
	nz, err := lastNonZero(f, int64(at.Offset), size)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", name, err)
	}
	d.Bytes = nz + 1 - int64(at.Offset)
	if nz < 0 {
		d.Bytes = 0
	}
	rest := make([]byte, size-int64(at.Offset))
	if _, err := f.ReadAt(rest, int64(at.Offset)); err != nil && err != io.EOF {
		return nil, fmt.Errorf("log file %s: %w", name, err)
	}
	for o := Align; o+FrameSize <= len(rest); o += Align {
		lsn := LSN{File: at.File, Offset: at.Offset + uint32(o)}
		if _, size, err := verifyFrame(rest[o:], lsn); err == nil && o+size <= len(rest) {
			d.Torn = false
			d.Reason = fmt.Errorf("%w; a valid record follows at offset %d", reason, lsn.Offset)
			break
		}
	}
	return d, nil
}

// lastNonZero returns the offset of the last non-zero byte in [from, size),
// or -1 when there is none.
func lastNonZero(f *os.File, from, size int64) (int64, error) {
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	for end := size; end > from; {
		start := max(end-chunk, from)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				return start + int64(i), nil
			}
		}
		end = start
	}
	return -1, nil
}

// chunkReader reads a file sequentially through a buffer that grows to hold
// the largest record asked for.
type chunkReader struct {
	f         *os.File
	buf       []byte // buf[pos:] is unread data starting at file offset off
	pos       int
	off, size int64
}

// peek returns the next n bytes without consuming them; fewer, with
// io.ErrUnexpectedEOF, at the end of the file.
func (r *chunkReader) peek(n int) ([]byte, error) {
	if avail := len(r.buf) - r.pos; avail < n {
		want := max(n, 1<<20)
		if int64(want) > r.size-r.off {
			want = int(max(r.size-r.off, 0))
		}
		var nb []byte
		if cap(r.buf) >= want {
			nb = r.buf[:want]
		} else {
			nb = make([]byte, want)
		}
		copy(nb, r.buf[r.pos:])
		got := avail
		if want > avail {
			m, err := r.f.ReadAt(nb[avail:want], r.off+int64(avail))
			got += m
			if err != nil && err != io.EOF {
				return nil, err
			}
		}
		r.buf, r.pos = nb[:got], 0
	}
	if len(r.buf)-r.pos < n {
		return r.buf[r.pos:], io.ErrUnexpectedEOF
	}
	return r.buf[r.pos : r.pos+n], nil
}

// skip consumes n bytes.
func (r *chunkReader) skip(n int) error {
	if _, err := r.peek(n); err != nil {
		// Padding may be missing at the very end; consume what is there.
		n = len(r.buf) - r.pos
		r.pos += n
		r.off += int64(n)
		return err
	}
	r.pos += n
	r.off += int64(n)
	return nil
}
