package tools

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bigReplay is a shared fixture: the table files of an environment taken
// right after its first, small load (the backup), the log of 300,000
// records of 200 bytes loaded since in 1,000 transactions (about 64 MB), and
// the dump of the table after all of them. Restoring the backup's tables
// beside that log makes recovery replay all of it.
type bigReplay struct {
	tables string // saved data/*.db
	logs   string // every log file
	dump   [32]byte
	dumpAt string // the dump itself
	nrecs  int
	err    error
}

// Log files of 1M: each is read whole by the log reader, whose window is
// 1 MB, so these tests see interruption and locking, not the replay
// corruption TestReplayLargeLogFile shows with larger files.
const bigLogFileSize = "1M"

var (
	bigOnce sync.Once
	big     bigReplay
)

func getBigReplay(t *testing.T) *bigReplay {
	t.Helper()
	bigOnce.Do(func() { big = buildBigReplay() })
	if big.err != nil {
		t.Fatalf("building the large replay: %v", big.err)
	}
	return &big
}

func buildBigReplay() (b bigReplay) {
	dir := filepath.Join(fixtureDir, "big")
	store := filepath.Join(dir, "store")
	conf := filepath.Join(dir, "ms.conf")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return bigReplay{err: err}
	}
	c := fmt.Sprintf("ms-path = %s\nruntime-user = %s\nlog-file-size = %s\n", store, currentUserNameOrRoot(), bigLogFileSize)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return bigReplay{err: err}
	}
	run := func(stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(binDir, args[0]), append([]string{"-f", conf}, args[1:]...)...)
		cmd.Env = cleanEnv()
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.Bytes(), nil
	}
	first := genRecs(0, 10, 200)
	if _, err := run(printDump(first), "msdb_load", "t"); err != nil {
		return bigReplay{err: err}
	}
	data := filepath.Join(store, "database", "data")
	b.tables = filepath.Join(dir, "tables")
	if err := copyDir(data, b.tables, "*.db"); err != nil {
		return bigReplay{err: err}
	}
	const batches, per = 10, 30000
	for i := 0; i < batches; i++ {
		if _, err := run(printDump(genRecs(1000000+i*per, per, 200)), "msdb_load", "-n", "300", "t"); err != nil {
			return bigReplay{err: err}
		}
	}
	out, err := run(nil, "msdb_dump", "t")
	if err != nil {
		return bigReplay{err: err}
	}
	b.dump = sha256.Sum256(out)
	b.dumpAt = filepath.Join(dir, "dump.txt")
	if err := os.WriteFile(b.dumpAt, out, 0o600); err != nil {
		return bigReplay{err: err}
	}
	b.nrecs = len(first) + batches*per
	b.logs = filepath.Join(store, "database", "transaction_log")
	// The loaded tables are not needed: only the backup and the log.
	if err := os.RemoveAll(data); err != nil {
		return bigReplay{err: err}
	}
	return b
}

func currentUserNameOrRoot() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// copyDir copies the files of src matching pattern into dst.
func copyDir(src, dst, pattern string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(src, pattern))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no %s in %s", pattern, src)
	}
	for _, f := range files {
		in, err := os.Open(f)
		if err != nil {
			return err
		}
		out, err := os.OpenFile(filepath.Join(dst, filepath.Base(f)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			_, err = io.Copy(out, in)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// bigEnv is a new environment holding the backup's tables and the long log.
func bigEnv(t *testing.T) (*env, *bigReplay) {
	t.Helper()
	b := getBigReplay(t)
	e := newEnv(t, bigLogFileSize)
	if err := copyDir(b.tables, e.data, "*.db"); err != nil {
		t.Fatal(err)
	}
	if err := copyDir(b.logs, e.logs, "log.*"); err != nil {
		t.Fatal(err)
	}
	return e, b
}

// checkBigData compares msdb_dump t with the dump taken before the restore.
func (e *env) checkBigData(b *bigReplay) {
	e.t.Helper()
	r := e.ok(nil, "msdb_dump", "t")
	if sha256.Sum256([]byte(r.stdout)) != b.dump {
		want, err := os.ReadFile(b.dumpAt)
		if err != nil {
			e.t.Fatal(err)
		}
		sameRecs(e.t, "msdb_dump t after recovery", parseDump(e.t, r.stdout), parseDump(e.t, string(want)))
		e.t.Fatalf("msdb_dump t differs from the dump before the restore")
	}
}

// progressRE matches recovery's progress lines when stderr is not a
// terminal ("msdb_recover: replay: 51%: 32.0 MB of 61.6 MB, …"): any line
// of msdb_recover's with a percentage.
var progressRE = regexp.MustCompile(`^msdb_recover: [^%]*?\b(\d{1,3})%`)

// startRecover starts msdb_recover -v on e and returns it with a channel
// of its stderr lines, closed at EOF.
func startRecover(t *testing.T, e *env, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "msdb_recover"), append([]string{"-f", e.conf}, args...)...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines
}

// waitProgress reads stderr lines until a progress line below 100% and
// returns every line read. The guard only bounds a hang.
func waitProgress(t *testing.T, lines <-chan string) []string {
	t.Helper()
	guard := time.After(runGuard)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("msdb_recover ended before printing progress below 100%%:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if m := progressRE.FindStringSubmatch(l); m != nil && m[1] != "100" {
				return seen
			}
		case <-guard:
			t.Fatalf("no progress from msdb_recover after %v:\n%s", runGuard, strings.Join(seen, "\n"))
		}
	}
}

