package server

import (
	"testing"
	"time"

	"github.com/m-store/mstore/internal/msdb"
)

func TestGraceWithBackup(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	if g := graceWithBackup(week, msdb.BackupMark{}, false, now); g != week {
		t.Errorf("no backup: grace %v, want %v", g, week)
	}
	recent := msdb.BackupMark{Started: now.Add(-time.Hour)}
	if g := graceWithBackup(week, recent, true, now); g != week {
		t.Errorf("backup an hour ago: grace %v, want %v", g, week)
	}
	// A backup 30 days old references files dropped in those 30 days: the
	// sweep keeps them, whatever mail-sweep-grace says.
	old := msdb.BackupMark{Started: now.Add(-30 * 24 * time.Hour)}
	if g := graceWithBackup(week, old, true, now); g <= 30*24*time.Hour {
		t.Errorf("backup 30 days ago: grace %v, want more than 30 days", g)
	}
	if g := graceWithBackup(0, recent, true, now); g <= time.Hour {
		t.Errorf("no grace, backup an hour ago: grace %v, want more than an hour", g)
	}
}
