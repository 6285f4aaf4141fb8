package imap

import (
	"context"
	"errors"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/store"
)

// The selected state.
//
// Each session keeps its own view of the selected mailbox: the UIDs the
// client knows, in order, so that sequence number n is uids[n-1]. The view
// changes only when the client is told: EXISTS appends, EXPUNGE removes.
// The store's change notifications (a store.Watcher) are taken as they
// come into pending sets (new UIDs, expunged UIDs, UIDs whose flags
// changed) and applied to the view at the moments the RFCs allow: after a
// command, EXPUNGE never after FETCH, STORE or SEARCH (go-imap's Poll), and
// at once while the client IDLEs.

type uidRange struct{ lo, hi uint32 } // [lo, hi)

type selected struct {
	id       uint64
	name     string
	readOnly bool
	w        *store.Watcher

	uids     []uint32   // the client's view, ascending
	recent   []uidRange // UIDs \Recent for this session (RFC 3501)
	keywords []string   // keywords announced in FLAGS
	kwNew    bool       // keywords added since the last FLAGS response

	newUIDs []uint32            // appended, not yet announced, ascending
	gone    map[uint32]struct{} // expunged, still in the view
	flagged map[uint32]struct{} // flags changed by someone else
	own     map[uint64]struct{} // MODSEQs of this session's own flag changes
	resync  bool                // the watcher overflowed: re-read the mailbox
	deleted bool                // the mailbox is gone (deleted, or INBOX renamed)
	// inboxRenamed: the mailbox was INBOX and was renamed. INBOX still
	// exists, new and empty (a new UIDVALIDITY), and takes new mail: a
	// session left with nothing selected would never hear of it, so once
	// told the messages are gone, it is ended (BYE) and the client logs
	// in again. The session that renamed INBOX gets its RENAME answered
	// first, and is ended at its next command unless that selects a
	// mailbox (renamedOwn).
	inboxRenamed bool
	renamedOwn   bool

	searchRes []uint32 // SEARCHRES "$" (RFC 5182), UIDs ascending
}

var systemFlags = []goimap.Flag{goimap.FlagAnswered, goimap.FlagFlagged, goimap.FlagDeleted, goimap.FlagSeen, goimap.FlagDraft}

const flagRecent = goimap.Flag(`\Recent`)

func (m *selected) mailboxFlags() []goimap.Flag {
	out := append([]goimap.Flag(nil), systemFlags...)
	for _, k := range m.keywords {
		out = append(out, goimap.Flag(k))
	}
	return out
}

// learnKeywords records keywords the client has not been told about.
func (m *selected) learnKeywords(kws []string) {
	for _, k := range kws {
		known := false
		for _, x := range m.keywords {
			if strings.EqualFold(x, k) {
				known = true
				break
			}
		}
		if !known {
			m.keywords = append(m.keywords, k)
			m.kwNew = true
		}
	}
}

func (m *selected) isRecent(uid uint32) bool {
	for _, r := range m.recent {
		if uid >= r.lo && uid < r.hi {
			return true
		}
	}
	return false
}

func (m *selected) addRecent(lo, hi uint32) {
	if lo >= hi {
		return
	}
	if n := len(m.recent); n > 0 && m.recent[n-1].hi == lo {
		m.recent[n-1].hi = hi
		return
	}
	m.recent = append(m.recent, uidRange{lo, hi})
}

func (m *selected) lastRecent() uint32 {
	if n := len(m.recent); n > 0 {
		return m.recent[n-1].hi
	}
	return 0
}

func (m *selected) countRecent() uint32 {
	var n int
	for _, r := range m.recent {
		i, _ := slices.BinarySearch(m.uids, r.lo)
		j, _ := slices.BinarySearch(m.uids, r.hi)
		n += j - i
	}
	return uint32(n)
}

// flagList is what FETCH FLAGS shows: \Recent only to IMAP4rev1 clients.
func (m *selected) flagList(f store.Flags, uid uint32, rev2 bool) []goimap.Flag {
	names := f.Names()
	out := make([]goimap.Flag, 0, len(names)+1)
	for _, n := range names {
		out = append(out, goimap.Flag(n))
	}
	if !rev2 && m.isRecent(uid) {
		out = append(out, flagRecent)
	}
	return out
}

// seq is the sequence number of uid in the view, 0 when it is not there.
func (m *selected) seq(uid uint32) uint32 {
	if i, ok := slices.BinarySearch(m.uids, uid); ok {
		return uint32(i + 1)
	}
	return 0
}

