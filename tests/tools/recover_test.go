package tools

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadedEnv is an environment with table t loaded by many small
// transactions over several 64K log files, closed cleanly: every table is
// at the checkpoint that is the log's last record.
func loadedEnv(t *testing.T) (*env, []kv) {
	t.Helper()
	e := newEnv(t, "64K")
	var all []kv
	for i := 0; i < 3; i++ {
		part := genRecs(i*1000, 300, 250)
		e.load("t", 10, part)
		all = append(all, part...)
	}
	// A last load of one record a transaction: the last log file ends with
	// several small records, then the closing checkpoint.
	part := genRecs(9000, 6, 50)
	e.load("t", 1, part)
	all = append(all, part...)
	if n := len(e.logNums()); n < 4 {
		t.Fatalf("want at least 4 log files, have %d", n)
	}
	return e, sortedRecs(all)
}

// TestTornTail: the tail of the last log file holds a write cut short by a
// crash (simulated: the tools close cleanly, so bytes are appended to the
// end of the last file). Recovery cuts it, says how much and where, and the
// data is intact.
func TestTornTail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tool string // the tool that recovers
		// tail returns the bytes to append, given a copy of a valid record.
		tail func(valid []byte) []byte
	}{
		{"partial record", "msdb_recover", func(valid []byte) []byte { return append([]byte(nil), valid[:20]...) }},
		{"partial record and preallocated zeros", "msdb_recover", func(valid []byte) []byte {
			return append(append([]byte(nil), valid[:20]...), make([]byte, 1<<20)...)
		}},
		{"whole record at the wrong place", "msdb_recover", func(valid []byte) []byte { return append([]byte(nil), valid...) }},
		{"random bytes", "msdb_recover", func([]byte) []byte {
			b := make([]byte, 37)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range b {
				b[i] = byte(r.IntN(255) + 1)
			}
			return b
		}},
		{"zero length word then data", "msdb_recover", func([]byte) []byte {
			return append(make([]byte, 8), 0xde, 0xad, 0xbe, 0xef)
		}},
		{"partial record, recovered by msdb_test", "msdb_test", func(valid []byte) []byte { return append([]byte(nil), valid[:20]...) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, want := loadedEnv(t)
			last := e.lastLog()
			path := e.logPath(last)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first := e.records(last)[0]
			tail := c.tail(orig[first.off : first.off+first.size])
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tail); err != nil {
				t.Fatal(err)
			}
			f.Close()
			// The tool counts the torn bytes up to the last non-zero one:
			// zeros past it are the writer's preallocation.
			torn := len(bytes.TrimRight(tail, "\x00"))
			at := fmt.Sprintf("[%d][%d]", last, len(orig))

			r := e.ok(nil, c.tool)
			wantMsg := fmt.Sprintf("cut a torn tail of %d bytes from %s at LSN %s", torn, path, at)
			if !strings.Contains(r.stderr, wantMsg) {
				t.Errorf("want %q in stderr:\n%v", wantMsg, r)
			}

			// The file is cut where the tail began: the original bytes are
			// there, the tail is not (a record written since, the closing
			// checkpoint, may follow them).
			now, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(now, orig) {
				t.Fatalf("%s no longer begins with its records", path)
			}
			if len(now) > len(orig) {
				rs := e.records(last)
				lastRec := rs[len(rs)-1]
				if lastRec.off+lastRec.size != len(now) {
					t.Errorf("%s: %d bytes, but its records end at %d: the torn tail was not cut", path, len(now), lastRec.off+lastRec.size)
				}
			}
			pr := e.ok(nil, "msdb_printlog")
			if pr.stderr != "" {
				t.Errorf("msdb_printlog still finds damage:\n%v", pr)
			}
			e.ok(nil, "msdb_test")
			e.checkData("t", want)
			r = e.ok(nil, "msdb_recover", "-v")
			if strings.Contains(r.stderr, "torn") {
				t.Errorf("a second recovery finds a torn tail again:\n%v", r)
			}
		})
	}
}

