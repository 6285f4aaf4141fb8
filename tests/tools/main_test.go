// Package tools holds end-to-end tests of the msdb_* administration tools:
// they build cmd/mstore once, link the tools to it as `make build` does, and
// run the real binary on database environments of their own, each in a
// temporary directory with its own ms.conf.
package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// toolNames are the links `make build` makes to bin/mstore.
var toolNames = []string{"msdb_test", "msdb_recover", "msdb_checkpoint", "msdb_archive", "msdb_printlog", "msdb_dump", "msdb_load"}

var (
	binDir     string // the built mstore and its tool links
	fixtureDir string // shared, lazily built fixtures (see interrupt_test.go)
)

// runGuard bounds every tool run: a guard against hangs, not a timing assertion.
const runGuard = 3 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mstore-tools-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tools tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Readable by every user: TestInvoker runs the binary as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "tools tests:", err)
		return 1
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tools tests:", err)
		return 1
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "mstore"), "./cmd/mstore")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tools tests: go build ./cmd/mstore: %v\n%s", err, out)
		return 1
	}
	for _, name := range toolNames {
		if err := os.Symlink("mstore", filepath.Join(dir, name)); err != nil {
			fmt.Fprintln(os.Stderr, "tools tests:", err)
			return 1
		}
	}
	binDir = dir
	fdir, err := os.MkdirTemp("", "mstore-tools-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tools tests:", err)
		return 1
	}
	defer os.RemoveAll(fdir)
	fixtureDir = fdir
	return m.Run()
}

// moduleRoot finds the directory holding go.mod, upwards from here.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

// cleanEnv is the environment for the tools: without $MS_CONF, so that
// only -f names the configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MS_CONF=") {
			out = append(out, kv)
		}
	}
	return out
}

// result is what one run of a tool did.
type result struct {
	cmd            string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("%s: exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.cmd, r.code, clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	const limit = 4000
	if len(s) > limit {
		return s[:limit] + fmt.Sprintf("\n…(%d bytes in all)", len(s))
	}
	return s
}

// runBin runs binDir/name with args, stdin as standard input.
func runBin(t testing.TB, stdin []byte, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Env = cleanEnv()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{cmd: name + " " + strings.Join(args, " "), stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ctx.Err() != nil {
			t.Fatalf("%s: still running after %v, killed\n%v", r.cmd, runGuard, r)
		}
	default:
		t.Fatalf("%s: %v", r.cmd, err)
	}
	return r
}

// env is one database environment in a temporary directory.
type env struct {
	t    *testing.T
	dir  string
	conf string
	home string // <ms-path>/database
	data string
	logs string
}

// currentUserName is the runtime-user the test configurations name, so
// that the tools accept the user running the tests.
func currentUserName(t testing.TB) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	return u.Username
}

// newEnv makes a directory with an ms.conf whose ms-path is <dir>/store.
// Nothing of the environment exists yet.
func newEnv(t *testing.T, logFileSize string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, conf: filepath.Join(dir, "ms.conf")}
	e.home = filepath.Join(dir, "store", "database")
	e.data = filepath.Join(e.home, "data")
	e.logs = filepath.Join(e.home, "transaction_log")
	conf := fmt.Sprintf("# test configuration\nms-path = %s\nruntime-user = %s\nlog-file-size = %s\n",
		filepath.Join(dir, "store"), currentUserName(t), logFileSize)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs a tool on e (with -f e.conf first).
func (e *env) run(stdin []byte, tool string, args ...string) result {
	e.t.Helper()
	return runBin(e.t, stdin, tool, append([]string{"-f", e.conf}, args...)...)
}

// ok runs a tool and fails the test unless it exits 0.
func (e *env) ok(stdin []byte, tool string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, tool, args...)
	if r.code != 0 {
		e.t.Fatalf("want exit 0:\n%v", r)
	}
	return r
}

