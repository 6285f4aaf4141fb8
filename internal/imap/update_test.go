package imap

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

func TestSelectRecentExamine(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	// EXAMINE does not take \Recent.
	ex := e.rawLogin("alice", "secret")
	u := ex.ok("EXAMINE INBOX")
	mustHave(t, u, "* 3 EXISTS", "* 3 RECENT", "[PERMANENTFLAGS ()]")
	_, st := ex.cmd("NOOP")
	if !strings.HasPrefix(st, "OK") {
		t.Fatal(st)
	}
	// The first read-write SELECT takes them; the next sees none.
	s1 := e.rawLogin("alice", "secret")
	u = s1.ok("SELECT INBOX")
	mustHave(t, u, "* 3 RECENT", "[UNSEEN 1]", `\*)]`)
	u = s1.ok("FETCH 1 FLAGS")
	mustHave(t, u, `FLAGS (\Recent)`)
	u = s1.ok("SEARCH RECENT")
	mustHave(t, u, "* SEARCH 1 2 3")
	s2 := e.rawLogin("alice", "secret")
	u = s2.ok("SELECT INBOX")
	mustHave(t, u, "* 0 RECENT")
	u = s2.ok("SEARCH NEW")
	mustHave(t, u, "* SEARCH")
	mustNotHave(t, u, "* SEARCH 1")
	// A new delivery is \Recent for one of the sessions that have the
	// mailbox selected read-write, and for no one else.
	e.deliver("alice", "", msg(4, "x"))
	u1 := s1.ok("NOOP")
	u2 := s2.ok("NOOP")
	mustHave(t, u1, "* 4 EXISTS")
	mustHave(t, u2, "* 4 EXISTS")
	if has(u1, "* 4 RECENT") == has(u2, "* 1 RECENT") {
		t.Fatalf("\\Recent of a new message: s1 %q, s2 %q", u1, u2)
	}
	// IMAP4rev2 has no \Recent.
	r2 := e.rawLogin("alice", "secret")
	r2.ok("ENABLE IMAP4rev2")
	u = r2.ok("SELECT INBOX")
	mustNotHave(t, u, "RECENT")
	mustHave(t, u, `* LIST (\HasNoChildren) "/" INBOX`)

	// EXAMINE is read-only: STORE, EXPUNGE, MOVE refused, no \Seen, CLOSE
	// expunges nothing.
	s1.ok(`STORE 1 +FLAGS (\Deleted)`)
	ex.ok("NOOP")
	ex.expect("NO", `STORE 2 +FLAGS (\Deleted)`)
	ex.expect("NO", "EXPUNGE")
	ex.expect("NO", "UID EXPUNGE 1")
	ex.expect("NO", "MOVE 2 INBOX")
	ex.ok("FETCH 2 BODY[]")
	u = ex.ok("FETCH 2 FLAGS")
	mustNotHave(t, u, `\Seen`)
	ex.ok("CLOSE")
	if got := statusOf(t, ex, "INBOX", "MESSAGES"); got != "(MESSAGES 4)" {
		t.Fatalf("after CLOSE of EXAMINE: %s", got)
	}
	// COPY from a read-only mailbox is fine.
	ex.ok("EXAMINE INBOX")
	ex.ok("CREATE other")
	ex.ok("COPY 1 other")
	// CLOSE of a read-write selection expunges, silently.
	u = s1.ok("CLOSE")
	mustNotHave(t, u, "EXPUNGE")
	if got := statusOf(t, s1, "INBOX", "MESSAGES"); got != "(MESSAGES 3)" {
		t.Fatalf("after CLOSE: %s", got)
	}
}