// TestCorruptLog: damage that is not a torn tail (in a file other than the
// last, or followed by valid records) is refused, naming the file and
// offset, and nothing is changed. The table files are restored from a
// backup first, so that recovery needs the damaged records.
func TestCorruptLog(t *testing.T) {
	t.Parallel()
	type target struct {
		file int // log file number
		off  int64
		b    []byte // bytes written there
	}
	cases := []struct {
		name string
		// pick chooses the damage, given the env and the record the
		// restored tables are at.
		pick func(e *env, at rec) (target, rec)
	}{
		{"inside an early record of a needed file that is not the last", func(e *env, at rec) (target, rec) {
			r := e.records(at.file + 1)[1]
			return target{r.file, int64(r.off + 40), bytes.Repeat([]byte{0xa5}, 8)}, r
		}},
		{"length word of a record of a file that is not the last", func(e *env, at rec) (target, rec) {
			r := e.records(at.file + 2)[0]
			return target{r.file, int64(r.off), []byte{0xff, 0xff, 0x00, 0x00}}, r
		}},
		{"last record of a file that is not the last", func(e *env, at rec) (target, rec) {
			rs := e.records(at.file + 1)
			r := rs[len(rs)-1]
			return target{r.file, int64(r.off + 30), []byte{0x5a, 0x5a}}, r
		}},
		{"zeroed record in the last file with records after it", func(e *env, at rec) (target, rec) {
			rs := e.records(e.lastLog())
			if len(rs) < 3 {
				e.t.Fatalf("want 3 records in the last file, have %d", len(rs))
			}
			r := rs[len(rs)-3]
			return target{r.file, int64(r.off), make([]byte, r.size)}, r
		}},
		{"inside a record of the last file with records after it", func(e *env, at rec) (target, rec) {
			rs := e.records(e.lastLog())
			r := rs[len(rs)/2]
			return target{r.file, int64(r.off + 12), []byte{0x01}}, r
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, full, at := restoredEnv(t, 400, 2000)
			tg, damaged := c.pick(e, at)
			path := e.logPath(tg.file)
			old := patch(t, path, tg.off, tg.b)
			before := e.snapshot()
			wants := []string{path, fmt.Sprintf("offset %d", damaged.off), damaged.lsn(), "corrupt"}
			e.refused("msdb_recover", nil, wants...)
			e.unchanged(before, "msdb_recover")
			e.refused("msdb_recover", []string{"-cv"}, wants...)
			e.unchanged(before, "msdb_recover -cv")
			e.refused("msdb_test", nil, wants...)
			e.unchanged(before, "msdb_test")
			e.refused("msdb_load", []string{"t"}, wants...)
			e.unchanged(before, "msdb_load")
			pr := e.run(nil, "msdb_printlog")
			if pr.code != 1 || !strings.Contains(pr.stderr, path) || !strings.Contains(pr.stderr, fmt.Sprintf("offset %d", damaged.off)) {
				t.Errorf("msdb_printlog: want exit 1 naming %s and offset %d:\n%v", path, damaged.off, pr)
			}

			// Repaired (the log file restored), recovery replays it all.
			patch(t, path, tg.off, old)
			r := e.ok(nil, "msdb_recover", "-v")
			if !strings.Contains(r.stderr, "replay from LSN "+at.lsn()) {
				t.Errorf("recovery does not replay from the restored tables' LSN %s:\n%v", at.lsn(), r)
			}
			e.ok(nil, "msdb_test")
			e.checkData("t", full)
		})
	}
}

// TestCorruptLogHeader: a needed log file whose header is damaged is named.
func TestCorruptLogHeader(t *testing.T) {
	t.Parallel()
	e, full, at := restoredEnv(t, 400, 2000)
	path := e.logPath(at.file + 2)
	old := patch(t, path, 20, []byte{0x42})
	before := e.snapshot()
	e.refused("msdb_recover", nil, path, "header")
	e.unchanged(before, "msdb_recover")
	e.refused("msdb_recover", []string{"-c"}, path, "header")
	e.unchanged(before, "msdb_recover -c")
	patch(t, path, 20, old)
	e.ok(nil, "msdb_recover")
	e.checkData("t", full)
}

