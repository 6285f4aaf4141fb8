package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Directory and file modes. Part of the on-disk format.
const (
	dirMode  = 0o700
	fileMode = 0o600 // os.CreateTemp's mode
)

const (
	// tmpDirName is the directory under the root holding files being written.
	tmpDirName = "tmp"
	// tmpPattern names a temporary file (os.CreateTemp pattern).
	tmpPattern = "put-*"
	// StaleTmpAge is how old a temporary file must be for Open to remove it
	// as left by a crash.
	StaleTmpAge = time.Hour
)

var (
	// ErrNotFound is returned for a message file that does not exist. It
	// wraps fs.ErrNotExist.
	ErrNotFound = fmt.Errorf("blob: message file not found: %w", fs.ErrNotExist)
	// ErrTooLarge is returned by Put when the message exceeds its size limit.
	ErrTooLarge = errors.New("blob: message too large")
	// ErrDamaged is returned by Check when a file's bytes do not hash to its
	// ID.
	ErrDamaged = errors.New("blob: damaged message file")
	// ErrInvalidID is returned for a malformed ID.
	ErrInvalidID = errors.New("blob: invalid message file ID")
)

// Store is a directory of message files. It is safe for concurrent use by
// many goroutines; see the package comment for what is safe across
// processes.
type Store struct {
	root string       // absolute, cleaned
	tmp  string       // root/tmp
	log  *slog.Logger // never nil

	locks idLocks // serialises install (Put) against removal (Sweep) per ID

	// dirs holds the blob directories (root/ab and root/ab/cd) known to be
	// durable in this process: found by Open and made durable there, or
	// created (if missing) by a Put that fsynced their parent. A Put
	// renaming a file into a directory not in dirs fsyncs its parent too,
	// with the file (see commitLocked).
	dirs dirSet
}

// dirSet is a set of blob directories: one bit per first-level directory
// (ab) and one per second-level directory (ab/cd), indexed by the value of
// their hex digits.
type dirSet struct {
	d1 [256 / 64]atomic.Uint64
	d2 [65536 / 64]atomic.Uint64
}

func (d *dirSet) has1(i int) bool { return d.d1[i/64].Load()&(1<<(i%64)) != 0 }
func (d *dirSet) has2(i int) bool { return d.d2[i/64].Load()&(1<<(i%64)) != 0 }
func (d *dirSet) add1(i int)      { d.d1[i/64].Or(1 << (i % 64)) }
func (d *dirSet) add2(i int)      { d.d2[i/64].Or(1 << (i % 64)) }

// hexValue is the value of a string of lower-case hex digits (validated
// before: an ID's or a directory's name).
func hexValue(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= '9' {
			v = v<<4 | int(c-'0')
		} else {
			v = v<<4 | int(c-'a'+10)
		}
	}
	return v
}

// Option configures Open.
type Option func(*Store)

// WithLogger sets the logger (slog.Default() otherwise).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// Open opens the store at root, creating root and root/tmp (mode 0700) if
// needed, and removes temporary files older than StaleTmpAge, left by a
// crash.
func Open(root string, opts ...Option) (*Store, error) {
	if root == "" {
		return nil, errors.New("blob: empty message store directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob: message store directory %s: %w", root, err)
	}
	s := &Store{root: abs, tmp: filepath.Join(abs, tmpDirName), log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if err := mkdirAllDurable(s.root); err != nil {
		return nil, err
	}
	// The root may have been created by a process that died before making
	// it durable; one fsync of its parent settles it.
	if err := syncDir(filepath.Dir(s.root)); err != nil {
		return nil, err
	}
	if err := mkdirAllDurable(s.tmp); err != nil {
		return nil, err
	}
	if err := s.removeStaleTmp(time.Now()); err != nil {
		return nil, err
	}
	if err := s.loadDirs(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadDirs makes every blob directory that exists durable, by fsyncing
// each first-level directory and then the root, and records them in
// s.dirs: a Put into a directory made before a restart then needs no sync
// of its parents. (Lazily, the first Put into each of up to 65,536
// directories would sync its parent, and the first into each of 256 the
// root.) A directory that cannot be read is left out: Put deals with it.
func (s *Store) loadDirs() error {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("blob: reading %s: %w", s.root, err)
	}
	type level1 struct {
		i   int
		sub []int
		err error
	}
	var d1s []*level1
	for _, e := range ents {
		if e.IsDir() && isHex2(e.Name()) {
			d1s = append(d1s, &level1{i: hexValue(e.Name())})
		}
	}
	if len(d1s) == 0 {
		return nil
	}
	// The fsyncs are independent: a few at a time.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, d := range d1s {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dir := filepath.Join(s.root, fmt.Sprintf("%02x", d.i))
			sub, err := os.ReadDir(dir)
			if err != nil {
				d.err = err
				return
			}
			for _, e := range sub {
				if e.IsDir() && isHex2(e.Name()) {
					d.sub = append(d.sub, d.i<<8|hexValue(e.Name()))
				}
			}
			d.err = syncDir(dir)
		})
	}
	wg.Wait()
	if err := syncDir(s.root); err != nil {
		return err
	}
	for _, d := range d1s {
		if d.err != nil {
			s.log.Warn("blob: cannot read or sync a message file directory", "err", d.err)
			continue
		}
		s.dirs.add1(d.i)
		for _, i := range d.sub {
			s.dirs.add2(i)
		}
	}
	return nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// removeStaleTmp removes regular files in tmp/ last modified before
