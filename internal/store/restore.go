package store

import (
	"bytes"
	"context"
	"fmt"

	"github.com/m-store/mstore/internal/blob"
)

// renewBatch is how many mailboxes one transaction of RenewUIDValidity
// changes.
const renewBatch = 5000

// RenewUIDValidity gives every mailbox a UIDVALIDITY never handed out
// before. After a restore to an earlier point, UIDs that clients saw are
// handed out again to other messages; a new UIDVALIDITY tells every client
// to forget what it cached (RFC 9051 2.3.1.1), and changes every POP3 UIDL.
// It returns how many mailboxes it renewed. Interrupted, it can be run
// again: each run gives every mailbox a new value.
func (s *Store) RenewUIDValidity(ctx context.Context) (int, error) {
	var keys [][]byte
	err := s.view(ctx, func(x *tx) error {
		return x.table(tMailboxes).ForEach(nil, func(k, _ []byte) (bool, error) {
			keys = append(keys, bytes.Clone(k))
			return true, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("renew UIDVALIDITY: %w", err)
	}
	done := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), renewBatch)]
		keys = keys[len(batch):]
		n := 0
		err := s.update(ctx, func(x *tx) error {
			n = 0
			t := x.table(tMailboxes)
			for _, k := range batch {
				b := t.Get(k)
				if b == nil {
					continue // removed since
				}
				m, err := decodeMailbox(b)
				if err != nil {
					return err
				}
				if m.UIDValidity, err = x.newUIDValidity(); err != nil {
					return err
				}
				if err := t.Put(k, m.encode()); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("renew UIDVALIDITY: %w", err)
		}
		done += n
	}
	return done, nil
}

// MissingFiles lists the message files that messages reference but blobs
// does not hold (at most limit of them; limit 0: all), and how many there
// are.
func (s *Store) MissingFiles(ctx context.Context, blobs *blob.Store, limit int) (missing []string, count int, err error) {
	err = s.view(ctx, func(x *tx) error {
		return x.forEachFile(ctx, func(_ uint64, f *fileRec) (bool, error) {
			if f.refs == 0 {
				return true, nil
			}
			id := blob.ID(f.id())
			if _, _, err := blobs.Stat(id); err != nil {
				count++
				if limit == 0 || len(missing) < limit {
					missing = append(missing, blobs.Path(id))
				}
			}
			return true, nil
		})
	})
	return missing, count, err
}