// TestMissingLogFiles: recovery, catastrophic or not, names every missing
// log file it needs and changes nothing; with the files back it succeeds.
func TestMissingLogFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// gone picks the files to remove, given the file the restored
		// tables are at; named are those the message must name.
		gone func(at int) (gone, named []int)
	}{
		{"one in the middle", func(at int) ([]int, []int) { return []int{at + 2}, []int{at + 2} }},
		{"several", func(at int) ([]int, []int) { return []int{at + 1, at + 3}, []int{at + 1, at + 3} }},
		{"the first needed", func(at int) ([]int, []int) { return []int{at}, []int{at} }},
		{"the first needed and the ones before it", func(at int) ([]int, []int) {
			var g []int
			for n := 1; n <= at; n++ {
				g = append(g, n)
			}
			return g, []int{at}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, full, at := restoredEnv(t, 400, 2000)
			if at.file < 2 {
				t.Fatalf("the backup's tables are at %s: want them past the first log file", at.lsn())
			}
			gone, named := c.gone(at.file)
			stash := t.TempDir()
			for _, n := range gone {
				if err := os.Rename(e.logPath(n), filepath.Join(stash, logName(n))); err != nil {
					t.Fatal(err)
				}
			}
			before := e.snapshot()
			var wants []string
			for _, n := range named {
				wants = append(wants, logName(n))
			}
			for _, args := range [][]string{{"-c"}, {"-cv"}, nil} {
				r := e.refused("msdb_recover", args, wants...)
				if len(gone) == 1 && strings.Count(r.stderr, "log.") != 1 {
					t.Errorf("names other log files than %s:\n%v", logName(gone[0]), r)
				}
				e.unchanged(before, "msdb_recover "+strings.Join(args, " "))
			}
			e.refused("msdb_test", nil, wants...)
			e.unchanged(before, "msdb_test")

			for _, n := range gone {
				if err := os.Rename(filepath.Join(stash, logName(n)), e.logPath(n)); err != nil {
					t.Fatal(err)
				}
			}
			e.ok(nil, "msdb_recover", "-c")
			e.ok(nil, "msdb_test")
			e.checkData("t", full)
		})
	}
}

// TestMissingTableFile: a table file or the catalogue missing is named by
// every tool that opens the environment, and nothing is changed.
func TestMissingTableFile(t *testing.T) {
	t.Parallel()
	for _, gone := range [][]string{{"t.db"}, {"catalog.db"}, {"t.db", "u.db"}} {
		t.Run(strings.Join(gone, "+"), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "64K")
			e.load("t", 10, genRecs(0, 100, 100))
			e.load("u", 10, genRecs(0, 100, 100))
			for _, f := range gone {
				if err := os.Remove(filepath.Join(e.data, f)); err != nil {
					t.Fatal(err)
				}
			}
			var wants []string
			for _, f := range gone {
				wants = append(wants, filepath.Join(e.data, f))
			}
			before := e.snapshot()
			for _, args := range [][]string{{"msdb_test"}, {"msdb_test", "-v"}, {"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_checkpoint"}, {"msdb_dump", "u"}, {"msdb_load", "v"}} {
				e.refused(args[0], args[1:], wants...)
				e.unchanged(before, strings.Join(args, " "))
			}
		})
	}
}

// TestTablesBeyondLog: the tables are at an LSN the log does not reach
// (its last files or the end of its last file are gone): refused, named,
// nothing changed. After a clean close every table is at the checkpoint
// that is the last record, so losing any of the log's end loses that
// record. The message names a table file and its LSN.
//
// "last record cut off" and "last record cut short" fail: recovery checks
// end < table LSN (internal/msdb/recover.go), so a log that ends at, or is
// torn inside, the very record the tables are at passes; the torn record
// is even cut and reported as "never acknowledged".
func TestTablesBeyondLog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// damage removes part of the log's end and returns what the
		// message must name.
		damage func(e *env, at rec) []string
	}{
		{"last log file deleted", func(e *env, at rec) []string {
			os.Remove(e.logPath(at.file))
			return []string{logName(at.file)}
		}},
		// The tables need only the file they are at: that one is named.
		{"last two log files deleted", func(e *env, at rec) []string {
			os.Remove(e.logPath(at.file))
			os.Remove(e.logPath(at.file - 1))
			return []string{logName(at.file), "LSN " + at.lsn()}
		}},
		{"last two records cut off", func(e *env, at rec) []string {
			rs := e.records(at.file)
			if err := os.Truncate(e.logPath(at.file), int64(rs[len(rs)-2].off)); err != nil {
				e.t.Fatal(err)
			}
			return []string{"table file " + e.data + "/", "at LSN " + at.lsn(), "the log ends at"}
		}},
		{"last record cut off", func(e *env, at rec) []string {
			if err := os.Truncate(e.logPath(at.file), int64(at.off)); err != nil {
				e.t.Fatal(err)
			}
			return []string{"table file " + e.data + "/", "at LSN " + at.lsn(), "the log ends at"}
		}},
		{"last record cut short", func(e *env, at rec) []string {
			if err := os.Truncate(e.logPath(at.file), int64(at.off+at.size-8)); err != nil {
				e.t.Fatal(err)
			}
			return []string{"table file " + e.data + "/", "at LSN " + at.lsn(), "the log ends at"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, _ := loadedEnv(t)
			at := e.lastRecord()
			if rs := e.records(at.file); len(rs) < 3 {
				t.Fatalf("want 3 records in the last log file, have %d", len(rs))
			}
			wants := c.damage(e, at)
			before := e.snapshot()
			for _, args := range [][]string{{"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_test"}} {
				e.refused(args[0], args[1:], wants...)
				e.unchanged(before, strings.Join(args, " "))
			}
		})
	}
}

