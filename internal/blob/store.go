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
	"syscall"
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

	// legacy has one bit per first-level directory (ab, indexed by the
	// value of its hex digits) that holds second-level directories (ab/cd)
	// of the two-level layout written by earlier versions: set by Open when
	// it finds one, and by a walk (Sweep, Walk) that does. Only an ID whose
	// first-level directory has its bit set is looked for at its legacy
	// path when it is not at its path, so a store without legacy
	// directories never pays a second lookup. Bits are never cleared.
	legacy [256 / 64]atomic.Uint64
}

func (s *Store) hasLegacy(id ID) bool {
	i := hexValue(string(id[:2]))
	return s.legacy[i/64].Load()&(1<<(i%64)) != 0
}

func (s *Store) setLegacy(i int) { s.legacy[i/64].Or(1 << (i % 64)) }

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

// Open opens the store at root, creating root, root/tmp and the 256
// first-level directories (mode 0700) if needed and making them durable,
// removes temporary files older than StaleTmpAge, left by a crash, and
// notes which first-level directories hold directories of the legacy
// layout (see the package comment). It fails if a first-level directory's
// name is taken by something else.
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
	if err := s.prepareDirs(); err != nil {
		return nil, err
	}
	return s, nil
}

// prepareDirs creates the first-level directories (00 … ff) that are
// missing, makes every one durable, and records in s.legacy those that
// hold legacy second-level directories.
//
// The root is fsynced once, after the mkdirs, which makes the new
// directories' entries durable; a directory's own inode is written with
// that on a journalling file system, and in any case by the fsync of the
// directory that the first Put into it does with its first file, before
// that file is trusted (see the package comment). The root is fsynced
// even when nothing was created, because a process that created
// directories may have died before syncing it. After this, a Put creates
// no directory and syncs no parent (unless a directory is removed while
// the store is open, see commitLocked).
func (s *Store) prepareDirs() error {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("blob: reading %s: %w", s.root, err)
	}
	have := make(map[string]fs.DirEntry, len(ents))
	for _, e := range ents {
		if isHex2(e.Name()) {
			have[e.Name()] = e
		}
	}
	created := 0
	for i := range 256 {
		name := fmt.Sprintf("%02x", i)
		dir := filepath.Join(s.root, name)
		e, ok := have[name]
		if !ok {
			err := os.Mkdir(dir, dirMode)
			if err == nil {
				created++
				continue
			}
			if !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("blob: creating directory %s: %w", dir, err)
			}
			// Created meanwhile by another process; look at what it is.
			fi, err := os.Lstat(dir)
			if err != nil {
				return fmt.Errorf("blob: stat %s: %w", dir, err)
			}
			e = fs.FileInfoToDirEntry(fi)
		}
		if !e.IsDir() {
			return fmt.Errorf("blob: %s is not a directory (%v): message files go there; move it away", dir, e.Type())
		}
		legacy, err := hasLegacyDirs(dir)
		if err != nil {
			// Look at both paths: reading the directory fails anyway.
			s.log.Warn("blob: cannot read a message file directory", "err", err)
			legacy = true
		}
		if legacy {
			s.setLegacy(i)
		}
	}
	if err := syncDir(s.root); err != nil {
		return err
	}
	if created > 0 {
		s.log.Debug("blob: created message file directories", "root", s.root, "count", created)
	}
	return nil
}

// hasLegacyDirs reports whether the first-level directory dir holds a
// directory named by two hex digits (a second-level directory of the
// legacy layout). A directory whose link count is 2 has no subdirectory
// (ext4, XFS, tmpfs keep that count), so it is not read; otherwise (a
// subdirectory, or a file system that does not count, like btrfs) it is
// read until one is found.
func hasLegacyDirs(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, fmt.Errorf("blob: stat %s: %w", dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 2 {
		return false, nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return false, fmt.Errorf("blob: reading %s: %w", dir, err)
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			if e.IsDir() && isHex2(e.Name()) {
				return true, nil
			}
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("blob: reading %s: %w", dir, err)
		}
	}
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

// Path returns the path of the file named id: where it is (its path, or
// its legacy path in a store written by an earlier version), or its path
// if it is nowhere. It returns "" if id is not valid.
func (s *Store) Path(id ID) string {
	if !id.Valid() {
		return ""
	}
	p, _, _ := s.find(id)
	return p
}

// path is where the file named id goes: <root>/<id[0:2]>/<id>.
func (s *Store) path(id ID) string {
	return filepath.Join(s.root, string(id[:2]), string(id))
}

// legacyPath is where the two-level layout of earlier versions kept the
// file named id: <root>/<id[0:2]>/<id[2:4]>/<id>.
func (s *Store) legacyPath(id ID) string {
	return filepath.Join(s.root, string(id[:2]), string(id[2:4]), string(id))
}

// find looks up the file named id: at its path, then, only if nothing is
// there and its first-level directory holds legacy directories, at its
// legacy path. It returns the path where it found an entry (of any type)
// and its Lstat information, or, when there is none, the path (not the
// legacy path) and an error wrapping fs.ErrNotExist; or another error of
// Lstat, with the path it was for.
func (s *Store) find(id ID) (string, fs.FileInfo, error) {
	p := s.path(id)
	fi, err := os.Lstat(p)
	if !errors.Is(err, fs.ErrNotExist) || !s.hasLegacy(id) {
		return p, fi, err
	}
	lp := s.legacyPath(id)
	lfi, lerr := os.Lstat(lp)
	if errors.Is(lerr, fs.ErrNotExist) {
		return p, nil, err
	}
	return lp, lfi, lerr
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
	if errors.Is(err, fs.ErrNotExist) && s.hasLegacy(id) {
		lp := s.legacyPath(id)
		if lf, lerr := os.Open(lp); !errors.Is(lerr, fs.ErrNotExist) {
			p, f, err = lp, lf, lerr
		}
	}
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
	p, fi, err := s.find(id)
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

func mkdirExist(dir string) error {
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blob: creating directory %s: %w", dir, err)
	}
	return nil
}
