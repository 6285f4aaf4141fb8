// Package admin holds the logic of the msdb_* administration tools, apart
// from their command-line parsing, so that the tools and the daemon's
// control socket share it.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/msdb/locks"
)

// IO is where a tool writes: Out for its results, Err for messages to people.
type IO struct {
	Out, Err io.Writer
	// Terminal is true when Err is a terminal: progress is drawn as a bar.
	Terminal bool
}

// OpenOptions say how a tool opens the environment.
type OpenOptions struct {
	Catastrophic bool
	Until        time.Time
	Progress     func(msdb.Progress)
	MustExist    bool
}

// Open opens the database environment that cfg names.
func Open(ctx context.Context, cfg *config.Config, o OpenOptions) (*msdb.Env, error) {
	return msdb.Open(ctx, msdb.Options{
		Home:         cfg.DatabaseHome(),
		LogFileSize:  cfg.LogFileSize,
		Logger:       slog.Default(),
		Catastrophic: o.Catastrophic,
		Until:        o.Until,
		Progress:     o.Progress,
		MustExist:    o.MustExist,
	})
}

// withEnv opens the environment, runs fn and closes it, joining errors.
func withEnv(ctx context.Context, cfg *config.Config, o OpenOptions, fn func(*msdb.Env) error) error {
	env, err := Open(ctx, cfg, o)
	if err != nil {
		return err
	}
	err = fn(env)
	if cerr := env.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close database environment: %w", cerr))
	}
	return err
}

// RecoverOptions are msdb_recover's flags.
type RecoverOptions struct {
	Catastrophic bool      // -c
	Verbose      bool      // -v
	Until        time.Time // -t: point in time (with -c)
}

// ParseRecoveryTime reads db_recover's -t form, [[CC]YY]MMDDhhmm[.SS], in
// local time; a missing century or year is the current one.
func ParseRecoveryTime(s string, now time.Time) (time.Time, error) {
	bad := fmt.Errorf("bad time %q: want [[CC]YY]MMDDhhmm[.SS]", s)
	main, secs, hasSecs := strings.Cut(s, ".")
	for _, c := range main + secs {
		if c < '0' || c > '9' {
			return time.Time{}, bad
		}
	}
	year := now.Year()
	switch len(main) {
	case 8:
	case 10:
		yy, _ := strconv.Atoi(main[:2])
		year = year/100*100 + yy
		main = main[2:]
	case 12:
		year, _ = strconv.Atoi(main[:4])
		main = main[4:]
	default:
		return time.Time{}, bad
	}
	num := func(i int) int { n, _ := strconv.Atoi(main[i : i+2]); return n }
	sec := 0
	if hasSecs {
		if len(secs) != 2 {
			return time.Time{}, bad
		}
		sec, _ = strconv.Atoi(secs)
	}
	t := time.Date(year, time.Month(num(0)), num(2), num(4), num(6), sec, 0, now.Location())
	if t.Month() != time.Month(num(0)) || t.Day() != num(2) || t.Hour() != num(4) || t.Minute() != num(6) || t.Second() != sec {
		return time.Time{}, fmt.Errorf("bad time %q: no such date or time", s)
	}
	return t, nil
}

