package msdb

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// Group limits: the committer stops taking requests into a group past these.
const (
	maxGroupRequests = 512
)

type requestKind int

const (
	reqUpdate requestKind = iota
	reqCreateTable
	reqCheckpoint
)

// Request states, for cancellation before the committer takes a request.
const (
	stateQueued int32 = iota
	stateTaken
	stateCancelled
)

type request struct {
	kind  requestKind
	fn    func(*Tx) error
	name  string // reqCreateTable
	topts TableOptions
	state atomic.Int32
	done  chan struct{}
	err   error
	lsn   wal.LSN // the record written for it, if any

	// logged (UpdateLogged): the caller is answered once the group's log
	// record is durable (ack, ackErr), before the tables are; ack is done
	// for every other request.
	logged bool
	ack    chan struct{}
	ackErr error
	acked  bool // committer only

	tx *Tx
}

// ErrClosed is returned for work submitted to a closed environment.
var ErrClosed = errors.New("database environment is closed")

// submit queues r and waits for its outcome. Cancelling ctx abandons r
// only while it is still queued: once the committer has taken it, the
// outcome is waited for, so the caller always knows whether it committed.
func (e *Env) submit(ctx context.Context, r *request) error {
	if err := e.poisoned(); err != nil {
		return err
	}
	e.inflight.Add(1)
	defer e.inflight.Add(-1)
	r.done = make(chan struct{})
	r.ack = r.done
	if r.logged {
		r.ack = make(chan struct{})
	}
	select {
	case e.reqs <- r:
	case <-e.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.ack:
		return r.result()
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateCancelled) {
			return ctx.Err()
		}
		<-r.ack
		return r.result()
	case <-e.stopped:
		if r.state.CompareAndSwap(stateQueued, stateCancelled) {
			return ErrClosed
		}
		<-r.ack
		return r.result()
	}
}

// result is the outcome the caller is answered with, once ack is closed.
func (r *request) result() error {
	if r.logged {
		return r.ackErr
	}
	return r.err
}

// acknowledge answers a logged request's caller with its outcome so far.
func (r *request) acknowledge() {
	if r.logged && !r.acked {
		r.acked = true
		r.ackErr = r.err
		close(r.ack)
	}
}

// finish ends a request: its caller is answered, if it was not yet.
func (r *request) finish() {
	r.acknowledge()
	close(r.done)
}

// Update runs fn as a read-write transaction and commits it: when Update
// returns nil, the transaction's log record is on disk and its writes are
// in the tables, visible to every View that begins afterwards. fn runs on
// the committer goroutine, after every transaction submitted before it, so
// it must be short and must not block or call the environment itself. When
// fn returns an error (or panics) its writes are undone and Update returns
// that error.
func (e *Env) Update(ctx context.Context, fn func(*Tx) error) error {
	return e.submit(ctx, &request{kind: reqUpdate, fn: fn})
}

// UpdateLogged is Update that returns as soon as the transaction's log
// record is durable, while its group is still being applied to the tables:
// it is committed (recovery replays it from the log), a View that begins
// afterwards waits for the apply and sees it, and its OnCommit callbacks
// run once it is applied. The caller does not wait for the table files'
// own syncs: an LMTP delivery is acknowledged one bbolt commit sooner.
func (e *Env) UpdateLogged(ctx context.Context, fn func(*Tx) error) error {
	return e.submit(ctx, &request{kind: reqUpdate, fn: fn, logged: true})
}

// CreateTable creates a table; it is an error if it exists.
func (e *Env) CreateTable(ctx context.Context, name string, opts TableOptions) error {
	if err := ValidTableName(name); err != nil {
		return err
	}
	if opts.FillPercent != 0 && (opts.FillPercent < 0.1 || opts.FillPercent > 1) {
		return fmt.Errorf("table %s: fill percent %v is outside 0.1..1", name, opts.FillPercent)
	}
	return e.submit(ctx, &request{kind: reqCreateTable, name: name, topts: opts})
}

// EnsureTable creates a table unless it exists.
func (e *Env) EnsureTable(ctx context.Context, name string, opts TableOptions) error {
	if e.HasTable(name) {
		return nil
	}
	err := e.CreateTable(ctx, name, opts)
	if errors.Is(err, errTableExists) {
		return nil
	}
	return err
}

var errTableExists = errors.New("table exists")

