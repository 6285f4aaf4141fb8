package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// preallocStep is how far ahead of its end the writer extends the current
// file with zeros, so that most syncs overwrite allocated blocks and need no
// file-size update in the file system's journal.
const preallocStep = 1 << 20

// Writer appends records to a log. It is used by one goroutine; Durable
// and Syncs may be read from any, the other methods only from it.
type Writer struct {
	dir     string
	env     EnvID
	maxSize int64

	f         *os.File
	num       uint32
	off       int64 // where the next record goes in f
	allocated int64 // f is at least this long (zeros past off)
	buf       []byte

	durable atomic.Uint64 // LSN just past the last synced record
	syncs   atomic.Uint64
	err     error // sticky: after a failed write or sync nothing more is written
}

// Create starts a new log in dir with file number first. prevEnd is the end
// of the log this one continues (zero for a new environment).
func Create(dir string, env EnvID, maxSize int64, first uint32, prevEnd LSN) (*Writer, error) {
	h := Header{Number: first, Env: env, Start: LSN{File: first, Offset: HeaderSize}, PrevEnd: prevEnd, Created: time.Now()}
	f, err := createFile(dir, h)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, env: env, maxSize: maxSize, f: f, num: first, off: HeaderSize, allocated: HeaderSize}
	w.durable.Store(h.Start.Uint64())
	return w, nil
}

// Resume continues the log in dir after its last valid record, end, which
// must be in the last file. Whatever follows end in that file is overwritten.
func Resume(dir string, env EnvID, maxSize int64, end LSN) (*Writer, error) {
	name := filepath.Join(dir, FileName(end.File))
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open log file for writing: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("log file %s: %w", name, err)
	}
	w := &Writer{dir: dir, env: env, maxSize: maxSize, f: f, num: end.File, off: int64(end.Offset), allocated: st.Size()}
	w.durable.Store(end.Uint64())
	return w, nil
}

// End is the LSN the next record will get (before rotation). Only the
// writing goroutine may call it.
func (w *Writer) End() LSN { return LSN{File: w.num, Offset: uint32(w.off + int64(len(w.buf)))} }

// Durable is the LSN just past the last record known to be on disk.
func (w *Writer) Durable() LSN { return LSNFromUint64(w.durable.Load()) }

// Syncs is how many times the writer has synced a log file.
func (w *Writer) Syncs() uint64 { return w.syncs.Load() }

// Err is the writer's sticky error, if any.
func (w *Writer) Err() error { return w.err }

// place makes room for a record of size bytes and returns its LSN, rotating
// to a new file first when the current one would pass maxSize.
func (w *Writer) place(size int) (LSN, error) {
	if w.err != nil {
		return LSN{}, w.err
	}
	end := w.off + int64(len(w.buf))
	if end > HeaderSize && end+int64(size) > w.maxSize {
		if err := w.rotate(); err != nil {
			return LSN{}, err
		}
		end = w.off
	}
	if end+int64(size) > 1<<32-1 {
		return LSN{}, fmt.Errorf("log record of %d bytes does not fit a log file", size)
	}
	return LSN{File: w.num, Offset: uint32(end)}, nil
}

// AppendTxn adds a transaction record to the current group and returns its LSN.
func (w *Writer) AppendTxn(txid uint64, t time.Time, b *Body) (LSN, error) {
	if b.err != nil {
		return LSN{}, b.err
	}
	size := encodedSize(b.payloadLen())
	if size-FrameSize > MaxBody {
		return LSN{}, fmt.Errorf("transaction of %d bytes is larger than the %d-byte record limit", size, MaxBody)
	}
	lsn, err := w.place(size)
	if err != nil {
		return LSN{}, err
	}
	w.buf = appendRecord(w.buf, lsn, TypeTxn, txid, t, b.appendPayload)
	return lsn, nil
}

// AppendCheckpoint adds a checkpoint record, saying every table is durable
// up to the record itself once the group is committed.
func (w *Writer) AppendCheckpoint(txid uint64, t time.Time) (LSN, error) {
	lsn, err := w.place(encodedSize(8))
	if err != nil {
		return LSN{}, err
	}
	w.buf = appendRecord(w.buf, lsn, TypeCheckpoint, txid, t, func(dst []byte) []byte {
		return binary.LittleEndian.AppendUint64(dst, lsn.Uint64())
	})
	return lsn, nil
}

// Flush writes the group appended since the last Flush and syncs it: when
// it returns nil, every record appended so far is committed.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	end := w.off + int64(len(w.buf))
	if end > w.allocated {
		// Extend with zeros first; the sync below covers both writes.
		grow := min(max(end, w.allocated+preallocStep), max(w.maxSize, end))
		zeros := make([]byte, grow-w.allocated)
		if _, err := w.f.WriteAt(zeros, w.allocated); err != nil {
			return w.fail(fmt.Errorf("extend log file %s: %w", w.f.Name(), err))
		}
		w.allocated = grow
	}
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		return w.fail(fmt.Errorf("write log file %s: %w", w.f.Name(), err))
	}
	if err := unix.Fdatasync(int(w.f.Fd())); err != nil {
		return w.fail(fmt.Errorf("sync log file %s: %w", w.f.Name(), err))
	}
	w.syncs.Add(1)
	w.off = end
	w.buf = w.buf[:0]
	w.durable.Store(LSN{File: w.num, Offset: uint32(end)}.Uint64())
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}

// rotate flushes the current file, trims its preallocated tail and starts
// the next one.
func (w *Writer) rotate() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.trim(); err != nil {
		return w.fail(err)
	}
	prevEnd := LSN{File: w.num, Offset: uint32(w.off)}
	h := Header{Number: w.num + 1, Env: w.env, Start: LSN{File: w.num + 1, Offset: HeaderSize}, PrevEnd: prevEnd, Created: time.Now()}
	f, err := createFile(w.dir, h)
	if err != nil {
		return w.fail(err)
	}
	w.f.Close()
	w.f, w.num, w.off, w.allocated = f, h.Number, HeaderSize, HeaderSize
	w.durable.Store(h.Start.Uint64())
	return nil
}

// trim cuts the zeros past the last record and syncs the file.
func (w *Writer) trim() error {
	if w.allocated > w.off {
		if err := w.f.Truncate(w.off); err != nil {
			return fmt.Errorf("trim log file %s: %w", w.f.Name(), err)
		}
		w.allocated = w.off
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync log file %s: %w", w.f.Name(), err)
	}
	return nil
}

// Close flushes what is pending, trims the preallocated tail and closes the file.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.Flush()
	if err == nil {
		err = w.trim()
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close log file: %w", cerr)
	}
	w.f = nil
	if err == nil {
		w.err = errors.New("log writer closed")
	}
	return err
}

// CutTail truncates log file end.File at end.Offset, removing a torn tail,
// and syncs it.
func CutTail(dir string, end LSN) error {
	name := filepath.Join(dir, FileName(end.File))
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cut torn tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(end.Offset)); err != nil {
		return fmt.Errorf("cut torn tail of %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cut torn tail of %s: %w", name, err)
	}
	return nil
}

// Abandon closes the file without flushing, trimming or syncing anything,
// as a crash would leave it. For tests.
func (w *Writer) Abandon() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	w.err = errors.New("log writer abandoned")
}
