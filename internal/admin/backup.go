package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// HotcopyOptions are msdb_hotcopy's: copy the tables into Dir (-t), or the
// named log files (-l), completing the backup in Dir.
type HotcopyOptions struct {
	Tables  bool
	Logs    bool
	Dir     string   // absolute
	Names   []string // -l: the log files msdb_archive --backup listed
	Verbose bool
}

// Hotcopy is msdb_hotcopy on a stopped store.
func Hotcopy(ctx context.Context, cfg *config.Config, o HotcopyOptions, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{MustExist: true}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		return HotcopyEnv(ctx, env, o, tio)
	})
}

// HotcopyEnv is msdb_hotcopy on an open environment (directly, or in the
// daemon).
func HotcopyEnv(ctx context.Context, env *msdb.Env, o HotcopyOptions, tio IO) error {
	switch {
	case o.Tables:
		man, err := env.BackupTables(ctx, o.Dir)
		if err != nil {
			return err
		}
		var bytes int64
		for _, f := range man.Files {
			bytes += f.Size
			if o.Verbose {
				fmt.Fprintf(tio.Err, "msdb_hotcopy: %s: table %s at LSN %v, %s\n", f.Name, f.Table, f.LSN, humanBytes(f.Size))
			}
		}
		fmt.Fprintf(tio.Out, "%d table files (%s) copied to %s; their log starts at LSN %v\n", len(man.Files), humanBytes(bytes), o.Dir, man.From)
		return nil
	case o.Logs:
		before, err := msdb.ReadManifest(o.Dir)
		if err != nil {
			return err
		}
		man, err := env.BackupLogs(ctx, o.Dir, o.Names)
		if err != nil {
			return err
		}
		what := "backup"
		if before.Complete {
			what = "incremental backup"
		}
		var logs int
		for _, f := range man.Files {
			if f.Kind == "log" {
				logs++
			}
		}
		fmt.Fprintf(tio.Out, "%s %s complete: %d log files, LSN %v to %v, last transaction committed %s\n",
			what, o.Dir, logs, man.From, man.End, man.EndTime.Local().Format("2006-01-02 15:04:05"))
		return nil
	}
	return errors.New("msdb_hotcopy: -t (tables) or -l (log files)")
}

// VerifyBackup checks a backup directory against its manifest, naming every
// missing or damaged file. It needs no database.
func VerifyBackup(ctx context.Context, dir string, verbose bool, tio IO) error {
	man, problems, err := msdb.VerifyBackup(ctx, dir)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(tio.Err, "%s\n", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("backup %s: %d problems (listed above): it cannot be restored as it is", dir, len(problems))
	}
	if verbose {
		fmt.Fprintf(tio.Out, "backup %s verifies: %d files, environment %s, LSN %v to %v, tables copied %s, last transaction committed %s\n",
			dir, len(man.Files), man.Environment, man.From, man.End,
			man.Started.Local().Format("2006-01-02 15:04:05"), man.EndTime.Local().Format("2006-01-02 15:04:05"))
	}
	return nil
}

// RestoredOptions are for `mstore restored`, run by msdb_restore after
// catastrophic recovery.
type RestoredOptions struct {
	// PreviousLog is the transaction_log directory the restore replaced
	// (renamed to …asof<date>); empty when there was none.
	PreviousLog string
	Verbose     bool
}

// Restored finishes a restore: when the restored database ends before the
// one it replaced (or that cannot be known), every mailbox gets a new
// UIDVALIDITY, since UIDs clients saw will be handed out again; then it
// checks that every message file the restored database references exists.
func Restored(ctx context.Context, cfg *config.Config, o RestoredOptions, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{MustExist: true}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		blobs, err := blob.Open(cfg.MailDir())
		if err != nil {
			return err
		}
		st, err := store.Open(ctx, env, blobs, StoreOptions(cfg))
		if err != nil {
			return err
		}
		renew, why := restoredBehind(env, o.PreviousLog)
		if renew {
			n, err := st.RenewUIDValidity(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(tio.Out, "UIDVALIDITY renewed for %d mailboxes: %s; IMAP and POP3 clients will resynchronise\n", n, why)
		} else {
			fmt.Fprintf(tio.Out, "UIDVALIDITY kept: %s\n", why)
		}
		missing, count, err := st.MissingFiles(ctx, blobs, 20)
		if err != nil {
			return err
		}
		if count > 0 {
			for _, p := range missing {
				fmt.Fprintf(tio.Err, "missing message file %s\n", p)
			}
			return fmt.Errorf("the restored database references %d message files that %s does not hold (first ones listed above): restore them from the mail backup", count, cfg.MailDir())
		}
		if o.Verbose {
			fmt.Fprintf(tio.Out, "every message file the restored database references is present\n")
		}
		return nil
	})
}

// restoredBehind decides whether the restored database may have lost
// transactions the previous one had committed.
func restoredBehind(env *msdb.Env, previousLog string) (bool, string) {
	if previousLog == "" {
		return true, "the database it replaces is unknown"
	}
	if _, err := os.Stat(previousLog); err != nil {
		return true, fmt.Sprintf("the previous log %s cannot be read (%v)", previousLog, err)
	}
	id, prev, err := msdb.LastCommit(previousLog)
	if err != nil {
		return true, fmt.Sprintf("where the previous log %s ended is unknown (%v)", filepath.Clean(previousLog), err)
	}
	if id != env.ID() {
		return true, fmt.Sprintf("the previous log %s is of another database", filepath.Clean(previousLog))
	}
	_, cur, err := msdb.LastCommit(env.LogDir())
	if err != nil {
		return true, fmt.Sprintf("where the restored log ends is unknown (%v)", err)
	}
	if cur.Less(prev) {
		return true, fmt.Sprintf("the restored database ends at LSN %v, before the last transaction of the one it replaces (LSN %v)", cur, prev)
	}
	return false, fmt.Sprintf("the restored database holds every transaction of the one it replaces (last at LSN %v)", prev)
}
