package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// delivered is one message sent by LMTP and what became of it.
type delivered struct {
	id      string
	account string
	body    []byte
	start   time.Time // the transaction began
	acked   time.Time // 250 received (zero: never acknowledged)
}

// lmtpLoad delivers from n connections to the accounts until stop is
// closed, recording every message.
type lmtpLoad struct {
	mu   sync.Mutex
	sent []*delivered
	wg   sync.WaitGroup
	stop chan struct{}
	errs atomic.Int64
}

func startLoad(t *testing.T, d *daemon, conns int, accounts []string, prefix string) *lmtpLoad {
	t.Helper()
	l := &lmtpLoad{stop: make(chan struct{})}
	for c := range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(c)))
			cl, err := dialLMTP(d.addr)
			if err != nil {
				t.Errorf("%s client %d: connect: %v", prefix, c, err)
				return
			}
			defer cl.c.Close()
			for seq := 0; ; seq++ {
				select {
				case <-l.stop:
					return
				default:
				}
				m := &delivered{id: fmt.Sprintf("%s-c%d-%05d", prefix, c, seq), account: accounts[rng.IntN(len(accounts))]}
				m.body = crashMessage(m.id, 300+rng.IntN(4000))
				m.start = time.Now()
				res, err := cl.send("backup@example.net", []string{m.account + "@example.org"}, m.body)
				if err == nil && res.acked(m.account+"@example.org") {
					m.acked = time.Now()
				} else {
					l.errs.Add(1)
					t.Errorf("%s: delivery of %s failed: %v %v", prefix, m.id, err, res.data)
				}
				l.mu.Lock()
				l.sent = append(l.sent, m)
				l.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	return l
}

func (l *lmtpLoad) finish() []*delivered {
	close(l.stop)
	l.wg.Wait()
	return l.sent
}

