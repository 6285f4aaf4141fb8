package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
)

// Bulk reads and atomic operations the IMAP server needs: a mailbox's
// UIDs and flag counts in one view (SELECT, STATUS), many messages with
// their parsed-message caches in one view (FETCH, SEARCH), the recent
// range a session takes, and EXPUNGE of exactly the messages that have
// \Deleted at the moment of the expunge.

// MailboxSummary is a mailbox's record with what SELECT and STATUS need
// that the record does not count.
type MailboxSummary struct {
	Mailbox *Mailbox
	// UIDs are the messages' UIDs in ascending order (nil unless asked for).
	UIDs []uint32
	// FirstUnseen is the index in UIDs of the first message without \Seen,
	// or -1 (only with UIDs).
	FirstUnseen int
	// Keywords are the distinct keywords set on any message, first
	// spelling kept.
	Keywords []string
	// Deleted counts the messages with \Deleted, DeletedBytes their sizes.
	Deleted      uint32
	DeletedBytes int64
	// Recent counts the messages at or above the mailbox's RecentFrom:
	// those the next read-write SELECT will see as \Recent.
	Recent uint32
}

// Summary reads a mailbox's record and scans its messages once, in one
// read transaction. Message records are read without decoding their file
// ids, so a 100,000-message mailbox costs no per-message allocation.
func (s *Store) Summary(ctx context.Context, mailbox uint64, withUIDs bool) (*MailboxSummary, error) {
	sum := &MailboxSummary{FirstUnseen: -1}
	err := s.view(ctx, func(x *tx) error {
		m, err := x.mailboxByID(mailbox)
		if err != nil {
			return err
		}
		sum.Mailbox = m
		if withUIDs {
			sum.UIDs = make([]uint32, 0, m.Messages)
		}
		var kw Flags
		prefix := u64key(nil, mailbox)
		return x.table(tMessages).ForEach(prefix, func(k, v []byte) (bool, error) {
			if !bytes.HasPrefix(k, prefix) {
				return false, nil
			}
			uid := beU32(k[8:])
			size, flags, kws, err := peekMessage(v)
			if err != nil {
				return false, fmt.Errorf("mailbox %d message %d: %w", mailbox, uid, err)
			}
			if withUIDs {
				if flags&FlagSeen == 0 && sum.FirstUnseen < 0 {
					sum.FirstUnseen = len(sum.UIDs)
				}
				sum.UIDs = append(sum.UIDs, uid)
			}
			if flags&FlagDeleted != 0 {
				sum.Deleted++
				sum.DeletedBytes += size
			}
			if uid >= m.RecentFrom {
				sum.Recent++
			}
			if len(kws) > 0 {
				for _, k := range decodeKeywords(kws) {
					if kw.addKeyword(k) {
						sum.Keywords = append(sum.Keywords, k)
					}
				}
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// peekMessage reads a message record's size and system flags without
// allocating; kws is the encoded keyword list (count then strings), empty
// when there are none.
func peekMessage(b []byte) (size int64, flags uint8, kws []byte, err error) {
	if len(b) < 1 || b[0] != messageVersion {
		return 0, 0, nil, fmt.Errorf("message record: %w", errCorrupt)
	}
	p := b[1:]
	_, k := binary.Uvarint(p) // file number
	if k <= 0 {
		return 0, 0, nil, fmt.Errorf("message record: %w", errCorrupt)
	}
	p = p[k:]
	size, k = binary.Varint(p)
	if k <= 0 {
		return 0, 0, nil, fmt.Errorf("message record: %w", errCorrupt)
	}
	p = p[k:]
	if _, k = binary.Varint(p); k <= 0 { // internal date
		return 0, 0, nil, fmt.Errorf("message record: %w", errCorrupt)
	}
	p = p[k:]
	if _, k = binary.Uvarint(p); k <= 0 { // modseq
		return 0, 0, nil, fmt.Errorf("message record: %w", errCorrupt)
	}
	p = p[k:]
	if len(p) < 2 {
		return 0, 0, nil, fmt.Errorf("message record: %w", errCorrupt)
	}
	flags = p[0]
	if p[1] != 0 {
		kws = p[1:]
	}
	return size, flags, kws, nil
}

func decodeKeywords(b []byte) []string {
	d := dec{b: b}
	return d.strs()
}

// ReadMessages calls fn, inside one read transaction, for each message of
// mailbox whose UID is in uids (in the order given; UIDs that do not exist
// are skipped). With withCache, cache is the message's parsed-message cache
// (package message), m.Blob its file's id and m.HeaderFields the header
// fields cached with it; without, they are empty (the file's records are
// not read). cache and m are valid only during the call:
// copy what you keep. fn must not block on anything slow (a client): the transaction stays
// open while it runs.
func (s *Store) ReadMessages(ctx context.Context, mailbox uint64, uids []uint32, withCache bool, fn func(m *Message, cache []byte) error) error {
	return s.view(ctx, func(x *tx) error {
		for _, uid := range uids {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, err := x.message(mailbox, uid)
			if err != nil {
				return err
			}
			if m == nil {
				continue
			}
			var c []byte
			if withCache {
				f, err := x.resolve(m)
				if err != nil {
					return fmt.Errorf("mailbox %d: %w", mailbox, err)
				}
				if c = f.cache; c == nil {
					return fmt.Errorf("mailbox %d message %d: no cache for message file %s", mailbox, uid, m.Blob)
				}
				if m.HeaderFields, err = x.headerFields(m.file); err != nil {
					return fmt.Errorf("mailbox %d message %d: %w", mailbox, uid, err)
				}
			}
			if err := fn(m, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// TakeRecentRange is TakeRecent returning the whole range taken: the UIDs
// in [from, to) are \Recent for the caller and for no one else.
func (s *Store) TakeRecentRange(ctx context.Context, mailbox uint64) (from, to uint32, err error) {
	// Most SELECTs find nothing new: a read answers them without a commit.
	var none bool
	err = s.view(ctx, func(x *tx) error {
		m, err := x.mailboxByID(mailbox)
		if err != nil {
			return err
		}
		from, to = m.RecentFrom, m.UIDNext
		none = m.RecentFrom == m.UIDNext
		return nil
	})
	if err != nil || none {
		return from, to, err
	}
	err = s.update(ctx, func(x *tx) error {
		m, err := x.mailboxByID(mailbox)
		if err != nil {
			return err
		}
		from, to = m.RecentFrom, m.UIDNext
		if m.RecentFrom == m.UIDNext {
			return nil
		}
		m.RecentFrom = m.UIDNext
		return x.putMailbox(m)
	})
	return from, to, err
}

// ExpungeDeleted removes, in one transaction, the messages of mailbox that
// have \Deleted: among uids, or all of them when uids is nil. A message whose
// \Deleted flag another session cleared first is kept. It returns the UIDs
// removed, ascending.
func (s *Store) ExpungeDeleted(ctx context.Context, mailbox uint64, uids []uint32) ([]uint32, error) {
	var gone []uint32
	err := s.update(ctx, func(x *tx) error {
		gone = nil
		m, a, err := x.mailboxOwner(mailbox)
		if err != nil {
			return err
		}
		var del []uint32
		msgs := x.table(tMessages)
		if uids == nil {
			prefix := u64key(nil, m.ID)
			err = msgs.ForEach(prefix, func(k, v []byte) (bool, error) {
				if !bytes.HasPrefix(k, prefix) {
					return false, nil
				}
				_, flags, _, err := peekMessage(v)
				if err != nil {
					return false, err
				}
				if flags&FlagDeleted != 0 {
					del = append(del, beU32(k[8:]))
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		} else {
			for _, uid := range uids {
				b := msgs.Get(messageKey(m.ID, uid))
				if b == nil {
					continue
				}
				_, flags, _, err := peekMessage(b)
				if err != nil {
					return err
				}
				if flags&FlagDeleted != 0 {
					del = append(del, uid)
				}
			}
		}
		if len(del) == 0 {
			return nil
		}
		gone, err = x.expunge(a, m, del)
		return err
	})
	return gone, err
}
