package imap

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/store"
)

func mkSearchMsg(from, to, subject, date, body string, extra string) string {
	return strings.ReplaceAll("From: "+from+"\nTo: "+to+"\nSubject: "+subject+"\nDate: "+date+"\n"+extra+"\n"+body+"\n", "\n", "\r\n")
}

func TestSearch(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	ctx := context.Background()
	add := func(raw string, date time.Time, flags ...string) {
		in, err := e.st.Ingest(ctx, strings.NewReader(raw), 0)
		if err != nil {
			t.Fatal(err)
		}
		f, err := store.ParseFlags(flags)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.st.Append(ctx, "alice", "INBOX", in, f, date); err != nil {
			t.Fatal(err)
		}
	}
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 12, 0, 0, 0, time.Local) }
	// 1
	add(mkSearchMsg("Alice <alice@example.org>", "bob@example.com", "Meeting tomorrow", "Mon, 1 Feb 2021 10:00:00 +0000", "Let us meet at noon.", ""), d(2021, 2, 1), `\Seen`)
	// 2
	add(mkSearchMsg("Bob <bob@example.com>", "alice@example.org", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Tue, 2 Feb 2021 10:00:00 +0000", "Caf=C3=A9 au lait", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\nX-Priority: 1\n"), d(2021, 2, 2), `\Flagged`, `$Important`)
	// 3: big, HTML, latin-1
	add(mkSearchMsg("Carol <carol@example.net>", "alice@example.org", "Report", "Wed, 3 Feb 2021 23:30:00 -0500", strings.Repeat("filler ", 200)+"na\xefve", "Content-Type: text/plain; charset=iso-8859-1\n"), d(2021, 2, 3), `\Answered`, `\Deleted`)
	// 4: base64 body, no Date
	add(strings.ReplaceAll("From: dave@example.org\nSubject: encoded\nContent-Transfer-Encoding: base64\n\nU2VjcmV0IHdvcmQ6IHp5enp5dmE=\n", "\n", "\r\n"), d(2021, 3, 1), `\Draft`)
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	cases := []struct{ q, want string }{
		{"ALL", "1 2 3 4"},
		{"1:2", "1 2"},
		{"2:*", "2 3 4"},
		{"UID 3:*", "3 4"},
		{"SEEN", "1"}, {"UNSEEN", "2 3 4"},
		{"FLAGGED", "2"}, {"UNFLAGGED", "1 3 4"},
		{"ANSWERED", "3"}, {"UNANSWERED", "1 2 4"},
		{"DELETED", "3"}, {"UNDELETED", "1 2 4"},
		{"DRAFT", "4"}, {"UNDRAFT", "1 2 3"},
		{"KEYWORD $important", "2"}, {"UNKEYWORD $Important", "1 3 4"},
		{"RECENT", "1 2 3 4"}, {"NEW", "2 3 4"}, {"OLD", ""},
		{"FROM alice", "1"}, {"FROM ALICE@EXAMPLE", "1"}, {"TO alice", "2 3"},
		{`SUBJECT "grüße"`, "2"}, {"SUBJECT meeting", "1"},
		{`HEADER X-Priority ""`, "2"}, {"HEADER X-Priority 1", "2"}, {"HEADER X-Priority 2", ""},
		{"CC anyone", ""}, {"BCC anyone", ""},
		{"BODY noon", "1"}, {"BODY café", "2"}, {`BODY "naïve"`, "3"}, {"BODY zyzzyva", "4"},
		{"BODY meeting", ""}, {"TEXT meeting", "1"}, {"TEXT Carol", "3"},
		{"LARGER 1000", "3"}, {"SMALLER 1000", "1 2 4"},
		{"SMALLER 1000 LARGER 120", "1 2"}, {"LARGER 120 SMALLER 1000", "1 2"}, {"SMALLER 0", ""},
		{"SINCE 2-Feb-2021", "2 3 4"}, {"BEFORE 2-Feb-2021", "1"}, {"ON 3-Feb-2021", "3"},
		{"SENTSINCE 2-Feb-2021", "2 3"}, {"SENTBEFORE 2-Feb-2021", "1"}, {"SENTON 3-Feb-2021", "3"},
		{"NOT SEEN", "2 3 4"}, {"OR SEEN FLAGGED", "1 2"}, {"OR (SEEN FROM bob) DRAFT", "4"},
		{"NOT (OR SEEN FLAGGED) UNDELETED", "4"}, {"(SEEN) (FROM alice)", "1"},
		{"CHARSET UTF-8 SUBJECT {7+}\r\ngrüße", "2"},
	}
	for _, c := range cases {
		checkSearch(t, r, c.q, c.want)
	}
	// Message files: flags, sizes, dates (SENT* included), the envelope
	// keys (FROM, TO, CC, BCC, SUBJECT) and HEADER of these small headers,
	// which the records keep whole, open none; BODY reads the text, and
	// only of messages that passed the cheaper keys. (HEADER of a field the
	// record does not keep: TestSearchMissingFile.)
	for _, c := range []struct {
		q     string
		files int64
	}{
		{"FLAGGED LARGER 10 SINCE 1-Jan-2021 SENTSINCE 1-Jan-2021", 0},
		{"OR FROM alice SUBJECT report", 0},
		{"FLAGGED SUBJECT gr TO alice CC x BCC y", 0},
		{"FROM alice BODY noon", 1},
		{`HEADER X-Priority "" BODY café`, 1},
		{`FLAGGED HEADER X-Priority ""`, 0},
		{"BODY noon", 4},
	} {
		opened := e.srv.filesOpened.Load()
		r.ok("SEARCH %s", c.q)
		if n := e.srv.filesOpened.Load() - opened; n != c.files {
			t.Errorf("SEARCH %s opened %d message files, want %d", c.q, n, c.files)
		}
	}

	r.expect("NO [BADCHARSET", "SEARCH CHARSET KOI8-R FROM x")
	r.expect("BAD", "SEARCH FOOBAR")
	r.expect("BAD", "SEARCH SINCE yesterday")

	// UID SEARCH answers UIDs; ESEARCH (RFC 4731) and SEARCHRES (RFC 5182).
	r.ok("STORE 1 -FLAGS (\\Seen)") // UIDs and numbers part ways after an expunge
	r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	r.ok("EXPUNGE")
	u := r.ok("UID SEARCH UNDELETED")
	mustHave(t, u, "* SEARCH 2 4")
	u = r.ok("SEARCH RETURN (MIN MAX COUNT) UNDELETED")
	mustHave(t, u, `ESEARCH (TAG "a`, "MIN 1 MAX 2 COUNT 2")
	u = r.ok("UID SEARCH RETURN (ALL) ALL")
	mustHave(t, u, "UID ALL 2,4")
	u = r.ok("SEARCH RETURN () FLAGGED")
	mustHave(t, u, "ALL 1")
	u = r.ok("SEARCH RETURN (SAVE) DRAFT")
	mustNotHave(t, u, "ESEARCH", "* SEARCH")
	u = r.ok("FETCH $ UID")
	if strings.Join(u, " ") != "* 2 FETCH (UID 4)" {
		t.Fatalf("FETCH $: %q", u)
	}
	// With MIN or MAX alone, SAVE keeps only those (RFC 5182 2.1); with
	// ALL or COUNT, the whole result.
	u = r.ok("SEARCH RETURN (SAVE MIN) OR DRAFT FLAGGED")
	mustHave(t, u, "MIN 1")
	u = r.ok("UID SEARCH $")
	mustHave(t, u, "* SEARCH 2")
	mustNotHave(t, u, "* SEARCH 2 4")
	r.ok("SEARCH RETURN (SAVE MAX MIN) OR DRAFT FLAGGED")
	mustHave(t, r.ok("UID SEARCH $"), "* SEARCH 2 4")
	r.ok("SEARCH RETURN (SAVE MAX) OR DRAFT FLAGGED")
	mustHave(t, r.ok("UID SEARCH $"), "* SEARCH 4")
	r.ok("SEARCH RETURN (SAVE MIN COUNT) OR DRAFT FLAGGED")
	mustHave(t, r.ok("UID SEARCH $"), "* SEARCH 2 4")
	u = r.ok("SEARCH NOT $")
	if strings.Join(u, " ") != "* SEARCH" {
		t.Fatalf("SEARCH NOT $: %q", u)
	}
	r.ok("SEARCH RETURN (SAVE) FROM nobody")
	u = r.ok("FETCH $ UID")
	if len(u) != 0 {
		t.Fatalf("FETCH of an empty $: %q", u)
	}
	// IMAP4rev2 always answers ESEARCH.
	r2 := e.rawLogin("alice", "secret")
	r2.ok("ENABLE IMAP4rev2")
	r2.ok("EXAMINE INBOX")
	u = r2.ok("SEARCH FLAGGED")
	mustHave(t, u, "* ESEARCH", "ALL 1")
}

