package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/m-store/mstore/internal/message"
)

// The store's format is in the X space under "format". Format 1 (no
// "format" record) kept a parsed-message cache under C and a reference
// count under R, both keyed by the file's hex id, and named the file by
// its id in each message record. Format 2 numbers files (files.go).
const (
	storeFormat = 2
	formatKey   = "format"
)

// Spaces of format 1, and the index by SHA-256 the upgrade keeps while
// it rewrites the message records.
const (
	tOldCache     = 'C'
	tOldRefs      = 'R'
	tUpgradeIndex = 'H'
)

// migrateBatch is how many records one transaction of the upgrade
// converts.
const migrateBatch = 2000

// upgrade brings the store to the current format. Each step is a
// transaction that converts a batch of records and removes what it
// converted, so an upgrade that stops (a crash, a signal) goes on where
// it was at the next Open. The format record is written last.
func (s *Store) upgrade(ctx context.Context) error {
	var format uint64
	var old bool
	err := s.view(ctx, func(x *tx) error {
		if b := x.table(tMeta).Get([]byte(formatKey)); b != nil {
			v, k := binary.Uvarint(b)
			if k <= 0 || k != len(b) {
				return fmt.Errorf("store format record %x: %w", b, errCorrupt)
			}
			format = v
			return nil
		}
		for _, p := range []byte{tMessages, tOldRefs, tOldCache, tUpgradeIndex} {
			err := x.table(p).ForEach(nil, func(_, _ []byte) (bool, error) {
				old = true
				return false, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case format == storeFormat:
		return nil
	case format > storeFormat:
		return fmt.Errorf("the store is of format %d, written by a newer M-Store (this one reads format %d)", format, storeFormat)
	}
	if old {
		s.log.Info("store: upgrading to format 2: numbering message files")
		files, err := s.upgradeFiles(ctx)
		if err != nil {
			return fmt.Errorf("upgrade store to format 2: %w", err)
		}
		msgs, err := s.upgradeMessages(ctx)
		if err != nil {
			return fmt.Errorf("upgrade store to format 2: %w", err)
		}
		orphans, err := s.dropSpace(ctx, tOldCache)
		if err == nil {
			_, err = s.dropSpace(ctx, tUpgradeIndex)
		}
		if err != nil {
			return fmt.Errorf("upgrade store to format 2: %w", err)
		}
		s.log.Info("store: upgraded to format 2", "files", files, "messages", msgs, "orphan_caches", orphans)
	}
	return s.update(ctx, func(x *tx) error {
		return x.table(tMeta).Put([]byte(formatKey), binary.AppendUvarint(nil, storeFormat))
	})
}

// firstKeys returns up to n keys of space p from start on (nil: the
// first) for which keep says yes.
func (s *Store) firstKeys(ctx context.Context, p byte, start []byte, n int, keep func(v []byte) bool) ([][]byte, error) {
	var keys [][]byte
	err := s.view(ctx, func(x *tx) error {
		return x.table(p).ForEach(start, func(k, v []byte) (bool, error) {
			if keep == nil || keep(v) {
				keys = append(keys, bytes.Clone(k))
			}
			return len(keys) < n, ctx.Err()
		})
	})
	return keys, err
}

// upgradeFiles gives every file of the R space a number and a record
// (with its cache from C, re-encoded in the current format), and removes
// its R and C records.
func (s *Store) upgradeFiles(ctx context.Context) (int, error) {
	return s.drain(ctx, tOldRefs, (*tx).upgradeFile)
}

// dropSpace removes every record of space p.
func (s *Store) dropSpace(ctx context.Context, p byte) (int, error) {
	return s.drain(ctx, p, func(x *tx, k []byte) error { return x.table(p).Delete(k) })
}

// drain calls fn with every key of space p, a batch per transaction,
// until the space is empty: fn must remove the key.
func (s *Store) drain(ctx context.Context, p byte, fn func(x *tx, k []byte) error) (int, error) {
	done := 0
	for {
		keys, err := s.firstKeys(ctx, p, nil, migrateBatch, nil)
		if err != nil || len(keys) == 0 {
			return done, err
		}
		err = s.update(ctx, func(x *tx) error {
			for _, k := range keys {
				if err := fn(x, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(keys)
	}
}

func (x *tx) upgradeFile(id []byte) error {
	refs, cache := x.table(tOldRefs), x.table(tOldCache)
	b := refs.Get(id)
	if b == nil {
		return nil
	}
	h, err := hashOf(string(id))
	if err != nil {
		return fmt.Errorf("reference record: %w", err)
	}
	f := &fileRec{hash: h}
	var k int
	if f.refs, k = binary.Uvarint(b); k <= 0 {
		return fmt.Errorf("reference record of %s: %w", id, errCorrupt)
	}
	if f.refs == 0 {
		if f.dropped, _ = binary.Varint(b[k:]); f.dropped <= 0 {
			f.dropped = x.s.now().Unix()
		}
	} else if c := cache.Get(id); c != nil {
		f.cache = bytes.Clone(c)
		var mc message.Cache
		if mc.UnmarshalBinary(c) == nil {
			if nc, err := mc.MarshalBinary(); err == nil {
				f.cache = nc
			}
		}
	}
	if x.table(tUpgradeIndex).Get(h[:]) != nil {
		return fmt.Errorf("message file %s has a number already: %w", id, errCorrupt)
	}
	n, err := x.nextCounter("file")
	if err != nil {
		return err
	}
	if err := x.table(tUpgradeIndex).Put(h[:], binary.AppendUvarint(nil, n)); err != nil {
		return err
	}
	if err := x.table(tFiles).Put(fileKey(n), f.encode()); err != nil {
		return err
	}
	if f.refs == 0 {
		if err := x.table(tDropped).Put(dropKey(f.dropped, n), []byte{}); err != nil {
			return err
		}
	}
	if err := cache.Delete(id); err != nil {
		return err
	}
	return refs.Delete(id)
}

// upgradeMessages rewrites every message record of version 1 to name its
// file by number.
func (s *Store) upgradeMessages(ctx context.Context) (int, error) {
	done := 0
	var start []byte
	for {
		keys, err := s.firstKeys(ctx, tMessages, start, migrateBatch, func(v []byte) bool { return len(v) > 0 && v[0] == 1 })
		if err != nil || len(keys) == 0 {
			return done, err
		}
		err = s.update(ctx, func(x *tx) error {
			msgs := x.table(tMessages)
			for _, k := range keys {
				b := msgs.Get(k)
				if len(k) != 12 || b == nil {
					continue
				}
				m, err := decodeMessage(beU32(k[8:]), b)
				if err != nil {
					return fmt.Errorf("message record %x: %w", k, err)
				}
				if m.file != 0 {
					continue
				}
				h, err := hashOf(m.Blob)
				if err != nil {
					return fmt.Errorf("message record %x: %w", k, err)
				}
				num := x.table(tUpgradeIndex).Get(h[:])
				if num == nil {
					return fmt.Errorf("message record %x: its file %s has no reference record: %w", k, m.Blob, errCorrupt)
				}
				if m.file, _ = binary.Uvarint(num); m.file == 0 {
					return fmt.Errorf("message file %s: number %x: %w", m.Blob, num, errCorrupt)
				}
				if err := msgs.Put(k, m.encode()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(keys)
		start = append(keys[len(keys)-1], 0)
	}
}
