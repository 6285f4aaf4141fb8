package server

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
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
