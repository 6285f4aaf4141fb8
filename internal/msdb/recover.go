package msdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// RecoveryReport says what recovery found and did.
type RecoveryReport struct {
	Created      bool // there was no environment: a new one was made
	Catastrophic bool
	From         wal.LSN     // replay began after this LSN, the oldest table's
	End          wal.LSN     // the end of the log afterwards
	FirstLog     uint32      // first and last log files read
	LastLog      uint32      //
	Records      int64       // records replayed
	Bytes        int64       // bytes of log replayed
	Ops          int64       // operations applied to tables
	TotalBytes   int64       // bytes that were to be replayed
	TornTail     *wal.Damage // the torn tail cut from the last log file
	NewLog       bool        // no log files: the tables were closed cleanly, a new log was started
	Orphans      []string    // table files not in the catalogue, left alone
	LastTxID     uint64
	LastTime     time.Time // commit time of the last transaction in the log
	Interrupted  bool
	Duration     time.Duration
	// Point-in-time recovery (Options.Until): the log was cut at CutAt, the
	// first record committed after Until; LastTxID and LastTime are those of
	// the last transaction kept; RemovedLogs are the later files removed.
	CutAt       wal.LSN
	RemovedLogs []string
}

// ErrInterrupted is returned by Open when recovery was stopped by its context.
var ErrInterrupted = errors.New("recovery interrupted")

// Replay batching: table transactions are committed every so many records
// or bytes of operations.
const (
	replayBatchRecords = 20000
	replayBatchBytes   = 32 << 20
)

func removeFile(path string) { os.Remove(path) }

