// Package locks is msdb's in-memory table of long-lived logical locks, such
// as a POP3 maildrop lock ("pop3:alice@example.org") or the expunge lock of a
// mailbox. It records who holds and who waits for each lock, since when, and
// refuses any wait that would deadlock. Nothing is persisted: the table lives
// in one process, and its locks die with it.
//
// # Resources, owners and modes
//
// A resource is any string other than "". An Owner identifies a holder: its
// ID (unique per holder, for example a session id) is the only thing that is
// compared; PID and Desc are for reports. A table remembers the Owner value
// of an owner's first grant on a resource, and of each wait.
//
// A lock is taken in Shared or Exclusive mode. Two different owners can hold
// a resource at the same time only if both hold it Shared (see Compatible).
// An owner's own holds never conflict with its own requests.
//
// # Granting and waiting
//
// Each resource has a set of holders and a FIFO queue of waiters. A request
// by an owner that does not hold the resource is granted at once only if it
// is compatible with every holder and the queue is empty; otherwise it must
// wait in the queue, even if it is compatible with the holders, so that a
// stream of Shared requests cannot starve an Exclusive waiter. Whenever
// holders or the queue change, waiters are granted from the head of the
// queue, as many as are compatible with the holders (a waiter is granted
// only if all waiters ahead of it were); the head of a queue is therefore
// never grantable.
//
// Locks are re-entrant. Each owner's hold on a resource is a stack of the
// acquisitions it has not released; its count is the stack's depth and its
// mode is Exclusive if any of them is Exclusive, Shared otherwise. A request
// by a holder is granted at once, without regard to the queue, when it asks
// Shared, or asks Exclusive while already holding Exclusive. A holder asking
// Exclusive while holding Shared is an upgrade: it is granted at once if the
// owner is the resource's only holder (every queued waiter is then waiting
// for it anyway); otherwise it waits, queued ahead of every waiter that is
// not itself an upgrade (behind earlier upgrades), until the other holders
// have released. Release undoes the owner's most recent outstanding
// acquisition, so an upgraded hold returns to Shared when the Exclusive
// acquisition is released; the hold ends when the count reaches zero.
// ReleaseAll ends all of an owner's holds, whatever their counts, and aborts
// all of its pending waits (their Acquire returns ErrAborted); it affects
// only waits already queued when it is called.
//
// Acquire blocks until the request is granted, refused as a deadlock, or its
// context is done. There is no built-in timeout: a caller that passes a
// context without a deadline and whose lock is never released waits forever,
// so callers must pass a context with a deadline (or one they cancel). When
// the context is done, the waiter is removed from the queue (which may let
// waiters behind it be granted) and Acquire returns an error wrapping
// ctx.Err(). If the grant raced with the cancellation, the granted
// acquisition is given back before Acquire returns, so an Acquire that
// returns an error never leaves a hold behind, and one that returns nil
// always holds. Acquire with a context that is already done fails at once.
// TryAcquire never blocks: it grants under the same rules or fails with an
// error wrapping ErrWouldBlock (a *WouldBlockError naming the holders).
//
// # Deadlocks
//
// The wait-for graph has one node per owner and an edge from a waiting owner
// W to each owner it waits for on the resource of its wait: each holder
// whose mode is incompatible with the mode W asks for, and each waiter
// queued ahead of W whose requested mode is incompatible with it (W cannot be
// granted before that waiter, nor while it holds). Edges from an owner to
// itself are left out, and there is at most one edge per waiter, resource
// and target owner (a holder edge is preferred to a queue edge). Because
// edges are between owners, an owner whose several goroutines wait at once
// is treated as waiting for everything any of them waits for.
//
// When a request must wait, it is queued tentatively and the graph searched
// for a cycle through its owner; if there is one, the request is withdrawn
// and Acquire fails at once with a *DeadlockError (wrapping ErrDeadlock) that
// names the cycle's owners, modes and resources. Only the requester fails;
// the owners already waiting keep waiting. Every other change (a grant, a
// release, a cancelled wait, an upgrade granted at once) only removes edges
// or adds an edge from an owner that could already reach its target, so this
// check keeps the graph acyclic. Two owners holding a resource Shared that
// both ask to upgrade form a cycle: the second to ask gets the error.
//
// # Reporting
//
// Snapshot copies the table: each resource, sorted by name, with its holders
// (ordered by the time of their first grant, then owner ID) and waiters (in
// queue order). CyclesOf finds every elementary cycle (up to MaxCycles) of
// the wait-for graph of a snapshot without assuming it is acyclic; Report
// prints a snapshot and its cycles as the human-readable table shown by
// "msdb_test -l".
//
// A Table is safe for concurrent use; all its state is guarded by one mutex,
// and it starts no goroutines. Its zero value is ready to use; its Now field
// supplies timestamps (time.Now when nil) and must be set, if at all, before
// the table is shared.
package locks
