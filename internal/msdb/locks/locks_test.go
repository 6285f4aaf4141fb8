package locks

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

var (
	a = own("a")
	b = own("b")
	c = own("c")
	d = own("d")
	e = own("e")
)

func TestCompatible(t *testing.T) {
	for _, tc := range []struct {
		x, y Mode
		want bool
	}{
		{Shared, Shared, true},
		{Shared, Exclusive, false},
		{Exclusive, Shared, false},
		{Exclusive, Exclusive, false},
	} {
		if got := Compatible(tc.x, tc.y); got != tc.want {
			t.Errorf("Compatible(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
		// The same through a table: a holds x, b asks y.
		var tbl Table
		if err := tbl.TryAcquire("r", a, tc.x); err != nil {
			t.Fatal(err)
		}
		err := tbl.TryAcquire("r", b, tc.y)
		if tc.want {
			if err != nil {
				t.Errorf("a holds %v, b asks %v: %v", tc.x, tc.y, err)
			}
			mustHold(t, &tbl, "r", "b", tc.y, 1)
		} else {
			mustErr(t, err, ErrWouldBlock)
			var wb *WouldBlockError
			if !errors.As(err, &wb) || len(wb.Holders) != 1 || wb.Holders[0].Owner.ID != "a" || wb.Holders[0].Mode != tc.x {
				t.Errorf("a holds %v, b asks %v: error %#v does not name holder a", tc.x, tc.y, err)
			}
			mustNotHold(t, &tbl, "r", "b")
		}
		check(t, &tbl)
		tbl.ReleaseAll(a)
		tbl.ReleaseAll(b)
		checkEmpty(t, &tbl)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Shared.String(), "shared"},
		{Exclusive.String(), "exclusive"},
		{Mode(0).String(), "Mode(0)"},
		{Owner{ID: "7f3a"}.String(), "7f3a"},
		{Owner{ID: "7f3a", PID: 12}.String(), "7f3a (pid 12)"},
		{Owner{ID: "7f3a", Desc: "pop3"}.String(), "7f3a (pop3)"},
		{Owner{ID: "7f3a", PID: 12, Desc: "pop3 from 127.0.0.1:5555"}.String(), "7f3a (pid 12, pop3 from 127.0.0.1:5555)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestInvalidArguments(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	for _, err := range []error{
		tbl.Acquire(ctx, "", a, Shared),
		tbl.Acquire(ctx, "r", Owner{}, Shared),
		tbl.Acquire(ctx, "r", a, 0),
		tbl.TryAcquire("r", a, Mode(3)),
	} {
		if err == nil {
			t.Error("invalid request accepted")
		}
	}
	checkEmpty(t, &tbl)
}

func TestTryAcquireWouldBlockError(t *testing.T) {
	var tbl Table
	x := Owner{ID: "7f3a", PID: 1234, Desc: "pop3 from 127.0.0.1:5555"}
	if err := tbl.TryAcquire("pop3:alice", x, Exclusive); err != nil {
		t.Fatal(err)
	}
	err := tbl.TryAcquire("pop3:alice", own("9c1d"), Shared)
	mustErr(t, err, ErrWouldBlock)
	want := `shared lock on "pop3:alice" for 9c1d would block: held exclusive by 7f3a (pid 1234, pop3 from 127.0.0.1:5555)`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	// Blocked only by the queue: the holders are compatible.
	if err := tbl.Release("pop3:alice", x); err != nil {
		t.Fatal(err)
	}
	if err := tbl.TryAcquire("pop3:alice", x, Shared); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := acquire(t, &tbl, ctx, "pop3:alice", b, Exclusive)
	err = tbl.TryAcquire("pop3:alice", c, Shared)
	var wb *WouldBlockError
	if !errors.As(err, &wb) || wb.Waiters != 1 || len(wb.Holders) != 1 {
		t.Fatalf("TryAcquire behind a waiter: %v", err)
	}
	if !strings.HasSuffix(err.Error(), "held shared by 7f3a (pid 1234, pop3 from 127.0.0.1:5555); 1 waiting") {
		t.Errorf("error %q", err)
	}
	cancel()
	mustErr(t, result(t, ch), context.Canceled)
	tbl.ReleaseAll(x)
	checkEmpty(t, &tbl)
}

func TestFIFOSharedBehindExclusiveWaiter(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	if err := tbl.TryAcquire("r", a, Shared); err != nil {
		t.Fatal(err)
	}
	chB := acquire(t, &tbl, ctx, "r", b, Exclusive)
	// c's shared request is compatible with a's hold, but b is queued.
	mustErr(t, tbl.TryAcquire("r", c, Shared), ErrWouldBlock)
	chC := acquire(t, &tbl, ctx, "r", c, Shared)
	chD := acquire(t, &tbl, ctx, "r", d, Shared)
	mustWaiters(t, &tbl, "r", "b:exclusive", "c:shared", "d:shared")
	check(t, &tbl)

	if err := tbl.Release("r", a); err != nil {
		t.Fatal(err)
	}
	mustGrant(t, chB)
	mustHold(t, &tbl, "r", "b", Exclusive, 1)
	mustWaiters(t, &tbl, "r", "c:shared", "d:shared")
	mustStillWait(t, chC)
	mustStillWait(t, chD)
	check(t, &tbl)

	// Both shared waiters at the head are granted together.
	if err := tbl.Release("r", b); err != nil {
		t.Fatal(err)
	}
	mustGrant(t, chC)
	mustGrant(t, chD)
	mustHold(t, &tbl, "r", "c", Shared, 1)
	mustHold(t, &tbl, "r", "d", Shared, 1)
	check(t, &tbl)
	tbl.ReleaseAll(c)
	tbl.ReleaseAll(d)
	checkEmpty(t, &tbl)
}

func TestGrantCompatibleRunAtHead(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	if err := tbl.TryAcquire("r", a, Exclusive); err != nil {
		t.Fatal(err)
	}
	chB := acquire(t, &tbl, ctx, "r", b, Shared)
	chC := acquire(t, &tbl, ctx, "r", c, Shared)
	chD := acquire(t, &tbl, ctx, "r", d, Exclusive)
	chE := acquire(t, &tbl, ctx, "r", e, Shared)
	check(t, &tbl)

	tbl.Release("r", a)
	mustGrant(t, chB)
	mustGrant(t, chC)
	mustWaiters(t, &tbl, "r", "d:exclusive", "e:shared")
	mustStillWait(t, chD)
	check(t, &tbl)

	tbl.Release("r", b)
	mustWaiters(t, &tbl, "r", "d:exclusive", "e:shared")
	tbl.Release("r", c)
	mustGrant(t, chD)
	mustWaiters(t, &tbl, "r", "e:shared")
	tbl.Release("r", d)
	mustGrant(t, chE)
	tbl.Release("r", e)
	checkEmpty(t, &tbl)
}

func TestReentrant(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	for range 2 {
		if err := tbl.Acquire(ctx, "r", a, Shared); err != nil {
			t.Fatal(err)
		}
	}
	mustHold(t, &tbl, "r", "a", Shared, 2)
	for range 2 {
		if err := tbl.Acquire(ctx, "x", a, Exclusive); err != nil {
			t.Fatal(err)
		}
	}
	// Holding exclusive, asking shared: granted at once, counted.
	if err := tbl.TryAcquire("x", a, Shared); err != nil {
		t.Fatal(err)
	}
	mustHold(t, &tbl, "x", "a", Exclusive, 3)

	// Re-entry bypasses the queue: b waits for x, a re-enters anyway.
	chB := acquire(t, &tbl, ctx, "x", b, Shared)
	if err := tbl.TryAcquire("x", a, Exclusive); err != nil {
		t.Fatal(err)
	}
	mustHold(t, &tbl, "x", "a", Exclusive, 4)
	check(t, &tbl)

	for i := 3; i >= 1; i-- {
		if err := tbl.Release("x", a); err != nil {
			t.Fatal(err)
		}
		mustHold(t, &tbl, "x", "a", Exclusive, i)
		mustStillWait(t, chB)
	}
	if err := tbl.Release("x", a); err != nil {
		t.Fatal(err)
	}
	mustGrant(t, chB)
	mustNotHold(t, &tbl, "x", "a")
	tbl.Release("x", b)

	tbl.Release("r", a)
	mustHold(t, &tbl, "r", "a", Shared, 1)
	tbl.Release("r", a)
	err := tbl.Release("r", a)
	mustErr(t, err, ErrNotHeld)
	checkEmpty(t, &tbl)
}

func TestReleaseNotHeld(t *testing.T) {
	var tbl Table
	mustErr(t, tbl.Release("r", a), ErrNotHeld)
	tbl.TryAcquire("r", a, Shared)
	mustErr(t, tbl.Release("r", b), ErrNotHeld)
	mustErr(t, tbl.Release("s", a), ErrNotHeld)
	if n := tbl.ReleaseAll(b); n != 0 {
		t.Errorf("ReleaseAll of an unknown owner = %d", n)
	}
	tbl.Release("r", a)
	checkEmpty(t, &tbl)
}

func TestUpgradeSoleHolder(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r", a, Shared)
	// b waits for a; a's upgrade is granted at once all the same.
	chB := acquire(t, &tbl, ctx, "r", b, Exclusive)
	if err := tbl.TryAcquire("r", a, Exclusive); err != nil {
		t.Fatal(err)
	}
	mustHold(t, &tbl, "r", "a", Exclusive, 2)
	check(t, &tbl)
	// Releasing the exclusive acquisition leaves a holding shared.
	tbl.Release("r", a)
	mustHold(t, &tbl, "r", "a", Shared, 1)
	mustStillWait(t, chB)
	tbl.Release("r", a)
	mustGrant(t, chB)
	tbl.Release("r", b)
	checkEmpty(t, &tbl)
}

func TestUpgradeWaits(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r", a, Shared)
	tbl.TryAcquire("r", b, Shared)
	mustErr(t, tbl.TryAcquire("r", a, Exclusive), ErrWouldBlock)
	chC := acquire(t, &tbl, ctx, "r", c, Exclusive)
	chA := acquire(t, &tbl, ctx, "r", a, Exclusive)
	// The upgrade is queued ahead of c.
	mustWaiters(t, &tbl, "r", "a:exclusive", "c:exclusive")
	check(t, &tbl)
	tbl.Release("r", b)
	mustGrant(t, chA)
	mustHold(t, &tbl, "r", "a", Exclusive, 2)
	mustStillWait(t, chC)
	tbl.Release("r", a)
	mustHold(t, &tbl, "r", "a", Shared, 1)
	tbl.Release("r", a)
	mustGrant(t, chC)
	tbl.Release("r", c)
	checkEmpty(t, &tbl)
}

func TestUpgradeDeadlock(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r", a, Shared)
	tbl.TryAcquire("r", b, Shared)
	chA := acquire(t, &tbl, ctx, "r", a, Exclusive)
	err := tbl.Acquire(ctx, "r", b, Exclusive)
	mustErr(t, err, ErrDeadlock)
	var de *DeadlockError
	if !errors.As(err, &de) {
		t.Fatalf("error %T is not a *DeadlockError", err)
	}
	if got := FormatCycle(de.Cycle); got != "b -> a -> b" {
		t.Errorf("cycle %s, want b -> a -> b", got)
	}
	want := `exclusive lock on "r" for b: deadlock: waiting would close the cycle b -> a -> b: ` +
		`b waits for exclusive "r", held shared by a; a waits for exclusive "r", held shared by b`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	// b's refused upgrade left b holding shared, a still waiting.
	mustHold(t, &tbl, "r", "b", Shared, 1)
	mustWaiters(t, &tbl, "r", "a:exclusive")
	mustStillWait(t, chA)
	check(t, &tbl)
	tbl.Release("r", b)
	mustGrant(t, chA)
	tbl.ReleaseAll(a)
	checkEmpty(t, &tbl)
}

func TestDeadlockTwoParty(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r1", a, Exclusive)
	tbl.TryAcquire("r2", b, Exclusive)
	chA := acquire(t, &tbl, ctx, "r2", a, Shared)
	err := tbl.Acquire(ctx, "r1", b, Exclusive)
	mustErr(t, err, ErrDeadlock)
	var de *DeadlockError
	errors.As(err, &de)
	if de.Resource != "r1" || de.Owner.ID != "b" || de.Mode != Exclusive {
		t.Errorf("DeadlockError %+v", de)
	}
	wantCycle := []Edge{
		{From: b, Mode: Exclusive, Resource: "r1", To: a, ToMode: Exclusive},
		{From: a, Mode: Shared, Resource: "r2", To: b, ToMode: Exclusive},
	}
	if !slices.Equal(de.Cycle, wantCycle) {
		t.Errorf("cycle %v, want %v", de.Cycle, wantCycle)
	}
	for _, s := range []string{`"r1"`, `"r2"`, "b -> a -> b"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	mustWaiters(t, &tbl, "r1")
	mustStillWait(t, chA)
	check(t, &tbl)
	tbl.ReleaseAll(b)
	mustGrant(t, chA)
	tbl.ReleaseAll(a)
	checkEmpty(t, &tbl)
}

func TestDeadlockThreeParty(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r1", a, Exclusive)
	tbl.TryAcquire("r2", b, Exclusive)
	tbl.TryAcquire("r3", c, Exclusive)
	chA := acquire(t, &tbl, ctx, "r2", a, Exclusive)
	chB := acquire(t, &tbl, ctx, "r3", b, Exclusive)
	check(t, &tbl)
	err := tbl.Acquire(ctx, "r1", c, Shared)
	mustErr(t, err, ErrDeadlock)
	var de *DeadlockError
	errors.As(err, &de)
	if got := FormatCycle(de.Cycle); got != "c -> a -> b -> c" {
		t.Errorf("cycle %s", got)
	}
	check(t, &tbl)
	tbl.ReleaseAll(c)
	mustGrant(t, chB)
	tbl.ReleaseAll(b)
	mustGrant(t, chA)
	tbl.ReleaseAll(a)
	checkEmpty(t, &tbl)
}

// A cycle can run through a queue: b's shared request is blocked by c's
// exclusive request queued ahead of it, not by any holder.
func TestDeadlockThroughQueue(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r1", a, Shared)
	tbl.TryAcquire("r2", b, Exclusive)
	chC := acquire(t, &tbl, ctx, "r1", c, Exclusive)
	chB := acquire(t, &tbl, ctx, "r1", b, Shared)
	check(t, &tbl)
	err := tbl.Acquire(ctx, "r2", a, Shared)
	var de *DeadlockError
	if !errors.As(err, &de) {
		t.Fatalf("Acquire: %v, want a deadlock", err)
	}
	wantCycle := []Edge{
		{From: a, Mode: Shared, Resource: "r2", To: b, ToMode: Exclusive},
		{From: b, Mode: Shared, Resource: "r1", To: c, ToMode: Exclusive, Queued: true},
		{From: c, Mode: Exclusive, Resource: "r1", To: a, ToMode: Shared},
	}
	if !slices.Equal(de.Cycle, wantCycle) {
		t.Errorf("cycle %v, want %v", de.Cycle, wantCycle)
	}
	if !strings.Contains(err.Error(), `b waits for shared "r1", queued behind c for exclusive`) {
		t.Errorf("error %q", err)
	}
	tbl.ReleaseAll(a)
	mustGrant(t, chC)
	mustStillWait(t, chB)
	tbl.ReleaseAll(c)
	mustGrant(t, chB)
	tbl.ReleaseAll(b)
	checkEmpty(t, &tbl)
}

// An owner whose goroutines queue one behind the other does not wait for
// itself, and its own holds do not block it.
func TestSameOwnerQueuedTwice(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r", b, Exclusive)
	ch1 := acquire(t, &tbl, ctx, "r", a, Exclusive)
	ch2 := acquire(t, &tbl, ctx, "r", a, Shared)
	check(t, &tbl)
	tbl.Release("r", b)
	mustGrant(t, ch1)
	mustGrant(t, ch2)
	mustHold(t, &tbl, "r", "a", Exclusive, 2)
	tbl.ReleaseAll(a)
	checkEmpty(t, &tbl)
}

func TestCancelWhileWaiting(t *testing.T) {
	var tbl Table
	tbl.TryAcquire("r", a, Exclusive)
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquire(t, &tbl, ctx, "r", b, Exclusive)
	cancel()
	err := result(t, ch)
	mustErr(t, err, context.Canceled)
	if !strings.Contains(err.Error(), `exclusive lock on "r" for b`) {
		t.Errorf("error %q", err)
	}
	mustWaiters(t, &tbl, "r")
	check(t, &tbl)
	tbl.Release("r", a)
	checkEmpty(t, &tbl)
}

func TestCancelUnblocksLaterWaiters(t *testing.T) {
	var tbl Table
	tbl.TryAcquire("r", a, Shared)
	ctx, cancel := context.WithCancel(context.Background())
	chB := acquire(t, &tbl, ctx, "r", b, Exclusive)
	chC := acquire(t, &tbl, context.Background(), "r", c, Shared)
	cancel()
	mustErr(t, result(t, chB), context.Canceled)
	// With b gone, c is compatible with a and granted.
	mustGrant(t, chC)
	mustHold(t, &tbl, "r", "c", Shared, 1)
	tbl.ReleaseAll(a)
	tbl.ReleaseAll(c)
	checkEmpty(t, &tbl)
}

func TestDeadlineAndCause(t *testing.T) {
	var tbl Table
	tbl.TryAcquire("r", a, Exclusive)

	// Already done: fails at once, even for a free resource.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	mustErr(t, tbl.Acquire(done, "free", b, Shared), context.Canceled)

	// A deadline expiring while waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 1)
	defer cancel()
	mustErr(t, tbl.Acquire(ctx, "r", b, Shared), context.DeadlineExceeded)

	// A cancellation cause is wrapped too.
	cause := errors.New("session closed")
	cctx, ccancel := context.WithCancelCause(context.Background())
	ch := acquire(t, &tbl, cctx, "r", b, Shared)
	ccancel(cause)
	err := result(t, ch)
	mustErr(t, err, context.Canceled)
	mustErr(t, err, cause)

	tbl.Release("r", a)
	checkEmpty(t, &tbl)
}

// The grant happens after Acquire saw its context done but before it took
// the mutex: the grant must be given back.
func TestGrantRacingCancelDeterministic(t *testing.T) {
	var tbl Table
	tbl.TryAcquire("r", a, Exclusive)
	ctx, cancel := context.WithCancel(context.Background())
	tbl.hookCancel = func() {
		if err := tbl.Release("r", a); err != nil {
			t.Error(err)
		}
		if h, ok := held(&tbl, "r", "b"); !ok || h.Mode != Exclusive {
			t.Error("releasing a did not grant r to b")
		}
	}
	chB := acquire(t, &tbl, ctx, "r", b, Exclusive)
	chC := acquire(t, &tbl, context.Background(), "r", c, Shared)
	cancel()
	mustErr(t, result(t, chB), context.Canceled)
	// b gave the lock back, which let c in.
	mustGrant(t, chC)
	mustNotHold(t, &tbl, "r", "b")
	mustHold(t, &tbl, "r", "c", Shared, 1)
	tbl.ReleaseAll(c)
	checkEmpty(t, &tbl)
}

// The grant and the cancellation race for real: whichever wins, a failed
// Acquire holds nothing and a successful one holds the lock.
func TestGrantRacingCancel(t *testing.T) {
	var tbl Table
	n := 2000
	if testing.Short() {
		n = 200
	}
	granted := 0
	for range n {
		tbl.TryAcquire("r", a, Exclusive)
		ctx, cancel := context.WithCancel(context.Background())
		ch := acquire(t, &tbl, ctx, "r", b, Exclusive)
		start := make(chan struct{})
		released := make(chan struct{})
		go func() {
			<-start
			cancel()
		}()
		go func() {
			<-start
			tbl.Release("r", a)
			close(released)
		}()
		close(start)
		err := result(t, ch)
		<-released
		if err == nil {
			granted++
			mustHold(t, &tbl, "r", "b", Exclusive, 1)
			tbl.Release("r", b)
		} else {
			mustErr(t, err, context.Canceled)
			mustNotHold(t, &tbl, "r", "b")
		}
		checkEmpty(t, &tbl)
	}
	t.Logf("%d of %d grants won the race", granted, n)
}

func TestReleaseAll(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r1", a, Exclusive)
	tbl.TryAcquire("r1", a, Exclusive)
	tbl.TryAcquire("r2", a, Shared)
	tbl.TryAcquire("r3", b, Exclusive)
	chA := acquire(t, &tbl, ctx, "r3", a, Shared)
	chC := acquire(t, &tbl, ctx, "r1", c, Shared)
	chD := acquire(t, &tbl, ctx, "r2", d, Exclusive)
	check(t, &tbl)

	if n := tbl.ReleaseAll(a); n != 2 {
		t.Errorf("ReleaseAll released %d holds, want 2", n)
	}
	err := result(t, chA)
	mustErr(t, err, ErrAborted)
	mustGrant(t, chC)
	mustGrant(t, chD)
	mustNotHold(t, &tbl, "r1", "a")
	mustNotHold(t, &tbl, "r2", "a")
	mustWaiters(t, &tbl, "r3")
	check(t, &tbl)
	for _, o := range []Owner{b, c, d} {
		tbl.ReleaseAll(o)
	}
	checkEmpty(t, &tbl)
}

// ReleaseAll aborts all of an owner's waits before granting anything: a's
// second wait must not be granted when its first is withdrawn.
func TestReleaseAllAbortsEveryWait(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r", b, Shared)
	ch1 := acquire(t, &tbl, ctx, "r", a, Exclusive)
	ch2 := acquire(t, &tbl, ctx, "r", a, Shared)
	tbl.ReleaseAll(a)
	mustErr(t, result(t, ch1), ErrAborted)
	mustErr(t, result(t, ch2), ErrAborted)
	mustNotHold(t, &tbl, "r", "a")
	tbl.ReleaseAll(b)
	checkEmpty(t, &tbl)
}

func TestZeroNowUsesClock(t *testing.T) {
	var tbl Table
	tbl.TryAcquire("r", a, Shared)
	if h, _ := held(&tbl, "r", "a"); h.Since.IsZero() {
		t.Error("hold has no timestamp")
	}
	tbl.ReleaseAll(a)
}