// refused runs a tool and fails the test unless it exits 1 with every one
// of wants in its standard error.
func (e *env) refused(tool string, args []string, wants ...string) result {
	e.t.Helper()
	r := e.run(nil, tool, args...)
	if r.code != 1 {
		e.t.Errorf("want exit 1:\n%v", r)
		return r
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			e.t.Errorf("stderr does not name %q:\n%v", w, r)
		}
	}
	return r
}

// kv is one record of a table.
type kv struct{ k, v []byte }

// genRecs makes count records with keys k<start>..: printable, valueLen bytes.
func genRecs(start, count, valueLen int) []kv {
	recs := make([]kv, count)
	for i := range recs {
		n := start + i
		v := make([]byte, 0, valueLen+16)
		for len(v) < valueLen {
			v = fmt.Appendf(v, "v%08d-", n)
		}
		recs[i] = kv{k: fmt.Appendf(nil, "k%08d", n), v: v[:valueLen]}
	}
	return recs
}

// escapePrint encodes b as db_dump -p does.
func escapePrint(dst, b []byte) []byte {
	const hexd = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c >= 0x20 && c <= 0x7e:
			dst = append(dst, c)
		default:
			dst = append(dst, '\\', hexd[c>>4], hexd[c&15])
		}
	}
	return dst
}

const dumpHeader = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"

// printDump is a db_dump -p stream of recs.
func printDump(recs []kv) []byte {
	b := []byte(dumpHeader)
	for _, r := range recs {
		b = append(b, ' ')
		b = escapePrint(b, r.k)
		b = append(b, '\n', ' ')
		b = escapePrint(b, r.v)
		b = append(b, '\n')
	}
	return append(b, "DATA=END\n"...)
}

// parseDump decodes a one-section db_dump -p (or bytevalue) stream.
func parseDump(t testing.TB, text string) []kv {
	t.Helper()
	lines := strings.Split(text, "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "" {
		t.Fatalf("dump does not end with a newline: %q", clip(text))
	}
	lines = lines[:len(lines)-1]
	i := 0
	format := ""
	for ; i < len(lines) && lines[i] != "HEADER=END"; i++ {
		if v, ok := strings.CutPrefix(lines[i], "format="); ok {
			format = v
		}
	}
	if i == len(lines) {
		t.Fatalf("dump has no HEADER=END: %q", clip(text))
	}
	i++
	var recs []kv
	var pending []byte
	havePending := false
	for ; i < len(lines); i++ {
		l := lines[i]
		if l == "DATA=END" {
			if havePending {
				t.Fatalf("dump: key without value before DATA=END")
			}
			if i != len(lines)-1 {
				t.Fatalf("dump: lines after DATA=END: %q", lines[i+1:])
			}
			return recs
		}
		if !strings.HasPrefix(l, " ") {
			t.Fatalf("dump line %d does not start with a space: %q", i+1, l)
		}
		var b []byte
		if format == "bytevalue" {
			var err error
			if b, err = hex.DecodeString(l[1:]); err != nil {
				t.Fatalf("dump line %d: %v", i+1, err)
			}
		} else {
			b = unescapePrint(t, l[1:])
		}
		if !havePending {
			pending, havePending = b, true
		} else {
			recs = append(recs, kv{pending, b})
			havePending = false
		}
	}
	t.Fatalf("dump has no DATA=END")
	return nil
}

func unescapePrint(t testing.TB, s string) []byte {
	t.Helper()
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			b = append(b, '\\')
			i++
			continue
		}
		if i+2 >= len(s) {
			t.Fatalf("bad escape at the end of %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			t.Fatalf("bad escape in %q: %v", s, err)
		}
		b = append(b, byte(v))
		i += 2
	}
	return b
}

// sortedRecs returns recs sorted by key, the last value of a repeated key kept.
func sortedRecs(recs []kv) []kv {
	m := map[string][]byte{}
	for _, r := range recs {
		m[string(r.k)] = r.v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]kv, len(keys))
	for i, k := range keys {
		out[i] = kv{[]byte(k), m[k]}
	}
	return out
}

