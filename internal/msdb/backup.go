package msdb

// Backups.
//
// A backup directory holds a consistent copy of every table file (taken in a
// read transaction, never a raw copy of a live bbolt file), the log files
// from the oldest copied table's LSN to the backup's end, and MANIFEST.json
// naming each file with its size and SHA-256, the LSN range and the
// environment id. Restoring it is catastrophic recovery: the tables, then
// every record up to the end.
//
// A backup is taken in two steps, as the manual orders them (copy the
// tables, then the log files msdb_archive says are needed):
// BackupTables writes the table copies and an incomplete manifest;
// BackupLogs copies the log files and completes the manifest. BackupLogs on
// a complete backup is an incremental backup (db_hotbackup -u): it adds the
// log written since, so that restoring the directory recovers to the newer
// point.
//
// A log file's manifest entry covers its first Size bytes. A log file only
// ever grows by whole records, so an incremental backup that replaces the
// last log file with a longer copy leaves a backup that still verifies
// against the previous manifest if it is interrupted before the new one is
// written.
//
// The backup mark (<home>/backup.mark) records the latest backup: log files
// from its end on are kept by archive (an incremental backup needs them),
// and the sweep keeps message files that stopped being referenced after its
// tables were copied (a restore of it references them).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// ManifestName is the name of a backup's manifest file.
const ManifestName = "MANIFEST.json"

// manifestFormat is the manifest's format version.
const manifestFormat = 1

// markName is the backup mark's file name in the environment's home.
const markName = "backup.mark"

// Manifest describes a backup directory.
type Manifest struct {
	Format      int       `json:"format"`
	Environment string    `json:"environment"`
	Started     time.Time `json:"started"` // when the table copies were taken
	Updated     time.Time `json:"updated"` // when the log was last added
	// From is the oldest LSN of the copied tables: replay starts there.
	From LSNText `json:"from_lsn"`
	// End is where the backup's log ends: restoring it recovers to there.
	End LSNText `json:"end_lsn,omitzero"`
	// EndTime is the commit time of the last transaction before End.
	EndTime     time.Time      `json:"end_time,omitzero"`
	Incremental int            `json:"incremental_updates,omitempty"`
	Complete    bool           `json:"complete"`
	Files       []ManifestFile `json:"files"`
}

// ManifestFile is one file of a backup.
type ManifestFile struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"` // "table" or "log"
	Table  string  `json:"table,omitempty"`
	LSN    LSNText `json:"lsn,omitzero"` // a table's applied LSN
	Size   int64   `json:"size"`
	SHA256 string  `json:"sha256"`
}

// LSNText is an LSN written as FILE/OFFSET in JSON.
type LSNText struct{ wal.LSN }

// MarshalText writes FILE/OFFSET.
func (l LSNText) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%d/%d", l.File, l.Offset), nil
}

// UnmarshalText reads FILE/OFFSET.
func (l *LSNText) UnmarshalText(b []byte) error {
	v, err := wal.ParseLSN(string(b))
	l.LSN = v
	return err
}

// IsZero reports whether the LSN is unset.
func (l LSNText) IsZero() bool { return l.LSN.IsZero() }

// BackupMark is the record of the latest backup kept in the environment's
// home.
type BackupMark struct {
	Environment string `json:"environment"`
	Backup      string `json:"backup"`
	// Started is when the backup's tables were copied: message files that
	// stopped being referenced after it are referenced by the backup.
	Started time.Time `json:"started"`
	// Keep is the LSN from which log files are kept: the backup's end (an
	// incremental backup continues from there), or while a backup is in
	// progress the oldest LSN it may need.
	Keep       LSNText `json:"keep_log_from"`
	InProgress bool    `json:"in_progress,omitempty"`
}