// deliverAll sends msgs one after another on one connection; each must be
// acknowledged.
func deliverAll(t *testing.T, d *daemon, account string, prefix string, n int) []*delivered {
	t.Helper()
	cl, err := dialLMTP(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.c.Close()
	var out []*delivered
	for i := range n {
		m := &delivered{id: fmt.Sprintf("%s-%04d", prefix, i), account: account}
		m.body = crashMessage(m.id, 500+i*37)
		m.start = time.Now()
		res, err := cl.send("backup@example.net", []string{account + "@example.org"}, m.body)
		if err != nil || !res.acked(account+"@example.org") {
			t.Fatalf("delivery of %s: %v %v", m.id, err, res.data)
		}
		m.acked = time.Now()
		out = append(out, m)
	}
	return out
}

// mailboxState is what a client could have seen of a mailbox.
type mailboxState struct {
	uidValidity, uidNext uint32
}

// contents reads every account's INBOX of the stopped store: message id →
// its stored messages, and each mailbox's UIDVALIDITY and UIDNEXT.
func contents(t *testing.T, d *daemon, accounts []string) (map[string][]storedMsg, map[string]mailboxState) {
	t.Helper()
	byID := map[string][]storedMsg{}
	states := map[string]mailboxState{}
	d.withStore(func(ctx context.Context, st *store.Store) {
		for _, a := range accounts {
			m, msgs := readMailbox(t, ctx, st, a, "INBOX")
			states[a] = mailboxState{m.UIDValidity, m.UIDNext}
			for _, msg := range msgs {
				id := messageID(msg.Bytes)
				byID[id] = append(byID[id], msg)
			}
		}
	})
	return byID, states
}

// checkPresent checks that each message is present exactly once, in its
// account, with its exact bytes.
func checkPresent(t *testing.T, what string, byID map[string][]storedMsg, msgs []*delivered) {
	t.Helper()
	for _, m := range msgs {
		got := byID[m.id]
		switch {
		case len(got) == 0:
			t.Errorf("%s: %s (to %s, acknowledged %s) is missing", what, m.id, m.account, m.acked.Format("15:04:05.000"))
		case len(got) > 1:
			t.Errorf("%s: %s is present %d times", what, m.id, len(got))
		case !bytes.Equal(got[0].Bytes, m.body):
			t.Errorf("%s: %s: stored bytes differ from those sent", what, m.id)
		}
	}
}

func checkAbsent(t *testing.T, what string, byID map[string][]storedMsg, msgs []*delivered) {
	t.Helper()
	for _, m := range msgs {
		if len(byID[m.id]) > 0 {
			t.Errorf("%s: %s (committed after the restored point) is present", what, m.id)
		}
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// TestBackupUnderLoadAndRestore: msdb_backup while 8 LMTP connections
// deliver; stop; msdb_restore; every message acknowledged before the backup
// began is there once with its bytes, and no UID a client saw is handed
// out again under the same UIDVALIDITY.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	t.Parallel()
	accounts := []string{"b1", "b2", "b3", "b4"}
	d := newDaemon(t, daemonOptions{})
	for _, a := range accounts {
		d.addUser(a, "pw-"+a)
	}
	d.start()
	load := startLoad(t, d, 8, accounts, "load")
	time.Sleep(1500 * time.Millisecond)
	began := time.Now()
	r := d.ok(nil, "msdb_backup")
	backup := lastLine(r.stdout)
	if !strings.Contains(backup, filepath.Join(d.msPath, "backup", "MSDB_Backup_")) || strings.HasSuffix(backup, ".partial") {
		t.Fatalf("msdb_backup printed %q, not the backup directory:\n%v", backup, r)
	}
	time.Sleep(700 * time.Millisecond) // deliveries go on after the backup
	sent := load.finish()
	d.stop()
	if t.Failed() {
		return
	}
	var before, after []*delivered
	for _, m := range sent {
		if m.acked.Before(began) {
			before = append(before, m)
		} else if m.start.After(began) {
			after = append(after, m)
		}
	}
	t.Logf("%d deliveries, %d acknowledged before the backup began, %d begun after", len(sent), len(before), len(after))
	if len(before) == 0 || len(after) == 0 {
		t.Fatalf("the load did not straddle the backup")
	}
	// The files of the backup: tables, log files, manifest.
	ents, err := os.ReadDir(backup)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, want := range []string{"MANIFEST.json", "catalog.db", "mail.db"} {
		if !contains(names, want) {
			t.Errorf("backup %s lacks %s (has %v)", backup, want, names)
		}
	}
	logs := 0
	for _, n := range names {
		if strings.HasPrefix(n, "log.") {
			logs++
		}
	}
	if logs == 0 {
		t.Errorf("backup %s holds no log file (has %v)", backup, names)
	}
	_, seen := contents(t, d, accounts) // what clients could have seen

	r = d.ok(nil, "msdb_restore", backup)
	if !strings.Contains(r.stdout, "UIDVALIDITY renewed") {
		t.Errorf("msdb_restore to a point before the last delivery did not renew UIDVALIDITY:\n%v", r)
	}
	for _, dir := range []string{"data", "transaction_log"} {
		if _, err := os.Stat(filepath.Join(d.msPath, "database", dir+".asof"+time.Now().Format("20060102"))); err != nil {
			t.Errorf("the replaced %s directory was not kept: %v", dir, err)
		}
	}
	d.ok(nil, "msdb_test")
	byID, restored := contents(t, d, accounts)
	checkPresent(t, "after restore", byID, before)
	known := map[string]bool{}
	for _, m := range sent {
		known[m.id] = true
	}
	for id, ms := range byID {
		if !known[id] {
			t.Errorf("after restore: a message never sent: %q", id)
		}
		if len(ms) > 1 {
			t.Errorf("after restore: %s present %d times", id, len(ms))
		}
	}
	for _, a := range accounts {
		if restored[a].uidValidity == seen[a].uidValidity && restored[a].uidNext < seen[a].uidNext {
			t.Errorf("%s: UIDVALIDITY %d kept but UIDNEXT went back from %d to %d", a, seen[a].uidValidity, seen[a].uidNext, restored[a].uidNext)
		}
	}

	// New deliveries after the restore never reuse a UID a client saw.
	d.start()
	var fresh []*delivered
	for _, a := range accounts {
		fresh = append(fresh, deliverAll(t, d, a, "fresh-"+a, 2)...)
	}
	d.stop()
	byID, now := contents(t, d, accounts)
	checkPresent(t, "after restore and new deliveries", byID, append(before, fresh...))
	for _, m := range fresh {
		got := byID[m.id]
		if len(got) == 1 && now[m.account].uidValidity == seen[m.account].uidValidity && got[0].UID < seen[m.account].uidNext {
			t.Errorf("%s: new message %s has UID %d under UIDVALIDITY %d, which a client saw before the restore (UIDNEXT was %d)",
				m.account, m.id, got[0].UID, seen[m.account].uidValidity, seen[m.account].uidNext)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// treeHashes hashes every file under dir: path → SHA-256.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreRefusesDamagedBackup: a backup missing a log file, and one
// with a table file altered by one byte, are each refused before anything
// changes, naming the file.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.addUser("r1", "pw")
	d.start()
	deliverAll(t, d, "r1", "dmg", 30)
	backup := lastLine(d.ok(nil, "msdb_backup").stdout)
	d.stop()
	d.ok(nil, "msdb_hotcopy", "-V", backup)

	cases := []struct {
		name   string
		damage func(dir string) string // returns the file named in the refusal
	}{
		{"log file removed", func(dir string) string {
			p := filepath.Join(dir, "log.0000000001")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"table file altered by one byte", func(dir string) string {
			p := filepath.Join(dir, "mail.db")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"manifest missing", func(dir string) string {
			if err := os.Remove(filepath.Join(dir, "MANIFEST.json")); err != nil {
				t.Fatal(err)
			}
			return "MANIFEST.json"
		}},
	}
	for i, c := range cases {
		dir := filepath.Join(d.dir, fmt.Sprintf("damaged%d", i))
		copyTree(t, backup, dir)
		named := c.damage(dir)
		db := filepath.Join(d.msPath, "database")
		before := treeHashes(t, db)
		r := d.run(nil, "msdb_restore", dir)
		if r.code != 1 {
			t.Errorf("%s: msdb_restore exit %d, want 1:\n%v", c.name, r.code, r)
		}
		if !strings.Contains(r.stderr, named) {
			t.Errorf("%s: msdb_restore does not name %s:\n%v", c.name, named, r)
		}
		after := treeHashes(t, db)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("%s: the database changed although the restore was refused", c.name)
		}
		if ents, _ := os.ReadDir(db); len(ents) != 4 { // data, transaction_log, msdb.lock, backup.mark
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			t.Errorf("%s: the database home holds %v after a refused restore", c.name, names)
		}
	}
	// The intact backup still restores, and a running store refuses.
	d.start()
	r := d.run(nil, "msdb_restore", backup)
	if r.code != 1 || !strings.Contains(r.stderr, "running") {
		t.Errorf("msdb_restore while M-Store runs: want exit 1 saying it runs:\n%v", r)
	}
	d.stop()
}

// TestIncrementalAndPointInTimeRestore: a full backup, an incremental one
// (msdb_backup -u), and restores of it to its end and to a time between,
// each checked message by message.
func TestIncrementalAndPointInTimeRestore(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.addUser("p1", "pw")
	d.start()
	setA := deliverAll(t, d, "p1", "A", 25)
	backup := lastLine(d.ok(nil, "msdb_backup").stdout)
	setB := deliverAll(t, d, "p1", "B", 25)
	// A second boundary after B's last commit and before C's first.
	cut := setB[len(setB)-1].acked.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(cut) + 200*time.Millisecond)
	setC := deliverAll(t, d, "p1", "C", 25)
	r := d.ok(nil, "msdb_backup", "-u", backup)
	if lastLine(r.stdout) != backup {
		t.Errorf("msdb_backup -u printed %q, want %q", lastLine(r.stdout), backup)
	}
	setD := deliverAll(t, d, "p1", "D", 10)
	// The log since the backup is kept for the next incremental backup.
	d.ok(nil, "msdb_archive", "-d")
	d.stop()

	d.ok(nil, "msdb_restore", backup)
	byID, _ := contents(t, d, []string{"p1"})
	checkPresent(t, "incremental restore", byID, append(append(append([]*delivered{}, setA...), setB...), setC...))
	checkAbsent(t, "incremental restore", byID, setD)
	d.ok(nil, "msdb_test")

	// Back to the cut: A and B, not C.
	r = d.ok(nil, "msdb_restore", "-t", cut.Local().Format("200601021504.05"), backup)
	if !strings.Contains(r.stderr+r.stdout, "asof") {
		t.Errorf("second restore does not say where it kept the directories:\n%v", r)
	}
	byID, _ = contents(t, d, []string{"p1"})
	checkPresent(t, "point-in-time restore", byID, append(append([]*delivered{}, setA...), setB...))
	checkAbsent(t, "point-in-time restore", byID, append(append([]*delivered{}, setC...), setD...))
	d.ok(nil, "msdb_test")

	// A later incremental backup of the old backup is refused: the
	// database went back to an earlier point.
	d.start()
	deliverAll(t, d, "p1", "E", 5)
	r = d.run(nil, "msdb_backup", "-u", backup)
	if r.code == 0 {
		t.Errorf("msdb_backup -u of a backup the database no longer continues succeeded:\n%v", r)
	}
	d.ok(nil, "msdb_hotcopy", "-V", backup)
	// A new full backup works.
	d.ok(nil, "msdb_backup")
	d.stop()
}

// TestBackupFailureLeavesNoBackup: when a step of msdb_backup fails, it
// exits non-zero and nothing looks like a complete backup. The failing
// step is msdb_archive, replaced in a copy of the tools' directory (the
// scripts take their tools from MSTORE_BIN, a PUBLIC DEPENDENCY).
func TestBackupFailureLeavesNoBackup(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.addUser("f1", "pw")
	d.start()
	deliverAll(t, d, "f1", "fail", 10)

	bin := filepath.Join(d.dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(binDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "msdb_archive" {
			continue
		}
		if err := os.Symlink(filepath.Join(binDir, e.Name()), filepath.Join(bin, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\necho 'msdb_archive: simulated failure' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "msdb_archive"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The script resolves its own directory for its tools, so run the copy.
	if err := os.Remove(filepath.Join(bin, "msdb_backup")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(binDir, "msdb_backup"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "msdb_backup"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "msdb_backup"), "-f", d.conf)
	cmd.Env = d.environ()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("msdb_backup succeeded with a failing msdb_archive:\n%s", out)
	}
	if !strings.Contains(string(out), ".partial") {
		t.Errorf("msdb_backup does not say where the incomplete backup is:\n%s", out)
	}
	dirs, _ := filepath.Glob(filepath.Join(d.msPath, "backup", "MSDB_Backup_*"))
	for _, dir := range dirs {
		if !strings.HasSuffix(dir, ".partial") {
			t.Errorf("a failed backup left %s, which looks complete", dir)
			continue
		}
		if r := d.run(nil, "msdb_hotcopy", "-V", dir); r.code == 0 || !strings.Contains(r.stderr, "incomplete") {
			t.Errorf("the incomplete backup %s verifies:\n%v", dir, r)
		}
	}
	if len(dirs) != 1 {
		t.Errorf("backup directories after a failed backup: %v", dirs)
	}
	d.stop()
}
