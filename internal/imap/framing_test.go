package imap

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
)

// injected is a message whose lines are commands. A server that reads the
// literal of a refused command as commands deletes Victim and logs out.
const injected = "From: attacker@example.net\r\nSubject: hello\r\n\r\nHi!\r\nz1 DELETE Victim\r\nz2 LOGOUT\r\n"

// victimSurvives checks that no line of an injected literal ran: Victim
// is there, the session answers its next command, and no answer to a
// "z1" or "z2" command came.
func victimSurvives(t *testing.T, r *raw) {
	t.Helper()
	u := r.ok(`LIST "" Victim`)
	mustHave(t, u, `* LIST`, `Victim`)
	mustNotHave(t, u, "z1 ", "z2 ", "BYE")
}

// refusedSync sends a command whose line ends with a synchronizing
// literal and checks that it is answered with prefix at once, with no
// "+" continuation request: the client then sends no octets.
func refusedSync(t *testing.T, r *raw, prefix, format string, args ...any) {
	t.Helper()
	tag := r.send(format, args...)
	for {
		l := r.line()
		if strings.HasPrefix(l, "+") {
			t.Fatalf("%s: continuation request %q after a refused command", fmt.Sprintf(format, args...), l)
		}
		if st, ok := strings.CutPrefix(l, tag+" "); ok {
			if !strings.HasPrefix(st, prefix) {
				t.Fatalf("%s: got %q, want %s…", fmt.Sprintf(format, args...), st, prefix)
			}
			return
		}
	}
}

// TestRefusedCommandLiteralsDiscarded: when a command is refused part-way,
// the rest of it, every non-synchronizing literal announced after the
// point of failure included, is read and thrown away (RFC 7888 4, RFC 9051
// 7.1), never run as commands.
func TestRefusedCommandLiteralsDiscarded(t *testing.T) {
	n := len(injected)
	big := strings.Repeat("x", 4000) + "\r\n" + injected + strings.Repeat("y", 1000) + "\r\n"

	for _, c := range []struct {
		name, want, format string
		args               []any
	}{
		{"APPEND name not modified UTF-7", "BAD", `APPEND "Tom & Jerry" (\Seen) {%d+}` + "\r\n%s", []any{n, injected}},
		{"APPEND bad date-time", "BAD", `APPEND INBOX "31-Feb-2020 10:00:00 +0000" {%d+}` + "\r\n%s", []any{n, injected}},
		{"APPEND bad flag list", "BAD", `APPEND INBOX (\Seen "x") {%d+}` + "\r\n%s", []any{n, injected}},
		{"APPEND literal8", "BAD", `APPEND "Tom & Jerry" ~{%d+}` + "\r\n%s", []any{n, injected}},
		{"APPEND UTF8", "BAD", `APPEND "Tom & Jerry" UTF8 (~{%d+}` + "\r\n%s)", []any{n, injected}},
		{"APPEND over the limit", "NO [TOOBIG]", "APPEND INBOX {%d+}\r\n%s", []any{len(big), big}},
		{"space before the line end", "BAD", `APPEND "Tom & Jerry" {%d+} ` + "\r\n%s", []any{n, injected}},
		{"second argument", "BAD", `RENAME "Tom & Jerry" {%d+}` + "\r\n%s", []any{n, injected}},
		// The first literal is read, then refused: the line goes on.
		{"after a refused literal", "BAD", "RENAME {11+}\r\nTom & Jerry {%d+}\r\n%s", []any{n, injected}},
		{"two literals", "BAD", "SEARCH FOO {%d+}\r\n%s TEXT {%d+}\r\n%s", []any{n, injected, n, injected}},
		{"literal over the buffered limit", "NO [TOOBIG]", "CREATE {%d+}\r\n%s", []any{len(big), big}},
		{"unknown command", "BAD", "FOO {%d+}\r\n%s", []any{n, injected}},
		{"not a command", "BAD", "(x {%d+}\r\n%s", []any{n, injected}},
		{"UID without a command", "BAD", "UID {%d+}\r\n%s", []any{n, injected}},
		// The line is cut at the length limit: the rest is still read.
		{"over-long line", "BAD", `CREATE "%s" {%d+}` + "\r\n%s", []any{strings.Repeat("a", 60000), n, injected}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{AppendLimit: 1000})
			e.user("alice", "secret")
			r := e.rawLogin("alice", "secret")
			r.ok("CREATE Victim")
			r.expect(c.want, c.format, c.args...)
			victimSurvives(t, r)
		})
	}
}

