package imap

import (
	"slices"
	"strings"
	"testing"
)

func listNames(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "* LIST") && !strings.HasPrefix(l, "* LSUB") {
			continue
		}
		i := strings.Index(l, `"/" `)
		name := l[i+4:]
		if j := strings.Index(name, ` (`); j >= 0 {
			name = name[:j]
		}
		out = append(out, strings.Trim(name, `"`))
	}
	return out
}

func lineFor(t *testing.T, lines []string, name string) string {
	t.Helper()
	for _, l := range lines {
		if (strings.HasPrefix(l, "* LIST") || strings.HasPrefix(l, "* LSUB")) && (strings.HasSuffix(l, `"/" "`+name+`"`) || strings.HasSuffix(l, `"/" `+name) || strings.Contains(l, `"/" "`+name+`" (`)) {
			return l
		}
	}
	t.Fatalf("no LIST line for %q in %q", name, lines)
	return ""
}

func TestListAndHierarchy(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE a/b/c")
	r.ok("CREATE Sent (USE (\\Sent))")
	r.ok("CREATE x/") // trailing delimiter: x
	r.expect("NO [ALREADYEXISTS]", "CREATE inbox")
	r.expect("NO [ALREADYEXISTS]", "CREATE a")
	r.expect("NO [USEATTR]", "CREATE Flagged (USE (\\Flagged))")
	r.expect("NO [USEATTR]", "CREATE Two (USE (\\Sent \\Trash))")

	u := r.ok(`LIST "" "*"`)
	if got, want := listNames(u), []string{"INBOX", "Sent", "a", "a/b", "a/b/c", "x"}; !slices.Equal(got, want) {
		t.Fatalf("LIST * = %v, want %v", got, want)
	}
	if l := lineFor(t, u, "a"); !strings.Contains(l, `\HasChildren`) {
		t.Errorf("a: %s", l)
	}
	if l := lineFor(t, u, "a/b/c"); !strings.Contains(l, `\HasNoChildren`) {
		t.Errorf("a/b/c: %s", l)
	}
	if l := lineFor(t, u, "Sent"); !strings.Contains(l, `\Sent`) {
		t.Errorf("Sent: %s", l)
	}
	if got := listNames(r.ok(`LIST "" "%%"`)); !slices.Equal(got, []string{"INBOX", "Sent", "a", "x"}) {
		t.Errorf("LIST %% = %v", got)
	}
	if got := listNames(r.ok(`LIST "a/" "%%"`)); !slices.Equal(got, []string{"a/b"}) {
		t.Errorf(`LIST "a/" %% = %v`, got)
	}
	if got := listNames(r.ok(`LIST "" "a/%%/c"`)); !slices.Equal(got, []string{"a/b/c"}) {
		t.Errorf("LIST a/%%/c = %v", got)
	}
	if got := listNames(r.ok(`LIST "" "inBox"`)); !slices.Equal(got, []string{"INBOX"}) {
		t.Errorf("LIST inBox = %v", got)
	}
	if got := listNames(r.ok(`LIST "" "nothing*"`)); len(got) != 0 {
		t.Errorf("LIST nothing* = %v", got)
	}
	u = r.ok(`LIST "" ""`)
	mustHave(t, u, `* LIST (\Noselect) "/" ""`)
	// Hostile patterns cost linear time.
	r.ok(`LIST "" "%s"`, strings.Repeat("*a", 500))
	r.expect("BAD", `LIST "" "%s"`, strings.Repeat("*", 3000))

	// LIST-EXTENDED: several patterns, SPECIAL-USE selection, RETURN.
	u = r.ok(`LIST "" ("INBOX" "a/*") RETURN (CHILDREN SUBSCRIBED)`)
	if got := listNames(u); !slices.Equal(got, []string{"INBOX", "a/b", "a/b/c"}) {
		t.Errorf("LIST (INBOX a/*) = %v", got)
	}
	if l := lineFor(t, u, "INBOX"); !strings.Contains(l, `\Subscribed`) {
		t.Errorf("INBOX not \\Subscribed: %s", l)
	}
	u = r.ok(`LIST (SPECIAL-USE) "" "*"`)
	if got := listNames(u); !slices.Equal(got, []string{"Sent"}) {
		t.Errorf("LIST (SPECIAL-USE) = %v", got)
	}
	u = r.ok(`LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN SIZE))`)
	mustHave(t, u, `* STATUS INBOX (MESSAGES 0 UNSEEN 0 SIZE 0)`, `* STATUS "a/b/c" (MESSAGES 0 UNSEEN 0 SIZE 0)`)

	// Subscriptions: LSUB, LIST (SUBSCRIBED), RECURSIVEMATCH.
	r.ok("SUBSCRIBE a/b/c")
	r.ok("SUBSCRIBE x")
	r.ok("DELETE x") // a subscription outlives its mailbox
	r.expect("NO [NONEXISTENT]", "SUBSCRIBE nothere")
	u = r.ok(`LSUB "" "*"`)
	if got := listNames(u); !slices.Equal(got, []string{"INBOX", "a/b/c", "x"}) {
		t.Errorf("LSUB * = %v", got)
	}
	if l := lineFor(t, u, "x"); !strings.Contains(l, `\Noselect`) {
		t.Errorf("LSUB of a deleted mailbox: %s", l)
	}
	u = r.ok(`LSUB "" "%%"`)
	if got := listNames(u); !slices.Equal(got, []string{"INBOX", "a", "x"}) {
		t.Errorf("LSUB %% = %v", got)
	}
	if l := lineFor(t, u, "a"); !strings.Contains(l, `\Noselect`) {
		t.Errorf("LSUB %% parent: %s", l)
	}
	u = r.ok(`LIST (SUBSCRIBED) "" "*"`)
	if got := listNames(u); !slices.Equal(got, []string{"INBOX", "a/b/c", "x"}) {
		t.Errorf("LIST (SUBSCRIBED) = %v", got)
	}
	if l := lineFor(t, u, "x"); !strings.Contains(l, `\NonExistent`) || !strings.Contains(l, `\Subscribed`) {
		t.Errorf("LIST (SUBSCRIBED) of a deleted mailbox: %s", l)
	}
	u = r.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%%"`)
	if got := listNames(u); !slices.Equal(got, []string{"INBOX", "a", "x"}) {
		t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH) %% = %v", got)
	}
	if l := lineFor(t, u, "a"); !strings.Contains(l, `CHILDINFO ("SUBSCRIBED")`) || strings.Contains(l, `\Subscribed`) {
		t.Errorf("RECURSIVEMATCH parent: %s", l)
	}
	r.ok("UNSUBSCRIBE x")
	r.ok("UNSUBSCRIBE x") // not subscribed: still OK
	if got := listNames(r.ok(`LSUB "" "*"`)); !slices.Equal(got, []string{"INBOX", "a/b/c"}) {
		t.Errorf("LSUB after UNSUBSCRIBE = %v", got)
	}
}