// Recover runs recovery (msdb_recover, msdb_test -r) and closes the
// environment cleanly. A torn tail that was cut is always reported.
func Recover(ctx context.Context, cfg *config.Config, o RecoverOptions, tio IO) error {
	var bar *progressBar
	if o.Verbose {
		bar = replayBar(tio.Err, tio.Terminal)
	}
	if !o.Until.IsZero() && !o.Catastrophic {
		return errors.New("-t (point in time) goes with -c: it recovers a restored backup")
	}
	oo := OpenOptions{Catastrophic: o.Catastrophic, MustExist: o.Catastrophic, Until: o.Until}
	if bar != nil {
		oo.Progress = bar.update
	}
	if o.Verbose {
		fmt.Fprintf(tio.Err, "msdb_recover: %s recovery of %s\n", recoveryKind(o.Catastrophic), cfg.DatabaseHome())
	}
	env, err := Open(ctx, cfg, oo)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		if errors.Is(err, msdb.ErrInterrupted) {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	rep := env.Recovery()
	reportRecovery(tio, rep, o.Verbose)
	if err := env.Close(); err != nil {
		return fmt.Errorf("close database environment after recovery: %w", err)
	}
	if o.Verbose {
		fmt.Fprintf(tio.Err, "msdb_recover: the database is consistent\n")
	}
	return nil
}

func recoveryKind(c bool) string {
	if c {
		return "catastrophic"
	}
	return "normal"
}

func reportRecovery(tio IO, rep *msdb.RecoveryReport, verbose bool) {
	if rep.TornTail != nil {
		fmt.Fprintf(tio.Err, "msdb_recover: cut a torn tail of %d bytes from %s at LSN %v (a group of transactions whose write was cut short by the crash; none of them was acknowledged)\n",
			rep.TornTail.Bytes, rep.TornTail.File, rep.TornTail.At)
	}
	if !rep.CutAt.IsZero() {
		fmt.Fprintf(tio.Err, "msdb_recover: point-in-time recovery: the last transaction kept is %d, committed %s; the log was cut at LSN %v and %d later log files removed\n",
			rep.LastTxID, rep.LastTime.Local().Format("2006-01-02 15:04:05.000 MST"), rep.CutAt, len(rep.RemovedLogs))
	} else if rep.Catastrophic && rep.LastTxID != 0 {
		fmt.Fprintf(tio.Err, "msdb_recover: recovered through transaction %d, committed %s\n", rep.LastTxID, rep.LastTime.Local().Format("2006-01-02 15:04:05.000 MST"))
	}
	if rep.NewLog {
		fmt.Fprintf(tio.Err, "msdb_recover: there were no log files; the tables had been closed cleanly, so a new log was started\n")
	}
	for _, o := range rep.Orphans {
		fmt.Fprintf(tio.Err, "msdb_recover: warning: %s is not in the catalogue and was left alone\n", o)
	}
	if !verbose {
		return
	}
	if rep.Created {
		fmt.Fprintf(tio.Err, "msdb_recover: no database existed; created a new, empty one\n")
		return
	}
	fmt.Fprintf(tio.Err, "msdb_recover: log files %s..%s, replay from LSN %v to %v\n", logName(rep.FirstLog), logName(rep.LastLog), rep.From, rep.End)
	fmt.Fprintf(tio.Err, "msdb_recover: replayed %d records (%s, %d operations) in %v (%s)\n",
		rep.Records, humanBytes(rep.Bytes), rep.Ops, rep.Duration.Round(time.Millisecond), rate(rep.Bytes, rep.Duration))
	if rep.LastTxID != 0 {
		fmt.Fprintf(tio.Err, "msdb_recover: last transaction %d, committed %s\n", rep.LastTxID, rep.LastTime.UTC().Format(time.RFC3339Nano))
	}
}

func logName(n uint32) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("log.%010d", n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB/s", float64(n)/(1<<20)/d.Seconds())
}

// TestOptions are msdb_test's flags.
type TestOptions struct {
	Locks   bool // -l
	Recover bool // -r
	Verbose bool // -v
}

// ErrDeadlock is returned by Test when the lock table has a wait cycle.
var ErrDeadlock = errors.New("deadlock")

// Test is msdb_test: open the environment (recovering it first with -r),
// check it, optionally report its logical locks, and close it.
func Test(ctx context.Context, cfg *config.Config, o TestOptions, tio IO) error {
	if o.Recover {
		if err := Recover(ctx, cfg, RecoverOptions{Verbose: true}, tio); err != nil {
			return err
		}
	}
	return withEnv(ctx, cfg, OpenOptions{}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		return TestEnv(ctx, env, o, tio)
	})
}

// TestEnv is msdb_test's checks on an open environment (also run by the
// daemon for a live msdb_test).
func TestEnv(ctx context.Context, env *msdb.Env, o TestOptions, tio IO) error {
	if o.Locks {
		if err := ReportLocks(tio.Out, env); err != nil {
			return err
		}
	}
	if !o.Verbose {
		return nil
	}
	if err := PrintStats(ctx, tio.Out, env); err != nil {
		return err
	}
	probs, err := env.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, p := range probs {
		fmt.Fprintf(tio.Err, "msdb_test: %s\n", p)
	}
	if len(probs) > 0 {
		return fmt.Errorf("verify found %d problems", len(probs))
	}
	fmt.Fprintf(tio.Out, "state: ok (every table file's B+tree and every log record's checksum verified)\n")
	return nil
}