func (m *selected) lastUID() uint32 {
	if n := len(m.newUIDs); n > 0 {
		return m.newUIDs[n-1]
	}
	if n := len(m.uids); n > 0 {
		return m.uids[n-1]
	}
	return 0
}

// drain takes the watcher's events into the pending sets.
func (m *selected) drain() {
	evs, overflow := m.w.Take()
	if overflow {
		m.resync = true
	}
	for _, ev := range evs {
		m.apply(ev)
	}
}

func (m *selected) apply(ev store.Event) {
	switch ev.Kind {
	case store.EventAppend:
		for _, u := range ev.UIDs {
			if u > m.lastUID() {
				m.newUIDs = append(m.newUIDs, u)
			}
		}
	case store.EventExpunge:
		for _, u := range ev.UIDs {
			if i, ok := slices.BinarySearch(m.newUIDs, u); ok {
				m.newUIDs = slices.Delete(m.newUIDs, i, i+1)
				continue
			}
			if _, ok := slices.BinarySearch(m.uids, u); ok {
				m.gone[u] = struct{}{}
				delete(m.flagged, u)
			}
		}
	case store.EventFlags:
		if _, ok := m.own[ev.ModSeq]; ok {
			delete(m.own, ev.ModSeq)
			return
		}
		for _, u := range ev.UIDs {
			if _, ok := slices.BinarySearch(m.uids, u); ok {
				if _, g := m.gone[u]; !g {
					m.flagged[u] = struct{}{}
				}
			}
		}
	case store.EventDeleted:
		m.deleted = true
	case store.EventRenamed:
		if m.name == "INBOX" && ev.Name != "INBOX" {
			// RENAME INBOX moved its messages away: for a session that
			// selected INBOX, INBOX is now another mailbox.
			m.deleted = true
			m.inboxRenamed = true
		} else {
			m.name = ev.Name
		}
	}
}

// Select opens a mailbox read-write (SELECT) or read-only (EXAMINE).
func (ss *session) Select(name string, o *goimap.SelectOptions) (*goimap.SelectData, error) {
	defer ss.begin()()
	ss.unselect()
	ctx, cancel := ss.ctx()
	defer cancel()
	st := ss.srv.st
	mb, err := st.MailboxStatus(ctx, ss.acct.Name, name)
	if err != nil {
		return nil, ss.storeErr("SELECT", err, codeNonExistent)
	}
	if mb.NoSelect {
		return nil, no(codeCannot, "Mailbox is \\Noselect")
	}
	w := st.Hub().Watch(mb.ID)
	sum, err := st.Summary(ctx, mb.ID, true)
	if err != nil {
		w.Stop()
		if errors.Is(err, store.ErrNoMailbox) {
			return nil, no(codeNonExistent, "Mailbox does not exist")
		}
		return nil, ss.storeErr("SELECT", err, codeNonExistent)
	}
	m := &selected{
		id: mb.ID, name: sum.Mailbox.Name, readOnly: o.ReadOnly, w: w,
		uids: sum.UIDs, keywords: sum.Keywords,
		gone: map[uint32]struct{}{}, flagged: map[uint32]struct{}{}, own: map[uint64]struct{}{},
	}
	if o.ReadOnly {
		// EXAMINE shows \Recent without taking it (RFC 3501 6.3.2).
		m.addRecent(sum.Mailbox.RecentFrom, sum.Mailbox.UIDNext)
	} else {
		from, to, err := st.TakeRecentRange(ctx, mb.ID)
		if err != nil {
			w.Stop()
			return nil, ss.storeErr("SELECT", err, codeNonExistent)
		}
		m.addRecent(from, to)
	}
	ss.sel = m
	d := &goimap.SelectData{
		Flags:       m.mailboxFlags(),
		NumMessages: uint32(len(m.uids)),
		NumRecent:   m.countRecent(),
		UIDNext:     goimap.UID(sum.Mailbox.UIDNext),
		UIDValidity: sum.Mailbox.UIDValidity,
	}
	if o.ReadOnly {
		d.PermanentFlags = []goimap.Flag{}
	} else {
		d.PermanentFlags = append(m.mailboxFlags(), goimap.FlagWildcard)
	}
	if sum.FirstUnseen >= 0 {
		d.FirstUnseenSeqNum = uint32(sum.FirstUnseen + 1)
	}
	if ss.rev2() {
		// RFC 9051 6.3.2: SELECT returns the mailbox's LIST response.
		attrs := []goimap.MailboxAttr{goimap.MailboxAttrHasNoChildren}
		if mbs, err := st.Mailboxes(ctx, ss.acct.Name); err == nil {
			for _, mi := range mbs {
				if mi.ID == mb.ID && mi.HasChildren {
					attrs[0] = goimap.MailboxAttrHasChildren
				}
			}
		}
		if mb.SpecialUse != "" {
			attrs = append(attrs, goimap.MailboxAttr(mb.SpecialUse))
		}
		d.List = &goimap.ListData{Attrs: attrs, Delim: delim, Mailbox: m.name}
	}
	ss.log.Debug("select", "mailbox", m.name, "readonly", o.ReadOnly, "messages", len(m.uids))
	return d, nil
}