// recover brings the environment to a consistent state; see the package doc.
func (e *Env) recover(ctx context.Context) (*RecoveryReport, error) {
	start := time.Now()
	rep := &RecoveryReport{Catastrophic: e.opts.Catastrophic}
	defer func() { rep.Duration = time.Since(start) }()

	dbFiles, err := listTableFiles(e.dataDir)
	if err != nil {
		return rep, err
	}
	logNums, err := wal.ListFiles(e.logDir)
	if err != nil {
		return rep, err
	}
	if len(dbFiles) == 0 && len(logNums) == 0 {
		if e.opts.MustExist || e.opts.Catastrophic {
			return rep, fmt.Errorf("no database environment in %s: no table files in %s and no log files in %s", e.home, e.dataDir, e.logDir)
		}
		return rep, e.create(rep)
	}

	// The catalogue and every table it lists must be there.
	if _, err := os.Stat(tablePath(e.dataDir, CatalogName)); err != nil {
		return rep, fmt.Errorf("the catalogue %s is missing (it lists the environment's table files): restore a backup holding every table file with msdb_restore", tablePath(e.dataDir, CatalogName))
	}
	cat, err := openTable(e.dataDir, CatalogName, wal.EnvID{})
	if err != nil {
		return rep, err
	}
	e.catalog = cat
	if e.id, err = cat.envID(); err != nil {
		return rep, fmt.Errorf("read catalogue: %w", err)
	}
	listed, clean, err := readCatalog(cat)
	if err != nil {
		return rep, err
	}
	var missing []string
	for _, name := range sortedKeys(listed) {
		if _, err := os.Stat(tablePath(e.dataDir, name)); err != nil {
			missing = append(missing, tablePath(e.dataDir, name))
		}
	}
	if len(missing) > 0 {
		return rep, fmt.Errorf("table files missing: %s; restore a backup holding every table file with msdb_restore", strings.Join(missing, ", "))
	}
	for _, name := range sortedKeys(listed) {
		t, err := openTable(e.dataDir, name, e.id)
		if err != nil {
			return rep, err
		}
		e.tables[name] = t
	}
	for _, f := range dbFiles {
		name := strings.TrimSuffix(f, ".db")
		if name != CatalogName && listed[name] == nil {
			rep.Orphans = append(rep.Orphans, filepath.Join(e.dataDir, f))
		}
	}
	all := e.allTables()
	minLSN, maxLSN := all[0].LSN(), all[0].LSN()
	for _, t := range all {
		if t.LSN().Less(minLSN) {
			minLSN = t.LSN()
		}
		if maxLSN.Less(t.LSN()) {
			maxLSN = t.LSN()
		}
	}
	rep.From = minLSN

	if len(logNums) == 0 {
		return rep, e.restartLog(rep, clean, minLSN, maxLSN)
	}

	// Every log file from the oldest table's LSN to the end must be there.
	need, last := minLSN.File, logNums[len(logNums)-1]
	if need == 0 {
		need = 1
	}
	present := map[uint32]bool{}
	for _, n := range logNums {
		present[n] = true
	}
	var gone []string
	for n := need; n <= max(last, maxLSN.File); n++ {
		if !present[n] {
			gone = append(gone, wal.FileName(n))
		}
	}
	if len(gone) > 0 {
		return rep, fmt.Errorf("log files missing from %s: %s (the tables need the log from LSN %v on); restore them and run msdb_recover again", e.logDir, strings.Join(gone, ", "), minLSN)
	}
	rep.FirstLog, rep.LastLog = need, last

	// Pass 1: verify everything before changing anything.
	if !e.opts.Until.IsZero() && !e.opts.Catastrophic {
		return rep, errors.New("point-in-time recovery is catastrophic recovery of a restored backup: use it with -c")
	}
	end, torn, err := e.verifyLog(logNums, need, minLSN, listed, rep)
	if err != nil {
		return rep, err
	}
	if !rep.CutAt.IsZero() {
		// Point in time: the log ends before the first later transaction.
		end, torn = rep.CutAt, nil
		for _, t := range all {
			if !t.LSN().Less(end) {
				return rep, fmt.Errorf("table file %s is at LSN %v, after the recovery time (the first later transaction is at %v): restore a backup taken before %s", t.path, t.LSN(), end, e.opts.Until.Format(time.RFC3339))
			}
		}
		if err := wal.CutTail(e.logDir, end); err != nil {
			return rep, err
		}
		for _, n := range logNums {
			if n > end.File {
				p := filepath.Join(e.logDir, wal.FileName(n))
				if err := os.Remove(p); err != nil {
					return rep, fmt.Errorf("point-in-time recovery: %w", err)
				}
				rep.RemovedLogs = append(rep.RemovedLogs, p)
			}
		}
		if err := wal.SyncDir(e.logDir); err != nil {
			return rep, err
		}
		last = end.File
		e.log.Warn("point-in-time recovery: cut the log", "at", end.String(), "until", e.opts.Until, "removed", len(rep.RemovedLogs))
	}
	for _, t := range all {
		if end.Less(t.LSN()) {
			return rep, fmt.Errorf("table file %s is at LSN %v, but the log ends at %v: log files or their tails are missing (restore them, or restore a consistent backup)", t.path, t.LSN(), end)
		}
	}

	// Pass 2: cut a torn tail, replay.
	if torn != nil {
		if err := wal.CutTail(e.logDir, end); err != nil {
			return rep, err
		}
		rep.TornTail = torn
		e.log.Warn("cut torn tail of the log", "file", torn.File, "lsn", torn.At.String(), "bytes", torn.Bytes, "reason", torn.Reason)
	}
	rep.End = end
	if err := e.replay(ctx, need, last, minLSN, rep); err != nil {
		return rep, err
	}
	if err := e.catchUp(end, rep); err != nil {
		return rep, err
	}
	for _, t := range e.allTables() {
		e.lastLSN.Store(max(e.lastLSN.Load(), t.lsn.Load()))
	}
	if e.w, err = wal.Resume(e.logDir, e.id, e.opts.LogFileSize, end); err != nil {
		return rep, err
	}
	e.txid = rep.LastTxID
	if clean.end != 0 {
		if err := clearClean(e.catalog); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// create makes a new, empty environment.
func (e *Env) create(rep *RecoveryReport) error {
	if _, err := rand.Read(e.id[:]); err != nil {
		return fmt.Errorf("create environment id: %w", err)
	}
	cat, err := createTable(e.dataDir, CatalogName, e.id, TableOptions{}, wal.LSN{File: 1}, true)
	if err != nil {
		return err
	}
	e.catalog = cat
	if e.w, err = wal.Create(e.logDir, e.id, e.opts.LogFileSize, 1, wal.LSN{}); err != nil {
		return err
	}
	rep.Created = true
	rep.End = e.w.End()
	e.log.Info("created database environment", "home", e.home, "id", e.id.String())
	return nil
}

// cleanMark is the catalogue's record of the last clean close.
type cleanMark struct{ last, end uint64 }

func readCatalog(cat *table) (map[string][]byte, cleanMark, error) {
	listed := map[string][]byte{}
	var clean cleanMark
	err := cat.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTables)
		if b == nil {
			return fmt.Errorf("catalogue %s has no table list", cat.path)
		}
		if err := b.ForEach(func(k, v []byte) error {
			if err := ValidTableName(string(k)); err != nil {
				return fmt.Errorf("catalogue %s: %w", cat.path, err)
			}
			listed[string(k)] = append([]byte(nil), v...)
			return nil
		}); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(keyClean); len(v) == 16 {
			clean = cleanMark{binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])}
		}
		return nil
	})
	return listed, clean, err
}

