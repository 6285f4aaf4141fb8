package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "mail"), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func hexSum(b []byte) ID {
	sum := sha256.Sum256(b)
	return ID(hex.EncodeToString(sum[:]))
}

// tmpEntries lists what is in the store's tmp directory.
func tmpEntries(t testing.TB, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root(), tmpDirName))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// files lists every regular file under the root outside tmp/.
func files(t testing.TB, s *Store) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.Root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == tmpDirName {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertNothingLeft(t *testing.T, s *Store) {
	t.Helper()
	if e := tmpEntries(t, s); len(e) != 0 {
		t.Errorf("tmp holds %v, want nothing", e)
	}
	if f := files(t, s); len(f) != 0 {
		t.Errorf("store holds %v, want nothing", f)
	}
}

func age(t testing.TB, path string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, n := range []int{0, 1, 4096, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randBytes(t, n)
			id, size, err := s.Put(ctx, bytes.NewReader(data), 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := hexSum(data); id != want || size != int64(n) {
				t.Fatalf("Put = %s, %d; want %s, %d", id, size, want, n)
			}
			want := filepath.Join(s.Root(), string(id[:2]), string(id))
			if p := s.Path(id); p != want {
				t.Fatalf("Path = %s, want %s", p, want)
			}
			f, err := s.Open(id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (err %v), want the %d stored", len(got), err, n)
			}
			if sz, mt, err := s.Stat(id); err != nil || sz != int64(n) || time.Since(mt) > time.Hour {
				t.Fatalf("Stat = %d, %v, %v", sz, mt, err)
			}
			if err := s.Check(ctx, id); err != nil {
				t.Fatal(err)
			}
			id2, err := s.PutBytes(ctx, data)
			if err != nil || id2 != id {
				t.Fatalf("PutBytes = %s, %v; want %s", id2, err, id)
			}
		})
	}
	if e := tmpEntries(t, s); len(e) != 0 {
		t.Errorf("tmp holds %v", e)
	}
}

func TestPutBytesNew(t *testing.T) {
	s := newStore(t)
	data := []byte("Subject: hi\r\n\r\nhello\r\n")
	id, err := s.PutBytes(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.Path(id))
	if err != nil || !bytes.Equal(got, data) || id != hexSum(data) {
		t.Fatalf("stored %q (%v) as %s", got, err, id)
	}
}

func TestPermissions(t *testing.T) {
	s := newStore(t)
	id, err := s.PutBytes(context.Background(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Path(id)
	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{
		{s.Root(), 0o700},
		{filepath.Join(s.Root(), tmpDirName), 0o700},
		{filepath.Dir(p), 0o700},
		{p, 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode().Perm(), c.mode)
		}
	}
}

func TestSingleInstance(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := randBytes(t, 10000)
	id, _, err := s.Put(ctx, bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Path(id)
	age(t, p, 48*time.Hour)
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, put := range []func() (ID, error){
		func() (ID, error) { id, _, err := s.Put(ctx, bytes.NewReader(data), 0); return id, err },
		func() (ID, error) { return s.PutBytes(ctx, data) },
	} {
		age(t, p, 48*time.Hour)
		id2, err := put()
		if err != nil || id2 != id {
			t.Fatalf("put %d = %s, %v; want %s", i, id2, err, id)
		}
		after, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(before, after) {
			t.Errorf("put %d replaced the file (inode changed)", i)
		}
		if !after.ModTime().After(before.ModTime().Add(47 * time.Hour)) {
			t.Errorf("put %d left mtime %v, want it refreshed", i, after.ModTime())
		}
	}
	if f := files(t, s); len(f) != 1 {
		t.Errorf("store holds %v, want one file", f)
	}
	if e := tmpEntries(t, s); len(e) != 0 {
		t.Errorf("tmp holds %v", e)
	}
}

func TestDamagedFileReplaced(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := randBytes(t, 5000)
	id, err := s.PutBytes(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.Path(id), 100); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(ctx, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, id); err != nil {
		t.Fatalf("after re-storing a truncated file: %v", err)
	}
}

// TestDamagedSameSizeReplaced: a power loss while Put syncs a file it has
// already renamed into place (see commitLocked) can leave the name with
// bytes that are not the content's, of the right size or not. Storing the
// content again, by Put or PutBytes, must not take such a file as stored.
func TestDamagedSameSizeReplaced(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []struct {
		name string
		fn   func(b []byte) []byte
	}{
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }},
		{"one byte", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 1; return c }},
		{"empty", func([]byte) []byte { return nil }},
		{"short", func(b []byte) []byte { return b[:len(b)/3] }},
	} {
		for _, how := range []string{"Put", "PutBytes"} {
			t.Run(damage.name+"/"+how, func(t *testing.T) {
				s := newStore(t)
				data := randBytes(t, 3*chunkSize+17)
				id, err := s.PutBytes(ctx, data)
				if err != nil {
					t.Fatal(err)
				}
				// Reopen, as after the crash.
				s, err = Open(s.Root(), WithLogger(s.log))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(s.Path(id), damage.fn(data), fileMode); err != nil {
					t.Fatal(err)
				}
				id2, err := putBy(ctx, s, how, data)
				if err != nil || id2 != id {
					t.Fatalf("%s = %s, %v; want %s", how, id2, err, id)
				}
				if err := s.Check(ctx, id); err != nil {
					t.Fatalf("after re-storing a damaged file: %v", err)
				}
				if e := tmpEntries(t, s); len(e) != 0 {
					t.Errorf("tmp holds %v", e)
				}
			})
		}
	}
}

