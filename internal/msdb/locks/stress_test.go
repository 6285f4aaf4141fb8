package locks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// occupancy mirrors, per resource, the holds the stress test's goroutines
// know they have: an owner registers a hold after Acquire returns and
// unregisters it before calling Release, so what it records is always a
// subset of what the table grants, and any conflict in it is a real one.
type occupancy struct {
	mu   sync.Mutex
	held map[string]map[string][]Mode // resource -> owner -> acquisitions
}

func (o *occupancy) add(res, owner string, m Mode) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	mine := append(o.held[res][owner], m)
	for other, modes := range o.held[res] {
		if other != owner && !Compatible(effective(mine), effective(modes)) {
			return fmt.Errorf("%s granted %v on %s while %s holds it %v", owner, effective(mine), res, other, effective(modes))
		}
	}
	if o.held[res] == nil {
		o.held[res] = map[string][]Mode{}
	}
	o.held[res][owner] = mine
	return nil
}

func (o *occupancy) remove(res, owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	modes := o.held[res][owner]
	if len(modes) == 1 {
		delete(o.held[res], owner)
	} else {
		o.held[res][owner] = modes[:len(modes)-1]
	}
}

func effective(modes []Mode) Mode {
	for _, m := range modes {
		if m == Exclusive {
			return Exclusive
		}
	}
	return Shared
}

func TestStress(t *testing.T) {
	const (
		nres    = 5
		nowners = 12
	)
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	var tbl Table
	occ := &occupancy{held: map[string]map[string][]Mode{}}
	stop := make(chan struct{})
	checkerDone := make(chan error, 1)
	go func() {
		// Check the whole table's invariants, acyclicity included, while
		// it changes.
		for {
			select {
			case <-stop:
				checkerDone <- invariants(&tbl)
				return
			default:
			}
			if err := invariants(&tbl); err != nil {
				checkerDone <- err
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()

	var stats stressStats
	var wg sync.WaitGroup
	errs := make(chan error, nowners)
	for i := range nowners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stressOwner(&tbl, occ, own(fmt.Sprintf("o%02d", i)), nres, iters, uint64(i), &stats); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-checkerDone; err != nil {
		t.Error(err)
	}
	checkEmpty(t, &tbl)
	t.Logf("granted %d, timed out %d, deadlocks %d, would block %d",
		stats.granted, stats.timeout, stats.deadlock, stats.wouldBlock)
}

type stressStats struct {
	sync.Mutex
	granted, timeout, deadlock, wouldBlock int
}

func (s *stressStats) count(n *int) {
	s.Lock()
	*n++
	s.Unlock()
}

func stressOwner(tbl *Table, occ *occupancy, me Owner, nres, iters int, seed uint64, s *stressStats) error {
	rng := rand.New(rand.NewPCG(seed, 42))
	// held is this owner's model of its holds: resource -> acquisitions.
	held := map[string][]Mode{}
	releaseAll := func() {
		for res, modes := range held {
			for range modes {
				occ.remove(res, me.ID)
			}
		}
		tbl.ReleaseAll(me)
		clear(held)
	}
	for range iters {
		res := fmt.Sprintf("r%d", rng.IntN(nres))
		switch p := rng.IntN(100); {
		case p < 35 && len(held) > 0:
			// Release one acquisition of a held resource.
			for r, modes := range held {
				occ.remove(r, me.ID)
				if err := tbl.Release(r, me); err != nil {
					return err
				}
				if len(modes) == 1 {
					delete(held, r)
				} else {
					held[r] = modes[:len(modes)-1]
				}
				break
			}
		case p < 40:
			releaseAll()
		default:
			mode := Shared
			if rng.IntN(2) == 0 {
				mode = Exclusive
			}
			var err error
			if rng.IntN(10) == 0 {
				err = tbl.TryAcquire(res, me, mode)
			} else {
				timeout := time.Duration(rng.IntN(2000)) * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				err = tbl.Acquire(ctx, res, me, mode)
				cancel()
			}
			switch {
			case err == nil:
				held[res] = append(held[res], mode)
				if err := occ.add(res, me.ID, mode); err != nil {
					return err
				}
				s.count(&s.granted)
			case errors.Is(err, context.DeadlineExceeded):
				s.count(&s.timeout)
			case errors.Is(err, ErrWouldBlock):
				s.count(&s.wouldBlock)
			case errors.Is(err, ErrDeadlock):
				s.count(&s.deadlock)
				// Back off: give up everything, as a real caller would.
				releaseAll()
			default:
				return fmt.Errorf("%s: unexpected error: %w", me.ID, err)
			}
		}
		if err := checkOwnerModel(tbl, me.ID, held); err != nil {
			return err
		}
	}
	releaseAll()
	return checkOwnerModel(tbl, me.ID, held)
}

// checkOwnerModel compares an owner's holds in the table with its own
// model. Only the owner's own calls change its holds, and it makes them one
// at a time, so the two must agree exactly between calls.
func checkOwnerModel(tbl *Table, id string, model map[string][]Mode) error {
	tbl.mu.Lock()
	defer tbl.mu.Unlock()
	st := tbl.owners[id]
	if st == nil {
		if len(model) != 0 {
			return fmt.Errorf("%s: table has no holds, model has %d", id, len(model))
		}
		return nil
	}
	if len(st.waits) != 0 {
		return fmt.Errorf("%s: %d waits left behind", id, len(st.waits))
	}
	if len(st.held) != len(model) {
		return fmt.Errorf("%s: table has %d holds, model %d", id, len(st.held), len(model))
	}
	for res, modes := range model {
		h := st.held[res]
		if h == nil || len(h.modes) != len(modes) || h.mode() != effective(modes) {
			return fmt.Errorf("%s: hold on %s does not match model %v", id, res, modes)
		}
	}
	return nil
}