// sameRecs reports the first difference between two record lists.
func sameRecs(t testing.TB, what string, got, want []kv) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i].k, want[i].k) || !bytes.Equal(got[i].v, want[i].v) {
			t.Errorf("%s: record %d is %q=%q, want %q=%q", what, i, clip(string(got[i].k)), clip(string(got[i].v)), clip(string(want[i].k)), clip(string(want[i].v)))
			return
		}
	}
}

// load runs msdb_load -n every table on recs.
func (e *env) load(table string, every int, recs []kv) {
	e.t.Helper()
	r := e.ok(printDump(recs), "msdb_load", "-n", strconv.Itoa(every), table)
	txns := (len(recs) + every - 1) / every
	want := fmt.Sprintf("msdb_load: loaded %d records into %s in %d transactions", len(recs), table, txns)
	if !strings.Contains(r.stderr, want) {
		e.t.Fatalf("msdb_load does not say %q:\n%v", want, r)
	}
}

// dump returns the records msdb_dump prints for table.
func (e *env) dump(table string) []kv {
	e.t.Helper()
	r := e.ok(nil, "msdb_dump", table)
	return parseDump(e.t, r.stdout)
}

// checkData fails unless table holds exactly want.
func (e *env) checkData(table string, want []kv) {
	e.t.Helper()
	sameRecs(e.t, "msdb_dump "+table, e.dump(table), want)
}

// snapshot is the checksum of every file under data/ and transaction_log/.
func (e *env) snapshot() map[string]string {
	e.t.Helper()
	snap := map[string]string{}
	for _, d := range []string{e.data, e.logs} {
		err := filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(e.home, p)
			if de.IsDir() {
				snap[rel+"/"] = "dir"
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			snap[rel] = fmt.Sprintf("%d bytes, sha256 %x", len(b), sum[:8])
			return nil
		})
		if err != nil {
			e.t.Fatalf("snapshot: %v", err)
		}
	}
	return snap
}

// unchanged fails when a file under data/ or transaction_log/ differs
// from the snapshot.
func (e *env) unchanged(before map[string]string, after string) {
	e.t.Helper()
	now := e.snapshot()
	var diffs []string
	for p, s := range before {
		switch n, ok := now[p]; {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case n != s:
			diffs = append(diffs, fmt.Sprintf("changed %s: %s, was %s", p, n, s))
		}
	}
	for p := range now {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		e.t.Errorf("files changed after %s (it must change nothing when it refuses):\n  %s", after, strings.Join(diffs, "\n  "))
	}
}

// logName is the base name of log file n.
func logName(n int) string { return fmt.Sprintf("log.%010d", n) }

func (e *env) logPath(n int) string { return filepath.Join(e.logs, logName(n)) }

// logNums lists the numbers of the log files present.
func (e *env) logNums() []int {
	e.t.Helper()
	ents, err := os.ReadDir(e.logs)
	if err != nil {
		e.t.Fatal(err)
	}
	var nums []int
	for _, de := range ents {
		if s, ok := strings.CutPrefix(de.Name(), "log."); ok && len(s) == 10 {
			n, err := strconv.Atoi(s)
			if err == nil {
				nums = append(nums, n)
			}
		}
	}
	sort.Ints(nums)
	return nums
}

func (e *env) lastLog() int {
	e.t.Helper()
	nums := e.logNums()
	if len(nums) == 0 {
		e.t.Fatal("no log files")
	}
	return nums[len(nums)-1]
}

// Log format (internal/msdb/wal/doc.go): a 64-byte header, then records at
// multiples of 8, each a little-endian body length, a CRC, then the body,
// whose first 8 bytes are the record's LSN.
const logHeaderSize = 64

// rec is a record's place in a log file, found by walking the frames.
type rec struct {
	file, off, size int
}