// now-StaleTmpAge. Younger ones may belong to a Put in progress in another
// process.
func (s *Store) removeStaleTmp(now time.Time) error {
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("blob: reading %s: %w", s.tmp, err)
	}
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if now.Sub(fi.ModTime()) < StaleTmpAge {
			continue
		}
		p := filepath.Join(s.tmp, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob: removing stale temporary file %s: %w", p, err)
		}
		s.log.Debug("blob: removed stale temporary file", "path", p, "size", fi.Size(), "mtime", fi.ModTime())
		n++
	}
	if n > 0 {
		s.log.Info("blob: removed stale temporary files left by a crash", "dir", s.tmp, "count", n)
	}
	return nil
}

// Path returns the path of the file named id, or "" if id is not valid.
func (s *Store) Path(id ID) string {
	if !id.Valid() {
		return ""
	}
	return s.path(id)
}

func (s *Store) path(id ID) string {
	return filepath.Join(s.root, string(id[:2]), string(id[2:4]), string(id))
}

func (s *Store) checkID(id ID) error {
	if !id.Valid() {
		return fmt.Errorf("%w %q in %s", ErrInvalidID, string(id), s.root)
	}
	return nil
}

// Open opens the file named id for reading. The caller closes it. A missing
// file is ErrNotFound.
func (s *Store) Open(id ID) (*os.File, error) {
	f, _, err := s.openRegular(id)
	return f, err
}

func (s *Store) openRegular(id ID) (*os.File, fs.FileInfo, error) {
	if err := s.checkID(id); err != nil {
		return nil, nil, err
	}
	p := s.path(id)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		return nil, nil, fmt.Errorf("blob: opening %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("blob: stat %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("blob: %s is not a regular file (%s)", p, fi.Mode().Type())
	}
	return f, fi, nil
}

// Stat returns the size and modification time (when stored or last
// re-stored) of the file named id.
func (s *Store) Stat(id ID) (size int64, modTime time.Time, err error) {
	if err := s.checkID(id); err != nil {
		return 0, time.Time{}, err
	}
	p := s.path(id)
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, time.Time{}, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		return 0, time.Time{}, fmt.Errorf("blob: stat %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, time.Time{}, fmt.Errorf("blob: %s is not a regular file (%s)", p, fi.Mode().Type())
	}
	return fi.Size(), fi.ModTime(), nil
}

// Section is a reader of a byte range of a message file: Read, ReadAt, Seek
// and Size of io.SectionReader. The caller closes it.
type Section struct {
	*io.SectionReader
	f *os.File
}

// Close closes the underlying file.
func (r *Section) Close() error { return r.f.Close() }

// Section opens bytes [off, off+n) of the file named id for reading, without
// reading the rest. The range is cut at the end of the file; n < 0 means to
// the end. An offset past the end gives an empty section.
func (s *Store) Section(id ID, off, n int64) (*Section, error) {
	if off < 0 {
		return nil, fmt.Errorf("blob: negative offset %d in %s", off, s.Path(id))
	}
	f, fi, err := s.openRegular(id)
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	off = min(off, size)
	if n < 0 || n > size-off {
		n = size - off
	}
	return &Section{SectionReader: io.NewSectionReader(f, off, n), f: f}, nil
}

// Check re-reads the file named id and returns an error wrapping ErrDamaged,
// naming the file, if its bytes do not hash to id.
func (s *Store) Check(ctx context.Context, id ID) error {
	f, _, err := s.openRegular(id)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := copyCtx(ctx, h, f); err != nil {
		return fmt.Errorf("blob: checking %s: %w", f.Name(), err)
	}
	if got := idOf(h); got != id {
		return fmt.Errorf("%w: %s: its bytes hash to %s; restore it from a backup", ErrDamaged, f.Name(), got)
	}
	return nil
}

// copyCtx copies src to dst, checking ctx between chunks of a megabyte.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := io.CopyN(dst, src, 1<<20)
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// idLocks is a set of mutexes keyed by ID, created on demand and dropped
// when unused.
type idLocks struct {
	mu sync.Mutex
	m  map[ID]*idLock
}

type idLock struct {
	sync.Mutex
	refs int // goroutines holding or waiting; guarded by idLocks.mu
}

// lock locks id and returns the function that unlocks it.
func (l *idLocks) lock(id ID) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[ID]*idLock)
	}
	k := l.m[id]
	if k == nil {
		k = new(idLock)
		l.m[id] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}

// syncDir fsyncs directory dir, making its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: opening directory %s to sync it: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob: syncing directory %s: %w", dir, err)
	}
	return nil
}

// mkdirAllDurable creates dir and any missing parents with mode 0700,
// fsyncing the parent of each directory it creates.
func mkdirAllDurable(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("blob: %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: stat %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blob: creating directory %s: %w", dir, err)
	}
	return syncDir(parent)
}

// makeDirs makes the directories of id's path exist and returns the
// file's directory, and whether the second-level directory (ab/cd) and the
// first-level one (ab) are not yet known durable (created if missing, by
// this process or by one that may have died before syncing their parent):
// the caller fsyncs the parent of each, then records them in s.dirs.
func (s *Store) makeDirs(id ID) (dir string, new2, new1 bool, err error) {
	d2 := filepath.Join(s.root, string(id[:2]), string(id[2:4]))
	i2 := hexValue(string(id[:4]))
	if s.dirs.has2(i2) {
		return d2, false, false, nil
	}
	if !s.dirs.has1(i2 >> 8) {
		if err := mkdirExist(filepath.Dir(d2)); err != nil {
			return "", false, false, err
		}
		new1 = true
	}
	if err := mkdirExist(d2); err != nil {
		return "", false, false, err
	}
	return d2, true, new1, nil
}

func mkdirExist(dir string) error {
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blob: creating directory %s: %w", dir, err)
	}
	return nil
}
