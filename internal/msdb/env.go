package msdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/m-store/mstore/internal/msdb/locks"
	"github.com/m-store/mstore/internal/msdb/wal"
)

// Names inside the environment's home.
const (
	DataDirName = "data"
	LogDirName  = "transaction_log"
	LockName    = "msdb.lock"
)

// DefaultLogFileSize is the log file size when Options leave it zero.
const DefaultLogFileSize = 10 << 20

// Options configure Open.
type Options struct {
	Home        string // the database home, <ms-path>/database
	LogFileSize int64  // rotate log files past this size (default 10M)
	Logger      *slog.Logger
	// Catastrophic recovery: the table files come from a backup; every log
	// file present is verified, and every one from the tables' LSN on must
	// be there.
	Catastrophic bool
	// Until, with Catastrophic, is point-in-time recovery: only
	// transactions committed at or before it are applied, and the log after
	// the last of them is cut off (the later history is discarded).
	Until time.Time
	// Progress, when set, is called during recovery's replay.
	Progress func(Progress)
	// MustExist refuses to create a new environment where there is none.
	MustExist bool
}

// Progress reports recovery's replay.
type Progress struct {
	Records    int64 // records replayed so far
	Bytes      int64 // bytes of log replayed so far
	TotalBytes int64 // bytes of log to replay in all
	At         wal.LSN
}

// ErrInUse is returned by Open when another process holds the environment.
var ErrInUse = errors.New("database environment is in use")

// ErrPoisoned wraps the failure after which an environment accepts no more
// writes: the state on disk is safe, and reopening recovers it.
var ErrPoisoned = errors.New("database environment failed; reopen it to recover")

// Env is an open database environment.
type Env struct {
	home, dataDir, logDir string
	opts                  Options
	log                   *slog.Logger
	lockFile              *os.File
	id                    wal.EnvID

	// snap is held shared while a View begins its table snapshots and
	// exclusively while a group's table transactions commit, so a View sees
	// every table at the same group boundary.
	snap    sync.RWMutex
	mu      sync.Mutex // guards tables and holds
	tables  map[string]*table
	catalog *table
	holds   map[int]wal.LSN // log positions pinned by hot copies
	nextHld int

	w        *wal.Writer
	reqs     chan *request
	inflight atomic.Int64 // callers inside submit
	stop     chan struct{}
	stopped  chan struct{}
	closeMu  sync.Mutex
	closed   bool
	poison   error // set by the committer; read under poisonMu
	poisonMu sync.Mutex
	txid     uint64        // last transaction id used (committer only after Open)
	lastLSN  atomic.Uint64 // LSN of the last record applied to the tables
	lastCkpt atomic.Int64  // Unix nanoseconds of the last checkpoint

	stats    counters
	recovery *RecoveryReport
	Locks    *locks.Table
}

// Home is the environment's home directory.
func (e *Env) Home() string { return e.home }

// ID is the environment's id.
func (e *Env) ID() wal.EnvID { return e.id }

// LogDir is the directory of the log files.
func (e *Env) LogDir() string { return e.logDir }

// DataDir is the directory of the table files.
func (e *Env) DataDir() string { return e.dataDir }

// Recovery is what Open's recovery did.
func (e *Env) Recovery() *RecoveryReport { return e.recovery }

// Open opens the environment at opts.Home, creating it when there is none at
// all, and recovers it. Cancelling ctx stops recovery at a record boundary;
// Open then returns an error wrapping ctx.Err() and the environment is left
// consistent, for the next Open to finish.
func Open(ctx context.Context, opts Options) (*Env, error) {
	if opts.Home == "" {
		return nil, errors.New("open database environment: no home directory")
	}
	if opts.LogFileSize == 0 {
		opts.LogFileSize = DefaultLogFileSize
	}
	if opts.LogFileSize < 64<<10 || opts.LogFileSize > 1<<30 {
		return nil, fmt.Errorf("open database environment: log file size %d is outside 64K..1G", opts.LogFileSize)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	home, err := filepath.Abs(opts.Home)
	if err != nil {
		return nil, fmt.Errorf("open database environment: %w", err)
	}
	e := &Env{
		home:    home,
		dataDir: filepath.Join(home, DataDirName),
		logDir:  filepath.Join(home, LogDirName),
		opts:    opts,
		log:     lg,
		tables:  map[string]*table{},
		holds:   map[int]wal.LSN{},
		Locks:   &locks.Table{},
	}
	if opts.MustExist || opts.Catastrophic {
		// Never make directories for an environment that must already exist.
		for _, d := range []string{home, e.dataDir, e.logDir} {
			if _, err := os.Stat(d); err != nil {
				return nil, fmt.Errorf("no database environment in %s: %w", home, err)
			}
		}
	}
	for _, d := range []string{home, e.dataDir, e.logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open database environment: %w", err)
		}
	}
	if err := e.lock(); err != nil {
		return nil, err
	}
	rep, err := e.recover(ctx)
	e.recovery = rep
	if err != nil {
		e.closeFiles()
		e.unlock()
		return nil, err
	}
	e.reqs = make(chan *request, 1024)
	e.stop = make(chan struct{})
	e.stopped = make(chan struct{})
	go e.committer()
	return e, nil
}

