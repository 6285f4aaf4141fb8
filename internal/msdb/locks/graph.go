package locks

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Lock is a resource in a snapshot of a Table.
type Lock struct {
	Resource string
	Holders  []Holder // by Since, then owner ID
	Waiters  []Waiter // in queue order: the order they would be granted
}

// Holder is an owner's hold on a resource.
type Holder struct {
	Owner Owner
	Mode  Mode      // Exclusive if any outstanding acquisition is
	Count int       // outstanding acquisitions (re-entries)
	Since time.Time // when the hold began (its first grant)
}

// Waiter is a queued request for a resource.
type Waiter struct {
	Owner Owner
	Mode  Mode      // the mode requested
	Since time.Time // when it was queued
}

// Edge is an edge of the wait-for graph: From waits for To on Resource.
type Edge struct {
	From     Owner
	Mode     Mode // the mode From waits for
	Resource string
	To       Owner
	ToMode   Mode // the mode To holds, or is queued for if Queued
	Queued   bool // To is a waiter queued ahead of From, not a holder
}

// String describes e, e.g.
// `9c1d waits for exclusive "pop3:alice", held shared by 7f3a`.
func (e Edge) String() string {
	if e.Queued {
		return fmt.Sprintf("%s waits for %s %q, queued behind %s for %s",
			e.From.ID, e.Mode, e.Resource, e.To.ID, e.ToMode)
	}
	return fmt.Sprintf("%s waits for %s %q, held %s by %s",
		e.From.ID, e.Mode, e.Resource, e.ToMode, e.To.ID)
}

// FormatCycle formats the owners of a cycle as "a -> b -> a".
func FormatCycle(cycle []Edge) string {
	if len(cycle) == 0 {
		return ""
	}
	ids := make([]string, 0, len(cycle)+1)
	for _, e := range cycle {
		ids = append(ids, e.From.ID)
	}
	ids = append(ids, cycle[len(cycle)-1].To.ID)
	return strings.Join(ids, " -> ")
}

// party is a holder or a waiter as the wait-for rule sees it.
type party struct {
	owner Owner
	mode  Mode
}

// waitEdges calls emit for each edge out of a waiter (from, mode) on
// resource, given the resource's holders and the waiters queued ahead of
// it. This is the one definition of the graph's edges (see the package
// documentation).
func waitEdges(resource string, from Owner, mode Mode, holders, ahead []party, emit func(Edge)) {
	var seen []string
	add := func(p party, queued bool) {
		if p.owner.ID == from.ID || Compatible(mode, p.mode) || slices.Contains(seen, p.owner.ID) {
			return
		}
		seen = append(seen, p.owner.ID)
		emit(Edge{From: from, Mode: mode, Resource: resource, To: p.owner, ToMode: p.mode, Queued: queued})
	}
	for _, p := range holders {
		add(p, false)
	}
	for _, p := range ahead {
		add(p, true)
	}
}

// edges calls emit for each edge out of every waiter of l.
func (l *Lock) edges(emit func(Edge)) {
	holders := make([]party, len(l.Holders))
	for i, h := range l.Holders {
		holders[i] = party{h.Owner, h.Mode}
	}
	queue := make([]party, len(l.Waiters))
	for i, w := range l.Waiters {
		queue[i] = party{w.Owner, w.Mode}
	}
	for i, w := range l.Waiters {
		waitEdges(l.Resource, w.Owner, w.Mode, holders, queue[:i], emit)
	}
}

// edgesFrom returns the edges out of owner id in the live table. t.mu is
// held.
func (t *Table) edgesFrom(id string) []Edge {
	st := t.owners[id]
	if st == nil {
		return nil
	}
	var out []Edge
	emit := func(e Edge) { out = append(out, e) }
	for _, w := range st.waits {
		r := w.res
		holders := make([]party, len(r.holders))
		for i, h := range r.holders {
			holders[i] = party{h.owner, h.mode()}
		}
		var ahead []party
		for _, x := range r.waiters {
			if x == w {
				break
			}
			ahead = append(ahead, party{x.owner, x.mode})
		}
		waitEdges(r.name, w.owner, w.mode, holders, ahead, emit)
	}
	return out
}

