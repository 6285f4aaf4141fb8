package tools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledLoad: msdb_load killed with SIGKILL in the middle of a load (a
// crash): recovery brings back every transaction whose record is in the
// log, whole, and nothing else.
func TestKilledLoad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		prep func(e *env)
	}{
		{"running log", func(*env) {}},
		// The log files were all removed after a clean close, as the
		// manual's work-around for a damaged log does: the next open
		// starts a new log. A crash before that log's first checkpoint
		// must still recover.
		//
		{"first load after the log was restarted", func(e *env) {
			for _, n := range e.logNums() {
				if err := os.Remove(e.logPath(n)); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "64K")
			first := genRecs(0, 100, 200)
			e.load("t", 10, first)
			last := e.lastLog()
			c.prep(e)

			more := genRecs(1000, 5000, 200)
			cmd := exec.Command(filepath.Join(binDir, "msdb_load"), "-f", e.conf, "-n", "1", "t")
			cmd.Env = cleanEnv()
			cmd.Stdin = bytes.NewReader(printDump(more))
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill it once it has filled a new log file and started the
			// next: many transactions are committed by then.
			target := e.logPath(last + 2)
			guard := time.Now().Add(runGuard)
			for {
				if _, err := os.Stat(target); err == nil {
					break
				}
				if time.Now().After(guard) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("msdb_load never reached %s:\n%s", target, errb.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil {
				t.Fatalf("msdb_load finished before it was killed:\n%s", errb.String())
			}

			r := e.ok(nil, "msdb_recover", "-v")
			if !strings.Contains(r.stderr, "msdb_recover: the database is consistent") {
				t.Errorf("msdb_recover -v:\n%v", r)
			}
			e.ok(nil, "msdb_test")
			// Every put record of the new keys in the log is committed. (The
			// first load's records are in the log unless it was removed.)
			pl := e.ok(nil, "msdb_printlog").stdout
			k := strings.Count(pl, `put t key="k0000`) - strings.Count(pl, `put t key="k000000`)
			if k <= 0 || k >= len(more) {
				t.Fatalf("%d of the killed load's transactions are in the log", k)
			}
			e.checkData("t", sortedRecs(append(append([]kv{}, first...), more[:k]...)))
			t.Logf("%d of %d transactions committed before the kill", k, len(more))
		})
	}
}

// TestKilledRecovery: recovery killed with SIGKILL during its replay: the
// next recovery finishes it.
func TestKilledRecovery(t *testing.T) {
	t.Parallel()
	e, b := bigEnv(t)
	cmd, lines := startRecover(t, e, "-v")
	seen := waitProgress(t, lines)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code, stderr := finish(t, cmd, lines, seen)
	if code == 0 {
		t.Fatalf("msdb_recover finished before it was killed:\n%s", stderr)
	}
	r := e.ok(nil, "msdb_recover", "-v")
	if !strings.Contains(r.stderr, "msdb_recover: the database is consistent") {
		t.Errorf("msdb_recover -v after the kill:\n%v", r)
	}
	e.ok(nil, "msdb_test")
	e.checkBigData(b)
}

// TestRecoveryProgress: with stderr not a terminal, msdb_recover -v prints
// a progress line every ten percent of the replay (internal/admin/progress.go).
//
// Regression: replay once reported progress only when it committed a batch
// (every 20,000 records or 32 MB), so a replay of tens of MB printed one or
// two lines.
func TestRecoveryProgress(t *testing.T) {
	t.Parallel()
	e, _ := bigEnv(t)
	r := e.ok(nil, "msdb_recover", "-v")
	var steps []int
	for _, l := range lines(r.stderr) {
		if m := progressRE.FindStringSubmatch(l); m != nil {
			pct, _ := strconv.Atoi(m[1])
			steps = append(steps, pct/10)
		}
	}
	seen := map[int]bool{}
	for i, s := range steps {
		if i > 0 && s <= steps[i-1] {
			t.Errorf("progress goes back or repeats a step: %v", steps)
		}
		seen[s] = true
	}
	for s := 1; s <= 10; s++ {
		if !seen[s] {
			t.Errorf("no progress line for %d%%..%d%% of the replay (lines at tens %v):\n%v", s*10, s*10+9, steps, r)
			break
		}
	}
}
