package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// chunkSize is the size of the buffers Put reads into.
const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// Put stores the bytes read from r up to EOF and returns their ID and size.
// When Put returns without error the file is durable. If the content is
// already stored, Put writes nothing new, refreshes the file's modification
// time (see the package comment) and returns its ID.
//
// maxSize limits the message's size (0: no limit): a longer message is
// ErrTooLarge, and Put reads at most maxSize+1 bytes of it. On any error,
// a cancelled ctx included, Put leaves nothing behind.
//
// Put reads r on a goroutine of its own so that it can return as soon as
// ctx is cancelled even if a Read blocks; that goroutine makes no further
// Read and exits once the blocked Read returns (close r, or set a deadline
// on a connection, to make it return).
func (s *Store) Put(ctx context.Context, r io.Reader, maxSize int64) (ID, int64, error) {
	if maxSize < 0 {
		return "", 0, fmt.Errorf("blob: negative size limit %d", maxSize)
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	t, err := s.createTmp()
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	size, err := stream(ctx, io.MultiWriter(t.f, h), r, maxSize)
	if err != nil {
		t.discard(s)
		if errors.Is(err, ErrTooLarge) {
			return "", 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxSize)
		}
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return "", 0, err
		}
		return "", 0, fmt.Errorf("blob: writing %s: %w", t.name, err)
	}
	id := idOf(h)
	if err := s.install(ctx, id, size, t); err != nil {
		return "", 0, err
	}
	return id, size, nil
}

// PutBytes stores b and returns its ID, like Put. If the content is already
// stored it writes nothing at all.
func (s *Store) PutBytes(ctx context.Context, b []byte) (ID, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	id := ID(hex.EncodeToString(sum[:]))
	unlock := s.locks.lock(id)
	defer unlock()
	present, err := s.refreshLocked(id, int64(len(b)))
	if err != nil || present {
		return id, err
	}
	t, err := s.createTmp()
	if err != nil {
		return "", err
	}
	if _, err := t.f.Write(b); err != nil {
		t.discard(s)
		return "", fmt.Errorf("blob: writing %s: %w", t.name, err)
	}
	if err := s.commitLocked(ctx, id, t); err != nil {
		return "", err
	}
	return id, nil
}

// tmpFile is a temporary file in tmp/ being written.
type tmpFile struct {
	f    *os.File // nil once closed
	name string
}

func (s *Store) createTmp() (*tmpFile, error) {
	f, err := os.CreateTemp(s.tmp, tmpPattern) // mode 0600
	if err != nil {
		return nil, fmt.Errorf("blob: creating a temporary file in %s: %w", s.tmp, err)
	}
	return &tmpFile{f: f, name: f.Name()}, nil
}

// discard closes and removes t, logging (not returning) a failure to
// remove: Open removes it later.
func (t *tmpFile) discard(s *Store) {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	if err := os.Remove(t.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("blob: cannot remove temporary file", "path", t.name, "err", err)
	}
}

// install puts the fully written temporary file t in place as id, or
// discards it if id is already stored.
func (s *Store) install(ctx context.Context, id ID, size int64, t *tmpFile) error {
	unlock := s.locks.lock(id)
	defer unlock()
	present, err := s.refreshLocked(id, size)
	if err != nil || present {
		t.discard(s)
		return err
	}
	return s.commitLocked(ctx, id, t)
}

// refreshLocked reports whether id is stored, whole, and if so sets its
// times to now. It looks where the readers look (see find): a file at the
// legacy path of a store written by an earlier version counts, and is
// refreshed there. A file of another size, or whose bytes do not hash to
// id, is damaged (a crash while a Put was making it durable leaves that,
// see commitLocked): it is logged and reported absent, so that the
// caller's good copy replaces it; a damaged file at the legacy path is
// removed, since the good copy goes to the path. The caller holds id's
// lock.
func (s *Store) refreshLocked(id ID, size int64) (present bool, err error) {
	p, fi, err := s.find(id)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob: stat %s: %w", p, err)
	}
	damaged := func(args ...any) (bool, error) {
		s.log.Warn("blob: replacing damaged message file", append([]any{"path", p}, args...)...)
		if p != s.path(id) && fi.Mode().IsRegular() {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("blob: removing damaged message file %s: %w", p, err)
			}
		}
		return false, nil
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		return damaged("mode", fi.Mode().String(), "size", fi.Size(), "want_size", size)
	}
	if got, err := hashFile(p); err != nil {
		return false, err
	} else if got != id {
		return damaged("hash", string(got))
	}
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		return false, fmt.Errorf("blob: refreshing the time of %s: %w", p, err)
	}
	s.log.Debug("blob: content already stored", "id", string(id), "size", size, "path", p)
	return true, nil
}

// hashFile returns the ID of the bytes of the file at p.
func hashFile(p string) (ID, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("blob: opening %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	if _, err := io.CopyBuffer(h, onlyReader{f}, *bp); err != nil {
		return "", fmt.Errorf("blob: reading %s: %w", p, err)
	}
	return idOf(h), nil
}

