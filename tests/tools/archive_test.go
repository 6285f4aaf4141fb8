package tools

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// lines splits a tool's output into its lines.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestArchive: msdb_archive lists the log files no longer needed after a
// checkpoint (bare names; -a absolute), every log file (-l), the table
// files (-s), and -d removes exactly the ones it lists, after which the
// environment still opens and holds its data.
func TestArchive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "64K")
	var all []kv
	for i := 0; i < 4; i++ {
		part := genRecs(i*1000, 300, 200)
		e.load("t", 10, part)
		all = append(all, part...)
	}
	e.load("u", 10, genRecs(0, 50, 20))
	r := e.ok(nil, "msdb_checkpoint", "-v")
	if !regexp.MustCompile(`msdb_checkpoint: checkpoint at LSN \[\d+\]\[\d+\]`).MatchString(r.stderr) {
		t.Errorf("msdb_checkpoint -v does not say where:\n%v", r)
	}
	nums := e.logNums()
	if len(nums) < 4 {
		t.Fatalf("want at least 4 log files, have %v", nums)
	}
	// Every table is at the last checkpoint, in the last file: all the
	// others may go.
	last := nums[len(nums)-1]
	var wantOld []string
	for _, n := range nums[:len(nums)-1] {
		wantOld = append(wantOld, logName(n))
	}

	r = e.ok(nil, "msdb_archive")
	if got := lines(r.stdout); !slices.Equal(got, wantOld) {
		t.Errorf("msdb_archive lists %q, want %q", got, wantOld)
	}
	r = e.ok(nil, "msdb_archive", "-v")
	if !strings.Contains(r.stderr, fmt.Sprintf("msdb_archive: %d log files may be backed up and removed", len(wantOld))) {
		t.Errorf("msdb_archive -v does not count them:\n%v", r)
	}
	r = e.ok(nil, "msdb_archive", "-a")
	var wantAbs []string
	for _, n := range wantOld {
		wantAbs = append(wantAbs, filepath.Join(e.logs, n))
	}
	if got := lines(r.stdout); !slices.Equal(got, wantAbs) {
		t.Errorf("msdb_archive -a lists %q, want %q", got, wantAbs)
	}

	var wantAll []string
	for _, n := range e.logNums() {
		wantAll = append(wantAll, logName(n))
	}
	r = e.ok(nil, "msdb_archive", "-l")
	if got := lines(r.stdout); !slices.Equal(got, wantAll) {
		t.Errorf("msdb_archive -l lists %q, want %q", got, wantAll)
	}

	r = e.ok(nil, "msdb_archive", "-s")
	if got, want := lines(r.stdout), []string{"catalog.db", "t.db", "u.db"}; !slices.Equal(got, want) {
		t.Errorf("msdb_archive -s lists %q, want %q", got, want)
	}
	r = e.ok(nil, "msdb_archive", "-s", "-a")
	if got, want := lines(r.stdout), []string{filepath.Join(e.data, "catalog.db"), filepath.Join(e.data, "t.db"), filepath.Join(e.data, "u.db")}; !slices.Equal(got, want) {
		t.Errorf("msdb_archive -sa lists %q, want %q", got, want)
	}

	// -d removes what the listing just before it names, and nothing else.
	listed := lines(e.ok(nil, "msdb_archive").stdout)
	if !slices.Equal(listed, wantOld) {
		t.Fatalf("the listing changed: %q, want %q", listed, wantOld)
	}
	before := e.logNums()
	r = e.ok(nil, "msdb_archive", "-d", "-v")
	var removed []string
	for _, l := range lines(r.stderr) {
		if p, ok := strings.CutPrefix(l, "msdb_archive: removed "); ok {
			removed = append(removed, p)
		}
	}
	if !slices.Equal(removed, wantAbs) {
		t.Errorf("msdb_archive -d -v says it removed %q, want %q", removed, wantAbs)
	}
	if r.stdout != "" {
		t.Errorf("msdb_archive -d writes to stdout:\n%v", r)
	}
	after := e.logNums()
	for _, n := range before {
		if slices.Contains(listed, logName(n)) == slices.Contains(after, n) {
			if slices.Contains(after, n) {
				t.Errorf("msdb_archive -d left %s, which it listed", logName(n))
			} else {
				t.Errorf("msdb_archive -d removed %s, which it did not list", logName(n))
			}
		}
	}
	if after[0] != last {
		t.Errorf("log files after msdb_archive -d: %v, want them to start at %s", after, logName(last))
	}

	r = e.ok(nil, "msdb_test", "-v")
	if !strings.Contains(r.stdout, "state: ok") {
		t.Errorf("msdb_test -v after msdb_archive -d:\n%v", r)
	}
	e.ok(nil, "msdb_recover")
	e.checkData("t", sortedRecs(all))
	e.checkData("u", sortedRecs(genRecs(0, 50, 20)))
	if got := lines(e.ok(nil, "msdb_archive").stdout); len(got) != 0 {
		t.Errorf("msdb_archive after -d still lists %q", got)
	}
}

// printed is one line of msdb_printlog.
type printed struct {
	lsn  string
	kind string // txn or checkpoint
	txid uint64
	ops  int
	line string
}

var printRE = regexp.MustCompile(`^(\[\d+\]\[\d+\])\t(txn|checkpoint)\ttxid=(\d+)\ttime=(\S+)\t(.*)$`)

