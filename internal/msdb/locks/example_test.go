package locks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/m-store/mstore/internal/msdb/locks"
)

func Example() {
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tbl := &locks.Table{Now: func() time.Time { return start }}
	s1 := locks.Owner{ID: "7f3a", PID: 1234, Desc: "pop3 from 127.0.0.1:5555"}
	s2 := locks.Owner{ID: "9c1d", PID: 1234, Desc: "pop3 from 127.0.0.1:5556"}

	// A POP3 session locks the maildrop; a second session for the same
	// user is refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tbl.Acquire(ctx, "pop3:alice", s1, locks.Exclusive); err != nil {
		fmt.Println(err)
	}
	err := tbl.TryAcquire("pop3:alice", s2, locks.Exclusive)
	fmt.Println(errors.Is(err, locks.ErrWouldBlock), err)

	snap := tbl.Snapshot()
	locks.Report(os.Stdout, snap, locks.CyclesOf(snap))
	tbl.ReleaseAll(s1)
	// Output:
	// true exclusive lock on "pop3:alice" for 9c1d would block: held exclusive by 7f3a (pid 1234, pop3 from 127.0.0.1:5555)
	// pop3:alice  exclusive  held by 7f3a (pid 1234, pop3 from 127.0.0.1:5555) since 2026-11-28T12:00:00Z
}
