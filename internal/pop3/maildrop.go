package pop3

import (
	"context"
	"errors"
	"fmt"
	"github.com/m-store/mstore/internal/store"
	"io/fs"
	"log/slog"
	"strconv"
)

// maildrop is a session's view of an INBOX: the messages it had at login,
// numbered 1..n in UID order. It never changes during the session (a new
// delivery is not shown; an expunge by another session does not renumber
// it), except for the session's own deletion marks.
type maildrop struct {
	mailbox     uint64
	uidValidity uint32
	msgs        []entry
}

// entry is one message of the maildrop; a compact copy of what the
// session needs of store.Message.
type entry struct {
	uid     uint32
	deleted bool   // marked by DELE
	size    int64  // the stored size
	blob    string // the message file
}

// openMaildrop takes the snapshot of account's INBOX.
func openMaildrop(ctx context.Context, st *store.Store, account string) (*maildrop, error) {
	mbox, err := st.MailboxStatus(ctx, account, "INBOX")
	if err != nil {
		return nil, fmt.Errorf("account %s INBOX: %w", account, err)
	}
	snap, err := st.Messages(ctx, mbox.ID)
	if err != nil {
		return nil, fmt.Errorf("account %s INBOX messages: %w", account, err)
	}
	d := &maildrop{mailbox: mbox.ID, uidValidity: snap.Mailbox.UIDValidity, msgs: make([]entry, len(snap.Messages))}
	for i, m := range snap.Messages {
		d.msgs[i] = entry{uid: m.UID, size: m.Size, blob: m.Blob}
	}
	return d, nil
}

// stat counts the messages not marked deleted and their size.
func (d *maildrop) stat() (n int, size int64) {
	for i := range d.msgs {
		if !d.msgs[i].deleted {
			n++
			size += d.msgs[i].size
		}
	}
	return n, size
}

func (d *maildrop) reset() {
	for i := range d.msgs {
		d.msgs[i].deleted = false
	}
}

// marked returns the UIDs of the messages marked deleted.
func (d *maildrop) marked() []uint32 {
	var uids []uint32
	for _, m := range d.msgs {
		if m.deleted {
			uids = append(uids, m.uid)
		}
	}
	return uids
}

// uidl is a message's unique id: "UIDVALIDITY.UID" in decimal. A UID is
// never reused within a UIDVALIDITY and a UIDVALIDITY never reused in a
// store; both are in the database, so the id survives restarts, recovery
// and restore. The characters are within RFC 1939's 0x21..0x7E and the
// id is at most 21 octets (the limit is 70).
func (d *maildrop) uidl(m *entry) string {
	return strconv.FormatUint(uint64(d.uidValidity), 10) + "." + strconv.FormatUint(uint64(m.uid), 10)
}

// messageFile is what RETR and TOP read.
type messageFile interface {
	Read([]byte) (int, error)
	Close() error
}

// open opens message n's file for RETR or TOP, or returns the -ERR line
// to answer. A message expunged by another session since login is still
// sent while its file exists: files stay until the sweep, which removes
// an unreferenced file only when it is older than its grace period. When
// the file is gone:
//   - the message was expunged meanwhile: -ERR [SYS/TEMP]; the condition
//     clears by itself, as the next session will not list the message;
//   - the message is still in the mailbox: its file is lost, which only
//     an administrator can repair (restore it): -ERR [SYS/PERM], logged.
//
// Other failures (out of file descriptors, I/O errors) are [SYS/TEMP].
func (d *maildrop) open(ctx context.Context, st *store.Store, m *entry, n int, lg *slog.Logger) (messageFile, string) {
	f, err := st.OpenMessage(m.blob)
	if err == nil {
		return f, ""
	}
	if !errors.Is(err, fs.ErrNotExist) {
		lg.Error("open message file", "uid", m.uid, "blob", m.blob, "err", err)
		return nil, fmt.Sprintf("-ERR [SYS/TEMP] Cannot read message %d now; try again later", n)
	}
	still, gerr := st.GetMessages(ctx, d.mailbox, []uint32{m.uid})
	switch {
	case gerr != nil:
		lg.Error("message file missing; cannot check whether the message still exists", "uid", m.uid, "blob", m.blob, "err", gerr)
		return nil, fmt.Sprintf("-ERR [SYS/TEMP] Cannot read message %d now; try again later", n)
	case len(still) == 0:
		lg.Info("message expunged by another session and its file removed", "uid", m.uid, "blob", m.blob)
		return nil, fmt.Sprintf("-ERR [SYS/TEMP] Message %d was removed by another session; it will not be listed next time", n)
	default:
		lg.Error("message file missing for a message in the mailbox; restore it from a backup", "uid", m.uid, "blob", m.blob, "err", err)
		return nil, fmt.Sprintf("-ERR [SYS/PERM] Message %d cannot be read (its file is missing); tell the administrator", n)
	}
}
