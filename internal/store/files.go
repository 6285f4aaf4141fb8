package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/m-store/mstore/internal/blob"
)

// Message files in the mail table.
//
// A message file (package blob) is named by the SHA-256 of its bytes and
// may be shared by many messages (one delivery to many recipients, COPY).
// The table gives each file a number when a delivery or APPEND first
// references it, and keys its record by that number: new records go at
// the end of their space, so its pages stay full (keyed by SHA-256, each
// insert would land at a random place, splitting pages and leaving them
// half empty).
//
//	F file number             → file record (below)
//	D drop time ‖ file number → "" (files no message references, oldest first)
//	h file number             → header fields a client asked for (HeaderFields)
//
// A file record is: version (1 octet), SHA-256 (32 octets), references
// (uv), the Unix time the last reference went (sv; 0 while referenced),
// then the parsed-message cache (package message) while referenced. A file
// no message references keeps its record, without the cache, for the
// sweep's grace period from its drop time (a POP3 session may still list
// it, a backup taken before may be restored); PruneDropped then forgets it
// and the sweep removes the file.
//
// There is no index by SHA-256: the same bytes delivered twice, in two
// deliveries, get two records that name the same file (the blob store keeps
// one file). The sweep, the only reader by name, reads every record once
// (FilesToKeep).

const fileVersion = 1

// fileRec is a decoded file record. cache aliases the table's memory: it
// is valid during the transaction only.
type fileRec struct {
	hash    [32]byte
	refs    uint64
	dropped int64
	cache   []byte
}

func (f *fileRec) encode() []byte {
	b := make([]byte, 0, 1+32+2*binary.MaxVarintLen64+len(f.cache))
	b = append(b, fileVersion)
	b = append(b, f.hash[:]...)
	b = binary.AppendUvarint(b, f.refs)
	b = binary.AppendVarint(b, f.dropped)
	return append(b, f.cache...)
}

func decodeFile(b []byte) (*fileRec, error) {
	if len(b) < 1+32 || b[0] != fileVersion {
		return nil, fmt.Errorf("message file record: %w", errCorrupt)
	}
	f := &fileRec{}
	copy(f.hash[:], b[1:33])
	p := b[33:]
	var k int
	if f.refs, k = binary.Uvarint(p); k <= 0 {
		return nil, fmt.Errorf("message file record: %w", errCorrupt)
	}
	p = p[k:]
	if f.dropped, k = binary.Varint(p); k <= 0 {
		return nil, fmt.Errorf("message file record: %w", errCorrupt)
	}
	if p = p[k:]; len(p) > 0 {
		f.cache = p
	}
	return f, nil
}

// id is the file's name in the blob store.
func (f *fileRec) id() string { return hex.EncodeToString(f.hash[:]) }

// hashOf decodes a message file id (hex SHA-256).
func hashOf(id string) ([32]byte, error) {
	var h [32]byte
	if !blob.ID(id).Valid() {
		return h, fmt.Errorf("message file id %q: %w", id, blob.ErrInvalidID)
	}
	_, err := hex.Decode(h[:], []byte(id))
	return h, err
}

func fileKey(n uint64) []byte { return u64key(nil, n) }

func dropKey(t int64, n uint64) []byte { return u64key(u64key(nil, uint64(t)), n) }

// file reads file record n; nil, nil when there is none.
func (x *tx) file(n uint64) (*fileRec, error) {
	b := x.table(tFiles).Get(fileKey(n))
	if b == nil {
		return nil, nil
	}
	f, err := decodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("message file %d: %w", n, err)
	}
	return f, nil
}

// forEachFile calls fn with every file record, in number order, until fn
// returns false or an error.
func (x *tx) forEachFile(ctx context.Context, fn func(n uint64, f *fileRec) (bool, error)) error {
	return x.table(tFiles).ForEach(nil, func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if len(k) != 8 {
			return false, fmt.Errorf("message file key %x: %w", k, errCorrupt)
		}
		n := binary.BigEndian.Uint64(k)
		f, err := decodeFile(v)
		if err != nil {
			return false, fmt.Errorf("message file %d: %w", n, err)
		}
		return fn(n, f)
	})
}