// onlyReader hides every method but Read, so that io.CopyBuffer uses the
// buffer it is given.
type onlyReader struct{ io.Reader }

// commitLocked renames t into place as id and makes it durable: the
// file's bytes and inode, and its name in its directory. On error nothing
// is left. The caller holds id's lock (so a concurrent Put of the same
// content waits until the file is durable before it may find it present).
//
// The file's directory exists and is durable: Open made it so. The rename
// comes before the syncs, which then run at once: the file's fsync and
// its directory's. Both are needed and neither depends on the other's
// order, because nothing trusts the file before Put returns: the caller
// references it only after that, and a file found in place by a later Put
// is checked against its ID (refreshLocked). So a delivery waits for one
// round of syncs, not for the file's and then its directory's. A crash
// before the syncs finish may leave the name with incomplete bytes; no
// committed transaction references such a file, a later Put of the same
// content replaces it, and the sweep removes it after the grace period.
//
// If the directory is missing all the same (removed while the store is
// open), the rename fails; commitLocked then makes the directory again,
// fsyncs the root to make it durable, and renames again.
func (s *Store) commitLocked(ctx context.Context, id ID, t *tmpFile) error {
	if err := ctx.Err(); err != nil {
		t.discard(s)
		return err
	}
	p := s.path(id)
	dir := filepath.Dir(p)
	err := os.Rename(t.name, p)
	if errors.Is(err, fs.ErrNotExist) && dirMissing(dir) {
		if merr := s.remakeDir(dir); merr != nil {
			t.discard(s)
			return merr
		}
		err = os.Rename(t.name, p)
	}
	if err != nil {
		t.discard(s)
		return fmt.Errorf("blob: renaming %s to %s: %w", t.name, p, err)
	}
	err = syncFileAndDirs(t.f, []string{dir})
	if cerr := t.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("blob: closing %s: %w", p, cerr)
	}
	t.f = nil
	if err != nil {
		// Not known durable: remove it, or a later Put of the same content
		// would have to find out that it is damaged.
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			s.log.Error("blob: cannot remove message file after failing to sync it", "path", p, "err", rerr)
		}
		return err
	}
	s.log.Debug("blob: stored", "id", string(id), "path", p)
	return nil
}

// dirMissing reports whether nothing is at dir.
func dirMissing(dir string) bool {
	_, err := os.Lstat(dir)
	return errors.Is(err, fs.ErrNotExist)
}

// remakeDir makes the first-level directory dir again, found missing by a
// Put, and makes it durable (see prepareDirs) before the Put renames a
// file into it. It syncs the root even if another Put made dir meanwhile,
// which may not have synced it yet.
func (s *Store) remakeDir(dir string) error {
	if err := mkdirExist(dir); err != nil {
		return err
	}
	s.log.Warn("blob: a message file directory was missing; made it again", "dir", dir)
	return syncDir(s.root)
}

// syncFileAndDirs fsyncs f and each of dirs, at the same time, and returns
// the first error.
func syncFileAndDirs(f *os.File, dirs []string) error {
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Go(func() { errs[i] = syncDir(d) })
	}
	err := f.Sync()
	if err != nil {
		err = fmt.Errorf("blob: syncing %s: %w", f.Name(), err)
	}
	wg.Wait()
	for _, e := range errs {
		if err == nil {
			err = e
		}
	}
	return err
}

// stream copies r to w until EOF, returning the number of bytes copied. It
// returns ErrTooLarge as soon as more than maxSize bytes (if maxSize > 0)
// have been read, and ctx's error as soon as ctx is done, even while r
// blocks: r is read on a goroutine that makes no further Read once stream
// has returned.
func stream(ctx context.Context, w io.Writer, r io.Reader, maxSize int64) (int64, error) {
	if maxSize > 0 && maxSize < math.MaxInt64 {
		r = io.LimitReader(r, maxSize+1)
	}
	type chunk struct {
		b   *[]byte
		n   int
		err error
	}
	// Two buffers: one being filled by the reader, one being written.
	free := make(chan *[]byte, 2)
	free <- chunkPool.Get().(*[]byte)
	free <- chunkPool.Get().(*[]byte)
	full := make(chan chunk)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			var b *[]byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			n, err := fill(r, *b)
			select {
			case full <- chunk{b, n, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var total int64
	for {
		var c chunk
		select {
		case c = <-full:
		case <-ctx.Done():
			return total, ctx.Err()
		}
		total += int64(c.n)
		if maxSize > 0 && total > maxSize {
			return total, ErrTooLarge
		}
		if _, err := w.Write((*c.b)[:c.n]); err != nil {
			return total, err
		}
		switch {
		case c.err == io.EOF:
			// The reader goroutine has exited: both buffers are ours.
			chunkPool.Put(c.b)
			chunkPool.Put(<-free)
			return total, nil
		case c.err != nil:
			return total, fmt.Errorf("reading the message: %w", c.err)
		}
		free <- c.b
	}
}

// fill reads from r into b until b is full or Read fails; io.EOF is
// returned as is, with the bytes read before it.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
