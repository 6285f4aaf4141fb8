package locks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mode is the mode of a lock: Shared or Exclusive. The zero Mode is invalid.
type Mode uint8

const (
	// Shared may be held by several owners at once.
	Shared Mode = iota + 1
	// Exclusive may be held by one owner only.
	Exclusive
)

// String returns "shared" or "exclusive".
func (m Mode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Exclusive:
		return "exclusive"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

func (m Mode) valid() bool { return m == Shared || m == Exclusive }

// Compatible reports whether two different owners may hold a resource at the
// same time in modes a and b: only if both are Shared.
func Compatible(a, b Mode) bool { return a == Shared && b == Shared }

// Owner identifies the holder of a lock. Owners are compared by ID alone;
// PID and Desc only describe the owner in reports and errors.
type Owner struct {
	ID   string // unique per holder, e.g. a session id
	PID  int    // process id, 0 if not known
	Desc string // human text, e.g. "pop3 session from 127.0.0.1:5555"
}

// String formats o as `ID (pid PID, Desc)`, leaving out a zero PID and an
// empty Desc.
func (o Owner) String() string {
	var extra []string
	if o.PID != 0 {
		extra = append(extra, fmt.Sprintf("pid %d", o.PID))
	}
	if o.Desc != "" {
		extra = append(extra, o.Desc)
	}
	if len(extra) == 0 {
		return o.ID
	}
	return o.ID + " (" + strings.Join(extra, ", ") + ")"
}

var (
	// ErrWouldBlock is wrapped by TryAcquire's error when the lock cannot be
	// granted at once (see WouldBlockError).
	ErrWouldBlock = errors.New("lock would block")
	// ErrDeadlock is wrapped by Acquire's error when waiting would close a
	// cycle in the wait-for graph (see DeadlockError).
	ErrDeadlock = errors.New("deadlock")
	// ErrNotHeld is wrapped by Release's error when the owner does not hold
	// the resource.
	ErrNotHeld = errors.New("lock not held")
	// ErrAborted is wrapped by Acquire's error when ReleaseAll for the same
	// owner aborted the wait.
	ErrAborted = errors.New("lock wait aborted by ReleaseAll")
)

// WouldBlockError is TryAcquire's error when a request cannot be granted at
// once. It wraps ErrWouldBlock.
type WouldBlockError struct {
	Resource string
	Owner    Owner    // the requester
	Mode     Mode     // the mode requested
	Holders  []Holder // the resource's holders when the request was refused
	Waiters  int      // how many waiters were queued on the resource
}

func (e *WouldBlockError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s lock on %q for %s would block:", e.Mode, e.Resource, e.Owner.ID)
	for i, h := range e.Holders {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " held %s by %s", h.Mode, h.Owner)
	}
	if e.Waiters > 0 {
		if len(e.Holders) > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %d waiting", e.Waiters)
	}
	return b.String()
}

// Unwrap returns ErrWouldBlock.
func (e *WouldBlockError) Unwrap() error { return ErrWouldBlock }

// DeadlockError is Acquire's error when waiting would close a cycle in the
// wait-for graph. It wraps ErrDeadlock.
type DeadlockError struct {
	Resource string
	Owner    Owner  // the requester, whose wait was refused
	Mode     Mode   // the mode requested
	Cycle    []Edge // the cycle, starting with an edge out of Owner
}

func (e *DeadlockError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s lock on %q for %s: %v: waiting would close the cycle %s",
		e.Mode, e.Resource, e.Owner.ID, ErrDeadlock, FormatCycle(e.Cycle))
	for i, ed := range e.Cycle {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(ed.String())
	}
	return b.String()
}

// Unwrap returns ErrDeadlock.
func (e *DeadlockError) Unwrap() error { return ErrDeadlock }

// Table is a lock table. Its zero value is an empty table ready to use. It
// is safe for concurrent use.
type Table struct {
	// Now returns the current time for the timestamps of holds and waits;
	// time.Now if nil. Set it before the table is shared.
	Now func() time.Time

	mu     sync.Mutex
	res    map[string]*resource
	owners map[string]*ownerState

	// hookCancel, if set, runs in Acquire after its context is done and
	// before it takes the mutex to withdraw (tests use it to race a grant).
	hookCancel func()
}

