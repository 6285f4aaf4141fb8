package daemon

import (
	"context"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/m-store/mstore/internal/store"
)

// TestPrivilegeDrop: started as root with runtime-user = nobody, the
// daemon runs as nobody, delivers, answers root's tools on the control
// socket, and owns its database files.
func TestPrivilegeDrop(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	dir := t.TempDir()
	// nobody must reach <dir>/store.
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := newDaemon(t, daemonOptions{user: "nobody", dir: dir})
	d.addUser("alice", "pw") // as root, directly: files made by root
	pid := d.start()

	for _, field := range []string{"Uid", "Gid"} {
		v, err := procStatus(pid, field)
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.Itoa(uid)
		if field == "Gid" {
			want = strconv.Itoa(gid)
		}
		for _, f := range strings.Fields(v) {
			if f != want {
				t.Errorf("daemon pid %d: %s %q, want %s everywhere (nobody)", pid, field, v, want)
				break
			}
		}
	}
	msg := testMessage("as-nobody")
	if res, err := lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, msg); err != nil || !res.acked("alice@example.org") {
		t.Fatalf("deliver as nobody: %v %v\n--- log:\n%s", res.data, err, d.logTail())
	}
	// root's tools go through the control socket.
	r := d.ok(nil, "msdb_test", "-v")
	if !strings.Contains(r.stdout, "state: ok") {
		t.Errorf("root's msdb_test -v through the daemon:\n%v", r)
	}
	d.ok(nil, "msdb_checkpoint")
	d.ok(nil, "mstore", "user", "add", "bob", "--password", "pw")

	sock := filepath.Join(d.msPath, "run", "control.sock")
	if fi, err := os.Stat(sock); err != nil {
		t.Errorf("control socket: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want 0600", fi.Mode().Perm())
	}
	// Everything under database/ and run/, and the message files, belong to nobody.
	for _, sub := range []string{"database", "run", "mail"} {
		n := 0
		err := filepath.WalkDir(filepath.Join(d.msPath, sub), func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := de.Info()
			if err != nil {
				return nil // gone meanwhile (a temporary file)
			}
			n++
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) != uid {
				t.Errorf("%s is owned by uid %d, want %d (nobody)", p, st.Uid, uid)
			}
			return nil
		})
		if err != nil {
			t.Errorf("walk %s: %v", sub, err)
		}
		if n < 2 {
			t.Errorf("%s/ holds nothing", sub)
		}
	}
	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		sameMessages(t, "alice/INBOX", mailboxBytes(t, ctx, st, "alice", "INBOX"), [][]byte{msg})
		if _, err := st.Account(ctx, "bob"); err != nil {
			t.Errorf("bob, added through the daemon: %v", err)
		}
	})
}

// TestPrivilegeDropAfterRootRun: a store that ran as root (runtime-user =
// root) is started with runtime-user = nobody. The daemon gives the
// database to nobody; it must give it the message files it already holds
// too: a message with the same content as one stored under root is
// delivered (its file is found and refreshed), and every file under mail/
// is nobody's, so that the daemon can read the mail it serves.
func TestPrivilegeDropAfterRootRun(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := newDaemon(t, daemonOptions{user: "root", dir: dir})
	d.addUser("alice", "pw")
	d.start()
	first := testMessage("first-as-root")
	if res, err := lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, first); err != nil || !res.acked("alice@example.org") {
		t.Fatalf("deliver as root: %v %v", res.data, err)
	}
	d.stop()

	conf, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.Replace(string(conf), "runtime-user = root", "runtime-user = nobody", 1))
	if err := os.WriteFile(d.conf, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	d.user = "nobody"
	d.start()
	// The same content again: the file exists, owned by root.
	res, err := lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, first)
	if err != nil || !res.acked("alice@example.org") {
		t.Errorf("deliver, as nobody, a message whose file root stored: %v %v, want 250\n--- log:\n%s", res.data, err, d.logTail())
	}
	second := testMessage("second-as-nobody")
	if res, err := lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, second); err != nil || !res.acked("alice@example.org") {
		t.Errorf("deliver a new message as nobody: %v %v", res.data, err)
	}
	err = filepath.WalkDir(filepath.Join(d.msPath, "mail"), func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Errorf("%s is owned by uid %d, not by the runtime user nobody (%d): the daemon cannot read or refresh it", p, st.Uid, uid)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		want := [][]byte{first, second}
		if res.acked("alice@example.org") {
			want = [][]byte{first, first, second}
		}
		sameMessages(t, "alice/INBOX", mailboxBytes(t, ctx, st, "alice", "INBOX"), want)
	})
}