func clearClean(cat *table) error {
	return cat.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyClean) })
}

// restartLog handles a home with table files and no log files at all: when
// the tables were closed cleanly nothing is lost and a new log starts after
// the old one; otherwise committed transactions may be missing from the
// tables, and it refuses.
func (e *Env) restartLog(rep *RecoveryReport, clean cleanMark, minLSN, maxLSN wal.LSN) error {
	if clean.end == 0 || minLSN != maxLSN || minLSN.Uint64() != clean.last {
		return fmt.Errorf("no log files in %s, and the tables were not closed cleanly (they need the log from %s on, LSN %v): restore the log files, or a backup, with msdb_restore", e.logDir, wal.FileName(max(minLSN.File, 1)), minLSN)
	}
	end := wal.LSNFromUint64(clean.end)
	var err error
	if e.w, err = wal.Create(e.logDir, e.id, e.opts.LogFileSize, end.File+1, end); err != nil {
		return err
	}
	// Anchor the tables in the new log: a checkpoint record, and every
	// table at it, before the clean mark goes.
	lsn, err := e.w.AppendCheckpoint(0, time.Now())
	if err == nil {
		err = e.w.Flush()
	}
	if err != nil {
		return fmt.Errorf("start a new log: %w", err)
	}
	for _, t := range e.allTables() {
		if err := t.db.Update(func(tx *bolt.Tx) error { return putLSN(tx, lsn) }); err != nil {
			return fmt.Errorf("table %s: %w", t.name, err)
		}
		t.lsn.Store(lsn.Uint64())
	}
	e.lastLSN.Store(lsn.Uint64())
	if err := clearClean(e.catalog); err != nil {
		return err
	}
	rep.NewLog = true
	rep.End = e.w.End()
	e.log.Warn("no log files; the tables were closed cleanly, starting a new log", "file", wal.FileName(end.File+1))
	return nil
}