// BackupMark reads the backup mark; ok is false when no backup of this
// environment was taken (or the mark is another environment's).
func (e *Env) BackupMark() (m BackupMark, ok bool, err error) {
	p := filepath.Join(e.home, markName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("backup mark: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, false, fmt.Errorf("backup mark %s is damaged (%v): remove it if no incremental backup needs the log since the last backup", p, err)
	}
	return m, m.Environment == e.id.String(), nil
}

func (e *Env) writeBackupMark(m BackupMark) error {
	if err := writeJSONSynced(filepath.Join(e.home, markName), m); err != nil {
		return fmt.Errorf("backup mark: %w", err)
	}
	return nil
}

// writeJSONSynced writes v as indented JSON to path (through a synced
// temporary file and a rename) and syncs its directory.
func writeJSONSynced(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSynced(path, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return err
	}
	return wal.SyncDir(filepath.Dir(path))
}

// backupKeep is the LSN from which the backup mark keeps the log.
func (e *Env) backupKeep() (wal.LSN, bool, error) {
	m, ok, err := e.BackupMark()
	if err != nil || !ok {
		return wal.LSN{}, false, err
	}
	return m.Keep.LSN, true, nil
}

// BackupTables copies every table file, consistently, into dir (created
// when absent; it must hold no backup) and writes an incomplete manifest.
// Until BackupLogs completes the backup, the backup mark keeps every log
// file the copies need.
func (e *Env) BackupTables(ctx context.Context, dir string) (*Manifest, error) {
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		return nil, fmt.Errorf("backup %s: it already holds a backup (%s); use a new directory, or add the log to it with an incremental backup", dir, ManifestName)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	for _, de := range ents {
		if isBackupFile(de.Name()) {
			return nil, fmt.Errorf("backup %s: it already holds %s; use a new directory", dir, de.Name())
		}
	}
	started := time.Now()
	oldest := e.oldestNeeded()
	release := e.hold(oldest)
	defer release()

	// Keep the log the copies will need, across processes, before copying.
	prev, hadPrev, err := e.BackupMark()
	if err != nil {
		return nil, err
	}
	mark := BackupMark{Environment: e.id.String(), Backup: backupName(dir), Started: started, Keep: LSNText{oldest}, InProgress: true}
	if hadPrev {
		mark.Started = minTime(prev.Started, started)
		if prev.Keep.Less(oldest) {
			mark.Keep = prev.Keep
		}
	}
	if err := e.writeBackupMark(mark); err != nil {
		return nil, err
	}

	man := &Manifest{Format: manifestFormat, Environment: e.id.String(), Started: started}
	first := true
	for _, t := range e.allTables() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		base := filepath.Base(t.path)
		dst := filepath.Join(dir, base)
		f := ManifestFile{Name: base, Kind: "table", Table: t.name}
		err := t.db.View(func(tx *bolt.Tx) error {
			f.LSN = LSNText{wal.LSNFromUint64(u64(tx.Bucket(bucketMeta).Get(keyLSN)))}
			h := sha256.New()
			err := writeFileSynced(dst, func(w io.Writer) error {
				n, err := tx.WriteTo(io.MultiWriter(w, h))
				f.Size = n
				return err
			})
			f.SHA256 = hex.EncodeToString(h.Sum(nil))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("backup of table %s: %w", t.name, err)
		}
		if first || f.LSN.Less(man.From.LSN) {
			man.From = f.LSN
		}
		first = false
		man.Files = append(man.Files, f)
	}
	if err := writeManifest(dir, man); err != nil {
		return nil, err
	}
	return man, nil
}

// BackupLogsNeeded lists the log files the backup in dir needs from this
// environment: for an incomplete backup, from its tables' LSN to the end of
// the log; for a complete one (an incremental backup), from its end on.
func (e *Env) BackupLogsNeeded(dir string) ([]uint32, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if man.Environment != e.id.String() {
		return nil, fmt.Errorf("backup %s is of another database (environment %s, this one is %s)", dir, man.Environment, e.id)
	}
	from := man.From.File
	if man.Complete {
		from = man.End.File
	}
	from = max(from, 1)
	end := e.w.Durable().File
	have, err := wal.ListFiles(e.logDir)
	if err != nil {
		return nil, err
	}
	present := map[uint32]bool{}
	for _, n := range have {
		present[n] = true
	}
	var out, missing []uint32
	for n := from; n <= end; n++ {
		if !present[n] {
			missing = append(missing, n)
		}
		out = append(out, n)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("backup %s needs log files no longer here: %s; take a full backup", dir, logNames(missing))
	}
	return out, nil
}

// BackupLogs copies the named log files (those BackupLogsNeeded lists, as
// bare names or paths) into the backup in dir and completes its manifest.
// The last file is copied up to the end of the durable log. On a complete
// backup it is an incremental backup: the log since the backup's end must
// continue it exactly, or it is refused.
func (e *Env) BackupLogs(ctx context.Context, dir string, names []string) (*Manifest, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	need, err := e.BackupLogsNeeded(dir)
	if err != nil {
		return nil, err
	}
	given := map[uint32]bool{}
	for _, s := range names {
		n, ok := wal.ParseFileName(filepath.Base(s))
		if !ok {
			return nil, fmt.Errorf("backup: %q is not a log file name", s)
		}
		if d := filepath.Dir(s); d != "." && filepath.Clean(d) != filepath.Clean(e.logDir) {
			return nil, fmt.Errorf("backup: %s is not in this database's log directory %s", s, e.logDir)
		}
		given[n] = true
	}
	var copyNums, notGiven []uint32
	for _, n := range need {
		if given[n] {
			copyNums = append(copyNums, n)
			delete(given, n)
		} else {
			notGiven = append(notGiven, n)
		}
	}
	if len(given) > 0 {
		var extra []uint32
		for n := range given {
			extra = append(extra, n)
		}
		sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
		return nil, fmt.Errorf("backup %s does not need %s (it needs %s)", dir, logNames(extra), logNames(need))
	}
	// Files the log reached after the list was made may be left out: the
	// backup then ends with the last file given. A gap may not.
	for i, n := range copyNums {
		if n != need[i] {
			return nil, fmt.Errorf("backup %s needs %s too (it needs %s, given %s)", dir, logNames(notGiven), logNames(need), logNames(copyNums))
		}
	}
	if len(copyNums) == 0 {
		return nil, fmt.Errorf("backup %s: no log files given; it needs %s", dir, logNames(need))
	}
	release := e.hold(wal.LSN{File: copyNums[0]})
	defer release()

	if man.Complete {
		// The live log must continue the backup: the last file's copied
		// prefix is unchanged.
		last := man.logFile(man.End.File)
		if last == nil {
			return nil, fmt.Errorf("backup %s: its manifest lists no %s, where its log ends", dir, wal.FileName(man.End.File))
		}
		sum, n, err := hashPrefix(filepath.Join(e.logDir, last.Name), last.Size)
		if err != nil || n != last.Size || sum != last.SHA256 {
			return nil, fmt.Errorf("backup %s: this database's %s no longer continues the backup (the database was restored or recovered to another point since); take a full backup", dir, last.Name)
		}
	}

	durable := e.w.Durable()
	byName := map[string]int{}
	for i, f := range man.Files {
		byName[f.Name] = i
	}
	for _, n := range copyNums {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := wal.FileName(n)
		limit := int64(-1)
		if n == durable.File {
			limit = int64(durable.Offset)
		}
		if i, ok := byName[name]; ok && man.Files[i].Size == limit {
			continue // unchanged since the last backup
		}
		f, err := copyHashed(filepath.Join(e.logDir, name), filepath.Join(dir, name), limit)
		if err != nil {
			return nil, fmt.Errorf("backup of log file %s: %w", name, err)
		}
		if i, ok := byName[name]; ok {
			man.Files[i] = f
		} else {
			byName[name] = len(man.Files)
			man.Files = append(man.Files, f)
		}
	}
	if err := wal.SyncDir(dir); err != nil {
		return nil, err
	}
	// The copies end at a record boundary: the durable end, or the end of
	// the last file given when the log has since moved on.
	end, endTime, problems := verifyLogChain(ctx, dir, man)
	if len(problems) > 0 {
		return nil, fmt.Errorf("backup %s: the copied log does not verify: %s", dir, problems[0])
	}
	if end.Less(man.From.LSN) {
		return nil, fmt.Errorf("backup %s: the copied log ends at %v, before the tables' LSN %v", dir, end, man.From.LSN)
	}
	if man.Complete {
		man.Incremental++
	}
	man.End, man.EndTime, man.Updated, man.Complete = LSNText{end}, endTime, time.Now(), true
	if err := writeManifest(dir, man); err != nil {
		return nil, err
	}
	mark := BackupMark{Environment: e.id.String(), Backup: backupName(dir), Started: man.Started, Keep: LSNText{end}}
	if err := e.writeBackupMark(mark); err != nil {
		return nil, err
	}
	return man, nil
}

// ReadManifest reads a backup's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a backup: it has no %s", dir, ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("backup manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("backup manifest %s is damaged: %w", p, err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("backup manifest %s: format %d, this M-Store reads format %d", p, m.Format, manifestFormat)
	}
	for _, f := range m.Files {
		if f.Name != filepath.Base(f.Name) || !isBackupFile(f.Name) || (f.Kind != "table" && f.Kind != "log") {
			return nil, fmt.Errorf("backup manifest %s is damaged: bad file entry %q (%s)", p, f.Name, f.Kind)
		}
	}
	return &m, nil
}

