package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The idle mode's commands, in report order.
const (
	opIdleLogin = iota
	opIdleSelect
	opIdle
	opIdleDone
	opIdleLogout
)

// idleAttempts is how often a session is tried before it is given up.
const idleAttempts = 3

// idleSession is a session in IDLE. Its watcher reads what the server
// sends while it is held, up to the end of the IDLE command.
type idleSession struct {
	c    *imapConn
	done chan error // the IDLE command's end (after DONE), or a failure
}

// idle is the idle mode: it opens cfg.Sessions sessions, says "ready N
// sessions" on cfg.Ready, holds them for cfg.Duration or until ctx ends,
// and logs them out. It returns how long it all took, how many sessions
// were held, and whether it was interrupted before they all were open.
func (r *runner) idle(ctx context.Context) (elapsed time.Duration, held int, interrupted bool) {
	cfg := r.cfg
	stop, abort := context.WithCancelCause(ctx)
	hard, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		abort(nil)
		cut()
	}()
	r.stop, r.abort, r.hard = stop, abort, hard
	start := time.Now()

	// Open the sessions, cfg.Concurrency at a time.
	sessions := make([]*idleSession, cfg.Sessions)
	slots := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, cfg.Sessions) {
		w := r.newWorker()
		r.allStats = append(r.allStats, w.st)
		wg.Go(func() {
			for slot := range slots {
				for range idleAttempts {
					if stop.Err() != nil {
						break
					}
					s, err := w.openIdle(slot)
					if err == nil {
						sessions[slot] = s
						w.backoff = 0
						break
					}
					w.pause()
				}
			}
		})
	}
feed:
	for i := range cfg.Sessions {
		select {
		case slots <- i:
		case <-stop.Done():
			break feed
		}
	}
	close(slots)
	wg.Wait()
	for _, s := range sessions {
		if s != nil {
			held++
		}
	}

	// Hold them.
	interrupted = stop.Err() != nil
	if !interrupted && held > 0 {
		if held < cfg.Sessions {
			r.log.Warn("bench: some sessions could not be opened", "held", held, "wanted", cfg.Sessions)
		}
		if cfg.Ready != nil {
			fmt.Fprintf(cfg.Ready, "ready %d sessions\n", held)
			if f, ok := cfg.Ready.(interface{ Flush() error }); ok {
				f.Flush()
			}
		}
		t := time.NewTimer(cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}

	// Log them out, cut off if it takes too long.
	timer := time.AfterFunc(cfg.Grace+cfg.Timeout, cut)
	defer timer.Stop()
	closing := make(chan *idleSession)
	var wg2 sync.WaitGroup
	for range min(cfg.Concurrency, max(held, 1)) {
		w := r.newWorker()
		r.allStats = append(r.allStats, w.st)
		wg2.Go(func() {
			for s := range closing {
				w.closeIdle(s)
			}
		})
	}
	for _, s := range sessions {
		if s != nil {
			closing <- s
		}
	}
	close(closing)
	wg2.Wait()
	return time.Since(start), held, interrupted
}

// openIdle opens session slot: LOGIN (users round-robin), SELECT INBOX,
// IDLE.
func (w *worker) openIdle(slot int) (s *idleSession, err error) {
	r := w.r
	user := r.cfg.user(slot%r.cfg.Users + 1)
	// step runs one command: timed, counted, and its error counted.
	st := &steps{w: w, op: opIdleLogin}
	step := st.run
	defer func() { st.end(err) }()
	c, err := dialIMAP(r.hard, r.cfg.addr(), r.cfg.Timeout, smallBuf)
	if err != nil {
		r.gate(false)
		return nil, err
	}
	if err := step(opIdleLogin, func() error { return c.login(user, r.cfg.Password) }); err != nil {
		r.gate(false)
		c.close()
		return nil, err
	}
	r.gate(true)
	if err := step(opIdleSelect, c.selectInbox); err != nil {
		c.close()
		return nil, err
	}
	if err := step(opIdle, func() error {
		if err := c.send(append(c.start(), "IDLE"...)); err != nil {
			return err
		}
		return c.continuation()
	}); err != nil {
		c.close()
		return nil, err
	}
	if err := c.disarm(); err != nil {
		c.close()
		return nil, err
	}
	s = &idleSession{c: c, done: make(chan error, 1)}
	go func() {
		// Untagged data (EXISTS, "still here") until the IDLE command
		// ends, which it does after DONE, or a failure.
		_, err := c.wait(nil)
		s.done <- err
	}()
	return s, nil
}

// closeIdle ends a held session: DONE, then LOGOUT.
func (w *worker) closeIdle(s *idleSession) {
	c := s.c
	defer c.close()
	start := time.Now()
	err := c.arm()
	if err == nil {
		err = c.write([]byte("DONE\r\n"))
	}
	if err == nil {
		err = <-s.done
	} else {
		c.nc.Close() // ends the watcher
		<-s.done
	}
	if err != nil {
		w.fail(opIdleDone, err)
		return
	}
	w.ok(opIdleDone, start)
	start = time.Now()
	if err := c.logout(); err != nil {
		w.fail(opIdleLogout, err)
		return
	}
	w.ok(opIdleLogout, start)
}