// addRef counts one more message referencing in's file and returns the
// file's number: a new record, with in's cache, the first time in is
// referenced in this transaction.
func (x *tx) addRef(in *Incoming) (uint64, error) {
	n := in.file
	if n == 0 {
		n = x.newFiles[in]
	}
	if n == 0 {
		h, err := hashOf(in.Blob)
		if err != nil {
			return 0, err
		}
		if n, err = x.nextCounter("file"); err != nil {
			return 0, err
		}
		if x.newFiles == nil {
			x.newFiles = map[*Incoming]uint64{}
		}
		x.newFiles[in] = n
		f := &fileRec{hash: h, refs: 1, cache: in.Cache}
		return n, x.table(tFiles).Put(fileKey(n), f.encode())
	}
	f, err := x.file(n)
	if err == nil && f == nil {
		err = fmt.Errorf("message file %d: no record: %w", n, errCorrupt)
	}
	if err != nil {
		return 0, err
	}
	if f.refs == 0 {
		// Only COPY names a file by number, that of a message it copies.
		return 0, fmt.Errorf("message file %d: referenced again after its last reference went: %w", n, errCorrupt)
	}
	f.refs++
	return n, x.table(tFiles).Put(fileKey(n), f.encode())
}

// dropRef counts one message fewer referencing file n; with none left its
// cache goes and the record keeps the time of the drop.
func (x *tx) dropRef(n uint64) error {
	f, err := x.file(n)
	if err != nil {
		return err
	}
	if f == nil {
		return fmt.Errorf("message file %d: no record: %w", n, errCorrupt)
	}
	if f.refs <= 1 {
		f.refs, f.cache = 0, nil
		f.dropped = max(x.s.now().Unix(), 1)
		if err := x.table(tDropped).Put(dropKey(f.dropped, n), []byte{}); err != nil {
			return err
		}
		if err := x.table(tHeaderFields).Delete(fileKey(n)); err != nil {
			return err
		}
	} else {
		f.refs--
	}
	return x.table(tFiles).Put(fileKey(n), f.encode())
}

// keep reports whether the sweep must keep file f: a message references
// it, or the last one stopped less than grace ago.
func (s *Store) keep(f *fileRec, grace time.Duration) bool {
	return f.refs > 0 || s.now().Sub(time.Unix(f.dropped, 0)) < grace
}

// HeaderFields are some fields of a message's top-level header, kept with
// its file once a client has asked for them (BODY[HEADER.FIELDS (…)]), so
// that asking again opens no file, as Dovecot's cache does: Block is the
// header filtered to Names (message.FilterHeader, in header order, with
// its ending empty line), and Names, in lower case, are every field it
// covers, whether the header has it or not. A message's file holds at
// most one such record (space h, keyed by file number); it goes with the
// file's last reference.
type HeaderFields struct {
	Names []string
	Block []byte
}

// Covers reports whether every one of names is among h's.
func (h *HeaderFields) Covers(names []string) bool {
	if h == nil {
		return false
	}
	for _, n := range names {
		if !slices.ContainsFunc(h.Names, func(c string) bool { return strings.EqualFold(c, n) }) {
			return false
		}
	}
	return true
}

const headerFieldsVersion = 1

func (h *HeaderFields) encode() []byte {
	var e enc
	e.u8(headerFieldsVersion)
	e.strs(h.Names)
	e.fixed(h.Block)
	return e.b
}

// decodeHeaderFields decodes a record; Block aliases b.
func decodeHeaderFields(b []byte) (*HeaderFields, error) {
	d := dec{b: b}
	if v := d.u8(); v != headerFieldsVersion {
		return nil, fmt.Errorf("cached header fields version %d: %w", v, errCorrupt)
	}
	h := &HeaderFields{Names: d.strs()}
	if d.err != nil {
		return nil, fmt.Errorf("cached header fields: %w", d.err)
	}
	h.Block = d.b
	return h, nil
}

// headerFields reads the cached header fields of file n; nil when there
// are none.
func (x *tx) headerFields(n uint64) (*HeaderFields, error) {
	b := x.table(tHeaderFields).Get(fileKey(n))
	if b == nil {
		return nil, nil
	}
	h, err := decodeHeaderFields(b)
	if err != nil {
		return nil, fmt.Errorf("message file %d: %w", n, err)
	}
	return h, nil
}

// CacheHeaderFields keeps header fields of messages of mailbox, by UID,
// with their files (see HeaderFields). A message expunged meanwhile is
// skipped; a file's earlier record is replaced.
func (s *Store) CacheHeaderFields(ctx context.Context, mailbox uint64, byUID map[uint32]*HeaderFields) error {
	return s.update(ctx, func(x *tx) error {
		for uid, h := range byUID {
			m, err := x.message(mailbox, uid)
			if err != nil {
				return err
			}
			if m == nil {
				continue
			}
			f, err := x.file(m.file)
			if err != nil {
				return err
			}
			if f == nil || f.refs == 0 {
				continue
			}
			if err := x.table(tHeaderFields).Put(fileKey(m.file), h.encode()); err != nil {
				return err
			}
		}
		return nil
	})
}