// TestRefusedCommandSyncLiteral: a synchronizing literal of a command that
// has already failed gets no "+" (RFC 9051 7.5): the server answers the
// command, the client sends no octets, and the next line is a new command.
func TestRefusedCommandSyncLiteral(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")

	pre := e.raw()
	refusedSync(t, pre, "BAD", "APPEND INBOX {%d}", len(injected))
	pre.ok("LOGIN alice secret")

	r := e.rawLogin("alice", "secret")
	r.ok("CREATE Victim")
	refusedSync(t, r, "BAD", `APPEND "Tom & Jerry" (\Seen) {%d}`, len(injected))
	victimSurvives(t, r)
	// After a non-synchronizing literal that is skipped.
	refusedSync(t, r, "BAD", `RENAME "Tom & Jerry" {5+}`+"\r\nabcde {%d}", len(injected))
	victimSurvives(t, r)
	// Refused for its size: no "+" either.
	refusedSync(t, r, "NO [TOOBIG]", "CREATE {5000}")
	victimSurvives(t, r)
	refusedSync(t, r, "BAD", "FOO {%d}", len(injected))
	victimSurvives(t, r)

	// A literal of a command that goes on is still asked for.
	tag := r.send("CREATE {6}")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("CREATE {6}: %q, want a continuation request", l)
	}
	if _, err := io.WriteString(r.c, "Folder\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, st := r.wait(tag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("CREATE {6} Folder: %s", st)
	}
	mustHave(t, r.ok(`LIST "" Folder`), "Folder")
}

// TestRefusedCommandUnknownEnd: a literal the server cannot skip (a size
// out of range; a large one before login) ends the connection after the
// answer, rather than reading its octets as commands.
func TestRefusedCommandUnknownEnd(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")

	pre := e.raw()
	tag := pre.send("APPEND INBOX {100000+}")
	if _, st := pre.wait(tag); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("APPEND before login: %s", st)
	}
	if l := pre.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after APPEND before login: %q, want BYE", l)
	}

	// Before login the rest of a refused command may take at most the
	// command size limit (50 KiB) in all: many literals each under it, or
	// one long line, end the connection too.
	for _, tail := range []string{
		strings.Repeat(" {20000+}\r\n"+strings.Repeat("z", 20000), 4),
		strings.Repeat("z", 60000),
	} {
		pre = e.raw()
		tag = pre.send("CAPABILITY x%s", tail)
		if _, st := pre.wait(tag); !strings.HasPrefix(st, "BAD") {
			t.Fatalf("CAPABILITY with %d more octets before login: %s", len(tail), st)
		}
		if l := pre.line(); !strings.HasPrefix(l, "* BYE") {
			t.Fatalf("after %d more octets before login: %q, want BYE", len(tail), l)
		}
	}

	r := e.rawLogin("alice", "secret")
	tag = r.send(`CREATE "&&" {99999999999999999999+}`)
	if _, st := r.wait(tag); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("CREATE with a literal size out of range: %s", st)
	}
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after a literal size out of range: %q, want BYE", l)
	}
}

