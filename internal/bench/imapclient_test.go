package bench

import (
	"strconv"
	"testing"
)

func TestParseFetch(t *testing.T) {
	body := "From: a@b\r\nSubject: x\r\n\r\nhello\r\n"
	env := `("Mon, 2 Jan 2023 15:04:05 +0100" {29}` + "\r\n" + `mstore-bench append 7 a b c` + "\r\n" +
		` (("Sender" NIL "s" "example.org")) ((NIL NIL "s" "example.org")) ((NIL NIL "s" "example.org")) ((NIL NIL "r" "example.com")) NIL NIL NIL "<m1@example.org>")`
	cases := []struct {
		name, resp string
		ok         bool
		err        bool
		check      func(t *testing.T, f *fetchData)
	}{
		{name: "env", ok: true, resp: `* 12 FETCH (UID 34 FLAGS (\Seen $Junk) RFC822.SIZE 4096 ENVELOPE ` + env + `)`,
			check: func(t *testing.T, f *fetchData) {
				if f.seq != 12 || f.uid != 34 || f.size != 4096 || !f.hasFlags || string(f.flags) != `\Seen $Junk` || !f.hasEnv {
					t.Fatalf("%+v", f)
				}
				if string(f.subject) != "mstore-bench append 7 a b c\r\n"[:29] {
					t.Fatalf("subject %q", f.subject)
				}
			}},
		{name: "body", ok: true, resp: "* 1 FETCH (UID 9 BODY[] {" + itoa(len(body)) + "}\r\n" + body + ")",
			check: func(t *testing.T, f *fetchData) {
				if f.uid != 9 || !f.hasBody || string(f.body) != body || f.size != -1 {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "body first, quoted", ok: true, resp: `* 1 FETCH (BODY[] "a\"b" UID 3)`,
			check: func(t *testing.T, f *fetchData) {
				if f.uid != 3 || string(f.body) != `a\"b` {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "nil subject, other items", ok: true, resp: `* 2 FETCH (MODSEQ (5) BODY[HEADER.FIELDS (FROM TO)] {0}` + "\r\n" + ` INTERNALDATE "2-Jan-2023 15:04:05 +0100" ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) UID 1 FLAGS ())`,
			check: func(t *testing.T, f *fetchData) {
				if f.uid != 1 || !f.hasEnv || f.subject != nil || !f.hasFlags || len(f.flags) != 0 || f.hasBody {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "not fetch", resp: `* 3 EXISTS`},
		{name: "status", resp: `* STATUS INBOX (MESSAGES 3)`},
		{name: "truncated", ok: true, err: true, resp: `* 1 FETCH (UID 3 FLAGS (\Seen)`},
		{name: "bad literal", ok: true, err: true, resp: "* 1 FETCH (BODY[] {100}\r\nshort)"},
		{name: "short envelope", ok: true, err: true, resp: `* 1 FETCH (ENVELOPE (NIL "s" NIL))`},
		{name: "junk", ok: true, err: true, resp: `* 1 FETCH (UID 3) junk`},
		{name: "no space", ok: true, err: true, resp: `* 1 FETCH (UID 3FLAGS ())`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f fetchData
			ok, err := parseFetch([]byte(tc.resp), &f)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Fatalf("ok %v err %v", ok, err)
			}
			if tc.check != nil {
				tc.check(t, &f)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestLiteralAtEnd(t *testing.T) {
	for s, want := range map[string]int{"* 1 FETCH (BODY[] {42}": 42, "x {0}": 0, "a {7+}": 7} {
		if n, ok := literalAtEnd([]byte(s)); !ok || n != want {
			t.Errorf("%q: %d %v", s, n, ok)
		}
	}
	for _, s := range []string{"a1 OK done", "{}", "x {a}", "x 12}", "x {+}"} {
		if _, ok := literalAtEnd([]byte(s)); ok {
			t.Errorf("%q: literal", s)
		}
	}
}

func TestSearchResults(t *testing.T) {
	for s, want := range map[string]int{"* SEARCH": 0, "* SEARCH 1 2 30": 3} {
		if n, err := searchResults([]byte(s)); err != nil || n != want {
			t.Errorf("%q: %d %v", s, n, err)
		}
	}
	for _, s := range []string{"* SEARCH x", "* SEARCH 1  2", "* SEARCH 0", "* SEARCH 1 "} {
		if _, err := searchResults([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestHasFlag(t *testing.T) {
	if !hasFlag([]byte(`\Answered \seen`), `\Seen`) || hasFlag([]byte(`\Seen2`), `\Seen`) || hasFlag(nil, `\Seen`) {
		t.Fatal("hasFlag")
	}
}