// A message whose file is missing matches no key that needs the file
// (BODY, TEXT, HEADER of a field its record does not keep), and SEARCH
// still answers for the others; FETCH still answers what the cache holds,
// kept header fields included, and NO for the message's other sections.
func TestSearchMissingFile(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	ctx := context.Background()
	var blobs []string
	for i := 1; i <= 3; i++ {
		in, err := e.st.Ingest(ctx, strings.NewReader(tracedMsg(i, fmt.Sprintf("subject %d", i))), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.st.Append(ctx, "alice", "INBOX", in, store.Flags{}, time.Now()); err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, in.Blob)
	}
	if err := os.Remove(e.blobs.Path(blob.ID(blobs[1]))); err != nil {
		t.Fatal(err)
	}
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")
	for _, c := range []struct{ q, want string }{
		{"FROM sender", "1 2 3"}, // the envelope: no file needed
		{"SUBJECT subject", "1 2 3"},
		{`HEADER Message-ID ""`, "1 2 3"}, // kept in the record
		{`HEADER X-Mailer ""`, "1 3"},
		{`NOT HEADER X-Mailer ""`, "2"}, // unreadable: does not match HEADER
		{"BODY message", "1 3"},
		{"TEXT sender", "1 3"},
		{"FROM sender BODY message", "1 3"},
		{"SENTSINCE 1-Jan-2023", "1 2 3"},
		{"ALL", "1 2 3"},
	} {
		checkSearch(t, r, c.q, c.want)
	}
	u := r.ok("FETCH 2 (ENVELOPE BODYSTRUCTURE RFC822.SIZE FLAGS)")
	mustHave(t, u, `"subject 2"`, "BODYSTRUCTURE (")
	u = r.ok("FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (Subject)])")
	mustHave(t, u, "* 1 FETCH", "* 2 FETCH", "Subject: subject 2", "* 3 FETCH")
	u = r.expect("NO", "FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (X-Mailer)])")
	mustHave(t, u, "* 1 FETCH", "* 3 FETCH", "X-Mailer: mailer 3")
	mustNotHave(t, u, "* 2 FETCH")
}

