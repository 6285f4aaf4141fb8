package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// prefill fills each user's INBOX up to cfg.Prefill messages by LMTP
// before an imap, pop3 or idle run (with an LMTP port); users that hold
// enough already (STATUS, or STAT in pop3 mode) get nothing. It returns
// how many messages it delivered, and an error when it could count no
// user's messages or deliver nothing it had to.
func (r *runner) prefill(ctx context.Context) (int, error) {
	cfg := r.cfg
	if cfg.Mode == ModeLMTP || cfg.LMTPPort == 0 || cfg.Prefill == 0 {
		return 0, nil
	}
	began := time.Now()
	var delivered, counted, failed, undelivered atomic.Int64
	// Give up early when no user's messages can be counted at all (a
	// wrong password, say).
	ctx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	hopeless := func() bool {
		return counted.Load() == 0 && failed.Load() >= int64(min(cfg.Users, max(5, cfg.Concurrency)))
	}
	var mu sync.Mutex
	var firstErr, deliverErr error
	record := func(err error, delivery bool) {
		failed.Add(1)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		if delivery {
			undelivered.Add(1)
			if deliverErr == nil {
				deliverErr = err
			}
		}
		mu.Unlock()
	}
	users := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, cfg.Users) {
		w := r.newWorker()
		wg.Go(func() {
			var l *lmtpConn
			defer func() {
				if l != nil {
					l.quit()
				}
			}()
			for u := range users {
				user := cfg.user(u)
				have, err := r.count(ctx, user)
				if err != nil {
					if ctx.Err() == nil {
						record(fmt.Errorf("count the messages of %s: %w", user, err), false)
					}
					if hopeless() {
						giveUp()
					}
					continue
				}
				counted.Add(1)
				for ; have < cfg.Prefill && ctx.Err() == nil; have++ {
					if l == nil {
						if l, err = dialLMTP(ctx, cfg.lmtpAddr(), cfg.Timeout); err != nil {
							record(fmt.Errorf("LMTP: %w", err), true)
							break
						}
					}
					msg, _ := w.gen.message(kindDelivery, user, cfg.Size)
					if err := l.deliver(user, msg); err != nil {
						record(fmt.Errorf("deliver to %s: %w", user, err), true)
						l.close()
						l = nil
						break
					}
					delivered.Add(1)
				}
			}
		})
	}
feed:
	for u := 1; u <= cfg.Users; u++ {
		select {
		case users <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(users)
	wg.Wait()
	if counted.Load() == 0 && firstErr != nil {
		return 0, fmt.Errorf("prefill: %w: could not count the messages of any user (by logging in): %w", ErrNothingWorked, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("prefill interrupted: %w", err)
	}
	if delivered.Load() == 0 && undelivered.Load() > 0 {
		return 0, fmt.Errorf("prefill: no delivery succeeded: %w", deliverErr)
	}
	if failed.Load() > 0 {
		r.log.Warn("bench: prefill incomplete", "failures", failed.Load(), "first", firstErr)
	}
	r.log.Info("bench: prefilled", "users", counted.Load(), "messages", delivered.Load(), "took", time.Since(began).Round(time.Millisecond))
	return int(delivered.Load()), nil
}

// count returns how many messages user's INBOX holds: STATUS by IMAP,
// or STAT by POP3 in pop3 mode.
func (r *runner) count(ctx context.Context, user string) (int, error) {
	cfg := r.cfg
	if cfg.Mode == ModePOP3 {
		c, err := dialPOP3(ctx, cfg.addr(), cfg.Timeout)
		if err != nil {
			return 0, err
		}
		defer c.close()
		if err := c.cmd("USER ", user); err != nil {
			return 0, fmt.Errorf("USER: %w", err)
		}
		if err := c.cmd("PASS ", cfg.Password); err != nil {
			return 0, fmt.Errorf("PASS: %w", err)
		}
		n, _, err := c.stat()
		if err != nil {
			return 0, fmt.Errorf("STAT: %w", err)
		}
		if err := c.quit(); err != nil {
			return 0, fmt.Errorf("QUIT: %w", err)
		}
		return n, nil
	}
	c, err := dialIMAP(ctx, cfg.addr(), cfg.Timeout, smallBuf)
	if err != nil {
		return 0, err
	}
	defer c.close()
	if err := c.login(user, cfg.Password); err != nil {
		return 0, fmt.Errorf("LOGIN: %w", err)
	}
	n, err := c.statusMessages()
	if err != nil {
		return 0, fmt.Errorf("STATUS: %w", err)
	}
	if err := c.logout(); err != nil {
		return 0, fmt.Errorf("LOGOUT: %w", err)
	}
	return n, nil
}
