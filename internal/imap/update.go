package imap

import (
	"errors"
	"slices"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/store"
)

// parseFlags reads client flags: system flags case-insensitively (stored
// and returned in canonical case), keywords as given. \Recent cannot be
// set and is ignored (RFC 3501 2.3.2); an unknown system flag is BAD.
func parseFlags(fl []goimap.Flag) (store.Flags, error) {
	names := make([]string, 0, len(fl))
	for _, f := range fl {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		names = append(names, string(f))
	}
	f, err := store.ParseFlags(names)
	if err != nil {
		return f, bad("%v", err)
	}
	return f, nil
}

func (m *selected) uidsOf(idx []int) []uint32 {
	out := make([]uint32, len(idx))
	for i, x := range idx {
		out[i] = m.uids[x]
	}
	return out
}

// Store answers STORE and UID STORE: FLAGS, +FLAGS, -FLAGS, .SILENT.
func (ss *session) Store(w *imapserver.FetchWriter, ns goimap.NumSet, sf *goimap.StoreFlags, o *goimap.StoreOptions) error {
	defer ss.begin()()
	m, err := ss.selectedOK()
	if err != nil {
		return err
	}
	if o != nil && o.UnchangedSince != 0 {
		return bad("CONDSTORE is not supported")
	}
	if m.readOnly {
		return no(codeReadOnly, "Mailbox is read-only (EXAMINE)")
	}
	flags, err := parseFlags(sf.Flags)
	if err != nil {
		return err
	}
	idx, err := m.resolve(ns, true)
	if err != nil {
		return err
	}
	if len(idx) == 0 {
		return nil
	}
	uids := m.uidsOf(idx)
	op := store.FlagsSet
	switch sf.Op {
	case goimap.StoreFlagsAdd:
		op = store.FlagsAdd
	case goimap.StoreFlagsDel:
		op = store.FlagsRemove
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	changed, err := ss.srv.st.StoreFlags(ctx, m.id, uids, op, flags)
	if err != nil {
		return ss.storeErr("STORE", err, codeNonExistent)
	}
	m.noteOwn(changed)
	if sf.Silent {
		return nil
	}
	// The FETCH responses carry the UID whatever the command (the client
	// may have used "$", which does not say which it was).
	rev2 := ss.rev2()
	var out []flagUpdate
	err = ss.srv.st.ReadMessages(ctx, m.id, uids, false, func(msg *store.Message, _ []byte) error {
		out = append(out, flagUpdate{msg.UID, msg.Flags})
		return nil
	})
	if err != nil {
		return ss.storeErr("STORE", err, codeNonExistent)
	}
	for _, u := range out {
		rw := w.CreateMessage(m.seq(u.uid))
		rw.WriteUID(goimap.UID(u.uid))
		rw.WriteFlags(m.flagList(u.flags, u.uid, rev2))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Expunge answers EXPUNGE, UID EXPUNGE (uids set) and the expunge of
// CLOSE (a writer that writes nothing). In a read-only mailbox EXPUNGE is
// refused and CLOSE expunges nothing.
func (ss *session) Expunge(w *imapserver.ExpungeWriter, uidSet *goimap.UIDSet) error {
	defer ss.begin()()
	isClose := *w == imapserver.ExpungeWriter{}
	m := ss.sel
	if m == nil {
		return bad("No mailbox selected")
	}
	m.drain()
	if m.deleted {
		if isClose {
			return nil
		}
		return no(codeNonExistent, "The selected mailbox was deleted or renamed by another session; select a mailbox")
	}
	if m.readOnly {
		if isClose {
			return nil
		}
		return no(codeReadOnly, "Mailbox is read-only (EXAMINE)")
	}
	var uids []uint32 // nil: every message with \Deleted
	if uidSet != nil {
		idx, err := m.resolve(*uidSet, false)
		if err != nil {
			return err
		}
		if len(idx) == 0 {
			return nil
		}
		uids = m.uidsOf(idx)
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	gone, err := ss.srv.st.ExpungeDeleted(ctx, m.id, uids)
	if err != nil {
		return ss.storeErr("EXPUNGE", err, codeNonExistent)
	}
	return m.expunged(gone, w.WriteExpunge)
}

// expunged removes from the view messages this session has expunged
// itself, writing EXPUNGE responses; UIDs the client was not told about
// yet are just forgotten.
func (m *selected) expunged(gone []uint32, write func(uint32) error) error {
	if len(gone) == 0 {
		return nil
	}
	set := make(map[uint32]struct{}, len(gone))
	for _, u := range gone {
		set[u] = struct{}{}
		delete(m.gone, u)
		delete(m.flagged, u)
		if i, ok := slices.BinarySearch(m.newUIDs, u); ok {
			m.newUIDs = slices.Delete(m.newUIDs, i, i+1)
		}
	}
	return m.expungeView(func(u uint32) bool { _, ok := set[u]; return ok }, write)
}

// isUIDSet reports whether a command named its messages by UID (UID
// FETCH, UID COPY, …): a UID that no longer exists is then ignored (RFC
// 3501 6.4.8) rather than an error.
func isUIDSet(ns goimap.NumSet) bool {
	_, ok := ns.(goimap.UIDSet)
	return ok
}

// withoutGone is uids without those another session expunged and the
// client has not been told of yet.
func (m *selected) withoutGone(uids []uint32) []uint32 {
	if len(m.gone) == 0 {
		return uids
	}
	return slices.DeleteFunc(uids, func(u uint32) bool { _, g := m.gone[u]; return g })
}

// pendingGone reports whether any of the UIDs was expunged by someone else
// and the client has not been told yet.
func (m *selected) pendingGone(uids []uint32) bool {
	if len(m.gone) == 0 {
		return false
	}
	for _, u := range uids {
		if _, ok := m.gone[u]; ok {
			return true
		}
	}
	return false
}

func copyData(res *store.CopyResult) *goimap.CopyData {
	var src, dst goimap.UIDSet
	for i := range res.Source {
		src = appendUID(src, res.Source[i])
		dst = appendUID(dst, res.Dest[i])
	}
	return &goimap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

// appendUID adds a UID to a set built in ascending order.
func appendUID(s goimap.UIDSet, u uint32) goimap.UIDSet {
	if n := len(s); n > 0 && uint32(s[n-1].Stop)+1 == u {
		s[n-1].Stop = goimap.UID(u)
		return s
	}
	return append(s, goimap.UIDRange{Start: goimap.UID(u), Stop: goimap.UID(u)})
}

// Copy answers COPY and UID COPY (COPYUID, RFC 4315). Flags and internal
// dates are kept. In COPY, a message another session expunged makes the
// copy fail as a whole (NO [EXPUNGEISSUED], nothing copied); UID COPY
// copies the messages that still exist (a UID that does not is ignored,
// RFC 3501 6.4.8), and the EXPUNGE follows it.
func (ss *session) Copy(ns goimap.NumSet, dest string) (*goimap.CopyData, error) {
	defer ss.begin()()
	m, err := ss.selectedOK()
	if err != nil {
		return nil, err
	}
	idx, err := m.resolve(ns, true)
	if err != nil {
		return nil, err
	}
	uids := m.uidsOf(idx)
	byUID := isUIDSet(ns)
	if byUID {
		uids = m.withoutGone(uids)
	}
	if m.pendingGone(uids) {
		return nil, no(codeExpungeIssued, "Some of the messages were expunged by another session; nothing copied")
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	res, err := ss.srv.st.Copy(ctx, m.id, uids, dest, false)
	if err != nil {
		return nil, ss.storeErr("COPY", err, codeTryCreate)
	}
	if len(res.Source) == 0 {
		if len(uids) > 0 && !byUID {
			return nil, no(codeExpungeIssued, "The messages were expunged by another session; nothing copied")
		}
		return nil, nil
	}
	return copyData(res), nil
}

// Move answers MOVE and UID MOVE (RFC 6851): the copy and the expunge are
// one store transaction. Messages another session expunged are treated as
// in Copy.
func (ss *session) Move(w *imapserver.MoveWriter, ns goimap.NumSet, dest string) error {
	defer ss.begin()()
	m, err := ss.selectedOK()
	if err != nil {
		return err
	}
	if m.readOnly {
		return no(codeReadOnly, "Mailbox is read-only (EXAMINE)")
	}
	idx, err := m.resolve(ns, true)
	if err != nil {
		return err
	}
	uids := m.uidsOf(idx)
	byUID := isUIDSet(ns)
	if byUID {
		uids = m.withoutGone(uids)
	}
	if m.pendingGone(uids) {
		return no(codeExpungeIssued, "Some of the messages were expunged by another session; nothing moved")
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	res, err := ss.srv.st.Copy(ctx, m.id, uids, dest, true)
	if err != nil {
		return ss.storeErr("MOVE", err, codeTryCreate)
	}
	if len(res.Source) == 0 {
		if len(uids) > 0 && !byUID {
			return no(codeExpungeIssued, "The messages were expunged by another session; nothing moved")
		}
		return nil
	}
	if err := w.WriteCopyData(copyData(res)); err != nil {
		return err
	}
	// MOVE into the selected mailbox itself works too: the copies come as
	// new messages (EXISTS), the originals go.
	return m.expunged(res.Source, w.WriteExpunge)
}

// Append answers APPEND: flags and internal date as given, APPENDUID.
func (ss *session) Append(name string, r goimap.LiteralReader, o *goimap.AppendOptions) (*goimap.AppendData, error) {
	commit, err := ss.PrepareAppend(name, r, o)
	if err != nil {
		return nil, err
	}
	return commit()
}

// PrepareAppend is the first step of APPEND (imapserver.SessionAppendPreparer):
// the mailbox and flags are checked and the message is written to its
// file; the commit it returns adds the message to the mailbox, once the
// framework has parsed the whole command. A message never committed is a
// file no record names, which the store's sweep removes after its grace
// period.
func (ss *session) PrepareAppend(name string, r goimap.LiteralReader, o *goimap.AppendOptions) (func() (*goimap.AppendData, error), error) {
	defer ss.begin()()
	ctx, cancel := ss.ctx()
	defer cancel()
	st := ss.srv.st
	mb, err := st.MailboxStatus(ctx, ss.acct.Name, name)
	if err != nil {
		return nil, ss.storeErr("APPEND", err, codeTryCreate)
	}
	if mb.NoSelect {
		return nil, no(codeCannot, "Mailbox is \\Noselect")
	}
	flags, err := parseFlags(o.Flags)
	if err != nil {
		return nil, err
	}
	if r.Size() > ss.srv.opts.AppendLimit {
		return nil, no(codeTooBig, "Message larger than %d bytes", ss.srv.opts.AppendLimit)
	}
	in, err := st.Ingest(ctx, r, ss.srv.opts.AppendLimit)
	if err != nil {
		if errors.Is(err, store.ErrTooLarge) {
			return nil, no(codeTooBig, "Message larger than %d bytes", ss.srv.opts.AppendLimit)
		}
		return nil, ss.storeErr("APPEND", err, codeTryCreate)
	}
	date := o.Time
	if date.IsZero() {
		date = time.Now()
	}
	return func() (*goimap.AppendData, error) {
		defer ss.begin()()
		ctx, cancel := ss.ctx()
		defer cancel()
		uv, uid, err := st.Append(ctx, ss.acct.Name, mb.Name, in, flags, date)
		if err != nil {
			return nil, ss.storeErr("APPEND", err, codeTryCreate)
		}
		if m := ss.sel; m != nil && m.id == mb.ID {
			m.learnKeywords(flags.Keywords)
		}
		ss.log.Debug("append", "mailbox", mb.Name, "uid", uid, "size", in.Size)
		return &goimap.AppendData{UIDValidity: uv, UID: goimap.UID(uid)}, nil
	}, nil
}
