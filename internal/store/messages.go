package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

func beU32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func messageKey(mbox uint64, uid uint32) []byte { return u32key(u64key(nil, mbox), uid) }

// message reads message uid of mailbox mbox; nil, nil when it is not
// there. Its Blob is not filled in: see resolve.
func (x *tx) message(mbox uint64, uid uint32) (*Message, error) {
	b := x.table(tMessages).Get(messageKey(mbox, uid))
	if b == nil {
		return nil, nil
	}
	return storedMessage(mbox, uid, b)
}

// storedMessage decodes the record b of message uid of mailbox mbox,
// which must name its file by number (format 2).
func storedMessage(mbox uint64, uid uint32, b []byte) (*Message, error) {
	m, err := decodeMessage(uid, b)
	if err == nil && m.file == 0 {
		err = fmt.Errorf("message record of format 1 (the store has not been upgraded): %w", errCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox %d message %d: %w", mbox, uid, err)
	}
	return m, nil
}

// resolve fills in m.Blob from its file's record, which it returns.
func (x *tx) resolve(m *Message) (*fileRec, error) {
	f, err := x.file(m.file)
	if err == nil && f == nil {
		err = fmt.Errorf("message file %d has no record: %w", m.file, errCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.UID, err)
	}
	m.Blob = f.id()
	return f, nil
}

// mailboxOwner reads a mailbox by id and the account it belongs to.
func (x *tx) mailboxOwner(id uint64) (*Mailbox, *Account, error) {
	m, err := x.mailboxByID(id)
	if err != nil {
		return nil, nil, err
	}
	a, err := x.accountByID(m.Account)
	if err != nil {
		return nil, nil, err
	}
	return m, a, nil
}

// Incoming is a message whose file is stored and parsed, ready to be
// referenced by messages.
type Incoming struct {
	Blob  string // the file's id
	Size  int64
	Cache []byte // the parsed-message cache (package message), stored once per file

	file uint64 // the file's number, when it is already referenced (Copy)
}

// addMessage adds a message to m (quota checked), updating the counts of
// m and a, the file's references and the cache. m and a are updated in
// place and written.
func (x *tx) addMessage(a *Account, m *Mailbox, in *Incoming, date time.Time, flags Flags) (uint32, error) {
	if m.NoSelect {
		return 0, fmt.Errorf("mailbox %s: %w", m.Name, ErrNoSelect)
	}
	if a.QuotaBytes > 0 && a.UsedBytes+in.Size > a.QuotaBytes {
		return 0, fmt.Errorf("account %s: %w (%d of %d bytes used, message is %d)", a.Name, ErrOverQuota, a.UsedBytes, a.QuotaBytes, in.Size)
	}
	if a.QuotaMessages > 0 && a.UsedMessages+1 > a.QuotaMessages {
		return 0, fmt.Errorf("account %s: %w (%d of %d messages)", a.Name, ErrOverQuota, a.UsedMessages, a.QuotaMessages)
	}
	if m.UIDNext == 0 || m.UIDNext == ^uint32(0) {
		return 0, fmt.Errorf("mailbox %s: UIDs exhausted", m.Name)
	}
	uid := m.UIDNext
	m.UIDNext++
	m.HighestModSeq++
	file, err := x.addRef(in)
	if err != nil {
		return 0, err
	}
	msg := &Message{UID: uid, Blob: in.Blob, Size: in.Size, InternalDate: date.Truncate(time.Second), ModSeq: m.HighestModSeq, Flags: flags, file: file}
	msg.Flags.System &^= FlagRecent
	if err := x.table(tMessages).Put(messageKey(m.ID, uid), msg.encode()); err != nil {
		return 0, err
	}
	m.Messages++
	m.Bytes += in.Size
	if flags.System&FlagSeen == 0 {
		m.Unseen++
	}
	a.UsedBytes += in.Size
	a.UsedMessages++
	x.emit(Event{Mailbox: m.ID, Kind: EventAppend, UIDs: []uint32{uid}, ModSeq: m.HighestModSeq})
	return uid, nil
}

// expunge removes the given UIDs (those present) from m and returns them.
func (x *tx) expunge(a *Account, m *Mailbox, uids []uint32) ([]uint32, error) {
	msgs := x.table(tMessages)
	var gone []uint32
	for _, uid := range uids {
		msg, err := x.message(m.ID, uid)
		if err != nil {
			return nil, err
		}
		if msg == nil {
			continue
		}
		if err := msgs.Delete(messageKey(m.ID, uid)); err != nil {
			return nil, err
		}
		if err := x.dropRef(msg.file); err != nil {
			return nil, err
		}
		m.Messages--
		m.Bytes -= msg.Size
		if msg.Flags.System&FlagSeen == 0 {
			m.Unseen--
		}
		a.UsedBytes -= msg.Size
		a.UsedMessages--
		gone = append(gone, uid)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	m.HighestModSeq++
	if err := x.putMailbox(m); err != nil {
		return nil, err
	}
	if err := x.putAccount(a); err != nil {
		return nil, err
	}
	x.emit(Event{Mailbox: m.ID, Kind: EventExpunge, UIDs: gone, ModSeq: m.HighestModSeq})
	return gone, nil
}

// Recipient is where Deliver puts one copy.
type Recipient struct {
	Account string
	Mailbox string // "" is INBOX; a missing mailbox falls back to INBOX
}

// Delivered is the outcome for one recipient.
type Delivered struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Err         error // ErrNoAccount, ErrOverQuota, ErrDisabled, …
}

// Deliver files in into each recipient's mailbox in one transaction:
// when it returns, every recipient without an Err has the message durably.
// One recipient's failure (unknown, over quota) does not stop the others.
func (s *Store) Deliver(ctx context.Context, in *Incoming, rcpts []Recipient, date time.Time) ([]Delivered, error) {
	out := make([]Delivered, len(rcpts))
	// Answered once durable in the log, not after the table files' own
	// syncs: a read that begins afterwards still sees it (msdb).
	err := s.updateLogged(ctx, func(x *tx) error {
		clear(out)
		accts := map[string]*Account{}
		for i, r := range rcpts {
			a := accts[NormalizeAccount(r.Account)]
			if a == nil {
				var err error
				if a, err = x.account(r.Account); err != nil {
					out[i].Err = err
					continue
				}
				accts[NormalizeAccount(r.Account)] = a
			}
			if a.State == Disabled {
				out[i].Err = fmt.Errorf("account %s: %w", a.Name, ErrDisabled)
				continue
			}
			name := "INBOX"
			if r.Mailbox != "" {
				name = r.Mailbox
			}
			m, err := x.mailbox(a.ID, name)
			if err != nil || m.NoSelect {
				if m, err = x.mailbox(a.ID, "INBOX"); err != nil {
					return err
				}
			}
			uid, err := x.addMessage(a, m, in, date, Flags{})
			if errors.Is(err, ErrOverQuota) {
				out[i].Err = err
				continue
			}
			if err != nil {
				return err
			}
			if err := x.putMailbox(m); err != nil {
				return err
			}
			out[i] = Delivered{Mailbox: m.Name, UIDValidity: m.UIDValidity, UID: uid}
		}
		for _, a := range accts {
			if err := x.putAccount(a); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Append adds a message to a mailbox (IMAP APPEND) and returns its
// UIDVALIDITY and UID.
func (s *Store) Append(ctx context.Context, account, mailbox string, in *Incoming, flags Flags, date time.Time) (uint32, uint32, error) {
	var uv, uid uint32
	err := s.update(ctx, func(x *tx) error {
		a, m, err := x.accountMailbox(account, mailbox)
		if err != nil {
			return err
		}
		if uid, err = x.addMessage(a, m, in, date, flags); err != nil {
			return err
		}
		uv = m.UIDValidity
		if err := x.putMailbox(m); err != nil {
			return err
		}
		return x.putAccount(a)
	})
	return uv, uid, err
}

// Snapshot is a mailbox and all its messages at one moment.
type Snapshot struct {
	Mailbox  *Mailbox
	Messages []Message // in UID order
}

// Messages returns a mailbox with every message's metadata.
func (s *Store) Messages(ctx context.Context, mailbox uint64) (*Snapshot, error) {
	snap := &Snapshot{}
	err := s.view(ctx, func(x *tx) error {
		m, err := x.mailboxByID(mailbox)
		if err != nil {
			return err
		}
		snap.Mailbox = m
		snap.Messages = make([]Message, 0, m.Messages)
		prefix := u64key(nil, mailbox)
		return x.table(tMessages).ForEach(prefix, func(k, v []byte) (bool, error) {
			if !bytes.HasPrefix(k, prefix) {
				return false, nil
			}
			msg, err := storedMessage(mailbox, beU32(k[8:]), v)
			if err == nil {
				_, err = x.resolve(msg)
			}
			if err != nil {
				return false, err
			}
			snap.Messages = append(snap.Messages, *msg)
			return true, nil
		})
	})
	return snap, err
}

// GetMessages returns the messages of a mailbox with the given UIDs that
// exist, in the order given.
func (s *Store) GetMessages(ctx context.Context, mailbox uint64, uids []uint32) ([]Message, error) {
	var out []Message
	err := s.view(ctx, func(x *tx) error {
		for _, uid := range uids {
			m, err := x.message(mailbox, uid)
			if err != nil {
				return err
			}
			if m == nil {
				continue
			}
			if _, err := x.resolve(m); err != nil {
				return err
			}
			out = append(out, *m)
		}
		return nil
	})
	return out, err
}

// Referenced reports whether the sweep must keep a file: a message
// references it, or the last one stopped referencing it less than grace
// ago. It reads every file record (see FilesToKeep).
func (s *Store) Referenced(ctx context.Context, blob string, grace time.Duration) (bool, error) {
	h, err := hashOf(blob)
	if err != nil {
		return false, err
	}
	var ok bool
	err = s.view(ctx, func(x *tx) error {
		return x.forEachFile(ctx, func(_ uint64, f *fileRec) (bool, error) {
			ok = f.hash == h && s.keep(f, grace)
			return !ok, nil
		})
	})
	return ok, err
}

// FilesToKeep returns what the sweep must keep: the files a message
// references or referenced less than grace ago. It reads every file record
// once, in one read transaction, and keeps 8 octets of each SHA-256 (8 MB
// for a million files): a file that shares them with one to keep is kept
// too, which costs only its space. A file referenced after this returns was
// stored again first (blob.Store.Put refreshes its time), so the sweep's
// grace period keeps it.
func (s *Store) FilesToKeep(ctx context.Context, grace time.Duration) (func(id string) bool, error) {
	var keep []uint64
	err := s.view(ctx, func(x *tx) error {
		return x.forEachFile(ctx, func(_ uint64, f *fileRec) (bool, error) {
			if s.keep(f, grace) {
				keep = append(keep, binary.BigEndian.Uint64(f.hash[:8]))
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(keep)
	return func(id string) bool {
		h, err := hashOf(id)
		if err != nil {
			return true // not a message file: not the sweep's
		}
		_, found := slices.BinarySearch(keep, binary.BigEndian.Uint64(h[:8]))
		return found
	}, nil
}

// pruneBatch is how many file records one transaction of PruneDropped
// forgets.
const pruneBatch = 10000

// PruneDropped forgets the records of files no message has referenced for
// longer than grace (their files are the sweep's), oldest drop first.
func (s *Store) PruneDropped(ctx context.Context, grace time.Duration) (int, error) {
	pruned := 0
	for {
		var stale [][]byte
		err := s.view(ctx, func(x *tx) error {
			limit := s.now().Add(-grace).Unix()
			return x.table(tDropped).ForEach(nil, func(k, _ []byte) (bool, error) {
				if len(k) != 16 {
					return false, fmt.Errorf("dropped-file key %x: %w", k, errCorrupt)
				}
				if int64(binary.BigEndian.Uint64(k)) > limit || len(stale) == pruneBatch {
					return false, nil
				}
				stale = append(stale, bytes.Clone(k))
				return true, nil
			})
		})
		if err != nil || len(stale) == 0 {
			return pruned, err
		}
		n := 0
		err = s.update(ctx, func(x *tx) error {
			n = 0
			for _, k := range stale {
				if x.table(tDropped).Get(k) == nil {
					continue // referenced again since
				}
				if err := x.table(tDropped).Delete(k); err != nil {
					return err
				}
				num := binary.BigEndian.Uint64(k[8:])
				f, err := x.file(num)
				if err != nil {
					return err
				}
				if f == nil || f.refs > 0 || s.keep(f, grace) {
					continue
				}
				if err := x.table(tFiles).Delete(fileKey(num)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return pruned, err
		}
		pruned += n
	}
}

// StoreFlags changes the flags of the given messages and returns those
// that changed, with their new flags and MODSEQs.
func (s *Store) StoreFlags(ctx context.Context, mailbox uint64, uids []uint32, op FlagOp, flags Flags) ([]Message, error) {
	var changed []Message
	err := s.update(ctx, func(x *tx) error {
		changed = changed[:0]
		m, err := x.mailboxByID(mailbox)
		if err != nil {
			return err
		}
		msgs := x.table(tMessages)
		var evUIDs []uint32
		for _, uid := range uids {
			msg, err := x.message(m.ID, uid)
			if err != nil {
				return err
			}
			if msg == nil {
				continue
			}
			nf, diff := msg.Flags.apply(op, flags)
			if !diff {
				continue
			}
			wasSeen, isSeen := msg.Flags.System&FlagSeen != 0, nf.System&FlagSeen != 0
			if wasSeen && !isSeen {
				m.Unseen++
			} else if !wasSeen && isSeen {
				m.Unseen--
			}
			m.HighestModSeq++
			msg.Flags, msg.ModSeq = nf, m.HighestModSeq
			if err := msgs.Put(messageKey(m.ID, uid), msg.encode()); err != nil {
				return err
			}
			if _, err := x.resolve(msg); err != nil {
				return err
			}
			changed = append(changed, *msg)
			evUIDs = append(evUIDs, uid)
		}
		if len(changed) == 0 {
			return nil
		}
		x.emit(Event{Mailbox: m.ID, Kind: EventFlags, UIDs: evUIDs, ModSeq: m.HighestModSeq})
		return x.putMailbox(m)
	})
	return changed, err
}

// Expunge removes messages from a mailbox; it returns the UIDs removed.
func (s *Store) Expunge(ctx context.Context, mailbox uint64, uids []uint32) ([]uint32, error) {
	var gone []uint32
	err := s.update(ctx, func(x *tx) error {
		m, a, err := x.mailboxOwner(mailbox)
		if err != nil {
			return err
		}
		gone, err = x.expunge(a, m, uids)
		return err
	})
	return gone, err
}

// CopyResult maps copied UIDs (COPYUID, RFC 4315).
type CopyResult struct {
	UIDValidity uint32
	Source      []uint32
	Dest        []uint32
}

// Copy copies messages (flags and internal dates kept) to another mailbox
// of the same account; with move, the originals are expunged in the same
// transaction.
func (s *Store) Copy(ctx context.Context, mailbox uint64, uids []uint32, dest string, move bool) (*CopyResult, error) {
	res := &CopyResult{}
	err := s.update(ctx, func(x *tx) error {
		*res = CopyResult{}
		src, a, err := x.mailboxOwner(mailbox)
		if err != nil {
			return err
		}
		dst, err := x.mailbox(a.ID, dest)
		if err != nil {
			return err
		}
		same := dst.ID == src.ID
		if same {
			dst = src
		}
		res.UIDValidity = dst.UIDValidity
		for _, uid := range uids {
			msg, err := x.message(src.ID, uid)
			if err != nil {
				return err
			}
			if msg == nil {
				continue
			}
			in := &Incoming{Size: msg.Size, file: msg.file}
			nu, err := x.addMessage(a, dst, in, msg.InternalDate, msg.Flags)
			if err != nil {
				return err
			}
			res.Source = append(res.Source, uid)
			res.Dest = append(res.Dest, nu)
		}
		if err := x.putMailbox(dst); err != nil {
			return err
		}
		if err := x.putAccount(a); err != nil {
			return err
		}
		if move && len(res.Source) > 0 {
			if same {
				src = dst
			}
			_, err := x.expunge(a, src, res.Source)
			return err
		}
		return nil
	})
	return res, err
}

// TakeRecent ends the \Recent state of a mailbox's messages for everyone
// else (a read-write SELECT, RFC 3501 2.3.2) and returns the first UID that
// was recent: this session sees UIDs from it on as \Recent.
func (s *Store) TakeRecent(ctx context.Context, mailbox uint64) (uint32, error) {
	from, _, err := s.TakeRecentRange(ctx, mailbox)
	return from, err
}