func (r rec) lsn() string { return fmt.Sprintf("[%d][%d]", r.file, r.off) }

// records walks the frames of log file n: its records, in order.
func (e *env) records(n int) []rec {
	e.t.Helper()
	b, err := os.ReadFile(e.logPath(n))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []rec
	for off := logHeaderSize; off+8 <= len(b); {
		l := int(binary.LittleEndian.Uint32(b[off:]))
		if l == 0 {
			break
		}
		size := (8 + l + 7) &^ 7
		if off+8+l > len(b) {
			e.t.Fatalf("%s: record at %d runs past the end", logName(n), off)
		}
		if got := binary.LittleEndian.Uint64(b[off+8:]); got != uint64(n)<<32|uint64(off) {
			e.t.Fatalf("%s: record at %d says it is at %x", logName(n), off, got)
		}
		out = append(out, rec{file: n, off: off, size: size})
		off += size
	}
	return out
}

// allRecords walks every log file.
func (e *env) allRecords() []rec {
	e.t.Helper()
	var out []rec
	for _, n := range e.logNums() {
		out = append(out, e.records(n)...)
	}
	return out
}

// lastRecord is the last record of the log: after a clean close, the
// checkpoint every table is at.
func (e *env) lastRecord() rec {
	e.t.Helper()
	rs := e.records(e.lastLog())
	if len(rs) == 0 {
		e.t.Fatalf("%s holds no records", logName(e.lastLog()))
	}
	return rs[len(rs)-1]
}

// copyFile copies src to dst, keeping nothing but the bytes and mode 0600.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// saveTables copies data/*.db into a new directory and returns it: a
// backup of the table files.
func (e *env) saveTables() string {
	e.t.Helper()
	dst := e.t.TempDir()
	e.copyTables(e.data, dst)
	return dst
}

// restoreTables puts the table files saved by saveTables back, as a
// restore of a backup does.
func (e *env) restoreTables(saved string) {
	e.t.Helper()
	e.copyTables(saved, e.data)
}

func (e *env) copyTables(from, to string) {
	e.t.Helper()
	files, err := filepath.Glob(filepath.Join(from, "*.db"))
	if err != nil || len(files) == 0 {
		e.t.Fatalf("no table files in %s (%v)", from, err)
	}
	for _, f := range files {
		copyFile(e.t, f, filepath.Join(to, filepath.Base(f)))
	}
}

// patch overwrites bytes of a file at off with b, returning what was there.
func patch(t testing.TB, path string, off int64, b []byte) []byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := make([]byte, len(b))
	if _, err := f.ReadAt(old, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return old
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// restoredEnv is the restore scenario the recovery tests share: a table t
// loaded with `initial` records and closed cleanly; its table files saved
// (the backup); `more` records loaded in many transactions over several
// 64K log files; then the saved table files put back, so that recovery
// must replay the whole log since the backup. It returns the environment,
// every record t held before the restore, and the record the restored
// tables are at.
func restoredEnv(t *testing.T, initial, more int) (*env, []kv, rec) {
	t.Helper()
	e := newEnv(t, "64K")
	first := genRecs(0, initial, 200)
	e.load("t", 20, first)
	at := e.lastRecord()
	saved := e.saveTables()
	all := first
	for i := 0; i < 4; i++ {
		part := genRecs(100000+i*more/4, more/4, 200)
		e.load("t", 20, part)
		all = append(all, part...)
	}
	full := sortedRecs(all)
	e.checkData("t", full)
	if e.lastLog() < at.file+4 {
		t.Fatalf("want at least 4 log files after the backup's %s; have %v", logName(at.file), e.logNums())
	}
	e.restoreTables(saved)
	return e, full, at
}

// runAsUser runs the program at path in dir, as cred's user when cred is
// not nil.
func runAsUser(path, dir string, cred *syscall.Credential, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{cmd: filepath.Base(path) + " " + strings.Join(args, " "), stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
		err = nil
	}
	return r, err
}