func TestStoreFlags(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	r := e.rawLogin("alice", "secret")
	r.ok("ENABLE IMAP4rev2") // no \Recent in the way
	r.ok("SELECT INBOX")
	// System flags in any case come back canonical; keywords as given.
	u := r.ok(`STORE 1 +FLAGS (\SEEN \flagged $Forwarded MyKeyword)`)
	mustHave(t, u, `* 1 FETCH (UID 1 FLAGS (\Seen \Flagged $Forwarded MyKeyword))`)
	// A keyword new to the mailbox is announced in FLAGS.
	mustHave(t, u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded MyKeyword)`)
	u = r.ok(`STORE 1 -FLAGS (mykeyword \FLAGGED)`)
	mustHave(t, u, `* 1 FETCH (UID 1 FLAGS (\Seen $Forwarded))`)
	u = r.ok(`STORE 1:2 FLAGS (\Answered \Draft)`)
	mustHave(t, u, `* 1 FETCH (UID 1 FLAGS (\Answered \Draft))`, `* 2 FETCH (UID 2 FLAGS (\Answered \Draft))`)
	u = r.ok(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	mustNotHave(t, u, "FETCH")
	u = r.ok(`UID STORE 3 -FLAGS (\Deleted)`)
	mustHave(t, u, `* 3 FETCH (UID 3 FLAGS ())`)
	r.expect("BAD", `STORE 1 +FLAGS (\Bogus)`)
	r.expect("BAD", `STORE 1 +FLAGS (bad"kw)`)
	r.expect("BAD", `STORE 4 +FLAGS (\Seen)`)
	r.ok(`STORE 1 +FLAGS (\Recent)`) // ignored
	// Another session sees the changes as FETCH updates, at its next
	// command; its own change is not echoed back.
	o := e.rawLogin("alice", "secret")
	o.ok("ENABLE IMAP4rev2")
	o.ok("SELECT INBOX")
	r.ok(`STORE 2 +FLAGS.SILENT (\Flagged)`)
	u = o.ok("NOOP")
	mustHave(t, u, `* 2 FETCH (UID 2 FLAGS (\Answered \Flagged \Draft))`)
	u = o.ok(`STORE 3 +FLAGS.SILENT (\Seen)`)
	mustNotHave(t, u, "FETCH")
	u = o.ok("NOOP")
	mustNotHave(t, u, "FETCH")
	u = r.ok("NOOP")
	mustHave(t, u, `* 3 FETCH (UID 3 FLAGS (\Seen))`)
}

func TestExpunge(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 6; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	r.ok(`STORE 2,4,5 +FLAGS.SILENT (\Deleted)`)
	u := r.ok("EXPUNGE")
	// Highest first, so every number is right when applied in order.
	if got := strings.Join(u, " "); got != "* 5 EXPUNGE * 4 EXPUNGE * 2 EXPUNGE" {
		t.Fatalf("EXPUNGE: %q", u)
	}
	u = r.ok("FETCH 1:* UID")
	if got := strings.Join(u, " "); got != "* 1 FETCH (UID 1) * 2 FETCH (UID 3) * 3 FETCH (UID 6)" {
		t.Fatalf("after EXPUNGE: %q", u)
	}
	// UID EXPUNGE only expunges the given UIDs (with \Deleted).
	r.ok(`STORE 1:3 +FLAGS.SILENT (\Deleted)`)
	u = r.ok("UID EXPUNGE 3:5")
	if got := strings.Join(u, " "); got != "* 2 EXPUNGE" {
		t.Fatalf("UID EXPUNGE: %q", u)
	}
	// UIDs are never reused.
	e.deliver("alice", "", msg(7, "x"))
	u = r.ok("NOOP")
	mustHave(t, u, "* 3 EXISTS")
	u = r.ok("UID FETCH 1:* UID")
	mustHave(t, u, "(UID 7)")
	st, err := e.st.MailboxStatus(t.Context(), "alice", "INBOX")
	if err != nil || st.UIDNext != 8 {
		t.Fatalf("UIDNEXT %d, %v", st.UIDNext, err)
	}
}

var copyUIDRE = regexp.MustCompile(`COPYUID (\d+) (\S+) (\S+)\]`)

func TestCopyMoveAppend(t *testing.T) {
	e := newEnv(t, Options{AppendLimit: 1000})
	e.user("alice", "secret")
	for i := 1; i <= 4; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	r := e.rawLogin("alice", "secret")
	r.ok("ENABLE IMAP4rev2")
	r.ok("CREATE dst")
	dstUV := strings.Fields(strings.Trim(statusOf(t, r, "dst", "UIDVALIDITY"), "()"))[1]
	r.ok("SELECT INBOX")
	r.ok(`STORE 2 +FLAGS (\Flagged kw1)`)
	r.ok(`STORE 3 +FLAGS (\Seen)`)
	dates := r.ok("FETCH 2:3 INTERNALDATE")
	_, st := r.cmd("COPY 2:3 dst")
	m := copyUIDRE.FindStringSubmatch(st)
	if m == nil || m[1] != dstUV || m[2] != "2:3" || m[3] != "1:2" {
		t.Fatalf("COPY: %s (UIDVALIDITY %s)", st, dstUV)
	}
	r.expect("NO [TRYCREATE]", "COPY 1 nothere")
	r.expect("BAD", "COPY 9 dst")
	// Flags and internal dates are kept.
	o := e.rawLogin("alice", "secret")
	o.ok("ENABLE IMAP4rev2")
	o.ok("EXAMINE dst")
	u := o.ok("FETCH 1:2 (FLAGS INTERNALDATE)")
	mustHave(t, u, `* 1 FETCH (FLAGS (\Flagged kw1)`, `* 2 FETCH (FLAGS (\Seen)`)
	for _, d := range dates {
		d = d[strings.Index(d, "INTERNALDATE"):]
		mustHave(t, u, strings.TrimSuffix(d, ")"))
	}
	// MOVE: COPYUID first, then EXPUNGE.
	u, st = r.cmd("UID MOVE 1,4 dst")
	if !strings.HasPrefix(st, "OK") || len(u) != 3 || !strings.HasPrefix(u[0], "* OK [COPYUID "+dstUV+" 1,4 3:4]") || u[1] != "* 4 EXPUNGE" || u[2] != "* 1 EXPUNGE" {
		t.Fatalf("MOVE: %q %s", u, st)
	}
	u = o.ok("NOOP")
	mustHave(t, u, "* 4 EXISTS")
	// MOVE into the selected mailbox itself.
	u = r.ok("MOVE 1 INBOX")
	mustHave(t, u, "[COPYUID ", "* 1 EXPUNGE", "* 2 EXISTS")

	// APPEND: flags, date, APPENDUID, TRYCREATE, TOOBIG.
	_, st = r.cmd("APPEND dst (\\DRAFT kw2) \"05-Mar-2021 10:11:12 +0200\" {%d+}\r\n%s", len(msg(9, "app")), msg(9, "app"))
	if !strings.HasPrefix(st, "OK [APPENDUID "+dstUV+" 5]") {
		t.Fatalf("APPEND: %s", st)
	}
	u = o.ok("NOOP")
	mustHave(t, u, "* 5 EXISTS")
	u = o.ok("FETCH 5 (FLAGS INTERNALDATE)")
	// The internal date keeps the zone APPEND gave it.
	want := " 5-Mar-2021 10:11:12 +0200"
	mustHave(t, u, `FLAGS (\Draft kw2) INTERNALDATE "`+want+`"`)
	r.expect("NO [TRYCREATE]", "APPEND nothere {1+}\r\nx")
	r.expect("NO [TOOBIG]", "APPEND dst {2000+}\r\n%s", strings.Repeat("x", 2000))
	r.ok("NOOP") // the stream is still in step
	// APPEND to the selected mailbox shows up at once.
	_, st = r.cmd("APPEND INBOX {%d+}\r\n%s", len(msg(10, "x")), msg(10, "x"))
	if !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatal(st)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", msg(1, "x"))
	if err := e.st.SetQuota(t.Context(), "alice", 300, 0); err != nil {
		t.Fatal(err)
	}
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	r.expect("NO [OVERQUOTA]", "COPY 1 INBOX")
	r.expect("NO [OVERQUOTA]", "APPEND INBOX {%d+}\r\n%s", len(msg(2, "x")), msg(2, "x"))
}

// The go-imap client: UIDPLUS data, MOVE, APPEND, UNSELECT.
func TestClientUpdates(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	c := e.client("alice", "secret", nil)
	if err := c.Create("Archive", &goimap.CreateOptions{SpecialUse: []goimap.MailboxAttr{goimap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cd, err := c.Copy(goimap.SeqSetNum(1, 3), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cd.SourceUIDs, cd.DestUIDs) != "1,3 1:2" {
		t.Fatalf("COPYUID %v %v", cd.SourceUIDs, cd.DestUIDs)
	}
	md, err := c.Move(goimap.UIDSetNum(2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(md.SourceUIDs, md.DestUIDs) != "2 3" {
		t.Fatalf("MOVE COPYUID %v %v", md.SourceUIDs, md.DestUIDs)
	}
	body := msg(4, "appended")
	ac := c.Append("Archive", int64(len(body)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagSeen}, Time: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)})
	ac.Write([]byte(body))
	ac.Close()
	ad, err := ac.Wait()
	if err != nil || ad.UID != 4 {
		t.Fatalf("APPEND %+v %v", ad, err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	sd, err := c.Status("Archive", &goimap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, Size: true, NumDeleted: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *sd.NumMessages != 4 || *sd.NumUnseen != 3 || sd.UIDNext != 5 || *sd.NumDeleted != 0 || *sd.Size == 0 {
		t.Fatalf("STATUS Archive %+v", sd)
	}
	ld, err := c.List("", "*", &goimap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var archive []goimap.MailboxAttr
	for _, l := range ld {
		if l.Mailbox == "Archive" {
			archive = l.Attrs
		}
	}
	if !slices.Contains(archive, goimap.MailboxAttrArchive) {
		t.Fatalf("Archive attrs %v", archive)
	}
	var ie *goimap.Error
	if _, err := c.Select("nothere", nil).Wait(); !errors.As(err, &ie) || ie.Code != goimap.ResponseCodeNonExistent {
		t.Fatalf("SELECT nothere: %v", err)
	}
}

// BINARY (RFC 3516) APPEND: a literal8 with NUL octets is stored as sent.
func TestAppendLiteral8(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	body := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\x02binary\xff\r\n"
	_, st := r.cmd("APPEND INBOX ~{%d+}\r\n%s", len(body), body)
	if !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatalf("APPEND literal8: %s", st)
	}
	r.ok("EXAMINE INBOX")
	u := r.ok("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])")
	mustHave(t, u, "BINARY.SIZE[1] 12", "BINARY[1] ~{12}\r\n\x00\x01\x02binary\xff\r\n")
	r.ok(`CREATE "quo\"te\\back"`)
	u = r.ok(`LIST "" "quo*"`)
	mustHave(t, u, `"quo\"te\\back"`)
}

// TestUIDCommandsAfterOthersExpunge: after another session expunged a
// message this one has not been told of, FETCH and COPY by sequence number
// answer NO [EXPUNGEISSUED], but UID FETCH, UID COPY and UID MOVE ignore
// the UID that no longer exists (RFC 3501 6.4.8), act on the others, and
// are followed by the EXPUNGE and EXISTS (allowed during UID commands,
// RFC 3501 7.4.1): a client that uses only UID commands stays in step.
func TestUIDCommandsAfterOthersExpunge(t *testing.T) {
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
	b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	e.deliver("alice", "", msg(4, "subject 4"))

	u := a.ok("UID FETCH 1:* (FLAGS)")
	mustHave(t, u, "* 1 FETCH (UID 1 FLAGS", "* 3 FETCH (UID 3 FLAGS", "* 2 EXPUNGE", "* 3 EXISTS")
	mustNotHave(t, u, "UID 2 ")
	u = a.ok("UID FETCH 1:* (FLAGS)")
	mustHave(t, u, "* 3 FETCH (UID 4 FLAGS")
	mustNotHave(t, u, "EXPUNGE")

	// By sequence number: NO [EXPUNGEISSUED], and the updates come with
	// the NO (EXPUNGE only where RFC 3501 7.4.1 allows it: not after FETCH).
	b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)") // UID 3
	b.ok("EXPUNGE")
	e.deliver("alice", "", msg(5, "subject 5"))
	u = a.expect("NO [EXPUNGEISSUED]", "FETCH 1:3 (UID)")
	mustHave(t, u, "* 4 EXISTS")
	mustNotHave(t, u, "EXPUNGE")
	u = a.expect("NO [EXPUNGEISSUED]", "COPY 1:3 Dest")
	mustHave(t, u, "* 2 EXPUNGE")

	// Expunged again behind this session's back: UID COPY and UID MOVE
	// copy what is left.
	b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	u, st := a.cmd("UID COPY 1:5 Dest")
	if !strings.HasPrefix(st, "OK [COPYUID ") || !strings.Contains(st, " 4:5 1:2]") {
		t.Errorf("UID COPY 1:5: %s", st)
	}
	mustHave(t, u, "* 1 EXPUNGE")
	u = a.ok("UID MOVE 1:5 Dest")
	mustHave(t, u, "[COPYUID ", " 4:5 3:4]", "* 1 EXPUNGE", "* 1 EXPUNGE")
	a.ok("SELECT Dest")
	u = a.ok("UID FETCH 1:* (UID)")
	if n := len(u); n != 4 {
		t.Errorf("Dest holds %d messages, want 4: %q", n, u)
	}
}
