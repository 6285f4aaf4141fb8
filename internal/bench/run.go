package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNothingWorked is the error of a run that could not run at all: no
// login (or, in lmtp mode, no delivery) succeeded.
var ErrNothingWorked = errors.New("nothing worked")

// runner is one run's shared state.
type runner struct {
	cfg   *Config
	log   *slog.Logger
	names []string // the mode's commands, then its extra lines
	nMain int      // how many of names make up the TOTAL
	smp   *samples
	pool  *userPool

	// stop ends the measured part: workers check it between sessions.
	stop  context.Context
	abort context.CancelCauseFunc
	// hard cuts every connection off.
	hard context.Context

	good, bad atomic.Int64 // logins (deliveries in lmtp mode) that worked or not

	allStats []stats // of every worker, once it is done
}

// worker is one connection's loop and its own counts.
type worker struct {
	r       *runner
	rng     *rand.Rand
	gen     *msgGen
	st      stats
	backoff time.Duration
	lmtp    *lmtpConn // pop3: refills
	msgs    []imapMsg // imap: scratch
	lastID  []byte    // imap: the last appended Message-ID
	sizes   []int64   // pop3: scratch
}

func (r *runner) newWorker() *worker {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	return &worker{r: r, rng: rng, gen: newMsgGen(rng), st: newStats(len(r.names))}
}

func (w *worker) ok(op int, start time.Time) { w.st.ok(op, time.Since(start)) }

// fail counts an error of op, unless the run cut it off.
func (w *worker) fail(op int, err error) {
	if errors.Is(err, errCut) || w.r.hard.Err() != nil {
		return
	}
	w.st.fail(op)
	w.r.smp.add(w.r.names[op] + ": " + err.Error())
	w.r.log.Debug("bench: error", "command", w.r.names[op], "err", err)
}

// sessions runs session for users taken from the pool, one after another,
// until the run stops; after a failed session it pauses.
func (w *worker) sessions(session func(u int) error) {
	r := w.r
	for r.stop.Err() == nil {
		u, ok := r.pool.get(r.stop, w.rng)
		if !ok {
			return
		}
		err := session(u)
		r.pool.put(u)
		if err != nil {
			w.pause()
		} else {
			w.backoff = 0
		}
	}
}

// steps times and counts a session's commands: run runs one command as op;
// end counts the session's error against the command that was running.
type steps struct {
	w  *worker
	op int
}

func (s *steps) run(op int, f func() error) error {
	s.op = op
	start := time.Now()
	if err := f(); err != nil {
		return err
	}
	s.w.ok(op, start)
	return nil
}

func (s *steps) end(err error) {
	if err != nil {
		s.w.fail(s.op, err)
	}
}

// pause waits a little after an error before the next connection, longer
// after each error in a row (10 ms to 1 s): a server that is down is not
// hammered.
func (w *worker) pause() {
	w.backoff = min(max(2*w.backoff, 10*time.Millisecond), time.Second)
	t := time.NewTimer(w.backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.r.stop.Done():
	}
}

// gate counts logins (deliveries): when none has worked after many tries,
// the run is abandoned.
func (r *runner) gate(ok bool) {
	if ok {
		r.good.Add(1)
		return
	}
	bad := r.bad.Add(1)
	if r.good.Load() == 0 && bad >= int64(max(10, 2*r.cfg.Concurrency)) && r.abort != nil {
		r.abort(fmt.Errorf("%w: %d attempts failed, none succeeded", ErrNothingWorked, bad))
	}
}

// userPool hands out users. When there are at least as many users as
// connections, a user is used by one connection at a time (exclusive):
// no other session changes its mailbox, so every reply can be checked
// exactly, and a POP3 maildrop is never found locked. Otherwise (imap,
// idle) users are picked at random and shared.
type userPool struct {
	free chan int // nil when shared
	n    int
}

func newUserPool(users int, exclusive bool) *userPool {
	p := &userPool{n: users}
	if exclusive {
		p.free = make(chan int, users)
		for _, u := range rand.Perm(users) {
			p.free <- u + 1
		}
	}
	return p
}

func (p *userPool) exclusive() bool { return p.free != nil }

// get returns a user, waiting for a free one when exclusive; ok is false
// when ctx ends first.
func (p *userPool) get(ctx context.Context, rng *rand.Rand) (u int, ok bool) {
	if p.free == nil {
		return 1 + rng.IntN(p.n), true
	}
	select {
	case u := <-p.free:
		return u, true
	case <-ctx.Done():
		return 0, false
	}
}

func (p *userPool) put(u int) {
	if p.free != nil {
		p.free <- u
	}
}