// dirEntries lists the directories under the root (tmp/ included), by
// path relative to the root.
func dirEntries(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noLegacy reports whether s has no first-level directory marked as
// holding legacy directories.
func noLegacy(s *Store) bool {
	for i := range s.legacy {
		if s.legacy[i].Load() != 0 {
			return false
		}
	}
	return true
}

// TestOpenMakesDirectories: Open creates the 256 first-level directories,
// mode 0700, so that a Put creates no directory: after many Puts there is
// not one more directory, and the root has not changed (no entry was added
// to it, so there was nothing in it to sync). Nor do the Puts make the
// store look like one with legacy directories.
func TestOpenMakesDirectories(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dirs := dirEntries(t, s.Root())
	if len(dirs) != 257 {
		t.Fatalf("a new store has %d directories, want 256 and tmp", len(dirs))
	}
	for i := range 256 {
		d := filepath.Join(s.Root(), fmt.Sprintf("%02x", i))
		fi, err := os.Lstat(d)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != dirMode {
			t.Errorf("%s: %v, want a directory of mode %v", d, fi.Mode(), os.FileMode(dirMode))
		}
	}
	if !noLegacy(s) {
		t.Error("a new store is taken for one with legacy directories")
	}
	age(t, s.Root(), time.Hour) // so that any change to the root shows
	rootBefore, err := os.Stat(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for i := range 600 {
		data := []byte(fmt.Sprintf("message %d", i))
		var id ID
		var err error
		if i%2 == 0 {
			id, _, err = s.Put(ctx, bytes.NewReader(data), 0)
		} else {
			id, err = s.PutBytes(ctx, data)
		}
		if err != nil {
			t.Fatal(err)
		}
		if p := s.Path(id); p != filepath.Join(s.Root(), string(id[:2]), string(id)) {
			t.Fatalf("Path = %s", p)
		}
		ids = append(ids, id)
	}
	if got := dirEntries(t, s.Root()); fmt.Sprint(got) != fmt.Sprint(dirs) {
		t.Errorf("Puts changed the directories: %d, want the %d Open made", len(got), len(dirs))
	}
	if rootAfter, err := os.Stat(s.Root()); err != nil || !rootAfter.ModTime().Equal(rootBefore.ModTime()) {
		t.Errorf("Puts changed the root (mtime %v, was %v; %v)", rootAfter.ModTime(), rootBefore.ModTime(), err)
	}
	if f := files(t, s); len(f) != 600 {
		t.Errorf("store holds %d files, want 600", len(f))
	}

	// Reopening creates nothing, finds no legacy directory (a foreign
	// directory in a first-level one is not one), and the files are there.
	if err := os.Mkdir(filepath.Join(s.Root(), "zz"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.Root(), "00", "not-hex"), 0o700); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Root(), WithLogger(s.log))
	if err != nil {
		t.Fatal(err)
	}
	if !noLegacy(s2) {
		t.Error("a store with foreign directories is taken for one with legacy directories")
	}
	for _, id := range ids {
		if err := s2.Check(ctx, id); err != nil {
			t.Error(err)
		}
	}

	// A first-level directory removed while closed is made again by Open.
	ff := filepath.Join(s.Root(), "ff")
	if err := os.RemoveAll(ff); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Root(), WithLogger(s.log)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(ff); err != nil || !fi.IsDir() || fi.Mode().Perm() != dirMode {
		t.Fatalf("ff after Open: %v, %v", fi, err)
	}

	// A file where a first-level directory goes: Open fails, naming it.
	if err := os.Remove(ff); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ff, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Root(), WithLogger(s.log)); err == nil || !strings.Contains(err.Error(), ff) {
		t.Errorf("Open with a file named ff: %v, want an error naming it", err)
	}
}