// finish reads the rest of stderr and waits for the process.
func finish(t *testing.T, cmd *exec.Cmd, lines <-chan string, seen []string) (int, string) {
	t.Helper()
	guard := time.After(runGuard)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			seen = append(seen, l)
		case <-guard:
			t.Fatalf("msdb_recover still running after %v:\n%s", runGuard, strings.Join(seen, "\n"))
		}
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, strings.Join(seen, "\n")
}

// TestInterruptRecovery: SIGINT during a long replay stops recovery at a
// record boundary with exit 1 and a message that the environment is
// consistent; the next recovery finishes and every record is there.
func TestInterruptRecovery(t *testing.T) {
	t.Parallel()
	e, b := bigEnv(t)
	cmd, lines := startRecover(t, e, "-v")
	seen := waitProgress(t, lines)
	// The interrupt must reach recovery before its replay ends: pause the
	// process, queue SIGINT, resume it. It is delivered as it resumes,
	// with most of the replay still to do.
	p := cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	code, stderr := finish(t, cmd, lines, seen)
	if code != 1 {
		t.Fatalf("interrupted msdb_recover: exit %d, want 1:\n%s", code, stderr)
	}
	for _, want := range []string{"interrupted", "consistent", "run recovery again"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("interrupted msdb_recover does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "msdb_recover: the database is consistent") {
		t.Errorf("interrupted msdb_recover claims to have finished:\n%s", stderr)
	}

	r := e.ok(nil, "msdb_recover", "-v")
	if !strings.Contains(r.stderr, "msdb_recover: the database is consistent") {
		t.Errorf("second msdb_recover:\n%v", r)
	}
	e.ok(nil, "msdb_test")
	e.checkBigData(b)
}

// TestEnvironmentInUse: while msdb_recover holds the environment, another
// tool is refused at once, told the environment is in use and by which
// process.
func TestEnvironmentInUse(t *testing.T) {
	t.Parallel()
	e, b := bigEnv(t)
	cmd, lines := startRecover(t, e, "-v")
	seen := waitProgress(t, lines)
	// Past its first progress line recovery holds the environment; paused,
	// it holds it for as long as the test needs.
	p := cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	pid := fmt.Sprint(p.Pid)
	for _, args := range [][]string{{"msdb_test"}, {"msdb_recover"}, {"msdb_checkpoint"}, {"msdb_dump", "t"}} {
		r := e.run(nil, args[0], args[1:]...)
		if r.code != 1 || !strings.Contains(r.stderr, "in use") || !strings.Contains(r.stderr, "process "+pid) {
			t.Errorf("want exit 1 saying the environment is in use by process %s:\n%v", pid, r)
		}
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	code, stderr := finish(t, cmd, lines, seen)
	if code != 0 || !strings.Contains(stderr, "msdb_recover: the database is consistent") {
		t.Fatalf("msdb_recover: exit %d, want 0:\n%s", code, stderr)
	}
	e.ok(nil, "msdb_test")
	e.checkBigData(b)
}
