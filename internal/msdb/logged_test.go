package msdb

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestUpdateLogged: a transaction UpdateLogged answered is seen by a View
// that begins afterwards (from any goroutine), its OnCommit callbacks have
// run, and it survives a crash.
func TestUpdateLogged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openTest(t, dir)
	if err := e.CreateTable(ctx, "a", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	announced := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				k := fmt.Sprintf("g%d-%03d", g, i)
				err := e.UpdateLogged(ctx, func(tx *Tx) error {
					tb, err := tx.Table("a")
					if err != nil {
						return err
					}
					tx.OnCommit(func() { mu.Lock(); announced[k] = true; mu.Unlock() })
					return tb.Put([]byte(k), []byte("v"))
				})
				if err != nil {
					t.Errorf("UpdateLogged %s: %v", k, err)
					return
				}
				mu.Lock()
				ok := announced[k]
				mu.Unlock()
				if !ok {
					t.Errorf("%s: answered before its OnCommit callback ran", k)
				}
				if _, found := get(t, e, "a", k); !found {
					t.Errorf("%s: a View begun after UpdateLogged returned does not see it", k)
				}
			}
		}()
	}
	wg.Wait()
	// A failing function is answered with its error and leaves nothing.
	boom := fmt.Errorf("boom")
	if err := e.UpdateLogged(ctx, func(tx *Tx) error {
		tb, _ := tx.Table("a")
		tb.Put([]byte("failed"), []byte("x"))
		return boom
	}); err != boom {
		t.Errorf("failing UpdateLogged: %v", err)
	}
	e.crash()
	e = openTest(t, dir)
	defer e.Close()
	for g := range 8 {
		for i := range 100 {
			if _, found := get(t, e, "a", fmt.Sprintf("g%d-%03d", g, i)); !found {
				t.Fatalf("g%d-%03d lost in a crash", g, i)
			}
		}
	}
	if _, found := get(t, e, "a", "failed"); found {
		t.Error("a failed UpdateLogged's write is there")
	}
}