// cycleThrough returns a shortest cycle through owner id in the live table,
// starting with an edge out of id, or nil if there is none. t.mu is held.
func (t *Table) cycleThrough(id string) []Edge {
	via := map[string]Edge{} // how the search first reached each owner
	seen := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range t.edgesFrom(n) {
			if e.To.ID == id {
				cycle := []Edge{e}
				for m := n; m != id; m = via[m].From.ID {
					cycle = append(cycle, via[m])
				}
				slices.Reverse(cycle)
				return cycle
			}
			if !seen[e.To.ID] {
				seen[e.To.ID] = true
				via[e.To.ID] = e
				queue = append(queue, e.To.ID)
			}
		}
	}
	return nil
}

// MaxCycles bounds how many cycles CyclesOf returns.
const MaxCycles = 1000

// CyclesOf returns every elementary cycle (one that visits no owner twice)
// of the wait-for graph of snap, up to MaxCycles of them; it does not assume
// that the graph is acyclic. Edges are derived from snap as described in the
// package documentation, with at most one edge per waiting owner, resource
// and target owner. Two owners waiting for each other on two different
// pairs of resources make two cycles. Each cycle starts at its owner with
// the smallest ID; cycles are ordered by that owner's ID, then by the owner
// IDs and resources along them.
func CyclesOf(snap []Lock) [][]Edge {
	type key struct{ from, res, to string }
	adj := map[string][]Edge{}
	dup := map[key]bool{}
	for i := range snap {
		snap[i].edges(func(e Edge) {
			k := key{e.From.ID, e.Resource, e.To.ID}
			if dup[k] {
				return
			}
			dup[k] = true
			adj[e.From.ID] = append(adj[e.From.ID], e)
		})
	}
	for _, es := range adj {
		slices.SortFunc(es, func(a, b Edge) int {
			if c := strings.Compare(a.To.ID, b.To.ID); c != 0 {
				return c
			}
			return strings.Compare(a.Resource, b.Resource)
		})
	}

	compOf := map[string]int{} // 1 + index of the owner's component; 0 if on no cycle
	var starts []string
	for i, comp := range components(adj) {
		if len(comp) < 2 {
			continue // no self-edges, so a lone owner is on no cycle
		}
		for _, id := range comp {
			compOf[id] = i + 1
			starts = append(starts, id)
		}
	}
	slices.Sort(starts)

	// For each start, enumerate the cycles whose smallest owner it is: walk
	// its component's owners that are not on the path and have not been a
	// start yet.
	var cycles [][]Edge
	done := map[string]bool{}
	for _, start := range starts {
		var path []Edge
		onPath := map[string]bool{start: true}
		var walk func(n string) bool
		walk = func(n string) bool {
			for _, e := range adj[n] {
				to := e.To.ID
				switch {
				case to == start:
					cycles = append(cycles, append(slices.Clone(path), e))
					if len(cycles) >= MaxCycles {
						return false
					}
				case compOf[to] == compOf[start] && !done[to] && !onPath[to]:
					onPath[to] = true
					path = append(path, e)
					if !walk(to) {
						return false
					}
					path = path[:len(path)-1]
					onPath[to] = false
				}
			}
			return true
		}
		if !walk(start) {
			break
		}
		done[start] = true
	}
	return cycles
}

// components returns the strongly connected components of the graph adj
// (Tarjan's algorithm), each sorted by owner ID, ordered by their smallest
// owner ID.
func components(adj map[string][]Edge) [][]string {
	nodes := make([]string, 0, len(adj))
	for id := range adj {
		nodes = append(nodes, id)
	}
	slices.Sort(nodes)
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var comps [][]string
	var visit func(n string)
	visit = func(n string) {
		index[n] = len(index)
		low[n] = index[n]
		stack = append(stack, n)
		onStack[n] = true
		for _, e := range adj[n] {
			m := e.To.ID
			if _, ok := index[m]; !ok {
				visit(m)
				low[n] = min(low[n], low[m])
			} else if onStack[m] {
				low[n] = min(low[n], index[m])
			}
		}
		if low[n] == index[n] {
			var comp []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				comp = append(comp, m)
				if m == n {
					break
				}
			}
			slices.Sort(comp)
			comps = append(comps, comp)
		}
	}
	for _, n := range nodes {
		if _, ok := index[n]; !ok {
			visit(n)
		}
	}
	slices.SortFunc(comps, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return comps
}
