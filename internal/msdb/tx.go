package msdb

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// Limits of keys and values (bbolt's).
const (
	MaxKeySize   = bolt.MaxKeySize
	MaxValueSize = 64 << 20
)

// Errors.
var (
	ErrNoTable  = errors.New("no such table")
	ErrReadOnly = errors.New("transaction is read-only")
	ErrTxDone   = errors.New("transaction is finished")
)

// Tx is a transaction: a read-only snapshot (View) or a read-write
// transaction run by the committer (Update). Byte slices it returns are
// valid only until the transaction ends; copy what you keep.
type Tx struct {
	env      *Env
	writable bool
	done     bool
	// Read-only: one bbolt read transaction per table, all begun together.
	// Writable: the group's bbolt write transactions, begun as tables are used.
	read  map[string]*bolt.Tx
	group *groupTxs
	body  wal.Body
	undo  []undoEntry
	// onCommit runs on the committer, in commit order, once the group holding
	// the transaction is committed.
	onCommit []func()
}

// OnCommit registers f to run once the transaction has committed, on the
// committer goroutine, in commit order across transactions: use it to
// announce changes in the order they happened. f must not block or use
// the environment. It is dropped when the transaction fails.
func (tx *Tx) OnCommit(f func()) { tx.onCommit = append(tx.onCommit, f) }

type undoEntry struct {
	t       *table
	key     []byte
	old     []byte
	existed bool
}

// Writable reports whether tx can write.
func (tx *Tx) Writable() bool { return tx.writable }

// Table returns the named table in tx.
func (tx *Tx) Table(name string) (*Table, error) {
	if tx.done {
		return nil, ErrTxDone
	}
	if tx.writable {
		t, btx, err := tx.group.begin(name)
		if err != nil {
			return nil, err
		}
		return &Table{tx: tx, t: t, b: t.dataBucket(btx)}, nil
	}
	btx := tx.read[name]
	if btx == nil {
		return nil, fmt.Errorf("table %q: %w", name, ErrNoTable)
	}
	t := tx.env.tableByName(name)
	return &Table{tx: tx, t: t, b: btx.Bucket(bucketData)}, nil
}

// Tables lists the tables tx can see, sorted.
func (tx *Tx) Tables() []string { return tx.env.TableNames() }

// rollbackWrites undoes tx's writes, newest first.
func (tx *Tx) rollbackWrites() error {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		btx := tx.group.txs[u.t.name]
		b := btx.Bucket(bucketData)
		var err error
		if u.existed {
			err = b.Put(u.key, u.old)
		} else {
			err = b.Delete(u.key)
		}
		if err != nil {
			return fmt.Errorf("undo write to table %s: %w", u.t.name, err)
		}
	}
	tx.undo = nil
	return nil
}

// Table is a table inside a transaction.
type Table struct {
	tx *Tx
	t  *table
	b  *bolt.Bucket
}

// Name is the table's name.
func (t *Table) Name() string { return t.t.name }

// Get returns the value of key, or nil when absent.
func (t *Table) Get(key []byte) []byte {
	if len(key) == 0 {
		return nil
	}
	return t.b.Get(key)
}

func (t *Table) check(key, value []byte) error {
	if t.tx.done {
		return ErrTxDone
	}
	if !t.tx.writable {
		return ErrReadOnly
	}
	if len(key) == 0 {
		return fmt.Errorf("table %s: empty key", t.t.name)
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("table %s: key of %d bytes is over the %d-byte limit", t.t.name, len(key), MaxKeySize)
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("table %s: value of %d bytes is over the %d-byte limit", t.t.name, len(value), MaxValueSize)
	}
	return nil
}

func (t *Table) saveUndo(key []byte) {
	old := t.b.Get(key)
	t.tx.undo = append(t.tx.undo, undoEntry{t: t.t, key: bytes.Clone(key), old: bytes.Clone(old), existed: old != nil})
}

// Put sets key to value.
func (t *Table) Put(key, value []byte) error {
	if err := t.check(key, value); err != nil {
		return err
	}
	t.saveUndo(key)
	// bbolt keeps the slices until its transaction commits, which is after
	// the caller may have reused them: give it copies.
	if err := t.b.Put(bytes.Clone(key), append([]byte{}, value...)); err != nil {
		return fmt.Errorf("table %s: put: %w", t.t.name, err)
	}
	t.tx.body.Add(wal.OpPut, t.t.name, key, value)
	return nil
}

// Delete removes key; deleting an absent key is not an error.
func (t *Table) Delete(key []byte) error {
	if err := t.check(key, nil); err != nil {
		return err
	}
	if t.b.Get(key) == nil {
		return nil
	}
	t.saveUndo(key)
	if err := t.b.Delete(key); err != nil {
		return fmt.Errorf("table %s: delete: %w", t.t.name, err)
	}
	t.tx.body.Add(wal.OpDelete, t.t.name, key, nil)
	return nil
}

// Len is the number of keys in the table.
func (t *Table) Len() int { return t.b.Stats().KeyN }

// ForEach calls fn for every key from start (nil: the first) in order,
// until fn returns an error or false.
func (t *Table) ForEach(start []byte, fn func(k, v []byte) (bool, error)) error {
	c := t.b.Cursor()
	var k, v []byte
	if start == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(start)
	}
	for ; k != nil; k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Cursor iterates over the table in key order. Do not write to the table
// while iterating except through the cursor's Delete.
func (t *Table) Cursor() *Cursor { return &Cursor{t: t, c: t.b.Cursor()} }

// Cursor walks a table's keys in order; a nil key means past the end.
type Cursor struct {
	t   *Table
	c   *bolt.Cursor
	key []byte // the key the cursor is at
	// deleted: the key at c.key was deleted; bbolt's cursor position is then
	// unreliable, so the next move seeks from the deleted key.
	deleted bool
}

func (c *Cursor) at(k, v []byte) ([]byte, []byte) { c.key, c.deleted = k, false; return k, v }

// First moves to the first key.
func (c *Cursor) First() (k, v []byte) { return c.at(c.c.First()) }

// Last moves to the last key.
func (c *Cursor) Last() (k, v []byte) { return c.at(c.c.Last()) }

// Next moves to the next key.
func (c *Cursor) Next() (k, v []byte) {
	if c.deleted {
		return c.at(c.c.Seek(c.key))
	}
	return c.at(c.c.Next())
}

// Prev moves to the previous key.
func (c *Cursor) Prev() (k, v []byte) {
	if c.deleted {
		if k, _ := c.c.Seek(c.key); k == nil {
			return c.at(c.c.Last())
		}
	}
	return c.at(c.c.Prev())
}

// Seek moves to key, or the first key after it.
func (c *Cursor) Seek(key []byte) (k, v []byte) { return c.at(c.c.Seek(key)) }

// Delete removes the key the cursor is at; Next then moves to the key after it.
func (c *Cursor) Delete() error {
	if c.key == nil || c.deleted {
		return nil
	}
	key := bytes.Clone(c.key)
	if err := c.t.check(key, nil); err != nil {
		return err
	}
	c.t.saveUndo(key)
	if err := c.c.Delete(); err != nil {
		return fmt.Errorf("table %s: delete: %w", c.t.t.name, err)
	}
	c.t.tx.body.Add(wal.OpDelete, c.t.t.name, key, nil)
	c.key, c.deleted = key, true
	return nil
}