// verifyLog reads every log file to check it (from need on, or all of them
// in catastrophic recovery) and returns the end of the valid log and a torn
// tail to cut, if any.
func (e *Env) verifyLog(nums []uint32, need uint32, from wal.LSN, listed map[string][]byte, rep *RecoveryReport) (wal.LSN, *wal.Damage, error) {
	// Every table's LSN must be a record in the log (but the "before any
	// record" LSN of a new environment, offset 0): tables at a record the
	// log no longer has would skip whatever is written there next.
	tableAt := map[wal.LSN]bool{}
	for _, t := range e.allTables() {
		if t.LSN().Offset != 0 {
			tableAt[t.LSN()] = false
		}
	}
	known := map[string]bool{CatalogName: true}
	for n := range listed {
		known[n] = true
	}
	last := nums[len(nums)-1]
	var prevEnd wal.LSN
	var prevNum uint32
	var end wal.LSN
	var torn *wal.Damage
	for _, n := range nums {
		if n < need && !e.opts.Catastrophic {
			continue
		}
		h, err := wal.ReadHeader(e.logDir, n)
		if err != nil {
			return end, nil, fmt.Errorf("verify log: %w", err)
		}
		if h.Env != e.id {
			return end, nil, fmt.Errorf("log file %s belongs to another environment (id %v; this one is %v)", filepath.Join(e.logDir, wal.FileName(n)), h.Env, e.id)
		}
		fe, err := wal.ReadFile(e.logDir, n, 0, func(r *wal.Record) error {
			if _, ok := tableAt[r.LSN]; ok {
				tableAt[r.LSN] = true
			}
			if !rep.CutAt.IsZero() {
				return nil // past the point in time: verified, not applied
			}
			if !e.opts.Until.IsZero() && r.Time.After(e.opts.Until) && from.Less(r.LSN) {
				rep.CutAt = r.LSN
				return nil
			}
			rep.LastTxID, rep.LastTime = max(rep.LastTxID, r.TxID), r.Time
			if !from.Less(r.LSN) {
				return nil
			}
			rep.TotalBytes += int64(r.Size)
			for _, op := range r.Ops {
				if op.Kind == wal.OpCreateTable {
					known[op.Table] = true
				} else if !known[op.Table] {
					return fmt.Errorf("log record at LSN %v in %s writes table %q, which neither the catalogue nor an earlier record creates", r.LSN, wal.FileName(n), op.Table)
				}
			}
			return nil
		})
		if err != nil {
			return end, nil, fmt.Errorf("verify log: %w", err)
		}
		if prevNum != 0 && prevNum == n-1 && fe.Header.PrevEnd != prevEnd && rep.CutAt.IsZero() {
			return end, nil, fmt.Errorf("log file %s says %s ended at %v, but its records end at %v: %s is damaged or not the original", wal.FileName(n), wal.FileName(n-1), fe.Header.PrevEnd, prevEnd, wal.FileName(n-1))
		}
		if fe.Damage != nil && !rep.CutAt.IsZero() && rep.CutAt.Less(fe.Damage.At) {
			// Damage past the point in time is cut off with the rest.
			fe.Damage = nil
		}
		if fe.Damage != nil {
			if n != last || !fe.Damage.Torn {
				return end, nil, fmt.Errorf("log is corrupt, nothing was changed: %w; restore the log file from a backup", fe.Damage)
			}
			torn = fe.Damage
		}
		prevEnd, prevNum, end = fe.End, n, fe.End
	}
	for _, t := range e.allTables() {
		if found, ok := tableAt[t.LSN()]; ok && !found {
			return end, nil, fmt.Errorf("table file %s is at LSN %v, but the log ends at %v without a record there: log files or their tails are missing; restore them, or restore a consistent backup, nothing was changed", t.path, t.LSN(), end)
		}
	}
	return end, torn, nil
}

// replay applies every record past each table's LSN.
func (e *Env) replay(ctx context.Context, first, last uint32, from wal.LSN, rep *RecoveryReport) error {
	batch := map[string]*bolt.Tx{}
	var batchRecords, batchBytes int
	var lastLSN wal.LSN
	commit := func() error {
		if len(batch) == 0 {
			return nil
		}
		for name, btx := range batch {
			t := e.tableByName(name)
			if err := putLSN(btx, lastLSN); err != nil {
				return err
			}
			if err := btx.Commit(); err != nil {
				return fmt.Errorf("replay into table %s: %w", name, err)
			}
			t.lsn.Store(lastLSN.Uint64())
		}
		clear(batch)
		batchRecords, batchBytes = 0, 0
		return nil
	}
	rollback := func() {
		for _, btx := range batch {
			btx.Rollback()
		}
	}
	begin := func(t *table) (*bolt.Tx, error) {
		if btx := batch[t.name]; btx != nil {
			return btx, nil
		}
		btx, err := t.db.Begin(true)
		if err != nil {
			return nil, fmt.Errorf("replay into table %s: %w", t.name, err)
		}
		batch[t.name] = btx
		return btx, nil
	}
	progress := func() {
		if e.opts.Progress != nil {
			e.opts.Progress(Progress{Records: rep.Records, Bytes: rep.Bytes, TotalBytes: rep.TotalBytes, At: lastLSN})
		}
	}
	errStop := errors.New("stop")
	var lastPct int64
	for n := first; n <= last; n++ {
		var fromOff uint32
		if n == from.File {
			fromOff = from.Offset + 1
		}
		_, err := wal.ReadFile(e.logDir, n, fromOff, func(r *wal.Record) error {
			if rep.Records%256 == 0 && ctx.Err() != nil {
				return errStop
			}
			for _, op := range r.Ops {
				if err := e.replayOp(r, op, begin); err != nil {
					return err
				}
				rep.Ops++
			}
			rep.Records++
			rep.Bytes += int64(r.Size)
			lastLSN = r.LSN
			if rep.TotalBytes > 0 && rep.Bytes*100/rep.TotalBytes > lastPct {
				lastPct = rep.Bytes * 100 / rep.TotalBytes
				progress()
			}
			batchRecords++
			batchBytes += r.Size
			if batchRecords >= replayBatchRecords || batchBytes >= replayBatchBytes {
				if err := commit(); err != nil {
					return err
				}
				progress()
			}
			return nil
		})
		if errors.Is(err, errStop) {
			if cerr := commit(); cerr != nil {
				rollback()
				return cerr
			}
			progress()
			rep.Interrupted = true
			return fmt.Errorf("%w at LSN %v after %d of %d bytes: the environment is consistent; run recovery again to finish: %w", ErrInterrupted, lastLSN, rep.Bytes, rep.TotalBytes, ctx.Err())
		}
		if err != nil {
			rollback()
			return fmt.Errorf("replay: %w", err)
		}
	}
	if err := commit(); err != nil {
		rollback()
		return err
	}
	progress()
	return nil
}

