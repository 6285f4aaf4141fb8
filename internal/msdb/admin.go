package msdb

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// Checkpoint writes a checkpoint record and makes every table durable up to
// it, so that recovery needs no log before it. It returns the record's LSN.
func (e *Env) Checkpoint(ctx context.Context) (wal.LSN, error) {
	r := &request{kind: reqCheckpoint}
	if err := e.submit(ctx, r); err != nil {
		return wal.LSN{}, fmt.Errorf("checkpoint: %w", err)
	}
	return r.lsn, nil
}

// hold pins the log from lsn on against removal until the returned release
// is called.
func (e *Env) hold(lsn wal.LSN) (release func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextHld
	e.nextHld++
	e.holds[id] = lsn
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.holds, id)
	}
}

// oldestNeeded is the LSN from which the log is still needed: by normal
// recovery (the oldest table LSN) or by a hot copy in progress.
func (e *Env) oldestNeeded() wal.LSN {
	var oldest wal.LSN
	for i, t := range e.allTables() {
		if i == 0 || t.LSN().Less(oldest) {
			oldest = t.LSN()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.holds {
		if l.Less(oldest) {
			oldest = l
		}
	}
	return oldest
}

// LogFiles lists the numbers of every log file.
func (e *Env) LogFiles() ([]uint32, error) { return wal.ListFiles(e.logDir) }

// ArchivableLogs lists the log files no longer needed by recovery, a hot
// copy or backup in progress, an incremental backup of the latest backup
// (the backup mark) or the writer: they may be backed up and deleted.
func (e *Env) ArchivableLogs() ([]uint32, error) {
	nums, err := wal.ListFiles(e.logDir)
	if err != nil {
		return nil, err
	}
	need := e.oldestNeeded().File
	keep, ok, err := e.backupKeep()
	if err != nil {
		return nil, err
	}
	if ok {
		need = min(need, keep.File)
	}
	cur := e.w.Durable().File
	var out []uint32
	for _, n := range nums {
		if n < need && n < cur {
			out = append(out, n)
		}
	}
	return out, nil
}

// RemoveArchivableLogs deletes the log files ArchivableLogs lists and
// returns their paths.
func (e *Env) RemoveArchivableLogs() ([]string, error) {
	nums, err := e.ArchivableLogs()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range nums {
		p := filepath.Join(e.logDir, wal.FileName(n))
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("remove archivable log file: %w", err)
		}
		removed = append(removed, p)
	}
	if len(removed) > 0 {
		if err := wal.SyncDir(e.logDir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// TableFiles lists the paths of every table file, the catalogue included.
func (e *Env) TableFiles() []string {
	var out []string
	for _, t := range e.allTables() {
		out = append(out, t.path)
	}
	return out
}

// CopyReport describes a hot copy.
type CopyReport struct {
	Dir      string
	Tables   []CopiedTable
	LogFiles []string
	From     wal.LSN // the oldest table LSN in the copy: its log starts there
	End      wal.LSN // the copy's log ends here
	Bytes    int64
}

// CopiedTable is one table file in a hot copy.
type CopiedTable struct {
	Name string
	File string
	LSN  wal.LSN
	Size int64
}

// HotCopy copies the environment, live, into dataDir and logDir (created
// when absent; they may be the same directory): each table file as a
// consistent snapshot taken inside a read transaction (never a raw copy of
// the live file), then the log files from the oldest snapshot's LSN to the
// end of the durable log. Catastrophic recovery of the copy brings it to
// that end.
func (e *Env) HotCopy(ctx context.Context, dataDir, logDir string) (*CopyReport, error) {
	rep := &CopyReport{Dir: dataDir}
	release := e.hold(e.oldestNeeded())
	defer release()
	for _, d := range []string{dataDir, logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return rep, fmt.Errorf("hot copy: %w", err)
		}
	}
	first := true
	for _, t := range e.allTables() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		dst := filepath.Join(dataDir, filepath.Base(t.path))
		var lsn wal.LSN
		var size int64
		err := t.db.View(func(tx *bolt.Tx) error {
			lsn = wal.LSNFromUint64(u64(tx.Bucket(bucketMeta).Get(keyLSN)))
			size = tx.Size()
			return writeFileSynced(dst, func(w io.Writer) error { _, err := tx.WriteTo(w); return err })
		})
		if err != nil {
			return rep, fmt.Errorf("hot copy of table %s: %w", t.name, err)
		}
		rep.Tables = append(rep.Tables, CopiedTable{Name: t.name, File: dst, LSN: lsn, Size: size})
		rep.Bytes += size
		if first || lsn.Less(rep.From) {
			rep.From = lsn
		}
		first = false
	}
	rep.End = e.w.Durable()
	from := max(rep.From.File, 1)
	for n := from; n <= rep.End.File; n++ {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		src := filepath.Join(e.logDir, wal.FileName(n))
		dst := filepath.Join(logDir, wal.FileName(n))
		limit := int64(-1)
		if n == rep.End.File {
			limit = int64(rep.End.Offset)
		}
		nb, err := copyFile(src, dst, limit)
		if err != nil {
			return rep, fmt.Errorf("hot copy of log file: %w", err)
		}
		rep.LogFiles = append(rep.LogFiles, dst)
		rep.Bytes += nb
	}
	for _, d := range []string{dataDir, logDir} {
		if err := wal.SyncDir(d); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// writeFileSynced writes a new file through fn under a temporary name,
// syncs it and renames it into place.
func writeFileSynced(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = fn(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// copyFile copies src to dst (at most limit bytes when limit >= 0), synced.
func copyFile(src, dst string, limit int64) (int64, error) {
	f, err := copyHashed(src, dst, limit)
	return f.Size, err
}

// Problem is one thing Verify found wrong.
type Problem struct {
	File string
	What string
}

func (p Problem) String() string { return p.File + ": " + p.What }

// Verify checks every table file's B+tree (bbolt's consistency check) and
// the checksum of every record of every log file. It returns the problems
// found; an error means it could not look.
func (e *Env) Verify(ctx context.Context) ([]Problem, error) {
	var probs []Problem
	for _, t := range e.allTables() {
		err := t.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				probs = append(probs, Problem{File: t.path, What: err.Error()})
			}
			return nil
		})
		if err != nil {
			return probs, err
		}
	}
	nums, err := wal.ListFiles(e.logDir)
	if err != nil {
		return probs, err
	}
	for _, n := range nums {
		if err := ctx.Err(); err != nil {
			return probs, err
		}
		fe, err := wal.ReadFile(e.logDir, n, 0, func(*wal.Record) error { return nil })
		name := filepath.Join(e.logDir, wal.FileName(n))
		if err != nil {
			probs = append(probs, Problem{File: name, What: err.Error()})
			continue
		}
		if fe.Header.Env != e.id {
			probs = append(probs, Problem{File: name, What: "belongs to another environment"})
		}
		if fe.Damage != nil {
			probs = append(probs, Problem{File: name, What: fe.Damage.Error()})
		}
	}
	return probs, nil
}

// Stats describe the environment.
type Stats struct {
	Home       string
	ID         string
	LogFiles   int
	FirstLog   uint32
	LastLog    uint32
	LogBytes   int64
	End        wal.LSN // durable end of the log
	Oldest     wal.LSN // the log is needed from here
	Tables     []TableStats
	TableBytes int64
	Commits    uint64 // since Open
	Groups     uint64
	LogSyncs   uint64
	LogBytesW  uint64 // payload bytes logged since Open
	LastCkpt   time.Time
	AvgGroup   float64
	AvgLogSync time.Duration
	AvgApply   time.Duration
}

// TableStats describe one table.
type TableStats struct {
	Name  string
	File  string
	Keys  int
	Bytes int64 // file size
	Used  int64 // bytes up to the file's highest page in use (the rest is preallocated)
	LSN   wal.LSN
}

// counters are the committer's statistics.
type counters struct {
	mu                sync.Mutex
	commits, groups   uint64
	bytes             uint64
	logTime, applyDur time.Duration
}

func (c *counters) group(n, bytes int, logTime, applyTime, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits += uint64(n)
	c.groups++
	c.bytes += uint64(bytes)
	c.logTime += logTime
	c.applyDur += applyTime
}

// Stats gathers the environment's statistics.
func (e *Env) Stats(ctx context.Context) (*Stats, error) {
	s := &Stats{Home: e.home, ID: e.id.String(), End: e.w.Durable(), Oldest: e.oldestNeeded()}
	nums, err := wal.ListFiles(e.logDir)
	if err != nil {
		return nil, err
	}
	s.LogFiles = len(nums)
	if len(nums) > 0 {
		s.FirstLog, s.LastLog = nums[0], nums[len(nums)-1]
	}
	for _, n := range nums {
		if st, err := os.Stat(filepath.Join(e.logDir, wal.FileName(n))); err == nil {
			s.LogBytes += st.Size()
		}
	}
	err = e.View(ctx, func(tx *Tx) error {
		for name, btx := range tx.read {
			t := e.tableByName(name)
			ts := TableStats{Name: name, File: t.path, LSN: t.LSN(), Bytes: btx.Size(), Used: btx.Size()}
			ts.Keys = btx.Bucket(bucketData).Stats().KeyN
			if st, err := os.Stat(t.path); err == nil {
				ts.Bytes = st.Size()
			}
			s.Tables = append(s.Tables, ts)
			s.TableBytes += ts.Bytes
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Name < s.Tables[j].Name })
	e.stats.mu.Lock()
	s.Commits, s.Groups, s.LogBytesW = e.stats.commits, e.stats.groups, e.stats.bytes
	if s.Groups > 0 {
		s.AvgGroup = float64(s.Commits) / float64(s.Groups)
		s.AvgLogSync = e.stats.logTime / time.Duration(s.Groups)
		s.AvgApply = e.stats.applyDur / time.Duration(s.Groups)
	}
	e.stats.mu.Unlock()
	s.LogSyncs = e.w.Syncs()
	if ns := e.lastCkpt.Load(); ns != 0 {
		s.LastCkpt = time.Unix(0, ns)
	}
	return s, nil
}