func statusOf(t *testing.T, r *raw, name, items string) string {
	t.Helper()
	u := r.ok("STATUS %s (%s)", name, items)
	for _, l := range u {
		if strings.HasPrefix(l, "* STATUS") {
			return l[strings.LastIndex(l, "("):]
		}
	}
	t.Fatalf("no STATUS in %q", u)
	return ""
}

func TestDeleteRename(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, "inbox"))
	}
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE a/b")
	r.expect("NO", "DELETE INBOX")
	r.expect("NO [NONEXISTENT]", "DELETE nothere")
	r.ok("SELECT INBOX")
	r.ok("COPY 1:2 a")
	if got := statusOf(t, r, "a", "MESSAGES"); got != "(MESSAGES 2)" {
		t.Fatalf("STATUS a = %s", got)
	}
	// RFC 3501 6.3.4: a mailbox with children loses its messages and
	// becomes \Noselect; deleting it again is an error.
	r.ok("DELETE a")
	u := r.ok(`LIST "" "a"`)
	if l := lineFor(t, u, "a"); !strings.Contains(l, `\Noselect`) || !strings.Contains(l, `\HasChildren`) {
		t.Fatalf("deleted parent: %s", l)
	}
	r.expect("NO", "STATUS a (MESSAGES)")
	r.expect("NO", "EXAMINE a")
	r.expect("NO [HASCHILDREN]", "DELETE a")
	r.ok("CREATE a") // a mailbox again, new and empty
	if got := statusOf(t, r, "a", "MESSAGES"); got != "(MESSAGES 0)" {
		t.Fatalf("re-created a = %s", got)
	}
	r.ok("DELETE a/b")
	r.ok("DELETE a")
	if got := listNames(r.ok(`LIST "" "*"`)); !slices.Equal(got, []string{"INBOX"}) {
		t.Fatalf("after deletes: %v", got)
	}

	// RENAME carries children and makes missing parents.
	r.ok("CREATE p/q/r")
	r.ok("SUBSCRIBE p/q/r")
	r.ok("RENAME p z/y")
	if got := listNames(r.ok(`LIST "" "*"`)); !slices.Equal(got, []string{"INBOX", "z", "z/y", "z/y/q", "z/y/q/r"}) {
		t.Fatalf("after RENAME p z/y: %v", got)
	}
	r.expect("NO [ALREADYEXISTS]", "RENAME z/y/q z")
	r.expect("NO [NONEXISTENT]", "RENAME nothere y")
	r.expect("NO", "RENAME z z/sub")
	r.expect("NO [ALREADYEXISTS]", "RENAME z INBOX")

	// RENAME INBOX moves its messages (with their UIDs) and leaves INBOX
	// empty; a session that had INBOX selected loses them, and is ended
	// (TestInboxRenamedWhileSelected).
	other := e.rawLogin("alice", "secret")
	other.ok("SELECT INBOX")
	oldUV := statusOf(t, r, "INBOX", "UIDVALIDITY")
	r.ok("RENAME INBOX old/mail")
	if got := statusOf(t, r, "INBOX", "MESSAGES"); got != "(MESSAGES 0)" {
		t.Fatalf("INBOX after RENAME = %s", got)
	}
	if got := statusOf(t, r, "INBOX", "UIDVALIDITY"); got == oldUV {
		t.Fatalf("new INBOX kept UIDVALIDITY %s", got)
	}
	if got := statusOf(t, r, "old/mail", "MESSAGES UIDNEXT UIDVALIDITY"); got != "(MESSAGES 3 UIDNEXT 4 "+strings.TrimPrefix(oldUV, "(") {
		t.Fatalf("old/mail after RENAME INBOX = %s (INBOX had %s)", got, oldUV)
	}
	other.send("NOOP")
	var lines []string
	for {
		l, err := other.r.ReadString('\n')
		if err != nil {
			break
		}
		lines = append(lines, l)
	}
	if n := strings.Count(strings.Join(lines, ""), "EXPUNGE"); n != 3 || !strings.HasPrefix(lines[len(lines)-1], "* BYE") {
		t.Fatalf("selected INBOX after RENAME: %q", lines)
	}
	other = e.rawLogin("alice", "secret")
	other.ok("SELECT INBOX")
	// New mail goes to the new INBOX.
	e.deliver("alice", "", msg(9, "new"))
	u = other.ok("NOOP")
	mustHave(t, u, "* 1 EXISTS")
}

