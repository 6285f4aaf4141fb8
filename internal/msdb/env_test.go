package msdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// openTest opens (or creates) an environment in dir.
func openTest(t testing.TB, dir string, mod ...func(*Options)) *Env {
	t.Helper()
	opts := Options{Home: dir, LogFileSize: 64 << 10}
	for _, m := range mod {
		m(&opts)
	}
	e, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return e
}

// crash abandons e as a killed process would: no checkpoint, no clean mark,
// table files and log closed as they are, the lock dropped.
func (e *Env) crash() {
	e.closeMu.Lock()
	e.closed = true
	e.closeMu.Unlock()
	close(e.stop)
	<-e.stopped
	e.setPoison(errors.New("crashed"))
	e.mu.Lock()
	for _, t := range e.tables {
		t.db.Close()
	}
	e.catalog.db.Close()
	e.mu.Unlock()
	e.w.Abandon()
	e.unlock()
}

func put(t testing.TB, e *Env, table, key, value string) {
	t.Helper()
	err := e.Update(context.Background(), func(tx *Tx) error {
		tb, err := tx.Table(table)
		if err != nil {
			return err
		}
		return tb.Put([]byte(key), []byte(value))
	})
	if err != nil {
		t.Fatalf("put %s/%s: %v", table, key, err)
	}
}