// lock takes the environment's file lock, or says who holds it.
func (e *Env) lock() error {
	path := filepath.Join(e.home, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock database environment: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock database environment %s: %w", path, err)
		}
		return fmt.Errorf("%w: %s is held by %s", ErrInUse, e.home, lockHolder(f))
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Sync()
	}
	e.lockFile = f
	return nil
}

// lockHolder describes the process that wrote its PID into the lock file.
// The holder writes it right after taking the lock, so an empty file is
// read again for up to a second.
func lockHolder(f *os.File) string {
	deadline := time.Now().Add(time.Second)
	for {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
			desc := fmt.Sprintf("process %d", pid)
			if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cmd) > 0 {
				desc += fmt.Sprintf(" (%s)", strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
			}
			return desc
		}
		if time.Now().After(deadline) {
			return "another process (its PID is not recorded)"
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *Env) unlock() {
	if e.lockFile != nil {
		e.lockFile.Close() // closing drops the flock
		e.lockFile = nil
	}
}

// closeFiles closes table files and the log writer.
func (e *Env) closeFiles() error {
	var errs []error
	e.mu.Lock()
	for _, t := range e.tables {
		if err := t.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close table %s: %w", t.name, err))
		}
	}
	e.tables = map[string]*table{}
	if e.catalog != nil {
		if err := e.catalog.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close catalogue: %w", err))
		}
		e.catalog = nil
	}
	e.mu.Unlock()
	if e.w != nil {
		if err := e.w.Close(); err != nil && e.poisoned() == nil {
			errs = append(errs, err)
		}
		e.w = nil
	}
	return errors.Join(errs...)
}

// Close stops the committer after the transactions already queued, writes a
// checkpoint, marks the environment closed cleanly, and releases it.
func (e *Env) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	e.closeMu.Unlock()
	var errs []error
	if e.poisoned() == nil {
		if _, err := e.Checkpoint(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	close(e.stop)
	<-e.stopped
	if e.poisoned() == nil {
		if err := e.markClean(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, e.closeFiles())
	e.unlock()
	return errors.Join(errs...)
}

// markClean records in the catalogue that every table is at the end of the
// log: a later Open may then start a new log if the log files are gone.
func (e *Env) markClean() error {
	end := e.w.Durable()
	last := e.lastLSN.Load()
	for _, t := range e.allTables() {
		if t.lsn.Load() != last {
			return nil // not every table caught up; leave unmarked
		}
	}
	mark := binary.LittleEndian.AppendUint64(nil, last)
	mark = binary.LittleEndian.AppendUint64(mark, end.Uint64())
	return e.catalog.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyClean, mark)
	})
}

func (e *Env) poisoned() error {
	e.poisonMu.Lock()
	defer e.poisonMu.Unlock()
	return e.poison
}

func (e *Env) setPoison(err error) {
	e.poisonMu.Lock()
	defer e.poisonMu.Unlock()
	if e.poison == nil {
		e.poison = fmt.Errorf("%w: %w", ErrPoisoned, err)
		e.log.Error("database environment stopped accepting writes", "err", err)
	}
}

// tableByName returns an open table, or nil.
func (e *Env) tableByName(name string) *table {
	e.mu.Lock()
	defer e.mu.Unlock()
	if name == CatalogName {
		return e.catalog
	}
	return e.tables[name]
}

// allTables returns the catalogue and every table.
func (e *Env) allTables() []*table {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := make([]*table, 0, len(e.tables)+1)
	if e.catalog != nil {
		ts = append(ts, e.catalog)
	}
	for _, t := range e.tables {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	return ts
}

// TableNames lists the tables, sorted (the catalogue is not among them).
func (e *Env) TableNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.tables))
	for n := range e.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// HasTable reports whether the table exists.
func (e *Env) HasTable(name string) bool { return e.tableByName(name) != nil && name != CatalogName }

// View runs fn on a consistent, read-only snapshot of every table: all
// committed, durable transactions up to some group, nothing after it.
func (e *Env) View(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx := &Tx{env: e, read: map[string]*bolt.Tx{}}
	ts := e.allTables()
	e.snap.RLock()
	var err error
	for _, t := range ts {
		var btx *bolt.Tx
		if btx, err = t.db.Begin(false); err != nil {
			err = fmt.Errorf("begin read on table %s: %w", t.name, err)
			break
		}
		tx.read[t.name] = btx
	}
	e.snap.RUnlock()
	defer func() {
		tx.done = true
		for _, btx := range tx.read {
			btx.Rollback()
		}
	}()
	if err != nil {
		return err
	}
	return fn(tx)
}