func TestMailboxNames(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	// Modified UTF-7 on the wire, UTF-8 in the store.
	r.ok(`CREATE "&AOk-t&AOk-/Caf&AOk-"`)
	r.ok(`CREATE "a&-b"`)
	u := r.ok(`LIST "" "*"`)
	mustHave(t, u, `"&AOk-t&AOk-"`, `"&AOk-t&AOk-/Caf&AOk-"`, `"a&-b"`)
	mbs, err := e.st.Mailboxes(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"INBOX", "a&b", "été", "été/Café"}) {
		t.Fatalf("stored names %q", names)
	}
	r.ok(`SELECT "&AOk-t&AOk-/Caf&AOk-"`)
	// UTF8=ACCEPT: names as UTF-8.
	r2 := e.rawLogin("alice", "secret")
	r2.ok("ENABLE UTF8=ACCEPT")
	u = r2.ok(`LIST "" "*"`)
	mustHave(t, u, `"été/Café"`)
	// IMAP4rev2: names are UTF-8 both ways, "&" is just a character.
	r3 := e.rawLogin("alice", "secret")
	r3.ok("ENABLE IMAP4rev2")
	r3.ok(`CREATE "x&y/naïve"`)
	u = r3.ok(`LIST "" "x&y*"`)
	mustHave(t, u, `"x&y"`, `"x&y/naïve"`)
	u = r.ok(`LIST "" "x*"`)
	mustHave(t, u, `"x&-y"`, `"x&-y/na&AO8-ve"`)
	r3.ok(`SELECT "x&y/naïve"`)
	// Malformed names are NO or BAD, never SERVERBUG.
	for _, name := range []string{`"&Jjo"`, `"&U,BTFw-&ZeVnLIqe-"`, `"a//b"`, `"/a"`, `""`, `"a*b"`, `"a%b"`, "{3+}\r\na\x01b", `"` + strings.Repeat("x", 1200) + `"`} {
		_, st := r.cmd("CREATE %s", name)
		if !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") || strings.Contains(st, "SERVERBUG") {
			t.Errorf("CREATE %s: %s", name, st)
		}
		_, st = r.cmd("SELECT %s", name)
		if !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") || strings.Contains(st, "SERVERBUG") {
			t.Errorf("SELECT %s: %s", name, st)
		}
	}
}