// replayOp applies one operation of record r where the table has not seen r.
func (e *Env) replayOp(r *wal.Record, op wal.Op, begin func(*table) (*bolt.Tx, error)) error {
	if op.Kind == wal.OpCreateTable {
		if e.catalog.LSN().Less(r.LSN) {
			btx, err := begin(e.catalog)
			if err != nil {
				return err
			}
			if err := btx.Bucket(bucketTables).Put([]byte(op.Table), bytes.Clone(op.Value)); err != nil {
				return err
			}
		}
		if t := e.tableByName(op.Table); t != nil {
			return nil
		}
		opts, err := decodeTableOptions(op.Value)
		if err != nil {
			return fmt.Errorf("record at LSN %v creates table %s: %w", r.LSN, op.Table, err)
		}
		// A file left by a creation whose catalogue entry never committed
		// is made again from the log.
		removeFile(tablePath(e.dataDir, op.Table))
		t, err := createTable(e.dataDir, op.Table, e.id, opts, r.LSN, false)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.tables[op.Table] = t
		e.mu.Unlock()
		return nil
	}
	t := e.tableByName(op.Table)
	if t == nil {
		return fmt.Errorf("record at LSN %v writes table %q, which does not exist", r.LSN, op.Table)
	}
	if !t.LSN().Less(r.LSN) {
		return nil
	}
	btx, err := begin(t)
	if err != nil {
		return err
	}
	b := t.dataBucket(btx)
	if op.Kind == wal.OpPut {
		// The record's slices are the reader's buffer, reused for later
		// records; bbolt keeps what it is given until the batch commits.
		err = b.Put(bytes.Clone(op.Key), append([]byte{}, op.Value...))
	} else {
		err = b.Delete(op.Key)
	}
	if err != nil {
		return fmt.Errorf("replay record at LSN %v into table %s: %w", r.LSN, t.name, err)
	}
	return nil
}

// catchUp brings every table's LSN to the last record, so that log files
// before it are no longer needed by recovery.
func (e *Env) catchUp(end wal.LSN, rep *RecoveryReport) error {
	if rep.Records == 0 {
		return nil
	}
	var lastRec wal.LSN
	for _, t := range e.allTables() {
		if lastRec.Less(t.LSN()) {
			lastRec = t.LSN()
		}
	}
	for _, t := range e.allTables() {
		if !t.LSN().Less(lastRec) {
			continue
		}
		if err := t.db.Update(func(tx *bolt.Tx) error { return putLSN(tx, lastRec) }); err != nil {
			return fmt.Errorf("table %s: %w", t.name, err)
		}
		t.lsn.Store(lastRec.Uint64())
	}
	return nil
}

// listTableFiles lists the *.db files in dir.
func listTableFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list table files: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".db") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
