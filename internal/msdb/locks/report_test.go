package locks

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSnapshotAndReport(t *testing.T) {
	clk := newClock()
	tbl := Table{Now: clk.Now}
	ctx := context.Background()
	x := Owner{ID: "7f3a", PID: 1234, Desc: "pop3 from 127.0.0.1:5555"}
	y := Owner{ID: "9c1d", PID: 1234, Desc: "pop3 from 127.0.0.1:5556"}
	z := Owner{ID: "0b2e", PID: 99, Desc: "expunge"}

	if err := tbl.TryAcquire("pop3:alice", x, Exclusive); err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Second)
	chY := acquire(t, &tbl, ctx, "pop3:alice", y, Exclusive)
	clk.Add(time.Second)
	chZ := acquire(t, &tbl, ctx, "pop3:alice", z, Shared)
	// Two shared holders that began at the same time: ordered by owner ID.
	tbl.TryAcquire("mbox:INBOX", y, Shared)
	tbl.TryAcquire("mbox:INBOX", y, Shared)
	tbl.TryAcquire("mbox:INBOX", x, Shared)
	clk.Add(time.Minute)
	tbl.TryAcquire("mbox:INBOX", z, Shared)
	tbl.TryAcquire("odd name", z, Exclusive)

	snap := tbl.Snapshot()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	want := []Lock{
		{Resource: "mbox:INBOX", Holders: []Holder{
			{Owner: x, Mode: Shared, Count: 1, Since: t0.Add(6 * time.Second)},
			{Owner: y, Mode: Shared, Count: 2, Since: t0.Add(6 * time.Second)},
			{Owner: z, Mode: Shared, Count: 1, Since: t0.Add(66 * time.Second)},
		}},
		{Resource: "odd name", Holders: []Holder{
			{Owner: z, Mode: Exclusive, Count: 1, Since: t0.Add(66 * time.Second)},
		}},
		{Resource: "pop3:alice",
			Holders: []Holder{{Owner: x, Mode: Exclusive, Count: 1, Since: t0}},
			Waiters: []Waiter{
				{Owner: y, Mode: Exclusive, Since: t0.Add(5 * time.Second)},
				{Owner: z, Mode: Shared, Since: t0.Add(6 * time.Second)},
			}},
	}
	if !equalSnapshots(snap, want) {
		t.Fatalf("snapshot\n%+v\nwant\n%+v", snap, want)
	}

	var out strings.Builder
	if err := Report(&out, snap, CyclesOf(snap)); err != nil {
		t.Fatal(err)
	}
	wantReport := `mbox:INBOX  shared     held by 7f3a (pid 1234, pop3 from 127.0.0.1:5555) since 2026-11-28T12:00:06Z
            shared     held by 9c1d (pid 1234, pop3 from 127.0.0.1:5556) count 2 since 2026-11-28T12:00:06Z
            shared     held by 0b2e (pid 99, expunge) since 2026-11-28T12:01:06Z
"odd name"  exclusive  held by 0b2e (pid 99, expunge) since 2026-11-28T12:01:06Z
pop3:alice  exclusive  held by 7f3a (pid 1234, pop3 from 127.0.0.1:5555) since 2026-11-28T12:00:00Z
            waiting:   exclusive  9c1d (pid 1234, pop3 from 127.0.0.1:5556) since 2026-11-28T12:00:05Z
            waiting:   shared     0b2e (pid 99, expunge) since 2026-11-28T12:00:06Z
`
	if out.String() != wantReport {
		t.Errorf("report\n%s\nwant\n%s", out.String(), wantReport)
	}

	// The snapshot is a copy.
	snap[0].Holders[0].Count = 100
	if h, _ := held(&tbl, "mbox:INBOX", "7f3a"); h.Count != 1 {
		t.Error("snapshot shares memory with the table")
	}

	tbl.ReleaseAll(x)
	mustGrant(t, chY)
	tbl.ReleaseAll(y)
	mustGrant(t, chZ)
	tbl.ReleaseAll(z)
	checkEmpty(t, &tbl)
}

func TestReportEmptyAndCycles(t *testing.T) {
	var out strings.Builder
	if err := Report(&out, nil, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "no locks\n" {
		t.Errorf("empty report %q", out.String())
	}

	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	p := Owner{ID: "a", PID: 7}
	q := Owner{ID: "b", PID: 8}
	snap := []Lock{
		{Resource: "r1", Holders: []Holder{{Owner: p, Mode: Exclusive, Count: 1, Since: t0}},
			Waiters: []Waiter{{Owner: q, Mode: Shared, Since: t0}}},
		{Resource: "r2", Holders: []Holder{{Owner: q, Mode: Exclusive, Count: 1, Since: t0}},
			Waiters: []Waiter{{Owner: p, Mode: Exclusive, Since: t0}}},
	}
	out.Reset()
	if err := Report(&out, snap, CyclesOf(snap)); err != nil {
		t.Fatal(err)
	}
	want := `r1  exclusive  held by a (pid 7) since 2026-11-28T12:00:00Z
    waiting:   shared     b (pid 8) since 2026-11-28T12:00:00Z
r2  exclusive  held by b (pid 8) since 2026-11-28T12:00:00Z
    waiting:   exclusive  a (pid 7) since 2026-11-28T12:00:00Z
deadlock: a -> b -> a
  a waits for exclusive "r2", held exclusive by b
  b waits for shared "r1", held exclusive by a
`
	if out.String() != want {
		t.Errorf("report\n%s\nwant\n%s", out.String(), want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReportWriteError(t *testing.T) {
	if err := Report(failWriter{}, nil, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Report to a failing writer: %v", err)
	}
}

func equalSnapshots(x, y []Lock) bool {
	return slices.EqualFunc(x, y, func(p, q Lock) bool {
		return p.Resource == q.Resource &&
			slices.EqualFunc(p.Holders, q.Holders, func(h, k Holder) bool {
				return h.Owner == k.Owner && h.Mode == k.Mode && h.Count == k.Count && h.Since.Equal(k.Since)
			}) &&
			slices.EqualFunc(p.Waiters, q.Waiters, func(w, v Waiter) bool {
				return w.Owner == v.Owner && w.Mode == v.Mode && w.Since.Equal(v.Since)
			})
	})
}