func parsePrintlog(t *testing.T, out string) []printed {
	t.Helper()
	var ps []printed
	for _, l := range lines(out) {
		m := printRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("msdb_printlog line does not parse: %q", l)
		}
		p := printed{lsn: m[1], kind: m[2], line: l}
		p.txid, _ = strconv.ParseUint(m[3], 10, 64)
		if p.kind == "txn" {
			om := regexp.MustCompile(`^ops=(\d+)\t`).FindStringSubmatch(m[5])
			if om == nil {
				t.Fatalf("txn line without ops=: %q", l)
			}
			p.ops, _ = strconv.Atoi(om[1])
		} else if !strings.HasPrefix(m[5], "tables durable through [") {
			t.Fatalf("checkpoint line without its LSN: %q", l)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestPrintlog: one line per record with its LSN, transaction id and
// operations; -b and -e bound the range, inclusive.
func TestPrintlog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "64K")
	e.load("t", 5, genRecs(0, 600, 200))
	e.load("u", 3, genRecs(0, 9, 10))

	recs := e.allRecords()
	ps := parsePrintlog(t, e.ok(nil, "msdb_printlog").stdout)
	if len(ps) != len(recs) {
		t.Fatalf("msdb_printlog prints %d lines, the log holds %d records", len(ps), len(recs))
	}
	var creates, puts, ckpts int
	for i, p := range ps {
		if p.lsn != recs[i].lsn() {
			t.Fatalf("line %d is at %s, record %d at %s", i+1, p.lsn, i, recs[i].lsn())
		}
		if i > 0 && p.txid <= ps[i-1].txid {
			t.Errorf("line %d: txid %d after %d", i+1, p.txid, ps[i-1].txid)
		}
		switch {
		case p.kind == "checkpoint":
			ckpts++
		case strings.Contains(p.line, "create-table"):
			creates++
			if p.ops != 1 {
				t.Errorf("create-table with ops=%d: %q", p.ops, p.line)
			}
		default:
			puts++
			if n := strings.Count(p.line, "put "); n != p.ops {
				t.Errorf("ops=%d but %d puts listed: %q", p.ops, n, p.line)
			}
		}
	}
	if creates != 2 || puts != 600/5+9/3 || ckpts != 2 {
		t.Errorf("%d create-table, %d put and %d checkpoint records; want 2, %d, 2", creates, puts, ckpts, 600/5+9/3)
	}
	if !strings.Contains(ps[1].line, "\tops=5\tput t key=\"k00000000\" value=200 bytes; put t key=\"k00000001\" value=200 bytes;") {
		t.Errorf("the first load's first transaction: %q", ps[1].line)
	}

	// A range across files.
	var bi, ei int
	for i, r := range recs {
		if r.file == 2 && bi == 0 && i > 0 && recs[i-1].file == 2 {
			bi = i // the second record of file 2
		}
		if r.file == 3 {
			ei = i + 2 // the third record of file 3
			break
		}
	}
	if bi == 0 || ei == 0 || ei >= len(recs) || recs[ei].file != 3 {
		t.Fatalf("log too short for the range test: %d records, files %v", len(recs), e.logNums())
	}
	b, en := recs[bi], recs[ei]
	ranged := func(args ...string) []printed {
		t.Helper()
		return parsePrintlog(t, e.ok(nil, "msdb_printlog", args...).stdout)
	}
	same := func(what string, got, want []printed) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d lines, want %d", what, len(got), len(want))
			return
		}
		for i := range got {
			if got[i].line != want[i].line {
				t.Errorf("%s: line %d is %q, want %q", what, i+1, got[i].line, want[i].line)
				return
			}
		}
	}
	bs := fmt.Sprintf("%d/%d", b.file, b.off)
	es := fmt.Sprintf("%d/%d", en.file, en.off)
	same("-b "+bs+" -e "+es, ranged("-b", bs, "-e", es), ps[bi:ei+1])
	same("-b "+bs, ranged("-b", bs), ps[bi:])
	same("-e "+es, ranged("-e", es), ps[:ei+1])
	same("-b "+b.lsn()+" -e "+en.lsn(), ranged("-b", b.lsn(), "-e", en.lsn()), ps[bi:ei+1])
	same("-b -e the same record", ranged("-b", bs, "-e", bs), ps[bi:bi+1])
	// Bounds between records: -b from the next record on, -e up to the
	// record before.
	mid := fmt.Sprintf("%d/%d", b.file, b.off+8)
	same("-b "+mid, ranged("-b", mid, "-e", es), ps[bi+1:ei+1])
	midE := fmt.Sprintf("%d/%d", en.file, en.off+8)
	same("-e "+midE, ranged("-b", bs, "-e", midE), ps[bi:ei+1])

	// A torn tail is reported and what precedes it printed; corruption
	// is an error naming the file and offset.
	last := e.lastLog()
	size := fileSize(t, e.logPath(last))
	patch(t, e.logPath(last), size, []byte("torn tail garbage"))
	r := e.ok(nil, "msdb_printlog")
	if got := parsePrintlog(t, r.stdout); len(got) != len(ps) {
		t.Errorf("with a torn tail msdb_printlog prints %d lines, want %d", len(got), len(ps))
	}
	if !strings.Contains(r.stderr, "torn tail (recovery will cut it)") || !strings.Contains(r.stderr, fmt.Sprintf("offset %d", size)) {
		t.Errorf("msdb_printlog does not report the torn tail at offset %d:\n%v", size, r)
	}
	c := recs[bi]
	patch(t, e.logPath(c.file), int64(c.off+20), []byte{0xee, 0xee})
	r = e.run(nil, "msdb_printlog")
	if r.code != 1 || !strings.Contains(r.stderr, e.logPath(c.file)) || !strings.Contains(r.stderr, fmt.Sprintf("offset %d", c.off)) {
		t.Errorf("msdb_printlog over a corrupt record: want exit 1 naming %s offset %d:\n%v", e.logPath(c.file), c.off, r)
	}
	if got := parsePrintlog(t, r.stdout); len(got) != bi {
		t.Errorf("msdb_printlog prints %d records before the corrupt one, want %d", len(got), bi)
	}
}