// TestForeignLogFile: a log file of another environment among the log
// files is refused, naming it.
func TestForeignLogFile(t *testing.T) {
	t.Parallel()
	// The other environment has the same table and more log files.
	other := newEnv(t, "64K")
	for i := 0; i < 4; i++ {
		other.load("t", 5, genRecs(i*1000, 300, 200))
	}
	// And one whose tables have other names.
	otherTables := newEnv(t, "64K")
	for i := 0; i < 4; i++ {
		otherTables.load("z", 5, genRecs(i*1000, 300, 200))
	}
	cases := []struct {
		name string
		// place puts a file of the other environment among e's and
		// returns its path.
		place func(e *env) string
		tools [][]string
	}{
		// Regression: verifyLog once read a file's records before it
		// compared the header's environment id, so a record writing a
		// table this environment does not know stopped it first.
		{"after the last, other tables", func(e *env) string {
			n := e.lastLog() + 1
			copyFile(t, otherTables.logPath(n), e.logPath(n))
			return e.logPath(n)
		}, [][]string{{"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_test"}}},
		{"after the last", func(e *env) string {
			n := e.lastLog() + 1
			copyFile(t, other.logPath(n), e.logPath(n))
			return e.logPath(n)
		}, [][]string{{"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_test"}}},
		{"instead of the last", func(e *env) string {
			n := e.lastLog()
			copyFile(t, other.logPath(n), e.logPath(n))
			return e.logPath(n)
		}, [][]string{{"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_test"}}},
		// A file normal recovery does not need: catastrophic recovery,
		// which reads every file, and msdb_test -v, which verifies every
		// file, refuse it.
		{"instead of the first, not needed", func(e *env) string {
			copyFile(t, other.logPath(1), e.logPath(1))
			return e.logPath(1)
		}, [][]string{{"msdb_recover", "-c"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, _ := loadedEnv(t)
			if len(other.logNums()) <= e.lastLog() {
				t.Fatalf("the other environment has %d log files, want more than %d", len(other.logNums()), e.lastLog())
			}
			path := c.place(e)
			before := e.snapshot()
			for _, args := range c.tools {
				e.refused(args[0], args[1:], path, "another environment")
				e.unchanged(before, strings.Join(args, " "))
			}
			if c.name == "instead of the first, not needed" {
				e.refused("msdb_test", []string{"-v"}, path, "another environment")
			}
		})
	}
}

// TestMisplacedLogFile: a log file of this environment under another
// number is refused, naming it.
func TestMisplacedLogFile(t *testing.T) {
	t.Parallel()
	e, _ := loadedEnv(t)
	n := e.lastLog() + 1
	copyFile(t, e.logPath(2), e.logPath(n))
	before := e.snapshot()
	for _, args := range [][]string{{"msdb_recover"}, {"msdb_recover", "-c"}, {"msdb_test"}} {
		e.refused(args[0], args[1:], e.logPath(n), "log file 2", "misplaced")
		e.unchanged(before, strings.Join(args, " "))
	}
}

// TestReplayLargeLogFile: recovery replays a log file larger than 1 MB
// (the default log-file-size is 10M) and the tables hold exactly what was
// committed.
//
// Regression: replayOp once passed op.Value, a slice of the log reader's
// buffer, to bbolt's Bucket.Put, which keeps the value
// slice until the transaction commits ("Supplied value must remain valid
// for the life of the transaction"); the reader (wal/reader.go,
// chunkReader.peek) reuses that buffer in place for the records after the
// first megabyte of a file, so the replayed values are overwritten with
// later log bytes before the batch commits.
func TestReplayLargeLogFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "10M")
	first := genRecs(0, 10, 200)
	e.load("t", 10, first)
	saved := e.saveTables()
	more := genRecs(1000, 15000, 200)
	e.load("t", 100, more)
	full := sortedRecs(append(append([]kv{}, first...), more...))
	e.checkData("t", full)
	if size := fileSize(t, e.logPath(1)); size < 2<<20 || len(e.logNums()) != 1 {
		t.Fatalf("want one log file of more than 2 MB: %v, %d bytes", e.logNums(), size)
	}
	e.restoreTables(saved)
	r := e.ok(nil, "msdb_recover", "-v")
	if !strings.Contains(r.stderr, "15000 operations") {
		t.Errorf("msdb_recover -v does not replay the 15000 puts:\n%v", r)
	}
	e.checkData("t", full)
}