type resource struct {
	name    string
	holders []*holder // in order of first grant
	waiters []*waiter // FIFO queue
}

type holder struct {
	owner Owner
	modes []Mode // outstanding acquisitions, oldest first
	excl  int    // how many of modes are Exclusive
	since time.Time
}

func (h *holder) mode() Mode {
	if h.excl > 0 {
		return Exclusive
	}
	return Shared
}

func (h *holder) push(m Mode) {
	h.modes = append(h.modes, m)
	if m == Exclusive {
		h.excl++
	}
}

// drop removes the most recent outstanding acquisition in mode m, or the
// most recent of any mode if m is 0. It reports whether it removed one.
func (h *holder) drop(m Mode) bool {
	for i := len(h.modes) - 1; i >= 0; i-- {
		if m == 0 || h.modes[i] == m {
			if h.modes[i] == Exclusive {
				h.excl--
			}
			h.modes = slices.Delete(h.modes, i, i+1)
			return true
		}
	}
	return false
}

type waitState uint8

const (
	pending waitState = iota
	granted
	aborted
)

type waiter struct {
	owner   Owner
	mode    Mode
	res     *resource
	since   time.Time
	upgrade bool // the owner held the resource when it queued

	// state and err are written under the table's mutex before done is
	// closed; done is closed once, when state leaves pending.
	state waitState
	err   error
	done  chan struct{}
}

type ownerState struct {
	held  map[string]*holder // by resource name
	waits []*waiter          // in the order queued
}

func (t *Table) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func checkArgs(resource string, owner Owner, mode Mode) error {
	switch {
	case resource == "":
		return errors.New("lock: empty resource name")
	case owner.ID == "":
		return fmt.Errorf("lock on %q: empty owner ID", resource)
	case !mode.valid():
		return fmt.Errorf("lock on %q for %s: invalid mode %v", resource, owner.ID, mode)
	}
	return nil
}

// Acquire takes resource in mode for owner, waiting as long as needed: see
// the package documentation for when a request is granted. It returns nil
// once the lock is held. It returns an error wrapping ctx.Err() if ctx is
// done first (ctx must carry a deadline or be cancelled eventually: nothing
// else limits the wait), a *DeadlockError if waiting would deadlock, and an
// error wrapping ErrAborted if ReleaseAll(owner) aborted the wait. Whenever
// it returns an error, the request holds nothing and is no longer queued.
func (t *Table) Acquire(ctx context.Context, resource string, owner Owner, mode Mode) error {
	if err := checkArgs(resource, owner, mode); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctxError(ctx, resource, owner, mode)
	}
	t.mu.Lock()
	w, err := t.request(resource, owner, mode, true)
	t.mu.Unlock()
	if err != nil || w == nil {
		return err
	}
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
	}
	if t.hookCancel != nil {
		t.hookCancel()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch w.state {
	case granted:
		// The grant won the race against ctx: give it back.
		t.undoGrant(w)
	case aborted:
		return w.err
	default:
		t.withdraw(w)
		t.settle(w.res)
	}
	return ctxError(ctx, resource, owner, mode)
}

func ctxError(ctx context.Context, resource string, owner Owner, mode Mode) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%s lock on %q for %s: %w (%w)", mode, resource, owner.ID, err, cause)
	}
	return fmt.Errorf("%s lock on %q for %s: %w", mode, resource, owner.ID, err)
}

// TryAcquire takes resource in mode for owner if that can be done at once,
// under the same rules as Acquire, and otherwise fails with a
// *WouldBlockError, which wraps ErrWouldBlock. It never waits.
func (t *Table) TryAcquire(resource string, owner Owner, mode Mode) error {
	if err := checkArgs(resource, owner, mode); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.request(resource, owner, mode, false)
	return err
}

