package store

import "sync"

// EventKind says what changed in a mailbox.
type EventKind int

const (
	EventAppend  EventKind = iota + 1 // UIDs were added
	EventExpunge                      // UIDs were removed
	EventFlags                        // UIDs' flags changed
	EventDeleted                      // the mailbox was deleted (or became \Noselect)
	EventRenamed                      // the mailbox has a new Name
)

// Event is a committed change to a mailbox.
type Event struct {
	Mailbox uint64
	Kind    EventKind
	UIDs    []uint32
	ModSeq  uint64
	Name    string // EventRenamed
}

// maxQueued bounds a watcher's backlog; past it the watcher is told it
// overflowed and must re-read the mailbox.
const maxQueued = 10000

// Hub delivers committed changes to the sessions watching a mailbox, in
// commit order, without ever blocking the committer.
type Hub struct {
	mu       sync.Mutex
	watchers map[uint64]map[*Watcher]struct{}
}

func newHub() *Hub { return &Hub{watchers: map[uint64]map[*Watcher]struct{}{}} }

// Watcher receives a mailbox's events. C is signalled (never blocking)
// when events are queued; Take returns them.
type Watcher struct {
	hub      *Hub
	mailbox  uint64
	C        chan struct{}
	mu       sync.Mutex
	queue    []Event
	overflow bool
}

// Watch starts watching a mailbox. Stop the watcher when done.
func (h *Hub) Watch(mailbox uint64) *Watcher {
	w := &Watcher{hub: h, mailbox: mailbox, C: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers[mailbox] == nil {
		h.watchers[mailbox] = map[*Watcher]struct{}{}
	}
	h.watchers[mailbox][w] = struct{}{}
	return w
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws := h.watchers[w.mailbox]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(h.watchers, w.mailbox)
		}
	}
}

// Take returns the queued events; overflow is true when some were dropped
// (the watcher should re-read the mailbox).
func (w *Watcher) Take() (events []Event, overflow bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	events, overflow = w.queue, w.overflow
	w.queue, w.overflow = nil, false
	return events, overflow
}

func (h *Hub) publish(ev Event) {
	h.mu.Lock()
	ws := make([]*Watcher, 0, len(h.watchers[ev.Mailbox]))
	for w := range h.watchers[ev.Mailbox] {
		ws = append(ws, w)
	}
	h.mu.Unlock()
	for _, w := range ws {
		w.mu.Lock()
		if len(w.queue) >= maxQueued {
			w.overflow = true
			w.queue = nil
		} else {
			w.queue = append(w.queue, ev)
		}
		w.mu.Unlock()
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
}
