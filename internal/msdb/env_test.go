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