func (m *Manifest) logFile(n uint32) *ManifestFile {
	name := wal.FileName(n)
	for i := range m.Files {
		if m.Files[i].Name == name {
			return &m.Files[i]
		}
	}
	return nil
}

func writeManifest(dir string, m *Manifest) error {
	sort.SliceStable(m.Files, func(i, j int) bool {
		if m.Files[i].Kind != m.Files[j].Kind {
			return m.Files[i].Kind == "table"
		}
		return m.Files[i].Name < m.Files[j].Name
	})
	if err := writeJSONSynced(filepath.Join(dir, ManifestName), m); err != nil {
		return fmt.Errorf("backup manifest: %w", err)
	}
	return nil
}

// VerifyBackup checks a backup directory against its manifest without
// changing anything: every file present, of its size, with its SHA-256;
// no table or log file the manifest does not list; the log files a
// continuous chain of this environment's records from the tables' LSN to
// the backup's end. It returns every problem found, each naming its file.
func VerifyBackup(ctx context.Context, dir string) (*Manifest, []Problem, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, nil, err
	}
	var problems []Problem
	if !man.Complete {
		problems = append(problems, Problem{File: filepath.Join(dir, ManifestName), What: "the backup is incomplete: its log files were never copied (the backup failed or is still running)"})
	}
	listed := map[string]bool{}
	hashOK := true
	for _, f := range man.Files {
		if err := ctx.Err(); err != nil {
			return man, problems, err
		}
		listed[f.Name] = true
		p := filepath.Join(dir, f.Name)
		fi, err := os.Stat(p)
		if err != nil {
			hashOK = false
			if errors.Is(err, os.ErrNotExist) {
				problems = append(problems, Problem{File: p, What: "missing"})
			} else {
				problems = append(problems, Problem{File: p, What: err.Error()})
			}
			continue
		}
		if fi.Size() < f.Size || (f.Kind == "table" && fi.Size() != f.Size) {
			hashOK = false
			problems = append(problems, Problem{File: p, What: fmt.Sprintf("damaged: %d bytes, the manifest says %d", fi.Size(), f.Size)})
			continue
		}
		sum, _, err := hashPrefix(p, f.Size)
		if err != nil {
			hashOK = false
			problems = append(problems, Problem{File: p, What: err.Error()})
			continue
		}
		if sum != f.SHA256 {
			hashOK = false
			problems = append(problems, Problem{File: p, What: "damaged: its SHA-256 differs from the manifest's"})
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return man, problems, fmt.Errorf("backup: %w", err)
	}
	for _, de := range ents {
		if isBackupFile(de.Name()) && !listed[de.Name()] {
			problems = append(problems, Problem{File: filepath.Join(dir, de.Name()), What: "not in the manifest (a restore would copy it)"})
		}
	}
	if man.Complete && hashOK {
		_, _, lp := verifyLogChain(ctx, dir, man)
		problems = append(problems, lp...)
	}
	return man, problems, ctx.Err()
}

