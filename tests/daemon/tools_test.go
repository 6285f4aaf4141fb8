package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLiveTools: while the daemon runs, msdb_test, msdb_checkpoint,
// msdb_archive and msdb_dump work through it; msdb_recover, msdb_load and
// msdb_test -r refuse, saying M-Store is running and its pid.
func TestLiveTools(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	pid := d.start()
	d.addUser("alice", "pw")
	if res, err := lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, testMessage("tools")); err != nil || !res.acked("alice@example.org") {
		t.Fatalf("deliver: %v %v", res.data, err)
	}
	home := filepath.Join(d.msPath, "database")

	r := d.ok(nil, "msdb_test")
	if r.stdout != "" {
		t.Errorf("msdb_test without -v writes to stdout:\n%v", r)
	}
	r = d.ok(nil, "msdb_test", "-v")
	for _, want := range []string{"home: " + home + "\n", "environment id: ", "tables: ", "  " + mailTable + " ", "state: ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("live msdb_test -v does not print %q:\n%v", want, r)
		}
	}
	r = d.ok(nil, "msdb_test", "-lv")
	for _, want := range []string{"locks: none held", "deadlocks: none", "state: ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("live msdb_test -lv does not print %q:\n%v", want, r)
		}
	}
	r = d.ok(nil, "msdb_test", "-l")
	if !strings.Contains(r.stdout, "deadlocks: none") {
		t.Errorf("live msdb_test -l:\n%v", r)
	}
	d.ok(nil, "msdb_checkpoint")
	r = d.ok(nil, "msdb_checkpoint", "-v")
	if r.stdout+r.stderr == "" {
		t.Errorf("live msdb_checkpoint -v says nothing:\n%v", r)
	}
	d.ok(nil, "msdb_archive")
	r = d.ok(nil, "msdb_archive", "-l")
	if !strings.Contains(r.stdout, "log.0000000001") {
		t.Errorf("live msdb_archive -l does not list log.0000000001:\n%v", r)
	}
	r = d.ok(nil, "msdb_archive", "-s")
	if !strings.Contains(r.stdout, ".db") {
		t.Errorf("live msdb_archive -s lists no table files:\n%v", r)
	}
	r = d.ok(nil, "msdb_dump", "-l")
	if !strings.Contains(r.stdout, mailTable) {
		t.Errorf("live msdb_dump -l does not list %s:\n%v", mailTable, r)
	}
	for _, table := range strings.Fields(r.stdout) {
		d.ok(nil, "msdb_dump", table) // every table listed dumps live
	}
	if recs := dumpRecords(t, d, mailTable); recs[spaceAccounts] != 1 || recs[spaceMessages] != 1 {
		t.Errorf("live msdb_dump %s: %d accounts and %d messages, want 1 and 1", mailTable, recs[spaceAccounts], recs[spaceMessages])
	}
	// The multi-call binary under its own name goes through the daemon too.
	d.ok(nil, "mstore", "msdb_test", "-v")
	d.ok(nil, "mstore", "ping")

	running := fmt.Sprintf("M-Store is running (pid %d)", pid)
	for _, c := range [][]string{{"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_load", "t"}, {"msdb_test", "-r"}, {"msdb_test", "-rv"}, {"mstore", "msdb_recover"}} {
		r := d.run([]byte("VERSION=3\nformat=print\ntype=btree\nHEADER=END\nDATA=END\n"), c[0], c[1:]...)
		if r.code != 1 || !strings.Contains(r.stderr, running) {
			t.Errorf("%s while running: want exit 1 saying %q:\n%v", strings.Join(c, " "), running, r)
		}
	}
	// The daemon still serves after all that.
	if res, err := lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, testMessage("tools-2")); err != nil || !res.acked("alice@example.org") {
		t.Errorf("deliver after the tools: %v %v", res.data, err)
	}
	d.stop()

	// Stopped: the same tools work directly.
	d.ok(nil, "msdb_test", "-rv")
	d.ok(nil, "msdb_checkpoint")
	if recs := dumpRecords(t, d, mailTable); recs[spaceMessages] != 2 {
		t.Errorf("msdb_dump %s after stop: %d messages, want 2", mailTable, recs[spaceMessages])
	}
	if r := d.run(nil, "mstore", "ping"); r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("mstore ping when stopped: want exit 1:\n%v", r)
	}
}

// TestProfile: mstore profile writes pprof profiles of the running daemon.
func TestProfile(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	if r := d.run(nil, "mstore", "profile", "--kind", "heap", "-o", filepath.Join(d.dir, "x")); r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("profile of a stopped store: want exit 1 saying it does not run:\n%v", r)
	}
	d.start()
	for _, kind := range []string{"heap", "goroutine", "cpu", "block"} {
		out := filepath.Join(d.dir, kind+".pprof")
		d.ok(nil, "mstore", "profile", "--kind", kind, "--seconds", "1", "-o", out)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 20 || b[0] != 0x1f || b[1] != 0x8b { // pprof: gzipped protobuf
			t.Errorf("%s profile is not a pprof file: %d bytes % x…", kind, len(b), b[:min(len(b), 8)])
		}
	}
	if r := d.run(nil, "mstore", "profile", "--kind", "bogus", "-o", filepath.Join(d.dir, "y")); r.code != 1 || !strings.Contains(r.stderr, `unknown kind "bogus"`) {
		t.Errorf("bogus kind:\n%v", r)
	}
	d.stop()
}