// TestMissingDirAtPut: a first-level directory removed while the store is
// open is made again by the Put that needs it.
func TestMissingDirAtPut(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i, how := range []string{"Put", "PutBytes"} {
		data := []byte(fmt.Sprintf("after its directory went, %d", i))
		id := hexSum(data)
		dir := filepath.Join(s.Root(), string(id[:2]))
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		got, err := putBy(ctx, s, how, data)
		if err != nil || got != id {
			t.Fatalf("%s = %s, %v; want %s", how, got, err, id)
		}
		if err := s.Check(ctx, id); err != nil {
			t.Fatal(err)
		}
		if s.Path(id) != filepath.Join(dir, string(id)) {
			t.Errorf("%s: Path = %s", how, s.Path(id))
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != dirMode {
			t.Errorf("%s: %s made again as %v, %v", how, dir, fi.Mode(), err)
		}
	}
	if e := tmpEntries(t, s); len(e) != 0 {
		t.Errorf("tmp holds %v", e)
	}
	// With tmp/ gone instead, Put fails cleanly, and does not make it.
	if err := os.RemoveAll(filepath.Join(s.Root(), tmpDirName)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBytes(ctx, []byte("no tmp")); err == nil {
		t.Error("PutBytes without tmp/ succeeded")
	}
}

func TestConcurrentIdenticalPuts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := randBytes(t, 3*chunkSize)
	want := hexSum(data)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			var id ID
			var err error
			if i%2 == 0 {
				id, _, err = s.Put(ctx, bytes.NewReader(data), 0)
			} else {
				id, err = s.PutBytes(ctx, data)
			}
			if err == nil && id != want {
				err = fmt.Errorf("got ID %s, want %s", id, want)
			}
			if err == nil {
				err = s.Check(ctx, id) // durable and whole when Put returns
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if f := files(t, s); len(f) != 1 {
		t.Errorf("store holds %v, want one file", f)
	}
	if e := tmpEntries(t, s); len(e) != 0 {
		t.Errorf("tmp holds %v", e)
	}
}

func TestConcurrentDistinctPuts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			data := []byte(fmt.Sprintf("message %d\r\n", i%16)) // 16 distinct, 4 each
			if _, _, err := s.Put(ctx, bytes.NewReader(data), 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f := files(t, s); len(f) != 16 {
		t.Errorf("store holds %d files, want 16", len(f))
	}
}

// endless is a reader that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestTooLarge(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, r := range []io.Reader{
		bytes.NewReader(make([]byte, 1001)),
		bytes.NewReader(make([]byte, chunkSize*3)),
		endless{}, // Put must stop reading after the limit
	} {
		_, _, err := s.Put(ctx, r, 1000)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Put over the limit: %v, want ErrTooLarge", err)
		}
		assertNothingLeft(t, s)
	}
	if _, _, err := s.Put(ctx, endless{}, 3*chunkSize+5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put over a multi-chunk limit: %v, want ErrTooLarge", err)
	}
	assertNothingLeft(t, s)
	if _, size, err := s.Put(ctx, bytes.NewReader(make([]byte, 1000)), 1000); err != nil || size != 1000 {
		t.Fatalf("Put at the limit = %d, %v", size, err)
	}
}

// blockingReader returns data first, then blocks until release is closed.
type blockingReader struct {
	data    []byte
	blocked chan struct{} // closed when the reader starts blocking
	release chan struct{}
	once    sync.Once
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	r.once.Do(func() { close(r.blocked) })
	<-r.release
	return 0, io.ErrClosedPipe
}