// Unselect leaves the selected state (CLOSE has expunged first, through
// Expunge).
func (ss *session) Unselect() error {
	defer ss.begin()()
	ss.unselect()
	return nil
}

func (ss *session) unselect() {
	if ss.sel != nil {
		ss.sel.w.Stop()
		ss.sel = nil
	}
}

// selectedOK returns the selected mailbox, or the error for a mailbox
// that is gone.
func (ss *session) selectedOK() (*selected, error) {
	m := ss.sel
	if m == nil {
		return nil, bad("No mailbox selected")
	}
	m.drain()
	if m.deleted {
		return nil, no(codeNonExistent, "The selected mailbox was deleted, or INBOX renamed; select a mailbox")
	}
	return m, nil
}

// Poll sends the pending updates after a command.
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	defer ss.begin()()
	return ss.poll(w, allowExpunge)
}

// Idle sends updates as they happen until the client says DONE.
func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	ss.mu.Lock()
	ss.timer.Reset(ss.srv.opts.IdleTimeout)
	var wake <-chan struct{}
	if ss.sel != nil {
		wake = ss.sel.w.C
	}
	ss.mu.Unlock()
	for {
		select {
		case <-stop:
			return nil
		case <-wake:
			ss.mu.Lock()
			err := ss.poll(w, true)
			ss.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
}

func (ss *session) poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	m := ss.sel
	if m == nil {
		return nil
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	m.drain()
	if m.resync {
		if err := ss.resync(ctx); err != nil {
			ss.log.Error("re-read mailbox", "mailbox", m.name, "err", err)
		}
	}
	if allowExpunge && (m.deleted || len(m.gone) > 0) {
		if err := m.expungeView(func(uid uint32) bool {
			_, g := m.gone[uid]
			return m.deleted || g
		}, w.WriteExpunge); err != nil {
			return err
		}
		clear(m.gone)
	}
	if m.deleted {
		m.newUIDs = nil
		clear(m.flagged)
		switch {
		case !m.inboxRenamed || !allowExpunge:
		case m.renamedOwn:
			m.renamedOwn = false // the RENAME's own answer
		default:
			ss.bye("INBOX was renamed; a new INBOX takes new mail, log in again to see it")
		}
		return nil
	}
	if len(m.newUIDs) > 0 {
		// Keywords the new messages bring go into FLAGS.
		err := ss.srv.st.ReadMessages(ctx, m.id, m.newUIDs, false, func(msg *store.Message, _ []byte) error {
			if len(msg.Flags.Keywords) > 0 {
				m.learnKeywords(msg.Flags.Keywords)
			}
			return nil
		})
		if err != nil {
			ss.log.Warn("read new messages", "mailbox", m.name, "err", err)
		}
		m.uids = append(m.uids, m.newUIDs...)
		m.newUIDs = nil
		if m.readOnly {
			// Peek: recent if no read-write session has taken them.
			if mb, err := ss.srv.st.MailboxByID(ctx, m.id); err == nil {
				m.addRecent(max(mb.RecentFrom, m.lastRecent()), mb.UIDNext)
			}
		} else {
			from, to, err := ss.srv.st.TakeRecentRange(ctx, m.id)
			if err != nil {
				ss.log.Warn("take recent", "mailbox", m.name, "err", err)
			}
			m.addRecent(from, to)
		}
		if err := w.WriteNumMessages(uint32(len(m.uids))); err != nil {
			return err
		}
		if err := w.WriteNumRecent(m.countRecent()); err != nil {
			return err
		}
	}
	var upd []flagUpdate
	if len(m.flagged) > 0 {
		uids := make([]uint32, 0, len(m.flagged))
		for u := range m.flagged {
			uids = append(uids, u)
		}
		clear(m.flagged)
		slices.Sort(uids)
		err := ss.srv.st.ReadMessages(ctx, m.id, uids, false, func(msg *store.Message, _ []byte) error {
			upd = append(upd, flagUpdate{msg.UID, msg.Flags})
			return nil
		})
		if err != nil {
			ss.log.Error("read flags", "mailbox", m.name, "err", err)
		}
		for _, u := range upd {
			m.learnKeywords(u.flags.Keywords)
		}
	}
	if m.kwNew {
		m.kwNew = false
		if err := w.WriteMailboxFlags(m.mailboxFlags()); err != nil {
			return err
		}
	}
	rev2 := ss.rev2()
	for _, u := range upd {
		if seq := m.seq(u.uid); seq != 0 {
			if err := w.WriteMessageFlags(seq, goimap.UID(u.uid), m.flagList(u.flags, u.uid, rev2)); err != nil {
				return err
			}
		}
	}
	return nil
}

type flagUpdate struct {
	uid   uint32
	flags store.Flags
}

// expungeView removes from the view the UIDs for which drop is true,
// telling the client with one EXPUNGE each, highest sequence number first
// (so that each number is right as the client applies them in order).
func (m *selected) expungeView(drop func(uid uint32) bool, write func(seq uint32) error) error {
	removed := false
	for i := len(m.uids) - 1; i >= 0; i-- {
		if drop(m.uids[i]) {
			if err := write(uint32(i + 1)); err != nil {
				return err
			}
			m.uids[i] = 0 // UIDs are never 0: marks the slot
			removed = true
		}
	}
	if removed {
		m.uids = slices.DeleteFunc(m.uids, func(u uint32) bool { return u == 0 })
	}
	return nil
}

// resync re-reads the mailbox after the watcher overflowed: what is gone
// is pending expunge, what is new pending EXISTS, and every message's
// flags are sent again.
func (ss *session) resync(ctx context.Context) error {
	m := ss.sel
	sum, err := ss.srv.st.Summary(ctx, m.id, true)
	if errors.Is(err, store.ErrNoMailbox) {
		m.deleted = true
		m.resync = false
		return nil
	}
	if err != nil {
		return err
	}
	m.resync = false
	clear(m.own)
	now := sum.UIDs
	for _, u := range m.uids {
		if _, ok := slices.BinarySearch(now, u); !ok {
			m.gone[u] = struct{}{}
		} else {
			m.flagged[u] = struct{}{}
		}
	}
	last := uint32(0)
	if n := len(m.uids); n > 0 {
		last = m.uids[n-1]
	}
	m.newUIDs = m.newUIDs[:0]
	for _, u := range now {
		if u > last {
			m.newUIDs = append(m.newUIDs, u)
		}
	}
	m.learnKeywords(sum.Keywords)
	return nil
}

// resolve maps a sequence set, a UID set or "$" to ascending indexes into
// the view. A sequence number past the view is an error (RFC 9051 9:
// tagged BAD, "*" included when the mailbox is empty) when strict, else
// ignored; UIDs that are not in the view are ignored.
func (m *selected) resolve(ns goimap.NumSet, strict bool) ([]int, error) {
	var ivs []uidRange // index intervals [lo, hi)
	if goimap.IsSearchRes(ns) {
		idx := make([]int, 0, len(m.searchRes))
		for _, u := range m.searchRes {
			if i, ok := slices.BinarySearch(m.uids, u); ok {
				idx = append(idx, i)
			}
		}
		return idx, nil
	}
	switch s := ns.(type) {
	case goimap.SeqSet:
		n := uint32(len(m.uids))
		for _, r := range s {
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = n
			}
			if hi == 0 {
				hi = n
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo == 0 || hi > n {
				if strict {
					return nil, bad("Invalid message sequence number (the mailbox has %d messages)", n)
				}
				lo, hi = max(lo, 1), min(hi, n)
				if lo > hi {
					continue
				}
			}
			ivs = append(ivs, uidRange{lo - 1, hi})
		}
	case goimap.UIDSet:
		if len(m.uids) == 0 {
			return nil, nil
		}
		maxUID := m.uids[len(m.uids)-1]
		for _, r := range s {
			lo, hi := uint32(r.Start), uint32(r.Stop)
			if lo == 0 {
				lo = maxUID
			}
			if hi == 0 {
				hi = maxUID
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			i, _ := slices.BinarySearch(m.uids, lo)
			j, found := slices.BinarySearch(m.uids, hi)
			if found {
				j++
			}
			if i < j {
				ivs = append(ivs, uidRange{uint32(i), uint32(j)})
			}
		}
	default:
		return nil, bad("Bad message set")
	}
	slices.SortFunc(ivs, func(a, b uidRange) int { return int(a.lo) - int(b.lo) })
	var idx []int
	next := 0
	for _, r := range ivs {
		for i := max(int(r.lo), next); i < int(r.hi); i++ {
			idx = append(idx, i)
		}
		next = max(next, int(r.hi))
	}
	return idx, nil
}
