package locks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func own(id string) Owner { return Owner{ID: id} }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// invariants checks the table's internal consistency: no empty resources,
// one hold per owner with consistent counts, never an Exclusive holder
// together with another holder, settled queues (the head never grantable),
// an owner index that mirrors the resources, and an acyclic wait-for graph.
func invariants(tbl *Table) error {
	tbl.mu.Lock()
	err := invariantsLocked(tbl)
	tbl.mu.Unlock()
	if err != nil {
		return err
	}
	if c := tbl.Cycles(); len(c) != 0 {
		return fmt.Errorf("wait-for graph has %d cycles, first %s", len(c), FormatCycle(c[0]))
	}
	return nil
}

func invariantsLocked(tbl *Table) error {
	nheld, nwait := 0, 0
	for name, r := range tbl.res {
		if r.name != name {
			return fmt.Errorf("resource %q filed under %q", r.name, name)
		}
		if len(r.holders) == 0 && len(r.waiters) == 0 {
			return fmt.Errorf("resource %q is empty but kept", name)
		}
		seen := map[string]bool{}
		for _, h := range r.holders {
			if seen[h.owner.ID] {
				return fmt.Errorf("resource %q: owner %s holds twice", name, h.owner.ID)
			}
			seen[h.owner.ID] = true
			if len(h.modes) == 0 {
				return fmt.Errorf("resource %q: holder %s with count 0", name, h.owner.ID)
			}
			excl := 0
			for _, m := range h.modes {
				if m == Exclusive {
					excl++
				} else if m != Shared {
					return fmt.Errorf("resource %q: holder %s has mode %v", name, h.owner.ID, m)
				}
			}
			if excl != h.excl {
				return fmt.Errorf("resource %q: holder %s: excl %d, counted %d", name, h.owner.ID, h.excl, excl)
			}
			if h.mode() == Exclusive && len(r.holders) != 1 {
				return fmt.Errorf("resource %q: exclusive holder %s with %d holders", name, h.owner.ID, len(r.holders))
			}
			st := tbl.owners[h.owner.ID]
			if st == nil || st.held[name] != h {
				return fmt.Errorf("resource %q: holder %s missing from owner index", name, h.owner.ID)
			}
			nheld++
		}
		if len(r.waiters) > 0 && r.compatible(r.waiters[0].owner.ID, r.waiters[0].mode) {
			return fmt.Errorf("resource %q: head waiter %s is grantable", name, r.waiters[0].owner.ID)
		}
		for _, w := range r.waiters {
			if w.state != pending || w.res != r {
				return fmt.Errorf("resource %q: waiter %s in state %d", name, w.owner.ID, w.state)
			}
			st := tbl.owners[w.owner.ID]
			if st == nil || !slices.Contains(st.waits, w) {
				return fmt.Errorf("resource %q: waiter %s missing from owner index", name, w.owner.ID)
			}
			nwait++
		}
	}
	mheld, mwait := 0, 0
	for id, st := range tbl.owners {
		if len(st.held) == 0 && len(st.waits) == 0 {
			return fmt.Errorf("owner %s is idle but kept", id)
		}
		mheld += len(st.held)
		mwait += len(st.waits)
		for _, w := range st.waits {
			if w.owner.ID != id {
				return fmt.Errorf("owner %s lists a wait of %s", id, w.owner.ID)
			}
		}
	}
	if nheld != mheld || nwait != mwait {
		return fmt.Errorf("owner index has %d holds and %d waits, resources %d and %d", mheld, mwait, nheld, nwait)
	}
	return nil
}

func check(t *testing.T, tbl *Table) {
	t.Helper()
	if err := invariants(tbl); err != nil {
		t.Fatal(err)
	}
}

func checkEmpty(t *testing.T, tbl *Table) {
	t.Helper()
	check(t, tbl)
	if s := tbl.Snapshot(); len(s) != 0 {
		t.Fatalf("table not empty: %+v", s)
	}
	tbl.mu.Lock()
	defer tbl.mu.Unlock()
	if len(tbl.owners) != 0 {
		t.Fatalf("owner index not empty: %d owners", len(tbl.owners))
	}
}

// lockOf returns the snapshot of resource, or a zero Lock.
func lockOf(tbl *Table, resource string) Lock {
	for _, l := range tbl.Snapshot() {
		if l.Resource == resource {
			return l
		}
	}
	return Lock{Resource: resource}
}

// held returns owner's hold on resource.
func held(tbl *Table, resource, owner string) (Holder, bool) {
	for _, h := range lockOf(tbl, resource).Holders {
		if h.Owner.ID == owner {
			return h, true
		}
	}
	return Holder{}, false
}

func mustHold(t *testing.T, tbl *Table, resource, owner string, mode Mode, count int) {
	t.Helper()
	h, ok := held(tbl, resource, owner)
	if !ok {
		t.Fatalf("%s does not hold %q; snapshot %+v", owner, resource, lockOf(tbl, resource))
	}
	if h.Mode != mode || h.Count != count {
		t.Fatalf("%s holds %q %v count %d, want %v count %d", owner, resource, h.Mode, h.Count, mode, count)
	}
}

func mustNotHold(t *testing.T, tbl *Table, resource, owner string) {
	t.Helper()
	if _, ok := held(tbl, resource, owner); ok {
		t.Fatalf("%s holds %q", owner, resource)
	}
}

// waiters returns the IDs of the owners queued on resource, in order.
func waiters(tbl *Table, resource string) []string {
	var ids []string
	for _, w := range lockOf(tbl, resource).Waiters {
		ids = append(ids, w.Owner.ID+":"+w.Mode.String())
	}
	return ids
}

func mustWaiters(t *testing.T, tbl *Table, resource string, want ...string) {
	t.Helper()
	if got := waiters(tbl, resource); !slices.Equal(got, want) {
		t.Fatalf("waiters of %q = %v, want %v", resource, got, want)
	}
}

// acquire runs Acquire in a goroutine and returns the channel of its result.
// It returns once the request has either finished or been queued (it is
// queued when the number of waiters on the resource exceeds the number
// before the call), so tests can sequence requests without sleeping.
func acquire(t *testing.T, tbl *Table, ctx context.Context, resource string, owner Owner, mode Mode) <-chan error {
	t.Helper()
	before := len(lockOf(tbl, resource).Waiters)
	ch := make(chan error, 1)
	go func() { ch <- tbl.Acquire(ctx, resource, owner, mode) }()
	deadline := time.Now().Add(30 * time.Second) // only guards against a hung test
	for {
		if len(lockOf(tbl, resource).Waiters) > before {
			return ch
		}
		select {
		case err := <-ch:
			done := make(chan error, 1)
			done <- err
			return done
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Acquire(%q, %s) neither returned nor queued", resource, owner.ID)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// result waits for an Acquire started by acquire.
func result(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second): // only guards against a hung test
		t.Fatal("Acquire did not return")
		return nil
	}
}

// mustStillWait fails if an Acquire started by acquire has returned. Use it
// only when nothing could be about to grant or cancel the request.
func mustStillWait(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Acquire returned %v while it should still wait", err)
	default:
	}
}

func mustGrant(t *testing.T, ch <-chan error) {
	t.Helper()
	if err := result(t, ch); err != nil {
		t.Fatalf("Acquire: %v", err)
	}
}

func mustErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one wrapping %v", err, target)
	}
}