func TestCancelBlockingReader(t *testing.T) {
	s := newStore(t)
	r := &blockingReader{
		data:    randBytes(t, 2*chunkSize+100), // two chunks written, a third partly read
		blocked: make(chan struct{}),
		release: make(chan struct{}),
	}
	defer close(r.release)
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		id  ID
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, _, err := s.Put(ctx, r, 0)
		done <- result{id, err}
	}()
	<-r.blocked
	if len(tmpEntries(t, s)) != 1 {
		t.Errorf("no temporary file while writing")
	}
	cancel()
	res := <-done
	if !errors.Is(res.err, context.Canceled) {
		t.Fatalf("Put = %s, %v; want context.Canceled", res.id, res.err)
	}
	assertNothingLeft(t, s)
}

// slowReader returns one byte per Read, forever, and cancels its context
// after cancelAfter bytes.
type slowReader struct {
	n, cancelAfter int
	cancel         context.CancelFunc
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.n++
	if r.n == r.cancelAfter {
		r.cancel()
	}
	p[0] = byte(r.n)
	return 1, nil
}

func TestCancelSlowReader(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, err := s.Put(ctx, &slowReader{cancelAfter: 5000, cancel: cancel}, 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	assertNothingLeft(t, s)
}

func TestCancelledBeforePut(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Put(ctx, strings.NewReader("x"), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v", err)
	}
	if _, err := s.PutBytes(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutBytes = %v", err)
	}
	assertNothingLeft(t, s)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReaderError(t *testing.T) {
	s := newStore(t)
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
	_, _, err := s.Put(context.Background(), r, 0)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), tmpDirName) {
		t.Fatalf("Put = %v, want %v naming the file", err, boom)
	}
	assertNothingLeft(t, s)
}