// Run runs the load described by cfg and returns its result. The result
// is not nil once the measured part has begun, even with an error:
// ErrNothingWorked when no login (no delivery) succeeded. Cancelling ctx
// ends the run early, with a result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, extra := commands(cfg.Mode)
	r := &runner{
		cfg:   &cfg,
		log:   cfg.Logger,
		names: append(append([]string{}, names...), extra...),
		nMain: len(names),
		smp:   newSamples(),
	}
	if cfg.Mode != ModePOP3 || cfg.LMTPPort == 0 {
		r.names = r.names[:r.nMain] // REFILL only with an LMTP port
		extra = nil
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	prefilled, err := r.prefill(ctx)
	if err != nil {
		return nil, err
	}
	var elapsed time.Duration
	var held int
	idleInterrupted := false
	switch cfg.Mode {
	case ModeLMTP:
		elapsed = r.loop(ctx, r.lmtpWorker)
	case ModeIMAP:
		r.pool = newUserPool(cfg.Users, cfg.Users >= cfg.Concurrency)
		if !r.pool.exclusive() {
			r.log.Warn("bench: fewer users than connections: sessions share mailboxes, so a concurrent EXPUNGE may make a FETCH fail", "users", cfg.Users, "concurrency", cfg.Concurrency)
		}
		elapsed = r.loop(ctx, r.imapWorker)
	case ModePOP3:
		r.pool = newUserPool(cfg.Users, true)
		if cfg.Users < cfg.Concurrency {
			r.log.Warn("bench: fewer users than connections: a maildrop takes one session at a time, so only --users connections work at once", "users", cfg.Users, "concurrency", cfg.Concurrency)
		}
		if cfg.LMTPPort == 0 {
			r.log.Warn("bench: no --lmtp-port: deleted messages are not replaced, the maildrops shrink")
		}
		elapsed = r.loop(ctx, r.pop3Worker)
	case ModeIdle:
		elapsed, held, idleInterrupted = r.idle(ctx)
	}
	st := newStats(len(r.names))
	for _, ws := range r.allStats {
		st.merge(ws)
	}
	res := newResult(&cfg, names, extra, st, elapsed, r.smp)
	res.Prefilled = prefilled
	res.Sessions = held
	cause := context.Cause(r.stop)
	res.Interrupted = errors.Is(cause, ErrNothingWorked)
	if cfg.Mode == ModeIdle {
		// The idle mode is meant to end by a signal once ready.
		res.Interrupted = res.Interrupted || idleInterrupted
	} else {
		res.Interrupted = res.Interrupted || ctx.Err() != nil
	}
	if r.good.Load() == 0 {
		what := "no login succeeded"
		if cfg.Mode == ModeLMTP {
			what = "no delivery succeeded"
		}
		if len(res.ErrorSamples) > 0 {
			return res, fmt.Errorf("%w: %s; first error: %s", ErrNothingWorked, what, res.ErrorSamples[0])
		}
		return res, fmt.Errorf("%w: %s", ErrNothingWorked, what)
	}
	return res, nil
}

// loop runs the measured part with cfg.Concurrency workers and returns
// how long it took.
func (r *runner) loop(ctx context.Context, work func(w *worker)) time.Duration {
	base, abort := context.WithCancelCause(ctx)
	stop, cancel := context.WithTimeout(base, r.cfg.Duration)
	hard, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		cancel()
		abort(nil)
		cut()
	}()
	r.stop, r.abort, r.hard = stop, abort, hard
	done := make(chan struct{})
	go r.cutAfterGrace(stop, done, cut)

	workers := make([]*worker, r.cfg.Concurrency)
	for i := range workers {
		workers[i] = r.newWorker()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { work(w) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	for _, w := range workers {
		r.allStats = append(r.allStats, w.st)
	}
	return elapsed
}

// cutAfterGrace cuts every connection off when stop has been done for the
// grace period and the workers have not finished.
func (r *runner) cutAfterGrace(stop context.Context, done <-chan struct{}, cut func()) {
	select {
	case <-stop.Done():
	case <-done:
		return
	}
	t := time.NewTimer(r.cfg.Grace)
	defer t.Stop()
	select {
	case <-t.C:
		r.log.Warn("bench: sessions still running after the grace period are cut off", "grace", r.cfg.Grace)
		cut()
	case <-done:
	}
}

// preflight checks that the servers answer with the right greeting, so
// that a wrong port fails at once with a clear message.
func (r *runner) preflight(ctx context.Context) error {
	check := func(proto, addr string, greeting string) error {
		c, err := dial(ctx, addr, r.cfg.Timeout, smallBuf)
		if err != nil {
			if errors.Is(err, errCut) {
				return fmt.Errorf("%s server %s: %w", proto, addr, ctx.Err())
			}
			return fmt.Errorf("%s server %s: %w", proto, addr, err)
		}
		defer c.close()
		line, err := c.readLine()
		if err != nil {
			return fmt.Errorf("%s server %s: greeting: %w", proto, addr, err)
		}
		if !bytes.HasPrefix(line, []byte(greeting)) {
			return fmt.Errorf("%s server %s: greeting %q is not %s's (%q…)", proto, addr, clip(line), proto, greeting)
		}
		return nil
	}
	var err error
	switch r.cfg.Mode {
	case ModeLMTP:
		err = check("LMTP", r.cfg.addr(), "220")
	case ModeIMAP, ModeIdle:
		err = check("IMAP", r.cfg.addr(), "* OK")
	case ModePOP3:
		err = check("POP3", r.cfg.addr(), "+OK")
	}
	if err == nil && r.cfg.Mode != ModeLMTP && r.cfg.LMTPPort != 0 {
		err = check("LMTP", r.cfg.lmtpAddr(), "220")
	}
	return err
}
