package msdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/m-store/mstore/internal/msdb/wal"
)

// backupNames lists the log files a backup needs, as msdb_archive --backup
// does.
func backupNames(t *testing.T, e *Env, dir string) []string {
	t.Helper()
	nums, err := e.BackupLogsNeeded(dir)
	if err != nil {
		t.Fatalf("BackupLogsNeeded: %v", err)
	}
	var out []string
	for _, n := range nums {
		out = append(out, filepath.Join(e.LogDir(), wal.FileName(n)))
	}
	return out
}

func fullBackup(t *testing.T, e *Env, dir string) *Manifest {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.BackupTables(ctx, dir); err != nil {
		t.Fatalf("BackupTables: %v", err)
	}
	man, err := e.BackupLogs(ctx, dir, backupNames(t, e, dir))
	if err != nil {
		t.Fatalf("BackupLogs: %v", err)
	}
	return man
}

// restoreInto makes a new home from a backup directory, as msdb_restore
// does, and opens it with catastrophic recovery.
func restoreInto(t *testing.T, backup string) *Env {
	t.Helper()
	home := t.TempDir()
	for _, sub := range []string{"data", "transaction_log"} {
		if err := os.MkdirAll(filepath.Join(home, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(backup)
	for _, de := range ents {
		sub := ""
		switch {
		case strings.HasSuffix(de.Name(), ".db"):
			sub = "data"
		case strings.HasPrefix(de.Name(), "log."):
			sub = "transaction_log"
		default:
			continue
		}
		b, err := os.ReadFile(filepath.Join(backup, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, sub, de.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return openTest(t, home, func(o *Options) { o.Catastrophic = true })
}

func TestBackupIncrementalAndRestore(t *testing.T) {
	ctx := context.Background()
	e := openTest(t, t.TempDir())
	defer e.Close()
	if err := e.CreateTable(ctx, "a", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // several 64 KB log files
		put(t, e, "a", fmt.Sprintf("k%05d", i), strings.Repeat("v", 100))
	}
	backup := filepath.Join(t.TempDir(), "b.partial")
	man := fullBackup(t, e, backup)
	if !man.Complete || man.End.Less(man.From.LSN) || man.Environment != e.ID().String() {
		t.Fatalf("manifest %+v", man)
	}
	if _, probs, err := VerifyBackup(ctx, backup); err != nil || len(probs) > 0 {
		t.Fatalf("VerifyBackup: %v %v", probs, err)
	}
	// The mark keeps the log from the backup's end.
	mark, ok, err := e.BackupMark()
	if err != nil || !ok || mark.Keep.LSN != man.End.LSN || mark.InProgress || mark.Backup != strings.TrimSuffix(backup, ".partial") {
		t.Fatalf("backup mark %+v %v %v; manifest end %v", mark, ok, err, man.End)
	}

	for i := 2000; i < 3000; i++ {
		put(t, e, "a", fmt.Sprintf("k%05d", i), strings.Repeat("w", 100))
	}
	if _, err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// Archive may not remove what an incremental backup needs.
	if _, err := e.RemoveArchivableLogs(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.LogDir(), wal.FileName(man.End.File))); err != nil {
		t.Fatalf("archive removed the log file the backup ends in: %v", err)
	}
	man2, err := e.BackupLogs(ctx, backup, backupNames(t, e, backup))
	if err != nil {
		t.Fatalf("incremental BackupLogs: %v", err)
	}
	if man2.Incremental != 1 || !man.End.Less(man2.End.LSN) {
		t.Fatalf("incremental manifest: %d updates, end %v (was %v)", man2.Incremental, man2.End, man.End)
	}
	// Everything before the new end may now go.
	removed, err := e.RemoveArchivableLogs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("archive removed %d log files after the incremental backup", len(removed))

	r := restoreInto(t, backup)
	defer r.Close()
	for _, k := range []string{"k00000", "k01999", "k02000", "k02999"} {
		if _, ok := get(t, r, "a", k); !ok {
			t.Errorf("restored database lacks %s", k)
		}
	}
	if r.ID() != e.ID() {
		t.Errorf("restored environment id %v, want %v", r.ID(), e.ID())
	}
}

func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	e := openTest(t, t.TempDir())
	defer e.Close()
	if err := e.CreateTable(ctx, "a", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, e, "a", "k", "v")
	dir := t.TempDir()
	if _, err := e.BackupTables(ctx, dir); err != nil {
		t.Fatal(err)
	}
	// An incomplete backup does not verify and cannot be taken twice.
	if _, probs, _ := VerifyBackup(ctx, dir); len(probs) == 0 || !strings.Contains(probs[0].What, "incomplete") {
		t.Errorf("incomplete backup verified: %v", probs)
	}
	if _, err := e.BackupTables(ctx, dir); err == nil {
		t.Error("a second BackupTables into the same directory succeeded")
	}
	// The log list must be the one needed.
	if _, err := e.BackupLogs(ctx, dir, []string{"log.0000000009"}); err == nil || !strings.Contains(err.Error(), "does not need") {
		t.Errorf("BackupLogs with a log file not needed: %v", err)
	}
	if _, err := e.BackupLogs(ctx, dir, []string{"/elsewhere/log.0000000001"}); err == nil {
		t.Error("BackupLogs took a log file from another directory")
	}
	if _, err := e.BackupLogs(ctx, dir, nil); err == nil {
		t.Error("BackupLogs with no log files succeeded")
	}
	if _, err := e.BackupLogs(ctx, dir, backupNames(t, e, dir)); err != nil {
		t.Fatal(err)
	}
	// Another database's backup is refused.
	other := openTest(t, t.TempDir())
	defer other.Close()
	if _, err := other.BackupLogsNeeded(dir); err == nil || !strings.Contains(err.Error(), "another database") {
		t.Errorf("BackupLogsNeeded of another database's backup: %v", err)
	}
	// A stray log file, a shortened log file, a damaged manifest.
	stray := filepath.Join(dir, "log.0000000042")
	os.WriteFile(stray, []byte("x"), 0o600)
	if _, probs, _ := VerifyBackup(ctx, dir); len(probs) != 1 || probs[0].File != stray {
		t.Errorf("stray log file: %v", probs)
	}
	os.Remove(stray)
	lf := filepath.Join(dir, "log.0000000001")
	fi, _ := os.Stat(lf)
	os.Truncate(lf, fi.Size()-1)
	if _, probs, _ := VerifyBackup(ctx, dir); len(probs) != 1 || probs[0].File != lf || !strings.Contains(probs[0].What, "bytes") {
		t.Errorf("truncated log file: %v", probs)
	}
	os.WriteFile(filepath.Join(dir, ManifestName), []byte("{not json"), 0o600)
	if _, _, err := VerifyBackup(ctx, dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged manifest: %v", err)
	}
}

func TestLastCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openTest(t, dir)
	if err := e.CreateTable(ctx, "a", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		put(t, e, "a", fmt.Sprintf("k%05d", i), strings.Repeat("v", 100))
	}
	want := wal.LSNFromUint64(e.lastLSN.Load())
	if err := e.Close(); err != nil { // a checkpoint follows the last commit
		t.Fatal(err)
	}
	id, got, err := LastCommit(filepath.Join(dir, "transaction_log"))
	if err != nil || got != want || id != e.ID() {
		t.Errorf("LastCommit = %v %v %v, want %v %v", id, got, err, e.ID(), want)
	}
	if _, _, err := LastCommit(t.TempDir()); err == nil {
		t.Error("LastCommit of an empty directory succeeded")
	}
}
