package msdb

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// Bucket and key names inside every table file.
var (
	bucketMeta = []byte("msdb")
	bucketData = []byte("data")
	keyLSN     = []byte("lsn")
	keyEnv     = []byte("env")
	keyName    = []byte("name")
	keyFill    = []byte("fill")
	keyClean   = []byte("clean") // catalogue only: LSN of the last clean close
	keyCreated = []byte("created")

	bucketTables = []byte("tables") // catalogue only: table name → options
)

// CatalogName is the catalogue's table name; its file is data/catalog.db.
const CatalogName = "catalog"

var tableNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// ValidTableName reports whether name can name a table.
func ValidTableName(name string) error {
	if !tableNameRE.MatchString(name) || name == CatalogName {
		return fmt.Errorf("bad table name %q: want 1 to 64 of a-z 0-9 _ . -, starting with a letter or digit, not %q", name, CatalogName)
	}
	return nil
}

// TableOptions are a table's settings, fixed when it is created.
type TableOptions struct {
	// FillPercent is how full bbolt fills pages it splits (0.1 to 1.0; 0
	// means bbolt's default 0.5). Use 0.9 or more for tables whose keys
	// mostly grow at the end, such as (mailbox, UID).
	FillPercent float64
}

func (o TableOptions) encode() []byte {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(o.FillPercent))
}

func decodeTableOptions(b []byte) (TableOptions, error) {
	if len(b) != 8 {
		return TableOptions{}, fmt.Errorf("table options of %d bytes", len(b))
	}
	o := TableOptions{FillPercent: math.Float64frombits(binary.LittleEndian.Uint64(b))}
	if o.FillPercent != 0 && (o.FillPercent < 0.1 || o.FillPercent > 1) {
		return o, fmt.Errorf("fill percent %v out of range", o.FillPercent)
	}
	return o, nil
}

// table is one open table file.
type table struct {
	name string
	path string
	db   *bolt.DB
	opts TableOptions
	lsn  atomic.Uint64 // LSN of the last record applied, as durable in the file
}

func (t *table) LSN() wal.LSN { return wal.LSNFromUint64(t.lsn.Load()) }

func tablePath(dataDir, name string) string { return filepath.Join(dataDir, name+".db") }

// openBolt opens a bbolt file the way every table file is opened.
func openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         time.Second, // the environment lock already excludes other processes
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20, // readers block remapping: remap rarely
	})
	if err != nil {
		return nil, err
	}
	// bbolt grows a file by AllocSize (16 MB) past what it needs once the
	// mmap is larger than that; small steps keep small tables small.
	db.AllocSize = 1 << 20
	return db, nil
}

// openTable opens an existing table file and checks it belongs to env.
func openTable(dataDir, name string, env wal.EnvID) (*table, error) {
	path := tablePath(dataDir, name)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("table file %s: %w", path, err)
	}
	db, err := openBolt(path)
	if err != nil {
		return nil, fmt.Errorf("open table file %s: %w", path, err)
	}
	t := &table{name: name, path: path, db: db}
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil || tx.Bucket(bucketData) == nil {
			return fmt.Errorf("table file %s: not an msdb table (no %q bucket)", path, bucketMeta)
		}
		if got := string(m.Get(keyName)); got != name {
			return fmt.Errorf("table file %s: holds table %q, not %q (renamed?)", path, got, name)
		}
		var id wal.EnvID
		copy(id[:], m.Get(keyEnv))
		if env != (wal.EnvID{}) && id != env {
			return fmt.Errorf("table file %s: belongs to another environment (id %v, this one is %v)", path, id, env)
		}
		lsn := m.Get(keyLSN)
		if len(lsn) != 8 {
			return fmt.Errorf("table file %s: no applied LSN", path)
		}
		t.lsn.Store(binary.LittleEndian.Uint64(lsn))
		o, err := decodeTableOptions(m.Get(keyFill))
		if err != nil {
			return fmt.Errorf("table file %s: %w", path, err)
		}
		t.opts = o
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return t, nil
}

// readEnvID reads the environment id stored in a table file's meta bucket.
func (t *table) envID() (wal.EnvID, error) {
	var id wal.EnvID
	err := t.db.View(func(tx *bolt.Tx) error {
		copy(id[:], tx.Bucket(bucketMeta).Get(keyEnv))
		return nil
	})
	return id, err
}

// createTable makes a new table file at LSN lsn. The file is created under
// a temporary name and renamed into place once it is whole and synced.
func createTable(dataDir, name string, env wal.EnvID, opts TableOptions, lsn wal.LSN, catalog bool) (*table, error) {
	path := tablePath(dataDir, name)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create table file %s: it already exists", path)
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	db, err := openBolt(tmp)
	if err != nil {
		return nil, fmt.Errorf("create table file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketData); err != nil {
			return err
		}
		if catalog {
			if _, err := tx.CreateBucket(bucketTables); err != nil {
				return err
			}
		}
		puts := [][2][]byte{
			{keyName, []byte(name)},
			{keyEnv, env[:]},
			{keyLSN, binary.LittleEndian.AppendUint64(nil, lsn.Uint64())},
			{keyFill, opts.encode()},
			{keyCreated, binary.LittleEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))},
		}
		for _, kv := range puts {
			if err := m.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = wal.SyncDir(dataDir)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("create table file %s: %w", path, err)
	}
	return openTable(dataDir, name, env)
}

// putLSN records in a table's write transaction that records up to lsn are applied.
func putLSN(tx *bolt.Tx, lsn wal.LSN) error {
	return tx.Bucket(bucketMeta).Put(keyLSN, binary.LittleEndian.AppendUint64(nil, lsn.Uint64()))
}

// dataBucket returns a write transaction's data bucket set up with the table's fill percent.
func (t *table) dataBucket(tx *bolt.Tx) *bolt.Bucket {
	b := tx.Bucket(bucketData)
	if tx.Writable() && t.opts.FillPercent != 0 {
		b.FillPercent = t.opts.FillPercent
	}
	return b
}
