package store

import (
	"bytes"

	"github.com/m-store/mstore/internal/msdb"
)

// space is the part of the mail table whose keys start with one byte: it
// reads and writes keys without that byte.
type space struct {
	t *msdb.Table
	p byte
}

func (s space) key(k []byte) []byte {
	out := make([]byte, 0, len(k)+1)
	return append(append(out, s.p), k...)
}

func (s space) Get(k []byte) []byte   { return s.t.Get(s.key(k)) }
func (s space) Put(k, v []byte) error { return s.t.Put(s.key(k), v) }
func (s space) Delete(k []byte) error { return s.t.Delete(s.key(k)) }

// ForEach calls fn for every key of the space from start (nil: the first),
// in order, until fn returns an error or false.
func (s space) ForEach(start []byte, fn func(k, v []byte) (bool, error)) error {
	prefix := []byte{s.p}
	return s.t.ForEach(s.key(start), func(k, v []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		return fn(k[1:], v)
	})
}