// request grants mode on name to owner if it can be granted at once and
// returns (nil, nil). Otherwise, without wait it returns a *WouldBlockError;
// with wait it queues a waiter and returns it, or, if waiting would close a
// cycle, withdraws the waiter and returns a *DeadlockError. t.mu is held.
func (t *Table) request(name string, owner Owner, mode Mode, wait bool) (*waiter, error) {
	if t.res == nil {
		t.res = make(map[string]*resource)
		t.owners = make(map[string]*ownerState)
	}
	r := t.res[name]
	if r == nil {
		// An empty resource grants every request, so r never stays empty.
		r = &resource{name: name}
		t.res[name] = r
	}
	h := r.holder(owner.ID)
	switch {
	case h != nil && (mode == Shared || h.mode() == Exclusive || len(r.holders) == 1):
		// Re-entry, or an upgrade by the only holder.
		h.push(mode)
		return nil, nil
	case h == nil && len(r.waiters) == 0 && r.compatible(owner.ID, mode):
		t.grant(r, owner, mode)
		return nil, nil
	case !wait:
		return nil, &WouldBlockError{
			Resource: name,
			Owner:    owner,
			Mode:     mode,
			Holders:  r.snapshot().Holders,
			Waiters:  len(r.waiters),
		}
	}
	w := &waiter{
		owner:   owner,
		mode:    mode,
		res:     r,
		since:   t.now(),
		upgrade: h != nil,
		done:    make(chan struct{}),
	}
	i := len(r.waiters)
	if w.upgrade {
		i = 0
		for i < len(r.waiters) && r.waiters[i].upgrade {
			i++
		}
	}
	r.waiters = slices.Insert(r.waiters, i, w)
	st := t.owner(owner.ID)
	st.waits = append(st.waits, w)
	if cycle := t.cycleThrough(owner.ID); cycle != nil {
		// The queue is back as it was, settled: nothing to grant.
		t.withdraw(w)
		return nil, &DeadlockError{Resource: name, Owner: owner, Mode: mode, Cycle: cycle}
	}
	return w, nil
}

// Release undoes owner's most recent outstanding acquisition of resource,
// ending its hold when none is left, and grants what that allows. It returns
// an error wrapping ErrNotHeld if owner does not hold resource.
func (t *Table) Release(resource string, owner Owner) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.res[resource]
	var h *holder
	if r != nil {
		h = r.holder(owner.ID)
	}
	if h == nil {
		return fmt.Errorf("release %q by %s: %w", resource, owner.ID, ErrNotHeld)
	}
	h.drop(0)
	t.dropIfEmpty(r, h)
	t.settle(r)
	return nil
}

// ReleaseAll ends every hold of owner, whatever its count, and aborts every
// wait of owner queued at the time of the call (its Acquire returns an error
// wrapping ErrAborted); then it grants what that allows. It returns how many
// holds it ended.
func (t *Table) ReleaseAll(owner Owner) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.owners[owner.ID]
	if st == nil {
		return 0
	}
	// Withdraw all waits before granting anything, so that no wait of
	// owner is granted on the way.
	var touched []*resource
	for _, w := range slices.Clone(st.waits) {
		t.withdraw(w)
		w.state = aborted
		w.err = fmt.Errorf("%s lock on %q for %s: %w", w.mode, w.res.name, owner.ID, ErrAborted)
		close(w.done)
		touched = append(touched, w.res)
	}
	names := make([]string, 0, len(st.held))
	for name := range st.held {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := t.res[name]
		h := st.held[name]
		h.modes, h.excl = nil, 0
		t.dropIfEmpty(r, h)
		touched = append(touched, r)
	}
	for _, r := range touched {
		t.settle(r)
	}
	return len(names)
}

// Snapshot returns a copy of the table: every resource with a holder or a
// waiter, sorted by name, its holders ordered by the time of their first
// grant and then by owner ID, and its waiters in queue order.
func (t *Table) Snapshot() []Lock {
	t.mu.Lock()
	defer t.mu.Unlock()
	snap := make([]Lock, 0, len(t.res))
	for _, r := range t.res {
		snap = append(snap, r.snapshot())
	}
	slices.SortFunc(snap, func(a, b Lock) int { return strings.Compare(a.Resource, b.Resource) })
	return snap
}

