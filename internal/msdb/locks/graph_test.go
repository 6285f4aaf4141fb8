package locks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func hold(o Owner, m Mode) Holder { return Holder{Owner: o, Mode: m, Count: 1} }
func wait(o Owner, m Mode) Waiter { return Waiter{Owner: o, Mode: m} }

// cycleStrings renders cycles as "a -r1-> b -r2-> a" for comparison.
func cycleStrings(cycles [][]Edge) []string {
	var out []string
	for _, c := range cycles {
		var b strings.Builder
		for i, e := range c {
			if i == 0 {
				b.WriteString(e.From.ID)
			}
			q := ""
			if e.Queued {
				q = "q"
			}
			fmt.Fprintf(&b, " -%s%s-> %s", e.Resource, q, e.To.ID)
			if i+1 < len(c) && c[i+1].From.ID != e.To.ID {
				b.WriteString(" (BROKEN)")
			}
		}
		if c[len(c)-1].To.ID != c[0].From.ID {
			b.WriteString(" (NOT CLOSED)")
		}
		out = append(out, b.String())
	}
	return out
}

// Cycles on graphs Acquire would never let arise.
func TestCyclesOfConstructed(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap []Lock
		want []string
	}{
		{name: "empty"},
		{
			name: "chain without cycle",
			snap: []Lock{
				{Resource: "r1", Holders: []Holder{hold(a, Exclusive)}, Waiters: []Waiter{wait(b, Shared), wait(c, Shared)}},
				{Resource: "r2", Holders: []Holder{hold(b, Shared), hold(c, Shared)}, Waiters: []Waiter{wait(d, Exclusive)}},
			},
		},
		{
			name: "two-party",
			snap: []Lock{
				{Resource: "r1", Holders: []Holder{hold(a, Exclusive)}, Waiters: []Waiter{wait(b, Exclusive)}},
				{Resource: "r2", Holders: []Holder{hold(b, Shared)}, Waiters: []Waiter{wait(a, Exclusive)}},
			},
			want: []string{"a -r2-> b -r1-> a"},
		},
		{
			name: "three-party plus a two-party sharing owners",
			snap: []Lock{
				{Resource: "r1", Holders: []Holder{hold(a, Exclusive)}, Waiters: []Waiter{wait(c, Shared), wait(b, Shared)}},
				{Resource: "r2", Holders: []Holder{hold(b, Exclusive)}, Waiters: []Waiter{wait(a, Exclusive)}},
				{Resource: "r3", Holders: []Holder{hold(c, Exclusive)}, Waiters: []Waiter{wait(b, Shared)}},
			},
			// b waits for a on r1 and for c on r3; c waits for a on r1.
			want: []string{"a -r2-> b -r1-> a", "a -r2-> b -r3-> c -r1-> a"},
		},
		{
			name: "two cycles between the same owners on different resources",
			snap: []Lock{
				{Resource: "r1", Holders: []Holder{hold(a, Exclusive)}, Waiters: []Waiter{wait(b, Exclusive)}},
				{Resource: "r2", Holders: []Holder{hold(b, Exclusive)}, Waiters: []Waiter{wait(a, Exclusive)}},
				{Resource: "r3", Holders: []Holder{hold(a, Shared)}, Waiters: []Waiter{wait(b, Exclusive)}},
			},
			want: []string{"a -r2-> b -r1-> a", "a -r2-> b -r3-> a"},
		},
		{
			name: "upgrade deadlock",
			snap: []Lock{
				{Resource: "r", Holders: []Holder{hold(a, Shared), hold(b, Shared)}, Waiters: []Waiter{wait(a, Exclusive), wait(b, Exclusive)}},
			},
			// One edge per waiter, resource and target: b's holder edge to
			// a hides its queue edge to a.
			want: []string{"a -r-> b -r-> a"},
		},
		{
			name: "through the queue",
			snap: []Lock{
				{Resource: "r1", Holders: []Holder{hold(a, Shared)}, Waiters: []Waiter{wait(c, Exclusive), wait(b, Shared)}},
				{Resource: "r2", Holders: []Holder{hold(b, Exclusive)}, Waiters: []Waiter{wait(a, Shared)}},
			},
			want: []string{"a -r2-> b -r1q-> c -r1-> a"},
		},
		{
			name: "compatible waiter ahead is no edge",
			snap: []Lock{
				{Resource: "r1", Holders: []Holder{hold(d, Exclusive)}, Waiters: []Waiter{wait(c, Shared), wait(b, Shared)}},
				{Resource: "r2", Holders: []Holder{hold(b, Exclusive)}, Waiters: []Waiter{wait(c, Exclusive)}},
			},
		},
		{
			name: "two separate cycles",
			snap: []Lock{
				{Resource: "p", Holders: []Holder{hold(d, Exclusive)}, Waiters: []Waiter{wait(e, Exclusive)}},
				{Resource: "q", Holders: []Holder{hold(e, Exclusive)}, Waiters: []Waiter{wait(d, Exclusive)}},
				{Resource: "r", Holders: []Holder{hold(b, Exclusive)}, Waiters: []Waiter{wait(a, Exclusive)}},
				{Resource: "s", Holders: []Holder{hold(a, Exclusive)}, Waiters: []Waiter{wait(b, Exclusive)}},
			},
			want: []string{"a -r-> b -s-> a", "d -q-> e -p-> d"},
		},
		{
			name: "complete graph on three owners",
			snap: []Lock{
				{Resource: "ra", Holders: []Holder{hold(a, Exclusive)}, Waiters: []Waiter{wait(b, Exclusive), wait(c, Shared)}},
				{Resource: "rb", Holders: []Holder{hold(b, Exclusive)}, Waiters: []Waiter{wait(a, Shared), wait(c, Shared)}},
				{Resource: "rc", Holders: []Holder{hold(c, Exclusive)}, Waiters: []Waiter{wait(a, Shared), wait(b, Shared)}},
			},
			// c's shared wait on ra also waits for b's exclusive request
			// queued ahead of it; likewise on rb and rc.
			want: []string{
				"a -rb-> b -ra-> a",
				"a -rb-> b -rc-> c -ra-> a",
				"a -rc-> c -ra-> a",
				"a -rc-> c -raq-> b -ra-> a",
				"a -rc-> c -rb-> b -ra-> a",
				"b -rc-> c -raq-> b",
				"b -rc-> c -rb-> b",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cycleStrings(CyclesOf(tc.snap))
			if !slices.Equal(got, tc.want) {
				t.Errorf("cycles\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCyclesOfLimit(t *testing.T) {
	// n owners each holding its own resource exclusively and waiting for
	// every other owner's: a complete graph, with far more than MaxCycles
	// elementary cycles.
	const n = 9
	var snap []Lock
	for i := range n {
		l := Lock{Resource: fmt.Sprintf("r%d", i), Holders: []Holder{hold(own(fmt.Sprint(i)), Exclusive)}}
		for j := range n {
			if j != i {
				l.Waiters = append(l.Waiters, wait(own(fmt.Sprint(j)), Shared))
			}
		}
		snap = append(snap, l)
	}
	if got := len(CyclesOf(snap)); got != MaxCycles {
		t.Errorf("%d cycles, want MaxCycles", got)
	}
}

// The live graph and the snapshot's agree, and the table never holds a
// cycle after a refused wait.
func TestLiveGraphMatchesSnapshot(t *testing.T) {
	var tbl Table
	ctx := context.Background()
	tbl.TryAcquire("r1", a, Shared)
	tbl.TryAcquire("r1", b, Shared)
	tbl.TryAcquire("r2", c, Exclusive)
	var chs []<-chan error
	chs = append(chs, acquire(t, &tbl, ctx, "r1", a, Exclusive)) // upgrade: waits for b
	chs = append(chs, acquire(t, &tbl, ctx, "r1", d, Shared))    // behind a's upgrade
	chs = append(chs, acquire(t, &tbl, ctx, "r2", b, Shared))    // waits for c
	chs = append(chs, acquire(t, &tbl, ctx, "r2", e, Exclusive)) // waits for c and b
	mustErr(t, tbl.Acquire(ctx, "r1", c, Exclusive), ErrDeadlock)

	var live []string
	tbl.mu.Lock()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		for _, ed := range tbl.edgesFrom(id) {
			live = append(live, ed.String())
		}
	}
	tbl.mu.Unlock()
	var snap []string
	for _, l := range tbl.Snapshot() {
		l.edges(func(ed Edge) { snap = append(snap, ed.String()) })
	}
	slices.Sort(live)
	slices.Sort(snap)
	if !slices.Equal(live, snap) {
		t.Errorf("live edges\n%s\nsnapshot edges\n%s", strings.Join(live, "\n"), strings.Join(snap, "\n"))
	}
	want := []string{
		`a waits for exclusive "r1", held shared by b`,
		`b waits for shared "r2", held exclusive by c`,
		`d waits for shared "r1", queued behind a for exclusive`,
		`e waits for exclusive "r2", held exclusive by c`,
		`e waits for exclusive "r2", queued behind b for shared`,
	}
	if !slices.Equal(snap, want) {
		t.Errorf("edges\n%s\nwant\n%s", strings.Join(snap, "\n"), strings.Join(want, "\n"))
	}
	check(t, &tbl)
	for _, o := range []Owner{a, b, c, d, e} {
		tbl.ReleaseAll(o)
	}
	for _, ch := range chs {
		result(t, ch)
	}
	checkEmpty(t, &tbl)
}
