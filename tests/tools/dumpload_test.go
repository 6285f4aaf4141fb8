package tools

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// binaryRecs has every byte value in keys and values: key i is the single
// byte i, its value every byte from i round to i-1; and a key whose value
// is empty.
func binaryRecs() []kv {
	var recs []kv
	for i := 0; i < 256; i++ {
		v := make([]byte, 256)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs = append(recs, kv{[]byte{byte(i)}, v})
	}
	recs = append(recs, kv{[]byte("empty value"), []byte{}})
	recs = append(recs, kv{[]byte("back\\slash\x00\n\r\t end"), []byte("\\\\ \\x41 \xff\xfe")})
	return recs
}

// bytevalueDump is a db_dump (without -p) stream of recs.
func bytevalueDump(recs []kv) []byte {
	b := []byte("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n")
	for _, r := range recs {
		b = append(b, ' ')
		b = hex.AppendEncode(b, r.k)
		b = append(b, '\n', ' ')
		b = hex.AppendEncode(b, r.v)
		b = append(b, '\n')
	}
	return append(b, "DATA=END\n"...)
}

// TestDumpLoadRoundTrip: binary keys and values go through msdb_load and
// come back byte for byte from msdb_dump, in key order.
func TestDumpLoadRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "64K")
	recs := binaryRecs()
	want := sortedRecs(recs)

	e.load("bin", 7, recs)
	r := e.ok(nil, "msdb_dump", "bin")
	if !bytes.Equal([]byte(r.stdout), printDump(want)) {
		sameRecs(t, "msdb_dump bin", parseDump(t, r.stdout), want)
		t.Errorf("msdb_dump bin is not the db_dump -p text of the records:\n%s", clip(r.stdout))
	}
	// Its own output loads back into another table unchanged.
	e.ok([]byte(r.stdout), "msdb_load", "bin2")
	if r2 := e.ok(nil, "msdb_dump", "bin2"); r2.stdout != r.stdout {
		t.Errorf("msdb_dump | msdb_load does not round-trip")
	}
	// db_dump's other format, bytevalue, loads the same.
	r = e.ok(bytevalueDump(recs), "msdb_load", "hex")
	if !strings.Contains(r.stderr, fmt.Sprintf("loaded %d records into hex", len(recs))) {
		t.Errorf("msdb_load of a bytevalue dump:\n%v", r)
	}
	e.checkData("hex", want)
	// Loading again overwrites: a key's last value wins.
	e.load("bin", 50, []kv{{[]byte{0}, []byte("new")}})
	want[slices.IndexFunc(want, func(r kv) bool { return bytes.Equal(r.k, []byte{0}) })].v = []byte("new")
	e.checkData("bin", want)

	r = e.ok(nil, "msdb_dump", "-l")
	if got := lines(r.stdout); !slices.Equal(got, []string{"bin", "bin2", "hex"}) {
		t.Errorf("msdb_dump -l lists %q", got)
	}
	e.refused("msdb_dump", []string{"nosuch"}, `no table "nosuch"`)
	// A bad table name is refused before the environment is opened.
	before := e.snapshot()
	e.refused("msdb_load", []string{"Bad/Name"}, `bad table name "Bad/Name"`)
	e.refused("msdb_load", []string{"catalog"}, `bad table name "catalog"`)
	e.unchanged(before, "msdb_load with a bad table name")
}

// TestLoadMalformed: a malformed line at line K fails msdb_load naming
// line K; the transactions committed before it stay, the one it was in
// does not.
func TestLoadMalformed(t *testing.T) {
	t.Parallel()
	recs := genRecs(0, 30, 40)
	// Line numbers: 4 header lines, then record i (from 1) has its key on
	// line 3+2i and its value on line 4+2i.
	keyLine := func(i int) int { return 3 + 2*i }
	cases := []struct {
		name  string
		line  int    // the line that is wrong
		text  string // what it holds
		wants []string
	}{
		{"key line without its space", keyLine(26), "garbage", []string{"does not start with a space"}},
		{"bad escape in a value", keyLine(23) + 1, ` v\zz`, []string{"bad escape"}},
		{"upper-case hex escape in a key", keyLine(30), ` k\4A`, []string{"bad escape"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "64K")
			in := strings.Split(string(printDump(recs)), "\n")
			in[c.line-1] = c.text
			r := e.run([]byte(strings.Join(in, "\n")), "msdb_load", "-n", "10", "t")
			if r.code != 1 {
				t.Fatalf("want exit 1:\n%v", r)
			}
			for _, w := range append([]string{fmt.Sprintf("line %d:", c.line), "20 records loaded in 2 transactions"}, c.wants...) {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%v", w, r)
				}
			}
			e.checkData("t", recs[:20])
			e.ok(nil, "msdb_test")
		})
	}
	t.Run("input ends without DATA=END", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "64K")
		in := printDump(recs)
		in = in[:len(in)-len("DATA=END\n")]
		r := e.run(in, "msdb_load", "-n", "10", "t")
		want := fmt.Sprintf("line %d:", 4+2*len(recs)+1)
		if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "DATA=END") {
			t.Errorf("want exit 1 and %q about DATA=END:\n%v", want, r)
		}
		// All 30 were read, 30 committed in 3 transactions before the
		// end was found wanting; the partial batch is empty.
		e.checkData("t", recs[:30])
	})
}

// TestBerkeleyDBInterop: msdb_dump's output is read by Berkeley DB's
// db_load, and db_dump's output (both formats) by msdb_load, losslessly.
// It needs db5.3-util; without it the test is skipped, unless CI=true.
func TestBerkeleyDBInterop(t *testing.T) {
	t.Parallel()
	dbLoad, err1 := exec.LookPath("db5.3_load")
	dbDump, err2 := exec.LookPath("db5.3_dump")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but db5.3_load/db5.3_dump are missing (apt-get install db5.3-util): %v %v", err1, err2)
		}
		t.Skip("db5.3_load/db5.3_dump not installed (apt-get install db5.3-util)")
	}
	e := newEnv(t, "64K")
	recs := append(binaryRecs(), genRecs(0, 500, 300)...)
	want := sortedRecs(recs)
	e.load("t", 25, recs)
	dump := e.ok(nil, "msdb_dump", "t").stdout

	bdb := func(stdin []byte, prog string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), runGuard)
		defer cancel()
		cmd := exec.CommandContext(ctx, prog, args...)
		cmd.Dir = e.dir
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	x := filepath.Join(e.dir, "x.db")
	bdb([]byte(dump), dbLoad, x)

	// db_dump -p of Berkeley DB's copy, loaded back.
	bdbPrint := bdb(nil, dbDump, "-p", x)
	sameRecs(t, "db5.3_dump -p", parseDump(t, bdbPrint), want)
	e.ok([]byte(bdbPrint), "msdb_load", "t2")
	if got := e.ok(nil, "msdb_dump", "t2").stdout; got != dump {
		sameRecs(t, "msdb_dump t2", parseDump(t, got), want)
		t.Errorf("msdb_dump t | db5.3_load; db5.3_dump -p | msdb_load t2: the dumps differ")
	}
	// And db_dump's bytevalue format.
	e.ok([]byte(bdb(nil, dbDump, x)), "msdb_load", "t3")
	if got := e.ok(nil, "msdb_dump", "t3").stdout; got != dump {
		sameRecs(t, "msdb_dump t3", parseDump(t, got), want)
		t.Errorf("db5.3_dump | msdb_load t3: the dumps differ")
	}
}