// checkSearch runs SEARCH q and checks that it answers OK with the numbers
// want (space-separated).
func checkSearch(t *testing.T, r *raw, q, want string) {
	t.Helper()
	u, st := r.cmd("SEARCH %s", q)
	if !strings.HasPrefix(st, "OK") {
		t.Errorf("SEARCH %s: %s", q, st)
		return
	}
	got := ""
	for _, l := range u {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			got = strings.TrimSpace(rest)
		}
	}
	if got != want {
		t.Errorf("SEARCH %s = %q, want %q", q, got, want)
	}
}

// TestSearchHeaderText: HEADER FROM x matches the field's text as sent
// (RFC 3501 6.4.4), comments and quoting included, as well as the
// envelope form FROM x matches; both from the record, no file opened.
func TestSearchHeaderText(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", "From: alice@example.com (Alice Comment)\r\nTo: \"Bob, B.\" <bob@example.org>\r\nSubject: =?utf-8?q?caf=C3=A9?= time\r\n\r\nbody\r\n")
	e.deliver("alice", "", msg(2, "other"))
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")
	opened := e.srv.filesOpened.Load()
	for _, c := range []struct{ q, want string }{
		{`HEADER FROM "alice@example.com (Alice"`, "1"},
		{`FROM "Alice Comment <alice@example.com>"`, "1"},
		{`HEADER TO "\"Bob, B.\""`, "1"},
		{`TO "Bob, B. <bob@"`, "1"},
		{`HEADER SUBJECT "=?utf-8?q?caf"`, "1"},
		{`SUBJECT "café"`, "1"},
		{`NOT HEADER FROM "(Alice"`, "2"},
		{`HEADER FROM "sender2@"`, "2"},
	} {
		checkSearch(t, r, c.q, c.want)
	}
	if n := e.srv.filesOpened.Load() - opened; n != 0 {
		t.Errorf("SEARCH of envelope keys opened %d files", n)
	}

	// A header whose common fields are too large for the record (60
	// References lines): HEADER FROM reads the field's text from the file,
	// FROM still matches the envelope without it.
	var refs strings.Builder
	for i := range 60 {
		fmt.Fprintf(&refs, "References: <thread-%02d.0123456789@lists.example.org>\r\n", i)
	}
	e.deliver("alice", "", refs.String()+"From: alice@example.com (Alice Comment)\r\nSubject: long thread\r\n\r\nbody\r\n")
	r.ok("NOOP")
	opened = e.srv.filesOpened.Load()
	checkSearch(t, r, `FROM "Alice Comment <alice@"`, "1 3")
	if n := e.srv.filesOpened.Load() - opened; n != 0 {
		t.Errorf("SEARCH FROM opened %d files", n)
	}
	checkSearch(t, r, `HEADER FROM "alice@example.com (Alice"`, "1 3")
	if n := e.srv.filesOpened.Load() - opened; n != 1 {
		t.Errorf("SEARCH HEADER FROM of a field the record does not keep opened %d files, want 1 (message 3's)", n)
	}
}