func TestSweep(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const grace = time.Hour
	put := func(content string, d time.Duration) ID {
		t.Helper()
		id, err := s.PutBytes(ctx, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		age(t, s.Path(id), d)
		return id
	}
	oldUnref := put("old, unreferenced", 2*grace)
	oldRef := put("old, referenced", 2*grace)
	youngUnref := put("young, unreferenced", grace-time.Minute)
	youngRef := put("young, referenced", 0)
	refs := map[ID]bool{oldRef: true, youngRef: true}

	// Foreign entries, all old: none may be removed.
	anID := string(hexSum([]byte("foreign")))
	d := filepath.Dir(s.Path(oldUnref))
	if anID[:2] == string(oldUnref[:2]) {
		t.Fatal("test IDs in the same directory")
	}
	foreign := []string{
		filepath.Join(s.Root(), "README"),
		filepath.Join(s.Root(), "zz", "file"),
		filepath.Join(s.Root(), "ABCD"),
		filepath.Join(d, "notes.txt"),
		filepath.Join(d, anID),                              // ID not matching its directory
		filepath.Join(d, string(oldUnref)+".bak"),           // not an ID
		filepath.Join(d, strings.ToUpper(string(oldUnref))), // not lower case
		filepath.Join(s.Root(), anID[:2], anID, "inside"),   // a directory named by an ID
	}
	for _, p := range foreign {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		age(t, p, 100*grace)
	}
	// A symlink at a message file's path.
	target := filepath.Join(s.Root(), "README")
	link := filepath.Join(s.Root(), "ab", "abcd"+strings.Repeat("0", IDLen-4))
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}

	var asked []ID
	st, err := s.Sweep(ctx, grace, func(id ID) (bool, error) {
		asked = append(asked, id)
		return refs[id], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range asked {
		if id == youngUnref || id == youngRef {
			t.Errorf("referenced was asked about %s, younger than the grace period", id)
		}
	}
	if len(asked) != 2 {
		t.Errorf("referenced asked about %d files, want 2", len(asked))
	}
	want := SweepStats{Files: 4, Young: 2, Referenced: 1, Removed: 1,
		RemovedBytes: int64(len("old, unreferenced")), Foreign: 9} // 8 above and the symlink
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if _, _, err := s.Stat(oldUnref); !errors.Is(err, ErrNotFound) {
		t.Errorf("old unreferenced file: %v, want it removed", err)
	}
	for _, id := range []ID{oldRef, youngUnref, youngRef} {
		if _, _, err := s.Stat(id); err != nil {
			t.Errorf("kept file: %v", err)
		}
	}
	for _, p := range append(foreign, link) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("foreign %s: %v", p, err)
		}
	}

	// Grace 0: everything unreferenced goes, whatever its age.
	st, err = s.Sweep(ctx, 0, func(id ID) (bool, error) { return refs[id], nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Removed != 1 || st.Referenced != 2 {
		t.Errorf("grace 0: stats %+v, want youngUnref removed", st)
	}
}

// TestSweepPutRace re-stores a file while Sweep asks whether it is
// referenced (the database does not have the new reference yet): the file
// must be kept.
func TestSweepPutRace(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := []byte("the same message, delivered again")
	id, err := s.PutBytes(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	age(t, s.Path(id), 48*time.Hour)
	st, err := s.Sweep(ctx, time.Hour, func(got ID) (bool, error) {
		if _, err := s.PutBytes(ctx, data); err != nil { // a new delivery
			return false, err
		}
		return false, nil // its commit is not visible yet
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Removed != 0 || st.Young != 1 {
		t.Errorf("stats %+v: want the re-stored file kept", st)
	}
	if err := s.Check(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestSweepErrors(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var ids []ID
	for i := range 3 {
		id, err := s.PutBytes(ctx, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		age(t, s.Path(id), 48*time.Hour)
		ids = append(ids, id)
	}
	dbDown := errors.New("database unavailable")
	_, err := s.Sweep(ctx, time.Hour, func(ID) (bool, error) { return false, dbDown })
	if !errors.Is(err, dbDown) {
		t.Fatalf("Sweep = %v, want %v", err, dbDown)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Sweep(cctx, time.Hour, func(ID) (bool, error) { return false, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sweep = %v, want context.Canceled", err)
	}
	if _, err := s.Sweep(ctx, -time.Second, func(ID) (bool, error) { return false, nil }); err == nil {
		t.Fatal("Sweep with a negative grace period succeeded")
	}
	for _, id := range ids {
		if _, _, err := s.Stat(id); err != nil {
			t.Errorf("after failed sweeps: %v", err)
		}
	}
	// Cancelled part way: what was done is counted.
	cctx, cancel = context.WithCancel(ctx)
	st, err := s.Sweep(cctx, time.Hour, func(ID) (bool, error) { cancel(); return false, nil })
	if !errors.Is(err, context.Canceled) || st.Removed != 1 {
		t.Fatalf("Sweep = %+v, %v; want one removed, then context.Canceled", st, err)
	}
}

func TestWalk(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := map[ID]int64{}
	for i := range 50 {
		data := bytes.Repeat([]byte{'a'}, i)
		id, err := s.PutBytes(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = int64(i)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "junk"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var prev ID
	got := map[ID]int64{}
	err := s.Walk(ctx, func(id ID, size int64, mtime time.Time) error {
		if id <= prev {
			t.Errorf("Walk order: %s after %s", id, prev)
		}
		prev = id
		got[id] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Walk saw %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err = s.Walk(ctx, func(ID, int64, time.Time) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Walk = %v after %d calls, want stop after 1", err, n)
	}
}

func TestCheck(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id, err := s.PutBytes(ctx, randBytes(t, 100000))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, id); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(s.Path(id), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 54321); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, 54321); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = s.Check(ctx, id)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), s.Path(id)) {
		t.Fatalf("Check of a flipped byte = %v, want ErrDamaged naming %s", err, s.Path(id))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Check(cctx, id); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a cancelled context = %v", err)
	}
}

func TestNotFound(t *testing.T) {
	s := newStore(t)
	id := hexSum([]byte("never stored"))
	_, err1 := s.Open(id)
	_, _, err2 := s.Stat(id)
	_, err3 := s.Section(id, 0, 10)
	err4 := s.Check(context.Background(), id)
	for i, err := range []error{err1, err2, err3, err4} {
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), s.Path(id)) {
			t.Errorf("%d: %v, want ErrNotFound naming the file", i, err)
		}
	}
	if _, err := s.Open("../../etc/passwd"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Open of a bad ID: %v", err)
	}
	if p := s.Path("nope"); p != "" {
		t.Errorf("Path of a bad ID = %q", p)
	}
}

func TestSection(t *testing.T) {
	s := newStore(t)
	data := randBytes(t, 1000)
	id, err := s.PutBytes(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off, n   int64
		from, to int
	}{
		{0, 10, 0, 10},
		{100, 200, 100, 300},
		{990, 100, 990, 1000},
		{500, -1, 500, 1000},
		{1000, 5, 1000, 1000},
		{5000, 5, 1000, 1000},
		{0, 0, 0, 0},
	} {
		r, err := s.Section(id, c.off, c.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data[c.from:c.to]) || r.Size() != int64(c.to-c.from) {
			t.Errorf("Section(%d, %d): %d bytes, size %d, %v; want bytes [%d, %d)", c.off, c.n, len(got), r.Size(), err, c.from, c.to)
		}
	}
	if _, err := s.Section(id, -1, 5); err == nil {
		t.Error("Section with a negative offset succeeded")
	}
}

func TestStaleTmpAtOpen(t *testing.T) {
	s := newStore(t)
	tmp := filepath.Join(s.Root(), tmpDirName)
	for _, name := range []string{"put-1", "put-2", "other"} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	age(t, filepath.Join(tmp, "put-1"), 2*time.Hour)
	age(t, filepath.Join(tmp, "other"), 2*time.Hour)
	age(t, filepath.Join(tmp, "put-2"), 30*time.Minute) // may be a Put in progress elsewhere
	if _, err := Open(s.Root(), WithLogger(slog.New(slog.DiscardHandler))); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tmpEntries(t, s)); got != "[put-2]" {
		t.Errorf("tmp after Open: %s, want [put-2]", got)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("Open of a file: %v, want an error naming it", err)
	}
}

func TestParseID(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	if id, err := ParseID(good); err != nil || string(id) != good {
		t.Errorf("ParseID(%q) = %q, %v", good, id, err)
	}
	for _, bad := range []string{"", good[:63], good + "0", strings.ToUpper(good), good[:63] + "g", "../" + good[3:]} {
		if _, err := ParseID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) = %v, want ErrInvalidID", bad, err)
		}
	}
}

// legacyStore builds, in a new directory, a store as earlier versions
// wrote it: each content at <root>/<id[0:2]>/<id[2:4]>/<id>, with only the
// directories those need, and a tmp/. It returns the root and the IDs.
func legacyStore(t *testing.T, contents [][]byte) (string, []ID) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "mail")
	if err := os.MkdirAll(filepath.Join(root, tmpDirName), 0o700); err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for _, c := range contents {
		id := hexSum(c)
		p := filepath.Join(root, string(id[:2]), string(id[2:4]), string(id))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, c, 0o600); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return root, ids
}

func legacyPathOf(root string, id ID) string {
	return filepath.Join(root, string(id[:2]), string(id[2:4]), string(id))
}

// TestLegacyLayout: a store written by an earlier version, with its files
// two levels down, works as it is: reads find its files, storing their
// content again finds them, new content goes to the one-level path, and
// the sweep sees files in both layouts.
func TestLegacyLayout(t *testing.T) {
	ctx := context.Background()
	var contents [][]byte
	for i := range 20 {
		contents = append(contents, []byte(fmt.Sprintf("legacy message %d\r\n%s", i, strings.Repeat("x", i*1000))))
	}
	root, ids := legacyStore(t, contents)
	prefixes := map[string]bool{}
	for _, id := range ids {
		prefixes[string(id[:2])] = true
	}
	s, err := Open(root, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 256 {
		name := fmt.Sprintf("%02x", i)
		if got := s.hasLegacy(ID(name + strings.Repeat("0", IDLen-2))); got != prefixes[name] {
			t.Errorf("first-level directory %s: legacy %v, want %v", name, got, prefixes[name])
		}
	}

	// Reading.
	for i, id := range ids {
		lp := legacyPathOf(root, id)
		if p := s.Path(id); p != lp {
			t.Errorf("Path = %s, want %s", p, lp)
		}
		f, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, contents[i]) {
			t.Errorf("Open %s: read %d bytes, %v", id, len(got), err)
		}
		if size, _, err := s.Stat(id); err != nil || size != int64(len(contents[i])) {
			t.Errorf("Stat %s = %d, %v", id, size, err)
		}
		r, err := s.Section(id, 3, 10)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, contents[i][3:13]) {
			t.Errorf("Section %s: %q, %v", id, got, err)
		}
		if err := s.Check(ctx, id); err != nil {
			t.Error(err)
		}
	}
	// Damage is reported naming the legacy file.
	if err := os.WriteFile(legacyPathOf(root, ids[0]), []byte("bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, ids[0]); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), legacyPathOf(root, ids[0])) {
		t.Errorf("Check of a damaged legacy file: %v", err)
	}
	// A missing file is named by its (new) path.
	missing := hexSum([]byte("never stored"))
	if _, _, err := s.Stat(missing); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), s.path(missing)) {
		t.Errorf("Stat of a missing file: %v", err)
	}
	if p := s.Path(missing); p != s.path(missing) {
		t.Errorf("Path of a missing file = %s", p)
	}

	// Storing a legacy file's content again finds it: no new file, the
	// same inode, its time refreshed.
	before := files(t, s)
	for i, put := range []func(data []byte) (ID, error){
		func(data []byte) (ID, error) { id, _, err := s.Put(ctx, bytes.NewReader(data), 0); return id, err },
		func(data []byte) (ID, error) { return s.PutBytes(ctx, data) },
	} {
		id := ids[1+i]
		lp := legacyPathOf(root, id)
		age(t, lp, 48*time.Hour)
		fi1, err := os.Stat(lp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := put(contents[1+i])
		if err != nil || got != id {
			t.Fatalf("put %d = %s, %v; want %s", i, got, err, id)
		}
		fi2, err := os.Stat(lp)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(fi1, fi2) || time.Since(fi2.ModTime()) > time.Hour {
			t.Errorf("put %d: legacy file replaced or its time (%v) not refreshed", i, fi2.ModTime())
		}
		if _, err := os.Lstat(s.path(id)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("put %d: a second copy at %s (%v)", i, s.path(id), err)
		}
	}
	if after := files(t, s); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("storing legacy content again changed the files:\n%v\nwant\n%v", after, before)
	}

	// Storing the damaged legacy file's content writes it at its path and
	// removes the damaged file.
	if got, err := s.PutBytes(ctx, contents[0]); err != nil || got != ids[0] {
		t.Fatalf("PutBytes over a damaged legacy file = %s, %v", got, err)
	}
	if _, err := os.Lstat(legacyPathOf(root, ids[0])); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("damaged legacy file left: %v", err)
	}
	if p := s.Path(ids[0]); p != s.path(ids[0]) {
		t.Errorf("Path after replacing a damaged legacy file = %s", p)
	}
	if err := s.Check(ctx, ids[0]); err != nil {
		t.Error(err)
	}

	// New content goes to its path, also in a directory holding legacy
	// directories.
	var newIDs []ID
	var newSizes []int64
	for i := 0; len(newIDs) < 3; i++ {
		data := []byte(fmt.Sprintf("new message %d", i))
		if !prefixes[string(hexSum(data)[:2])] {
			continue
		}
		id, size, err := s.Put(ctx, bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.path(id)); err != nil {
			t.Fatalf("new file not at its path: %v", err)
		}
		newIDs = append(newIDs, id)
		newSizes = append(newSizes, size)
	}

	// Walk sees both layouts, in ID order.
	want := map[ID]bool{}
	for _, id := range append(slices.Clone(ids), newIDs...) {
		want[id] = true
	}
	var prev ID
	seen := map[ID]bool{}
	if err := s.Walk(ctx, func(id ID, _ int64, _ time.Time) error {
		if id <= prev {
			t.Errorf("Walk order: %s after %s", id, prev)
		}
		prev = id
		seen[id] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(seen, want) {
		t.Errorf("Walk saw %d files, want %d", len(seen), len(want))
	}

	// Foreign entries at both levels, all old: none may be removed.
	l1 := filepath.Join(root, string(ids[3][:2]))  // a first-level directory holding legacy ones
	l2 := filepath.Dir(legacyPathOf(root, ids[3])) // a legacy directory
	other := string(hexSum([]byte("elsewhere")))   // an ID of another first-level directory
	// Not an ID; an ID of l1 but of another legacy directory.
	wrongCD := string(ids[3][:2]) + "zz" + string(ids[3][4:])
	otherCD := string(ids[3][:2]) + "00" + string(ids[3][4:])
	if string(ids[3][2:4]) == "00" || other[:2] == string(ids[3][:2]) {
		t.Fatal("test IDs collide")
	}
	foreign := []string{
		filepath.Join(l1, "notes.txt"),
		filepath.Join(l1, other),        // a new-layout ID in the wrong directory
		filepath.Join(l1, "zz", "file"), // a directory not named by hex digits (counted once)
		filepath.Join(l2, "notes.txt"),
		filepath.Join(l2, other),                           // an ID in the wrong directories
		filepath.Join(l2, otherCD),                         // right first level, wrong second
		filepath.Join(l2, wrongCD),                         // not an ID
		filepath.Join(l2, strings.ToUpper(string(ids[3]))), // not lower case
		filepath.Join(l2, "ee", "deeper"),                  // a third level (counted once)
	}
	for _, p := range foreign {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		age(t, p, 100*time.Hour)
	}
	// A file named like a legacy directory, where one would be.
	hexFile := filepath.Join(l1, "ee")
	if _, err := os.Lstat(hexFile); err == nil {
		hexFile = filepath.Join(l1, "e0")
	}
	if err := os.WriteFile(hexFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	age(t, hexFile, 100*time.Hour)
	foreign = append(foreign, hexFile)

	// Sweep: of the legacy files, ids[3] and ids[4] are old, ids[3]
	// unreferenced, ids[4] referenced; of the new ones, newIDs[0] is old
	// and unreferenced. Everything else is young.
	const grace = time.Hour
	age(t, legacyPathOf(root, ids[3]), 2*grace)
	age(t, legacyPathOf(root, ids[4]), 2*grace)
	age(t, s.path(newIDs[0]), 2*grace)
	refs := map[ID]bool{ids[4]: true}
	st, err := s.Sweep(ctx, grace, func(id ID) (bool, error) { return refs[id], nil })
	if err != nil {
		t.Fatal(err)
	}
	wantSt := SweepStats{Files: len(want), Young: len(want) - 3, Referenced: 1, Removed: 2,
		RemovedBytes: int64(len(contents[3])) + newSizes[0], Foreign: len(foreign)}
	if st != wantSt {
		t.Errorf("stats = %+v, want %+v", st, wantSt)
	}
	if _, _, err := s.Stat(ids[3]); !errors.Is(err, ErrNotFound) {
		t.Errorf("old unreferenced legacy file: %v, want it removed", err)
	}
	if _, _, err := s.Stat(newIDs[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("old unreferenced new file: %v, want it removed", err)
	}
	if err := s.Check(ctx, ids[4]); err != nil {
		t.Errorf("old referenced legacy file: %v", err)
	}
	if _, err := os.Stat(legacyPathOf(root, ids[4])); err != nil {
		t.Errorf("old referenced legacy file: %v", err)
	}
	for _, p := range foreign {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("foreign %s: %v", p, err)
		}
	}
	// The emptied legacy directories stay.
	if _, err := os.Stat(l2); err != nil {
		t.Error(err)
	}

	// Reopened, the store still finds its legacy files.
	s2, err := Open(root, WithLogger(s.log))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[5:] {
		if err := s2.Check(ctx, id); err != nil {
			t.Error(err)
		}
	}
}

// TestLegacyFoundByWalk: a legacy directory that appears while the store
// is open (Open did not see it) is not looked in by reads until a walk
// (Sweep, Walk) finds it; then it is.
func TestLegacyFoundByWalk(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := []byte("restored from an old backup")
	id := hexSum(data)
	lp := legacyPathOf(s.Root(), id)
	if err := os.MkdirAll(filepath.Dir(lp), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Stat(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat before a walk = %v, want ErrNotFound (legacy directories are looked for at Open)", err)
	}
	n := 0
	if err := s.Walk(ctx, func(got ID, _ int64, _ time.Time) error {
		if got != id {
			t.Errorf("Walk saw %s", got)
		}
		n++
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("Walk = %v after %d files, want 1", err, n)
	}
	if err := s.Check(ctx, id); err != nil {
		t.Fatalf("Check after a walk: %v", err)
	}
	if p := s.Path(id); p != lp {
		t.Errorf("Path = %s, want %s", p, lp)
	}
}

// putBy stores data with Put or PutBytes, as how says.
func putBy(ctx context.Context, s *Store, how string, data []byte) (ID, error) {
	if how == "Put" {
		id, _, err := s.Put(ctx, bytes.NewReader(data), 0)
		return id, err
	}
	return s.PutBytes(ctx, data)
}
