package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvID identifies an environment; every log file and table file carries it.
type EnvID [16]byte

// String is the id in hex.
func (id EnvID) String() string { return fmt.Sprintf("%x", id[:]) }

// Header is a log file's header.
type Header struct {
	Number  uint32
	Env     EnvID
	Start   LSN // the first record's LSN: {Number, HeaderSize}
	PrevEnd LSN // just past the last record of file Number-1; zero when the file starts a log
	Created time.Time
}

// FileName is the base name of log file n.
func FileName(n uint32) string { return fmt.Sprintf("log.%010d", n) }

// ParseFileName returns the number of a log file's base name.
func ParseFileName(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, "log.")
	if !ok || len(s) != 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

// ListFiles returns the numbers of the log files in dir, ascending. Names
// that look like log files but do not parse are ignored; a missing dir is
// an empty log.
func ListFiles(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list log directory: %w", err)
	}
	var nums []uint32
	for _, e := range ents {
		if n, ok := ParseFileName(e.Name()); ok && !e.IsDir() {
			nums = append(nums, n)
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	return nums, nil
}

func (h *Header) encode() []byte {
	b := make([]byte, HeaderSize)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], Version)
	binary.LittleEndian.PutUint32(b[12:], h.Number)
	copy(b[16:32], h.Env[:])
	binary.LittleEndian.PutUint64(b[32:], h.Start.Uint64())
	binary.LittleEndian.PutUint64(b[40:], h.PrevEnd.Uint64())
	binary.LittleEndian.PutUint64(b[48:], uint64(h.Created.UnixNano()))
	binary.LittleEndian.PutUint32(b[56:], checksum(b[:56]))
	return b
}

// decodeHeader parses and checks a header read from the file named name.
func decodeHeader(b []byte, name string) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("log file %s: header is %d bytes, want %d", name, len(b), HeaderSize)
	}
	if string(b[:8]) != magic {
		return h, fmt.Errorf("log file %s: not an msdb log file (bad magic)", name)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != Version {
		return h, fmt.Errorf("log file %s: format version %d, this program reads %d", name, v, Version)
	}
	if checksum(b[:56]) != binary.LittleEndian.Uint32(b[56:]) {
		return h, fmt.Errorf("log file %s: header checksum mismatch", name)
	}
	h.Number = binary.LittleEndian.Uint32(b[12:])
	copy(h.Env[:], b[16:32])
	h.Start = LSNFromUint64(binary.LittleEndian.Uint64(b[32:]))
	h.PrevEnd = LSNFromUint64(binary.LittleEndian.Uint64(b[40:]))
	h.Created = time.Unix(0, int64(binary.LittleEndian.Uint64(b[48:])))
	if h.Start != (LSN{File: h.Number, Offset: HeaderSize}) {
		return h, fmt.Errorf("log file %s: header says its records start at %v", name, h.Start)
	}
	return h, nil
}

// ReadHeader reads and checks the header of log file n in dir: its number
// must match its name.
func ReadHeader(dir string, n uint32) (Header, error) {
	name := filepath.Join(dir, FileName(n))
	f, err := os.Open(name)
	if err != nil {
		return Header{}, fmt.Errorf("open log file: %w", err)
	}
	defer f.Close()
	b := make([]byte, HeaderSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		return Header{}, fmt.Errorf("log file %s: read header: %w", name, err)
	}
	h, err := decodeHeader(b, name)
	if err != nil {
		return h, err
	}
	if h.Number != n {
		return h, fmt.Errorf("log file %s: header says it is log file %d (misplaced or renamed)", name, h.Number)
	}
	return h, nil
}

// createFile makes log file h.Number in dir holding only its header: written
// under a temporary name, synced, renamed into place, directory synced.
func createFile(dir string, h Header) (*os.File, error) {
	final := filepath.Join(dir, FileName(h.Number))
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("create log file %s: it already exists", final)
	}
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create log file: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("create log file %s: %w", final, err)
	}
	if _, err := f.Write(h.encode()); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := SyncDir(dir); err != nil {
		return nil, fmt.Errorf("create log file %s: %w", final, err)
	}
	return f, nil
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