// Cycles returns every elementary cycle in the wait-for graph of a snapshot
// of the table: CyclesOf(t.Snapshot()). Acquire refuses waits that would
// close a cycle, so it is normally empty.
func (t *Table) Cycles() [][]Edge { return CyclesOf(t.Snapshot()) }

func (r *resource) snapshot() Lock {
	l := Lock{Resource: r.name}
	for _, h := range r.holders {
		l.Holders = append(l.Holders, Holder{Owner: h.owner, Mode: h.mode(), Count: len(h.modes), Since: h.since})
	}
	slices.SortStableFunc(l.Holders, func(a, b Holder) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Owner.ID, b.Owner.ID)
	})
	for _, w := range r.waiters {
		l.Waiters = append(l.Waiters, Waiter{Owner: w.owner, Mode: w.mode, Since: w.since})
	}
	return l
}

func (r *resource) holder(id string) *holder {
	for _, h := range r.holders {
		if h.owner.ID == id {
			return h
		}
	}
	return nil
}

// compatible reports whether id may hold r in mode alongside r's other
// holders.
func (r *resource) compatible(id string, mode Mode) bool {
	for _, h := range r.holders {
		if h.owner.ID != id && !Compatible(mode, h.mode()) {
			return false
		}
	}
	return true
}

func (t *Table) owner(id string) *ownerState {
	st := t.owners[id]
	if st == nil {
		st = &ownerState{held: make(map[string]*holder)}
		t.owners[id] = st
	}
	return st
}

func (t *Table) forgetOwnerIfIdle(id string) {
	if st := t.owners[id]; st != nil && len(st.held) == 0 && len(st.waits) == 0 {
		delete(t.owners, id)
	}
}

// grant adds an acquisition in mode to owner's hold on r, creating the hold.
func (t *Table) grant(r *resource, owner Owner, mode Mode) {
	h := r.holder(owner.ID)
	if h == nil {
		h = &holder{owner: owner, since: t.now()}
		r.holders = append(r.holders, h)
		t.owner(owner.ID).held[r.name] = h
	}
	h.push(mode)
}

// dropIfEmpty removes h from r if it has no acquisitions left.
func (t *Table) dropIfEmpty(r *resource, h *holder) {
	if len(h.modes) > 0 {
		return
	}
	r.holders = slices.DeleteFunc(r.holders, func(x *holder) bool { return x == h })
	if st := t.owners[h.owner.ID]; st != nil && st.held[r.name] == h {
		delete(st.held, r.name)
		t.forgetOwnerIfIdle(h.owner.ID)
	}
}

// withdraw removes a pending w from its queue and its owner's waits, without
// granting anything.
func (t *Table) withdraw(w *waiter) {
	r := w.res
	r.waiters = slices.DeleteFunc(r.waiters, func(x *waiter) bool { return x == w })
	if st := t.owners[w.owner.ID]; st != nil {
		st.waits = slices.DeleteFunc(st.waits, func(x *waiter) bool { return x == w })
		t.forgetOwnerIfIdle(w.owner.ID)
	}
}

// settle grants waiters from the head of r's queue while they are
// compatible with r's holders, and forgets r once it is empty.
func (t *Table) settle(r *resource) {
	for len(r.waiters) > 0 {
		w := r.waiters[0]
		if !r.compatible(w.owner.ID, w.mode) {
			break
		}
		t.withdraw(w)
		t.grant(r, w.owner, w.mode)
		w.state = granted
		close(w.done)
	}
	if len(r.holders) == 0 && len(r.waiters) == 0 && t.res[r.name] == r {
		delete(t.res, r.name)
	}
}

// undoGrant gives back the acquisition granted to w after its Acquire gave
// up. If the owner has meanwhile released it (ReleaseAll, or Release from
// another goroutine of the same owner), there is nothing left to give back.
func (t *Table) undoGrant(w *waiter) {
	r := w.res
	if t.res[r.name] != r {
		return
	}
	h := r.holder(w.owner.ID)
	if h == nil || !h.drop(w.mode) {
		return
	}
	t.dropIfEmpty(r, h)
	t.settle(r)
}