// TestQuotedStringEndsOnItsLine: an unterminated quoted string is refused
// at the end of its line; the next line is a command of its own.
func TestQuotedStringEndsOnItsLine(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE Victim")
	r.expect("BAD", `CREATE "unterminated`)
	victimSurvives(t, r)
	r.expect("BAD", `CREATE "escaped CR\`)
	victimSurvives(t, r)
}

// TestSearchSizeAndDate: every key is ANDed with the others, whatever
// their order, inside NOT and OR too (SMALLER was lost before a date).
func TestSearchSizeAndDate(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", msg(1, "small"))
	e.deliver("alice", "", msg(2, "big")+strings.Repeat("padding line\r\n", 100))
	e.deliver("alice", "", msg(3, "small"))
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")

	for _, c := range []struct{ q, want string }{
		{"SMALLER 500 SINCE 1-Jan-2000", "1 3"},
		{"SINCE 1-Jan-2000 SMALLER 500", "1 3"},
		{"SMALLER 500 SENTSINCE 1-Jan-2000", "1 3"},
		{"SMALLER 500 SENTBEFORE 1-Jan-2100 SENTSINCE 1-Jan-2000", "1 3"},
		{"SMALLER 500 BEFORE 1-Jan-2100", "1 3"},
		{"SMALLER 500 ON 1-Jan-2000", ""},
		{"SMALLER 500 SENTON 2-Jan-2023 SENTON 3-Jan-2023", ""},
		{"LARGER 500 SINCE 1-Jan-2000", "2"},
		{"SINCE 1-Jan-2000 LARGER 500", "2"},
		{"SMALLER 500 SINCE 1-Jan-2000 LARGER 100", "1 3"},
		{"SMALLER 500 SINCE 1-Jan-2000 BEFORE 1-Jan-2000", ""},
		{"SINCE 1-Jan-2000 SINCE 1-Jan-2100", ""},
		{"BEFORE 1-Jan-2100 BEFORE 1-Jan-2000", ""},
		{"SMALLER 500 SMALLER 100000 SINCE 1-Jan-2000", "1 3"},
		{"NOT (SMALLER 500 SINCE 1-Jan-2000)", "2"},
		{"NOT (SINCE 1-Jan-2000 SMALLER 500)", "2"},
		{"NOT SMALLER 500 SINCE 1-Jan-2000", "2"},
		{"OR (SMALLER 500 SINCE 1-Jan-2000) BEFORE 1-Jan-2000", "1 3"},
		{"OR BEFORE 1-Jan-2000 (SINCE 1-Jan-2000 SMALLER 500)", "1 3"},
		{"OR (SUBJECT big SINCE 1-Jan-2000) (SMALLER 500 SENTSINCE 1-Jan-2000)", "1 2 3"},
		{"OR (LARGER 500 BEFORE 1-Jan-2000) (SMALLER 500 SINCE 1-Jan-2000)", "1 3"},
	} {
		checkSearch(t, r, c.q, c.want)
	}
}

// TestIdleDoneAnyCase: DONE ends IDLE in any case (RFC 9051 9: strings in
// the ABNF are case-insensitive); another line is refused, and its
// literals with it.
func TestIdleDoneAnyCase(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE Victim")
	r.ok("SELECT INBOX")
	idle := func(line, want string) {
		t.Helper()
		tag := r.send("IDLE")
		if l := r.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE: %q, want a continuation request", l)
		}
		if _, err := io.WriteString(r.c, line); err != nil {
			t.Fatal(err)
		}
		if _, st := r.wait(tag); !strings.HasPrefix(st, want) {
			t.Fatalf("IDLE ended by %q: %s, want %s", line, st, want)
		}
	}
	idle("done\r\n", "OK")
	idle("Done\r\n", "OK")
	idle("DONE\r\n", "OK")
	idle(fmt.Sprintf("z0 APPEND INBOX {%d+}\r\n%s\r\n", len(injected), injected), "BAD")
	victimSurvives(t, r)
}

// TestFetchSectionSyntax: part numbers are nz-numbers, a header list has
// a name at least, and a partial length is not 0 (RFC 9051 9).
func TestFetchSectionSyntax(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", mimeMsg)
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")
	for _, q := range []string{
		"BODY[0]",
		"BODY.PEEK[0]",
		"BODY[1.0]",
		"BODY[0.1]",
		"BODY[01]",
		"BODY[0.HEADER]",
		"BODY[1.]",
		"BODY[HEADER.FIELDS ()]",
		"BODY.PEEK[HEADER.FIELDS.NOT ()]",
		"BODY[1.HEADER.FIELDS ()]",
		"BINARY[0]",
		"BINARY.PEEK[1.0]",
		"BINARY.SIZE[0]",
		"BODY[]<0.0>",
		"BODY[99999999999]",
	} {
		r.expect("BAD", "FETCH 1 (%s)", q)
	}
	u := r.ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (Subject)] BINARY.PEEK[1] BODY.PEEK[]<0.1>)")
	mustHave(t, u, "BODY[1] {", `BODY[HEADER.FIELDS ("Subject")] {`, "BINARY[1] ", "BODY[]<0> {1}")
}

// TestCapabilityLiteral: LITERAL+ only, never with LITERAL- (RFC 7888 4),
// before and after login.
func TestCapabilityLiteral(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.raw()
	u := r.ok("CAPABILITY")
	mustHave(t, u, "* CAPABILITY ", " LITERAL+")
	mustNotHave(t, u, "LITERAL-")
	_, st := r.cmd("LOGIN alice secret")
	if !strings.Contains(st, "LITERAL+") || strings.Contains(st, "LITERAL-") {
		t.Fatalf("LOGIN: %s", st)
	}
	u = r.ok("CAPABILITY")
	mustHave(t, u, " LITERAL+")
	mustNotHave(t, u, "LITERAL-")
}

// TestPollAfterNO: the updates pending when a command fails with NO come
// before its tagged answer, as after OK; EXPUNGE only where it is allowed
// (not during FETCH, STORE or SEARCH by sequence number, RFC 9051 7.5.1).
func TestPollAfterNO(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, fmt.Sprintf("subject %d", i)))
	}
	a := e.rawLogin("alice", "secret")
	b := e.rawLogin("alice", "secret")
	a.ok("CREATE Dest")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	// A NO that has nothing to do with the mailbox.
	e.deliver("alice", "", msg(4, "subject 4"))
	u := a.expect("NO", "CREATE INBOX")
	mustHave(t, u, "* 4 EXISTS")

	b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	e.deliver("alice", "", msg(5, "subject 5"))
	u = a.expect("NO [EXPUNGEISSUED]", "FETCH 1:3 (UID)")
	mustHave(t, u, "* 5 EXISTS")
	mustNotHave(t, u, "EXPUNGE")
	u = a.expect("NO [EXPUNGEISSUED]", "COPY 1:3 Dest")
	mustHave(t, u, "* 2 EXPUNGE")
	u = a.ok("NOOP")
	mustNotHave(t, u, "EXPUNGE", "EXISTS")
}

// TestAppendRefusedAfterLiteral: an APPEND whose message was read but
// whose command then turns out malformed (no line end after the literal,
// a missing ")" of UTF8 (…)) is answered BAD and adds nothing: the
// message is added to the mailbox only once the whole command has parsed.
func TestAppendRefusedAfterLiteral(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE AB")
	m := msg(1, "appended")
	for _, q := range []string{
		fmt.Sprintf("APPEND AB {%d+}\r\n%s EXTRA", len(m), m),
		fmt.Sprintf("APPEND AB {%d+}\r\n%s (\\Seen) {3+}\r\nabc", len(m), m),
		fmt.Sprintf("APPEND AB UTF8 (~{%d+}\r\n%s", len(m), m),
	} {
		r.expect("BAD", "%s", q)
		if got := statusOf(t, r, "AB", "MESSAGES"); got != "(MESSAGES 0)" {
			t.Fatalf("after %.30q…: STATUS AB %s", q, got)
		}
	}
	_, st := r.cmd("APPEND AB {%d+}\r\n%s", len(m), m)
	if !strings.HasPrefix(st, "OK [APPENDUID ") || !strings.Contains(st, " 1]") {
		t.Fatalf("APPEND after the refused ones: %s", st)
	}
	if got := statusOf(t, r, "AB", "MESSAGES"); got != "(MESSAGES 1)" {
		t.Fatalf("STATUS AB %s", got)
	}
}

// TestThirdReview: answers a third review found wrong.
func TestThirdReview(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}

	// A SEARCH with SAVE answered NO [BADCHARSET] empties "$" (RFC 5182
	// 2.1).
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	r.ok("SEARCH RETURN (SAVE) ALL")
	mustHave(t, r.ok("FETCH $ UID"), "* 3 FETCH (UID 3)")
	r.expect("NO [BADCHARSET]", "SEARCH RETURN (SAVE) CHARSET BOGUS-9 ALL")
	if u := r.ok("FETCH $ UID"); len(u) != 0 {
		t.Errorf("FETCH $ after a SAVE answered NO: %q", u)
	}

	// STATUS of the selected mailbox counts the messages this session
	// holds as \Recent (RFC 3501 6.3.10).
	mustHave(t, r.ok("STATUS INBOX (MESSAGES RECENT)"), "(MESSAGES 3 RECENT 3)")
	e.deliver("alice", "", msg(4, "x"))
	mustHave(t, r.ok("STATUS INBOX (RECENT)"), "(RECENT 4)")

	// A malformed AUTHENTICATE PLAIN message is the client's failure, not
	// the server's; an empty challenge is "+ ", not "+ =".
	for _, resp := range []string{"anVzdHRleHQ=", "YQBi"} {
		pre := e.raw()
		pre.expect("NO [AUTHENTICATIONFAILED]", "AUTHENTICATE PLAIN %s", resp)
	}
	pre := e.raw()
	tag := pre.send("AUTHENTICATE PLAIN")
	if l := pre.line(); l != "+ " {
		t.Errorf("empty challenge: %q, want %q", l, "+ ")
	}
	fmt.Fprintf(pre.c, "=\r\n")
	if _, st := pre.wait(tag); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Errorf("empty PLAIN message: %s", st)
	}
	tag = pre.send("AUTHENTICATE PLAIN")
	pre.line()
	fmt.Fprintf(pre.c, "%s\r\n", base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret")))
	if _, st := pre.wait(tag); !strings.HasPrefix(st, "OK") {
		t.Errorf("AUTHENTICATE PLAIN after a failed one: %s", st)
	}
}
