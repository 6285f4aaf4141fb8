package tools

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestFresh: msdb_test creates an environment where there is none; the
// flags, combined or not, through a link or through `mstore msdb_test`.
func TestFresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "64K")

	r := e.ok(nil, "msdb_test")
	if r.stdout != "" {
		t.Errorf("msdb_test without -v writes to stdout:\n%v", r)
	}
	for _, p := range []string{filepath.Join(e.data, "catalog.db"), e.logPath(1), filepath.Join(e.home, "msdb.lock")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("msdb_test did not create %s: %v", p, err)
		}
	}

	r = e.ok(nil, "msdb_test", "-v")
	for _, want := range []string{"home: " + e.home + "\n", "environment id: ", "log: 1 files (log.0000000001..log.0000000001)", "tables: 1,", "  catalog ", "state: ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("msdb_test -v does not print %q:\n%v", want, r)
		}
	}

	r = e.ok(nil, "msdb_test", "-lv")
	for _, want := range []string{"locks: none held", "deadlocks: none", "state: ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("msdb_test -lv does not print %q:\n%v", want, r)
		}
	}

	r = e.ok(nil, "msdb_test", "-rv")
	if !strings.Contains(r.stderr, "msdb_recover: normal recovery of "+e.home) || !strings.Contains(r.stderr, "msdb_recover: the database is consistent") {
		t.Errorf("msdb_test -rv does not report the recovery:\n%v", r)
	}
	if !strings.Contains(r.stdout, "state: ok") {
		t.Errorf("msdb_test -rv does not print the state:\n%v", r)
	}

	r = e.ok(nil, "msdb_recover", "-cv")
	for _, want := range []string{"msdb_recover: catastrophic recovery of " + e.home, "log files log.0000000001..log.0000000001", "msdb_recover: the database is consistent"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("msdb_recover -cv does not say %q:\n%v", want, r)
		}
	}

	// The multi-call binary under its own name.
	r = runBin(t, nil, "mstore", "msdb_test", "-f", e.conf, "-v")
	if r.code != 0 || !strings.Contains(r.stdout, "state: ok") {
		t.Errorf("mstore msdb_test -v:\n%v", r)
	}
	r = runBin(t, nil, "mstore", "msdb_recover", "-f", e.conf, "-cv")
	if r.code != 0 || !strings.Contains(r.stderr, "catastrophic recovery") {
		t.Errorf("mstore msdb_recover -cv:\n%v", r)
	}

	// Usage errors: exit 1 and the usage line, nothing done.
	before := e.snapshot()
	for _, c := range []struct {
		args  []string
		usage string
	}{
		{[]string{"msdb_test", "-x"}, "usage: msdb_test [-lrv] [-f config]"},
		{[]string{"msdb_test", "-lvq"}, "usage: msdb_test [-lrv] [-f config]"},
		{[]string{"msdb_test", "extra"}, "usage: msdb_test [-lrv] [-f config]"},
		{[]string{"msdb_recover", "-z"}, "usage: msdb_recover [-cv] [-t [[CC]YY]MMDDhhmm[.SS]] [-f config]"},
		{[]string{"msdb_archive", "-q"}, "usage: msdb_archive [-adlsv] [-f config]"},
		{[]string{"msdb_load", "-n", "0", "t"}, "usage: msdb_load"},
		{[]string{"msdb_printlog", "-b", "nonsense"}, "usage: msdb_printlog"},
		{[]string{"mstore", "msdb_test", "-x"}, "usage: mstore msdb_test [-lrv] [-f config]"},
	} {
		args := append(append([]string{}, c.args[1:]...), "-f", e.conf)
		r := runBin(t, nil, c.args[0], args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.usage) {
			t.Errorf("want exit 1 and %q:\n%v", c.usage, r)
		}
	}
	e.unchanged(before, "usage errors")

	// A configuration file that does not exist is named.
	missing := filepath.Join(e.dir, "nonexistent.conf")
	r = runBin(t, nil, "msdb_test", "-f", missing)
	if r.code != 1 || !strings.Contains(r.stderr, missing) {
		t.Errorf("msdb_test -f %s: want exit 1 naming it:\n%v", missing, r)
	}
}

// TestNoEnvironment: the tools that need an existing environment refuse
// where there is none, naming the home, and create nothing (msdb_recover -c
// included: catastrophic recovery restores a backup, it never creates).
//
// "msdb_recover -c" fails: msdb.Open (internal/msdb/env.go) makes the home,
// data/ and transaction_log/ and takes msdb.lock before recover() finds
// there is no environment and refuses; only MustExist is checked earlier,
// and admin.Recover does not set it for -c.
func TestNoEnvironment(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"msdb_checkpoint"}, {"msdb_archive"}, {"msdb_dump", "-l"}, {"msdb_recover", "-c"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "64K")
			store := filepath.Dir(e.home)
			r := e.run(nil, args[0], args[1:]...)
			if r.code != 1 {
				t.Errorf("want exit 1 where there is no environment:\n%v", r)
			}
			if !strings.Contains(r.stderr, e.home) {
				t.Errorf("does not name the missing home %s:\n%v", e.home, r)
			}
			var left []string
			filepath.WalkDir(store, func(p string, _ os.DirEntry, err error) error {
				if err == nil {
					left = append(left, p)
				}
				return nil
			})
			if len(left) > 0 {
				t.Errorf("%s refused but created %s", args[0], strings.Join(left, ", "))
			}
		})
	}
}

// TestInvoker: the tools refuse anyone but root and the runtime user.
func TestInvoker(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the binary as nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	if _, err := user.Lookup("sms"); err == nil {
		t.Skip("a user sms exists here; the test needs a runtime user other than nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// Everything nobody reads must be readable by it: a 0755 directory
	// under a world-searchable parent, holding a copy of the binary.
	parent := os.TempDir()
	for d := parent; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			parent = "/tmp"
			break
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	dir, err := os.MkdirTemp(parent, "mstore-invoker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "msdb_test")
	b, err := os.ReadFile(filepath.Join(binDir, "mstore"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	writeConf := func(name, runtimeUser string) string {
		p := filepath.Join(dir, name)
		c := "ms-path = " + store + "\nruntime-user = " + runtimeUser + "\nlog-file-size = 64K\n"
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	smsConf := writeConf("sms.conf", "sms")
	nobodyConf := writeConf("nobody.conf", "nobody")

	runAs := func(conf string, cred *syscall.Credential) result {
		t.Helper()
		r, err := runAsUser(bin, dir, cred, "-f", conf)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	asNobody := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}

	r := runAs(smsConf, asNobody)
	want := `msdb_test must be run as root or as the runtime user "sms"`
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "nobody") {
		t.Errorf("as nobody with runtime-user sms: want exit 1 and %q naming nobody:\n%v", want, r)
	}
	if _, err := os.Stat(store); err == nil {
		t.Errorf("the refused invocation created %s", store)
	}

	// The runtime user itself is accepted.
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(store, uid, gid); err != nil {
		t.Fatal(err)
	}
	r = runAs(nobodyConf, asNobody)
	if r.code != 0 {
		t.Errorf("as nobody with runtime-user nobody: want exit 0:\n%v", r)
	}
	// And so is root, whoever the runtime user is.
	r = runAs(smsConf, nil)
	if r.code != 0 {
		t.Errorf("as root with runtime-user sms: want exit 0:\n%v", r)
	}
}
