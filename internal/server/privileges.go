package server

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/m-store/mstore/internal/config"
)

// dropPrivileges makes the process the runtime user when it runs as root
// (after the listeners are bound): the store's directories are given to
// that user first. It returns the runtime user's uid. A runtime user that
// does not exist is an error naming it.
func dropPrivileges(cfg *config.Config, lg *slog.Logger) (int, error) {
	uid, gid, err := runtimeIDs(cfg.RuntimeUser)
	if err != nil {
		return 0, err
	}
	if os.Geteuid() != 0 || uid == 0 {
		return uid, nil
	}
	// The database, run and mail directories wholly (only what another user
	// owns is changed, so a store that ran as root before is taken over);
	// ms-path itself.
	for _, dir := range []string{cfg.DatabaseHome(), cfg.RunDir(), cfg.MailDir()} {
		if err := chownTree(dir, uid, gid); err != nil {
			return 0, fmt.Errorf("give %s to runtime user %s: %w", dir, cfg.RuntimeUser, err)
		}
	}
	for _, dir := range []string{cfg.MSPath} {
		if err := os.Lchown(dir, uid, gid); err != nil && !os.IsNotExist(err) {
			return 0, fmt.Errorf("give %s to runtime user %s: %w", dir, cfg.RuntimeUser, err)
		}
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return 0, fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return 0, fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return 0, fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	lg.Info("running as the runtime user", "user", cfg.RuntimeUser, "uid", uid, "gid", gid)
	return uid, nil
}

// runtimeIDs looks up the runtime user.
func runtimeIDs(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("runtime user %q does not exist (runtime-user in ms.conf): create it, or set runtime-user to an existing user", name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// chownTree gives every file under root to uid:gid (only those that differ).
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}

// GiveToRuntimeUser prepares dir for work the daemon does in it for a tool
// run by root: dir and any missing parent are created (mode 0700) and, with
// what dir already holds, given to the runtime user. Run by another user it
// only creates them.
func GiveToRuntimeUser(cfg *config.Config, dir string) error {
	var created []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		created = append(created, p)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := runtimeIDs(cfg.RuntimeUser)
	if err != nil || uid == 0 {
		return err
	}
	// The store's backup directory is the runtime user's, as its database
	// directory is, so that the daemon reaches a backup inside it.
	if rel, err := filepath.Rel(cfg.BackupDir(), dir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		created = append(created, cfg.BackupDir())
	}
	for _, p := range created {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to runtime user %s: %w", p, cfg.RuntimeUser, err)
		}
	}
	if err := chownTree(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to runtime user %s: %w", dir, cfg.RuntimeUser, err)
	}
	return nil
}