// ReportLocks prints the environment's logical locks and returns an error
// wrapping ErrDeadlock when they hold a wait cycle.
func ReportLocks(w io.Writer, env *msdb.Env) error {
	snap := env.Locks.Snapshot()
	cycles := env.Locks.Cycles()
	if len(snap) == 0 {
		fmt.Fprintln(w, "locks: none held, none waited for")
	} else {
		if err := locks.Report(w, snap, cycles); err != nil {
			return err
		}
	}
	if len(cycles) > 0 {
		return fmt.Errorf("%w: %d wait cycles in the lock table", ErrDeadlock, len(cycles))
	}
	fmt.Fprintln(w, "deadlocks: none")
	return nil
}

// PrintStats writes the environment's state for people.
func PrintStats(ctx context.Context, w io.Writer, env *msdb.Env) error {
	s, err := env.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "home: %s\n", s.Home)
	fmt.Fprintf(w, "environment id: %s\n", s.ID)
	fmt.Fprintf(w, "log: %d files (%s..%s), %s, durable end %v, needed from %v\n", s.LogFiles, logName(s.FirstLog), logName(s.LastLog), humanBytes(s.LogBytes), s.End, s.Oldest)
	fmt.Fprintf(w, "tables: %d, %s\n", len(s.Tables), humanBytes(s.TableBytes))
	for _, t := range s.Tables {
		fmt.Fprintf(w, "  %-20s %10d keys %10s  at LSN %v\n", t.Name, t.Keys, humanBytes(t.Bytes), t.LSN)
	}
	if s.Groups > 0 {
		fmt.Fprintf(w, "commits: %d in %d groups (%.1f a group), log sync %v, table apply %v a group\n", s.Commits, s.Groups, s.AvgGroup, s.AvgLogSync, s.AvgApply)
	}
	if !s.LastCkpt.IsZero() {
		fmt.Fprintf(w, "last checkpoint: %s\n", s.LastCkpt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Checkpoint is msdb_checkpoint.
func Checkpoint(ctx context.Context, cfg *config.Config, verbose bool, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{MustExist: true}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		return CheckpointEnv(ctx, env, verbose, tio)
	})
}

// CheckpointEnv writes a checkpoint in an open environment.
func CheckpointEnv(ctx context.Context, env *msdb.Env, verbose bool, tio IO) error {
	lsn, err := env.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if verbose {
		fmt.Fprintf(tio.Err, "msdb_checkpoint: checkpoint at LSN %v\n", lsn)
	}
	return nil
}

// ArchiveOptions are msdb_archive's flags, as Berkeley DB's db_archive.
type ArchiveOptions struct {
	Absolute bool // -a
	Delete   bool // -d
	AllLogs  bool // -l
	Tables   bool // -s
	Verbose  bool // -v
	// Backup (--backup DIR): list the log files the backup in DIR needs.
	Backup string
}

// Archive is msdb_archive: it lists removable log files (default), all log
// files (-l) or the table files (-s), one a line, bare names unless -a; -d
// deletes the removable log files.
func Archive(ctx context.Context, cfg *config.Config, o ArchiveOptions, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{MustExist: true}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		return ArchiveEnv(ctx, env, o, tio)
	})
}

// ArchiveEnv is msdb_archive on an open environment.
func ArchiveEnv(ctx context.Context, env *msdb.Env, o ArchiveOptions, tio IO) error {
	name := func(dir, base string) string {
		if o.Absolute {
			return filepath.Join(dir, base)
		}
		return base
	}
	if o.Backup != "" {
		nums, err := env.BackupLogsNeeded(o.Backup)
		if err != nil {
			return err
		}
		for _, n := range nums {
			fmt.Fprintln(tio.Out, name(env.LogDir(), logName(n)))
		}
		return nil
	}
	if o.Delete {
		removed, err := env.RemoveArchivableLogs()
		for _, p := range removed {
			if o.Verbose {
				fmt.Fprintf(tio.Err, "msdb_archive: removed %s\n", p)
			}
		}
		return err
	}
	if o.Tables {
		for _, p := range env.TableFiles() {
			fmt.Fprintln(tio.Out, name(env.DataDir(), filepath.Base(p)))
		}
		return nil
	}
	var nums []uint32
	var err error
	if o.AllLogs {
		nums, err = env.LogFiles()
	} else {
		nums, err = env.ArchivableLogs()
	}
	if err != nil {
		return err
	}
	for _, n := range nums {
		fmt.Fprintln(tio.Out, name(env.LogDir(), logName(n)))
	}
	if o.Verbose && !o.AllLogs {
		fmt.Fprintf(tio.Err, "msdb_archive: %d log files may be backed up and removed\n", len(nums))
	}
	return nil
}