func get(t testing.TB, e *Env, table, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := e.View(context.Background(), func(tx *Tx) error {
		tb, err := tx.Table(table)
		if err != nil {
			return err
		}
		v = tb.Get([]byte(key))
		if v != nil {
			v = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("get %s/%s: %v", table, key, err)
	}
	return string(v), v != nil
}

func TestCreateUpdateReopen(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	if !e.Recovery().Created {
		t.Fatal("new environment not reported as created")
	}
	ctx := context.Background()
	if err := e.CreateTable(ctx, "accounts", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTable(ctx, "accounts", TableOptions{}); err == nil {
		t.Fatal("creating an existing table succeeded")
	}
	put(t, e, "accounts", "alice", "1")
	put(t, e, "accounts", "bob", "2")
	if v, ok := get(t, e, "accounts", "alice"); !ok || v != "1" {
		t.Fatalf("alice = %q, %v", v, ok)
	}
	// A failing transaction leaves nothing.
	boom := errors.New("boom")
	err := e.Update(ctx, func(tx *Tx) error {
		tb, _ := tx.Table("accounts")
		tb.Put([]byte("carol"), []byte("3"))
		tb.Put([]byte("alice"), []byte("changed"))
		tb.Delete([]byte("bob"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, ok := get(t, e, "accounts", "carol"); ok {
		t.Fatal("write of a failed transaction is visible")
	}
	if v, _ := get(t, e, "accounts", "alice"); v != "1" {
		t.Fatalf("alice = %q after failed update", v)
	}
	if _, ok := get(t, e, "accounts", "bob"); !ok {
		t.Fatal("delete of a failed transaction is visible")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir)
	defer e.Close()
	if e.Recovery().Created {
		t.Fatal("reopen created a new environment")
	}
	if v, _ := get(t, e, "accounts", "bob"); v != "2" {
		t.Fatalf("bob = %q after reopen", v)
	}
}

func TestSecondOpenerNamesHolder(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	defer e.Close()
	_, err := Open(context.Background(), Options{Home: dir})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second Open = %v, want in use by process %d", err, os.Getpid())
	}
}

func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := e.CreateTable(ctx, n, TableOptions{FillPercent: 0.9}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := fmt.Sprintf("%d-%04d", g, i)
				err := e.Update(ctx, func(tx *Tx) error {
					a, _ := tx.Table("a")
					b, _ := tx.Table("b")
					if err := a.Put([]byte(k), []byte(strings.Repeat("x", 300))); err != nil {
						return err
					}
					return b.Put([]byte(k), []byte("y"))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Roll the tables back to before the workload by crashing after
	// rewinding their LSNs is not possible from outside; instead crash now
	// and check replay finds nothing to do, then check with a table behind.
	e.crash()
	e = openTest(t, dir)
	if r := e.Recovery(); r.Created || r.TornTail != nil {
		t.Fatalf("recovery report %+v", r)
	}
	for g := range 8 {
		for i := range 200 {
			k := fmt.Sprintf("%d-%04d", g, i)
			if _, ok := get(t, e, "a", k); !ok {
				t.Fatalf("a/%s missing", k)
			}
		}
	}
	if len(e.TableNames()) != 2 {
		t.Fatalf("tables %v", e.TableNames())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReplayFromOldTables restores table files copied before a workload and
// checks that recovery replays the log into them.
func TestReplayFromOldTables(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	ctx := context.Background()
	if err := e.CreateTable(ctx, "a", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, e, "a", "before", "1")
	snap := t.TempDir()
	if _, err := e.HotCopy(ctx, filepath.Join(snap, "data"), filepath.Join(snap, "transaction_log")); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTable(ctx, "later", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		put(t, e, "a", fmt.Sprintf("k%05d", i), strings.Repeat("v", 100))
		if i%1000 == 0 {
			put(t, e, "later", fmt.Sprintf("k%05d", i), "x")
		}
	}
	e.crash()
	// Put the old table files back; keep the whole log.
	for _, f := range []string{"a.db", "catalog.db"} {
		b, err := os.ReadFile(filepath.Join(snap, "data", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data", f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(dir, "data", "later.db"))
	e = openTest(t, dir, func(o *Options) { o.Catastrophic = true })
	defer e.Close()
	r := e.Recovery()
	if r.Records < 3000 {
		t.Fatalf("replayed %d records, want >= 3000", r.Records)
	}
	if v, _ := get(t, e, "a", "k02999"); v != strings.Repeat("v", 100) {
		t.Fatalf("k02999 = %q", v)
	}
	if v, _ := get(t, e, "later", "k02000"); v != "x" {
		t.Fatalf("later/k02000 = %q", v)
	}
	nums, _ := wal.ListFiles(e.LogDir())
	if len(nums) < 2 {
		t.Fatalf("want several log files with a 64K log file size, have %v", nums)
	}
}

func TestCursorAndDelete(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTable(ctx, "t", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		put(t, e, "t", fmt.Sprintf("k%d", i), "v")
	}
	// Delete every other key through a cursor; the walk must visit each key once.
	var seen []string
	err := e.Update(ctx, func(tx *Tx) error {
		tb, _ := tx.Table("t")
		c := tb.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			seen = append(seen, string(k))
			if (k[1]-'0')%2 == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 10 {
		t.Fatalf("cursor visited %v", seen)
	}
	err = e.View(ctx, func(tx *Tx) error {
		tb, _ := tx.Table("t")
		if tb.Len() != 5 {
			return fmt.Errorf("%d keys left, want 5", tb.Len())
		}
		if tb.Put([]byte("x"), nil) == nil {
			return errors.New("Put in a View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPanicInUpdateIsUndone(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTable(ctx, "t", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	err := e.Update(ctx, func(tx *Tx) error {
		tb, _ := tx.Table("t")
		tb.Put([]byte("a"), []byte("1"))
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Update = %v", err)
	}
	if _, ok := get(t, e, "t", "a"); ok {
		t.Fatal("write of a panicking transaction is visible")
	}
	put(t, e, "t", "b", "2") // the environment still works
}

func TestViewIsConsistentAcrossTables(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	for _, n := range []string{"x", "y"} {
		if err := e.CreateTable(ctx, n, TableOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := []byte(fmt.Sprintf("%d-%d", w, i))
				e.Update(ctx, func(tx *Tx) error {
					x, _ := tx.Table("x")
					y, _ := tx.Table("y")
					x.Put(k, k)
					return y.Put(k, k)
				})
			}
		}()
	}
	for range 200 {
		err := e.View(ctx, func(tx *Tx) error {
			x, _ := tx.Table("x")
			y, _ := tx.Table("y")
			if x.Len() != y.Len() {
				return fmt.Errorf("x has %d keys, y %d", x.Len(), y.Len())
			}
			return nil
		})
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestUpdateCancelledWhileQueued(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTable(ctx, "t", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	started := make(chan struct{})
	go e.Update(ctx, func(tx *Tx) error { close(started); <-block; return nil })
	<-started
	cctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() {
		res <- e.Update(cctx, func(tx *Tx) error {
			tb, _ := tx.Table("t")
			return tb.Put([]byte("never"), []byte("1"))
		})
	}()
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Update = %v", err)
	}
	close(block)
	put(t, e, "t", "after", "1")
	if _, ok := get(t, e, "t", "never"); ok {
		t.Fatal("a cancelled transaction committed")
	}
}

func TestNoLogFilesAfterCleanClose(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	ctx := context.Background()
	if err := e.CreateTable(ctx, "t", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, e, "t", "a", "1")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	nums, _ := wal.ListFiles(filepath.Join(dir, LogDirName))
	for _, n := range nums {
		os.Remove(filepath.Join(dir, LogDirName, wal.FileName(n)))
	}
	e = openTest(t, dir)
	if !e.Recovery().NewLog {
		t.Fatal("new log not reported")
	}
	if v, _ := get(t, e, "t", "a"); v != "1" {
		t.Fatalf("a = %q", v)
	}
	put(t, e, "t", "b", "2")
	e.crash()
	// Without a clean close, losing the log is refused.
	nums, _ = wal.ListFiles(filepath.Join(dir, LogDirName))
	if len(nums) != 1 || nums[0] <= 1 {
		t.Fatalf("log files after restart: %v", nums)
	}
	for _, n := range nums {
		os.Remove(filepath.Join(dir, LogDirName, wal.FileName(n)))
	}
	_, err := Open(ctx, Options{Home: dir})
	if err == nil || !strings.Contains(err.Error(), "not closed cleanly") {
		t.Fatalf("Open without logs after a crash = %v", err)
	}
}

func TestArchiveAndHold(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTable(ctx, "t", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		put(t, e, "t", fmt.Sprintf("k%04d", i), strings.Repeat("v", 200))
	}
	release := e.hold(wal.LSN{File: 1})
	if _, err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.ArchivableLogs(); len(got) != 0 {
		t.Fatalf("archivable while held from file 1: %v", got)
	}
	release()
	got, err := e.ArchivableLogs()
	if err != nil || len(got) == 0 {
		t.Fatalf("ArchivableLogs = %v, %v", got, err)
	}
	removed, err := e.RemoveArchivableLogs()
	if err != nil || len(removed) != len(got) {
		t.Fatalf("removed %v, %v", removed, err)
	}
	probs, err := e.Verify(ctx)
	if err != nil || len(probs) != 0 {
		t.Fatalf("Verify = %v, %v", probs, err)
	}
}

// TestPointInTimeRecovery restores tables copied before two batches and
// recovers to a moment between them: the first batch is there, the second
// is not, and the log after it is gone for good.
func TestPointInTimeRecovery(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	ctx := context.Background()
	if err := e.CreateTable(ctx, "a", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	snap := t.TempDir()
	if _, err := e.HotCopy(ctx, snap, filepath.Join(snap, "logs")); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		put(t, e, "a", fmt.Sprintf("before%04d", i), strings.Repeat("v", 200))
	}
	until := time.Now()
	for i := range 500 {
		put(t, e, "a", fmt.Sprintf("after%04d", i), strings.Repeat("w", 200))
	}
	e.crash()
	for _, f := range []string{"a.db", "catalog.db"} {
		b, err := os.ReadFile(filepath.Join(snap, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, DataDirName, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(ctx, Options{Home: dir, Until: until}); err == nil {
		t.Fatal("point-in-time recovery without Catastrophic accepted")
	}
	e = openTest(t, dir, func(o *Options) { o.Catastrophic = true; o.Until = until })
	r := e.Recovery()
	if r.CutAt.IsZero() || r.LastTime.After(until) {
		t.Fatalf("report %+v", r)
	}
	if _, ok := get(t, e, "a", "before0499"); !ok {
		t.Fatal("a transaction before the point in time is missing")
	}
	if _, ok := get(t, e, "a", "after0000"); ok {
		t.Fatal("a transaction after the point in time was applied")
	}
	put(t, e, "a", "new", "1")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir)
	defer e.Close()
	if _, ok := get(t, e, "a", "after0000"); ok {
		t.Fatal("the cut-off history came back on the next recovery")
	}
	if v, _ := get(t, e, "a", "new"); v != "1" {
		t.Fatal("a transaction after point-in-time recovery is missing")
	}
}