// committer runs groups until the environment closes.
func (e *Env) committer() {
	defer close(e.stopped)
	group := make([]*request, 0, maxGroupRequests)
	for {
		var first *request
		select {
		case first = <-e.reqs:
		case <-e.stop:
			// Finish what was queued before Close.
			for {
				select {
				case r := <-e.reqs:
					e.runGroup(append(group[:0], r))
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
	collect:
		for len(group) < maxGroupRequests {
			select {
			case r := <-e.reqs:
				group = append(group, r)
			default:
				break collect
			}
		}
		group = e.linger(group)
		e.runGroup(group)
	}
}

// lingerMax bounds how long the committer waits for callers that are
// about to submit before it starts a group.
const lingerMax = 100 * time.Microsecond

// linger waits, briefly, for the callers that are inside submit but not
// yet queued: the callers of the group just acknowledged, resubmitting.
// Without it, concurrent committers split into cohorts that alternate
// (half the callers queue while the other half's group commits), and each
// group pays the same fsyncs for half the transactions. A lone committer
// never waits: it is the only caller in flight.
func (e *Env) linger(group []*request) []*request {
	if int(e.inflight.Load()) <= len(group) {
		return group
	}
	timer := time.NewTimer(lingerMax)
	defer timer.Stop()
	for len(group) < maxGroupRequests && int(e.inflight.Load()) > len(group) {
		select {
		case r := <-e.reqs:
			group = append(group, r)
		case <-timer.C:
			return group
		case <-e.stop:
			return group
		}
	}
	return group
}

// groupTxs holds the bbolt write transactions of one group, per table.
type groupTxs struct {
	e       *Env
	txs     map[string]*bolt.Tx
	tables  map[string]*table
	created []*table // tables created in this group
}

func (g *groupTxs) begin(name string) (*table, *bolt.Tx, error) {
	if btx := g.txs[name]; btx != nil {
		return g.tables[name], btx, nil
	}
	t := g.tables[name]
	if t == nil {
		t = g.e.tableByName(name)
	}
	if t == nil {
		return nil, nil, fmt.Errorf("table %q: %w", name, ErrNoTable)
	}
	btx, err := t.db.Begin(true)
	if err != nil {
		return nil, nil, fmt.Errorf("begin write on table %s: %w", name, err)
	}
	g.txs[name] = btx
	g.tables[name] = t
	return t, btx, nil
}

func (g *groupTxs) rollback() {
	for _, btx := range g.txs {
		btx.Rollback()
	}
	for _, t := range g.created {
		t.db.Close()
		removeFile(t.path)
	}
}

// runFn runs a transaction function, turning a panic into an error.
func runFn(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("transaction panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}

// runGroup commits one group.
func (e *Env) runGroup(group []*request) {
	start := time.Now()
	g := &groupTxs{e: e, txs: map[string]*bolt.Tx{}, tables: map[string]*table{}}
	var live []*request
	var bytes int
	now := time.Now()
	var lastLSN wal.LSN
	finish := func(rs []*request, err error) {
		for _, r := range rs {
			if err != nil && r.err == nil {
				r.err = err
			}
			r.finish()
		}
	}
	if err := e.poisoned(); err != nil {
		finish(group, err)
		return
	}
	checkpoint := false
	for _, r := range group {
		if !r.state.CompareAndSwap(stateQueued, stateTaken) {
			r.finish() // the caller gave up while it was queued
			continue
		}
		switch r.kind {
		case reqUpdate:
			tx := &Tx{env: e, writable: true, group: g}
			r.err = runFn(r.fn, tx)
			if r.err != nil {
				if uerr := tx.rollbackWrites(); uerr != nil {
					g.rollback()
					e.setPoison(uerr)
					finish(group, e.poisoned())
					return
				}
				tx.done = true
				r.finish()
				continue
			}
			tx.done = true
			r.tx = tx
			if tx.body.Count() > 0 {
				e.txid++
				lsn, err := e.w.AppendTxn(e.txid, now, &tx.body)
				if err != nil {
					r.err = err
					if uerr := tx.rollbackWrites(); uerr != nil {
						g.rollback()
						e.setPoison(uerr)
						finish(group, e.poisoned())
						return
					}
					r.finish()
					continue
				}
				r.lsn, lastLSN = lsn, lsn
				bytes += tx.body.Len()
			}
			live = append(live, r)
		case reqCreateTable:
			if e.tableByName(r.name) != nil || g.tables[r.name] != nil {
				r.err = fmt.Errorf("create table %s: %w", r.name, errTableExists)
				r.finish()
				continue
			}
			var body wal.Body
			body.Add(wal.OpCreateTable, r.name, nil, r.topts.encode())
			e.txid++
			lsn, err := e.w.AppendTxn(e.txid, now, &body)
			if err != nil {
				r.err = err
				r.finish()
				continue
			}
			t, err := createTable(e.dataDir, r.name, e.id, r.topts, lsn, false)
			if err != nil {
				// The record is appended but not yet synced: the group fails.
				g.rollback()
				e.setPoison(err)
				finish(group, err)
				return
			}
			g.created = append(g.created, t)
			g.tables[r.name] = t
			_, ctx, err := g.begin(CatalogName)
			if err == nil {
				err = ctx.Bucket(bucketTables).Put([]byte(r.name), r.topts.encode())
			}
			if err != nil {
				g.rollback()
				e.setPoison(err)
				finish(group, err)
				return
			}
			r.lsn, lastLSN = lsn, lsn
			live = append(live, r)
		case reqCheckpoint:
			checkpoint = true
			live = append(live, r)
		}
	}
	if checkpoint {
		// The checkpoint record goes last: every table is made durable up to
		// it in this group's commit.
		e.txid++
		lsn, err := e.w.AppendCheckpoint(e.txid, now)
		if err != nil {
			g.rollback()
			finish(live, err)
			return
		}
		lastLSN = lsn
		for _, r := range live {
			if r.kind == reqCheckpoint {
				r.lsn = lsn
			}
		}
		for _, t := range e.allTables() {
			if t.LSN().Less(lsn) {
				if _, _, err := g.begin(t.name); err != nil {
					g.rollback()
					e.setPoison(err)
					finish(live, e.poisoned())
					return
				}
			}
		}
		e.lastCkpt.Store(now.UnixNano())
	}
	if lastLSN.IsZero() {
		// Nothing to log (read-only updates): release the write transactions.
		g.rollback()
		for _, r := range live {
			if r.tx != nil {
				for _, f := range r.tx.onCommit {
					f()
				}
			}
		}
		finish(live, nil)
		return
	}
	logStart := time.Now()
	if err := e.w.Flush(); err != nil {
		g.rollback()
		e.setPoison(err)
		finish(live, e.poisoned())
		return
	}
	logDone := time.Now()
	// Logged requests are answered now that they are durable, with snap
	// held: a View that begins after the answer waits for the group's
	// table commits, so it sees them, as after Update.
	// The OnCommit callbacks run here too, in commit order: whatever they
	// wake reads after the apply, for the same reason (and so a callback
	// must not begin a View itself).
	e.snap.Lock()
	for _, r := range live {
		if r.tx != nil {
			for _, f := range r.tx.onCommit {
				f()
			}
		}
	}
	for _, r := range live {
		r.acknowledge()
	}
	err := e.commitTables(g, lastLSN)
	e.snap.Unlock()
	if err != nil {
		// The group is in the log and will be replayed by recovery, but the
		// tables in memory are behind it: accept nothing more.
		e.setPoison(err)
		finish(live, fmt.Errorf("transaction is in the log but applying it failed (it will be applied by recovery): %w", e.poisoned()))
		return
	}
	e.lastLSN.Store(lastLSN.Uint64())
	e.stats.group(len(live), bytes, logDone.Sub(logStart), time.Since(logDone), time.Since(start))
	finish(live, nil)
}

// commitTables sets every touched table's LSN and commits the group's table
// transactions in parallel. The caller holds snap, so that no View begins
// between two of them.
func (e *Env) commitTables(g *groupTxs, lsn wal.LSN) error {
	for name, btx := range g.txs {
		if err := putLSN(btx, lsn); err != nil {
			g.rollback()
			return fmt.Errorf("table %s: %w", name, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(g.txs))
	for name, btx := range g.txs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := btx.Commit(); err != nil {
				errs <- fmt.Errorf("commit table %s: %w", name, err)
				return
			}
			g.tables[name].lsn.Store(lsn.Uint64())
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) == 0 {
		e.mu.Lock()
		for _, t := range g.created {
			e.tables[t.name] = t
		}
		e.mu.Unlock()
	}
	return errors.Join(all...)
}