// verifyLogChain reads the backup's log files from its tables' LSN: each of
// the manifest's environment, numbered in sequence, every record whole up
// to the manifest's size of the file. It returns where the log ends and the
// commit time of the last transaction.
func verifyLogChain(ctx context.Context, dir string, man *Manifest) (end wal.LSN, endTime time.Time, problems []Problem) {
	var nums []uint32
	for _, f := range man.Files {
		if f.Kind == "log" {
			n, _ := wal.ParseFileName(f.Name)
			nums = append(nums, n)
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	from := max(man.From.File, 1)
	if len(nums) == 0 || nums[0] > from {
		return end, endTime, []Problem{{File: filepath.Join(dir, wal.FileName(from)), What: "missing: the tables' LSN " + man.From.String() + " is in it"}}
	}
	prev := wal.LSN{}
	for i, n := range nums {
		if err := ctx.Err(); err != nil {
			return end, endTime, append(problems, Problem{File: dir, What: err.Error()})
		}
		p := filepath.Join(dir, wal.FileName(n))
		if i > 0 && n != nums[i-1]+1 {
			return end, endTime, append(problems, Problem{File: filepath.Join(dir, wal.FileName(nums[i-1]+1)), What: "missing: the log files are not continuous"})
		}
		if n < from {
			continue
		}
		limit := man.logFile(n).Size
		fe, err := wal.ReadFile(dir, n, 0, func(r *wal.Record) error {
			if int64(r.End().Offset) > limit {
				return errStopRead
			}
			if r.Type == wal.TypeTxn {
				endTime = r.Time
			}
			end = r.End()
			return nil
		})
		if err != nil && !errors.Is(err, errStopRead) {
			return end, endTime, append(problems, Problem{File: p, What: err.Error()})
		}
		if fe.Header.Env.String() != man.Environment {
			return end, endTime, append(problems, Problem{File: p, What: "a log file of another database (environment " + fe.Header.Env.String() + ")"})
		}
		if !prev.IsZero() && fe.Header.PrevEnd != prev {
			return end, endTime, append(problems, Problem{File: p, What: fmt.Sprintf("does not continue %s: it says the log before it ended at %v, not %v", wal.FileName(n-1), fe.Header.PrevEnd, prev)})
		}
		if err == nil && fe.Damage != nil && int64(fe.Damage.At.Offset) < limit {
			return end, endTime, append(problems, Problem{File: p, What: fe.Damage.Error()})
		}
		if end.File != n {
			end = wal.LSN{File: n, Offset: wal.HeaderSize}
		}
		prev = end
	}
	return end, endTime, problems
}

var errStopRead = errors.New("stop reading")

// copyHashed copies src to dst (at most limit bytes when limit >= 0),
// synced, and describes the copy as a log file of a manifest.
func copyHashed(src, dst string, limit int64) (ManifestFile, error) {
	f := ManifestFile{Name: filepath.Base(dst), Kind: "log"}
	in, err := os.Open(src)
	if err != nil {
		return f, err
	}
	defer in.Close()
	var r io.Reader = in
	if limit >= 0 {
		r = io.LimitReader(in, limit)
	}
	h := sha256.New()
	err = writeFileSynced(dst, func(w io.Writer) error {
		n, err := io.Copy(io.MultiWriter(w, h), r)
		f.Size = n
		return err
	})
	if err == nil && limit >= 0 && f.Size != limit {
		err = fmt.Errorf("%s is %d bytes, shorter than the durable log (%d)", src, f.Size, limit)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return f, err
}

// hashPrefix returns the SHA-256 of a file's first size bytes and how many
// it had.
func hashPrefix(path string, size int64) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, size))
	if err != nil {
		return "", n, fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// isBackupFile reports whether a name is one a restore copies: a table
// file or a log file.
func isBackupFile(name string) bool {
	if strings.HasSuffix(name, ".db") {
		return true
	}
	_, ok := wal.ParseFileName(name)
	return ok
}

func backupName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return strings.TrimSuffix(abs, ".partial")
}

func logNames(nums []uint32) string {
	var s []string
	for _, n := range nums {
		s = append(s, wal.FileName(n))
	}
	return strings.Join(s, ", ")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// LastCommit reads the log files in dir (a database's transaction_log, in
// use or not) and returns their environment and the LSN of the last
// committed transaction. Damage other than a torn tail of the last file is
// an error: what was committed is then unknown.
func LastCommit(dir string) (wal.EnvID, wal.LSN, error) {
	nums, err := wal.ListFiles(dir)
	if err != nil {
		return wal.EnvID{}, wal.LSN{}, err
	}
	if len(nums) == 0 {
		return wal.EnvID{}, wal.LSN{}, fmt.Errorf("%s holds no log files", dir)
	}
	for i := len(nums) - 1; i >= 0; i-- {
		var last wal.LSN
		fe, err := wal.ReadFile(dir, nums[i], 0, func(r *wal.Record) error {
			if r.Type == wal.TypeTxn {
				last = r.LSN
			}
			return nil
		})
		if err != nil {
			return wal.EnvID{}, wal.LSN{}, err
		}
		if fe.Damage != nil && (i != len(nums)-1 || !fe.Damage.Torn) {
			return fe.Header.Env, wal.LSN{}, fe.Damage
		}
		if !last.IsZero() {
			return fe.Header.Env, last, nil
		}
		if i > 0 && nums[i-1] != nums[i]-1 {
			return fe.Header.Env, wal.LSN{}, fmt.Errorf("%s: %s is missing", dir, wal.FileName(nums[i]-1))
		}
	}
	return wal.EnvID{}, wal.LSN{}, nil
}
