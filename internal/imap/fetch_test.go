package imap

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// A multipart message with a base64 attachment, a quoted-printable part
// and an encapsulated message.
var mimeMsg = strings.ReplaceAll(`From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>, group: a@b.c, d@e.f;
To: rcpt@example.com
Cc: "Quoted, Name" <q@example.com>
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from the test
Date: Tue, 1 Jul 2003 10:52:37 +0200
Message-ID: <mime1@example.org>
In-Reply-To: <parent@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"; zparam=last; aparam=first

preamble
--XX
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 cr=C3=A8me with a soft=
 break.
--XX
Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="data.bin"
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Language: en, de

`+base64.StdEncoding.EncodeToString([]byte("binary\x00payload\xff"))+`
--XX
Content-Type: message/rfc822

From: inner@example.org
Subject: inner subject
Date: Wed, 2 Jul 2003 11:00:00 +0000

Inner body.
--XX--
epilogue
`, "\n", "\r\n")

func TestFetch(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", msg(1, "plain"))
	e.deliver("alice", "", mimeMsg)
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")
	// ENVELOPE, BODYSTRUCTURE, sizes and flags come from the cache and
	// the message record: no message file is opened.
	opened := e.srv.filesOpened.Load()
	u := r.ok("FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY BINARY.SIZE[1])")
	if n := e.srv.filesOpened.Load(); n != opened {
		t.Fatalf("FETCH of cached items opened %d message files", n-opened)
	}
	all := strings.Join(u, "\n")
	// The records keep these small headers whole: header sections open no
	// file either.
	opened = e.srv.filesOpened.Load()
	u = r.ok("FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[HEADER.FIELDS.NOT (Subject From To Cc Date Message-ID In-Reply-To MIME-Version)])")
	if n := e.srv.filesOpened.Load() - opened; n != 0 {
		t.Fatalf("FETCH of header sections of 2 messages opened %d message files", n)
	}
	all += "\n" + strings.Join(u, "\n")
	for _, want := range []string{
		// Envelope fields raw: encoded words, group syntax, quoted names.
		`ENVELOPE ("Tue, 1 Jul 2003 10:52:37 +0200" "=?utf-8?q?Gr=C3=BC=C3=9Fe?= from the test" (("=?utf-8?q?J=C3=B6rg?=" NIL "jorg" "example.org")(NIL NIL "group" NIL)(NIL NIL "a" "b.c")(NIL NIL "d" "e.f")(NIL NIL NIL NIL))`,
		`(("Quoted, Name" NIL "q" "example.com"))`,
		`"<parent@example.org>" "<mime1@example.org>")`,
		// Parameters in message order, MD5, disposition, languages.
		`"mixed" ("boundary" "XX" "zparam" "last" "aparam" "first") NIL NIL NIL)`,
		`("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" 20 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename" "data.bin")) ("en" "de") NIL)`,
		`("message" "rfc822" NIL NIL NIL "7bit" `,
		`("Wed, 2 Jul 2003 11:00:00 +0000" "inner subject" ((NIL NIL "inner" "example.org"))`,
		`BODY[HEADER.FIELDS ("Subject")] {`,
		`BINARY.SIZE[1] 20`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("FETCH lacks %s\nin %s", want, all)
		}
	}
	// BODY (not extended) has no extension data.
	if !strings.Contains(all, `BODY (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" `) {
		t.Errorf("BODY: %s", all)
	}

	// Header sections are exact, partials included, from the record kept
	// whole (message 1) or from the file (message 3, whose header is too
	// large to keep whole), reading only the header's bytes: all of them
	// for HEADER and HEADER.FIELDS.NOT (the partial is cut after
	// filtering), only the partial's for HEADER<p>, and none for
	// HEADER.FIELDS of kept fields (Subject).
	const q = "(BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[HEADER.FIELDS.NOT (From To Subject Date Message-ID Received)] BODY.PEEK[HEADER]<6.6> BODY.PEEK[HEADER.FIELDS (Subject)]<0.7> BODY.PEEK[HEADER]<5000.5>)"
	r.ok("CREATE Traced")
	e.deliver("alice", "Traced", tracedMsg(1, "plain"))
	for _, tc := range []struct {
		mailbox string
		raw     string
		hdrLen  int // octets read from the file
	}{
		{"INBOX", msg(1, "plain"), 0},
		{"Traced", tracedMsg(1, "plain"), -1},
	} {
		r.ok("EXAMINE %s", tc.mailbox)
		hdr, _, _ := strings.Cut(tc.raw, "\r\n\r\n")
		hdr += "\r\n\r\n"
		if tc.hdrLen < 0 {
			tc.hdrLen = 2*len(hdr) + 6
		}
		_, rest, _ := strings.Cut(hdr, "\r\nX-Mailer")
		not := "\r\n"
		if rest != "" {
			not = "X-Mailer: mailer 1\r\n\r\n"
		}
		read0 := e.srv.fileBytes.Load()
		u = r.ok("FETCH 1 %s", q)
		if got := e.srv.fileBytes.Load() - read0; got != int64(tc.hdrLen) {
			t.Errorf("%s: read %d bytes of message files for header sections, want %d", tc.mailbox, got, tc.hdrLen)
		}
		mustHave(t, u,
			fmt.Sprintf("BODY[HEADER] {%d}\r\n%s", len(hdr), hdr),
			"BODY[HEADER.FIELDS (\"Subject\")] {18}\r\nSubject: plain\r\n\r\n",
			fmt.Sprintf("BODY[HEADER.FIELDS.NOT (\"From\" \"To\" \"Subject\" \"Date\" \"Message-ID\" \"Received\")] {%d}\r\n%s", len(not), not),
			"BODY[HEADER]<5000> {0}\r\n",
			"BODY[HEADER.FIELDS (\"Subject\")]<0> {7}\r\nSubject",
		)
		if tc.hdrLen == 0 {
			mustHave(t, u, "BODY[HEADER]<6> {6}\r\nSender")
		} else {
			mustHave(t, u, "BODY[HEADER]<6> {6}\r\ned: fr")
		}
	}
	r.ok("EXAMINE INBOX")

	// Sections read from the file: only their bytes.
	bytes0 := e.srv.fileBytes.Load()
	u = r.ok("FETCH 2 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.HEADER.FIELDS (subject)] BODY.PEEK[3.1] BODY.PEEK[TEXT]<0.8> BODY.PEEK[]<10.5> BODY.PEEK[9] BODY.PEEK[2.HEADER])")
	all = strings.Join(u, "\n")
	for _, want := range []string{
		"BODY[1] {",
		"Caf=C3=A9 cr=C3=A8me with a soft=\r\n break. BODY[1.MIME]",
		"BODY[1.MIME] {",
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
		"BODY[3.HEADER] {",
		"BODY[3.TEXT] {11}\r\nInner body. ",
		"BODY[3.HEADER.FIELDS (\"subject\")] {26}\r\nSubject: inner subject\r\n\r\n",
		"BODY[3.1] {11}\r\nInner body. ",
		"BODY[TEXT]<0> {8}\r\npreamble",
		"BODY[]<10> {5}\r\n",
		"BODY[9] {0}\r\n",
		"BODY[2.HEADER] {0}\r\n",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("FETCH lacks %q\nin %s", want, all)
		}
	}
	if read := e.srv.fileBytes.Load() - bytes0; read > 500 {
		t.Errorf("read %d bytes of message files for small sections", read)
	}

	// BINARY decodes; BINARY.SIZE agrees; partial BINARY says its origin.
	u = r.ok("FETCH 2 (BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[2]<7.7> BINARY.PEEK[3])")
	all = strings.Join(u, "\n")
	for _, want := range []string{
		"BINARY[1] ~{31}\r\nCafé crème with a soft break.",
		"BINARY[2] ~{15}\r\nbinary\x00payload\xff",
		"BINARY.SIZE[2] 15",
		"BINARY[2]<7> ~{7}\r\npayload",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("FETCH lacks %q\nin %q", want, all)
		}
	}

	// Macros and obsolete items.
	u = r.ok("FETCH 1 ALL")
	mustHave(t, u, "FLAGS (", "INTERNALDATE", "RFC822.SIZE 173", "ENVELOPE (")
	u = r.ok("FETCH 1 FULL")
	mustHave(t, u, "BODY (")
	u = r.ok("FETCH 1 (RFC822.HEADER RFC822.TEXT)")
	mustHave(t, u, "RFC822.HEADER {", "RFC822.TEXT {20}\r\nBody of message 1.\r\n")
	u = r.ok("UID FETCH 2 RFC822.SIZE")
	mustHave(t, u, "* 2 FETCH (UID 2 RFC822.SIZE")

	// EXAMINE: no implicit \Seen.
	u = r.ok("FETCH 1:2 FLAGS")
	mustNotHave(t, u, `\Seen`)
	// Bad sets and sections.
	r.expect("BAD", "FETCH 3 FLAGS")
	r.expect("BAD", "FETCH 0 FLAGS")
	r.expect("BAD", "FETCH 1:x FLAGS")
	r.expect("BAD", "FETCH 1 (BODY[MIME])")
	r.expect("BAD", "FETCH 1 (FOO)")
	u = r.ok("UID FETCH 5:* FLAGS") // n:* includes the last UID
	mustHave(t, u, "* 2 FETCH (UID 2 FLAGS")
	u = r.ok("UID FETCH 3:4 FLAGS")
	if len(u) != 0 {
		t.Errorf("UID FETCH of absent UIDs: %q", u)
	}

	// SELECT: BODY[] sets \Seen and says so.
	r.ok("SELECT INBOX")
	u = r.ok("FETCH 1 BODY[]")
	mustHave(t, u, `FLAGS (\Seen \Recent)`)
	u = r.ok("FETCH 1 BODY[]")
	mustNotHave(t, u, `FLAGS`)
	u = r.ok("FETCH 2 BINARY[1]")
	mustHave(t, u, `FLAGS (\Seen \Recent)`)
}

func TestFetchEmptyMailbox(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	r.expect("BAD", "FETCH 1:* FLAGS") // RFC 9051: "*" in an empty mailbox
	r.ok("UID FETCH 1:* FLAGS")
	r.ok("SEARCH ALL")
	r.ok("SEARCH 1:*")
}

// BODY[]<partial> of a large message reads only the bytes it returns.
func TestFetchPartialReadsOnlyRange(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	e.deliver("alice", "", big)
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")
	read := e.srv.fileBytes.Load()
	u := r.ok("FETCH 1 (BODY.PEEK[]<500000.100> BODY.PEEK[TEXT]<16.16>)")
	if got := e.srv.fileBytes.Load() - read; got != 116 {
		t.Fatalf("read %d bytes for 116 returned", got)
	}
	mustHave(t, u, "BODY[]<500000> {100}", "BODY[TEXT]<16> {16}\r\n0123456789abcdef")
	read = e.srv.fileBytes.Load()
	u = r.ok("FETCH 1 (BODY.PEEK[] RFC822.SIZE)")
	if got := e.srv.fileBytes.Load() - read; got != int64(len(big)) {
		t.Fatalf("read %d bytes for BODY[] of %d", got, len(big))
	}
	mustHave(t, u, fmt.Sprintf("RFC822.SIZE %d", len(big)))
}

// TestFetchCachesHeaderFields: of a header too large for the cache record
// to keep whole, the record keeps the fields clients fetch for their lists
// (message.KeptFields): HEADER.FIELDS of those opens no file. The first
// BODY[HEADER.FIELDS (…)] of other fields reads the header from the file
// and keeps those fields with the file; asking again for any of them opens
// no file and answers the same bytes, partials included. Other fields,
// HEADER.FIELDS.NOT and HEADER still read the file, and a request for new
// fields widens the cache. The cache belongs to the file: a COPY uses it,
// and it goes with the file's last message.
func TestFetchCachesHeaderFields(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", tracedMsg(i, fmt.Sprintf("subject %d", i)))
	}
	r := e.rawLogin("alice", "secret")
	r.ok("SELECT INBOX")
	files := func(q string) ([]string, int64) {
		t.Helper()
		opened := e.srv.filesOpened.Load()
		u := r.ok("%s", q)
		return u, e.srv.filesOpened.Load() - opened
	}
	// Thunderbird's message list fetch: from the records.
	u, n := files("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])")
	if n != 0 {
		t.Errorf("FETCH of the kept fields opened %d files, want 0", n)
	}
	mustHave(t, u, "From: Sender 2 <sender2@example.org>\r\nTo: Rcpt <rcpt@example.com>\r\nSubject: subject 2\r\nDate: Mon, 2 Jan 2023 15:04:05 +0100\r\nMessage-ID: <m2@example.org>\r\n\r\n")

	const q = "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject X-Mailer)])"
	first, n := files(q)
	if n != 3 {
		t.Fatalf("first FETCH of header fields opened %d files, want 3", n)
	}
	mustHave(t, first, "X-Mailer: mailer 2\r\nSubject: subject 2\r\n\r\n")
	again, n := files(q)
	if n != 0 || strings.Join(again, "\n") != strings.Join(first, "\n") {
		t.Fatalf("second FETCH opened %d files, want 0; answers:\n%q\n%q", n, first, again)
	}
	u, n = files("FETCH 2 (BODY.PEEK[HEADER.FIELDS (x-mailer)] BODY.PEEK[HEADER.FIELDS (X-MAILER)]<0.10>)")
	if n != 0 {
		t.Errorf("FETCH of cached fields in other case, with a partial, opened %d files", n)
	}
	mustHave(t, u, "{22}\r\nX-Mailer: mailer 2\r\n\r\n", "<0> {10}\r\nX-Mailer: ")

	// Not all covered: the file; then the wider set is cached, an absent
	// field included.
	if _, n := files("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-Mailer X-Absent)])"); n != 3 {
		t.Errorf("FETCH of a field not cached opened %d files, want 3", n)
	}
	u, n = files("FETCH 3 (BODY.PEEK[HEADER.FIELDS (X-Absent)] BODY.PEEK[HEADER.FIELDS (X-Mailer Subject)])")
	if n != 0 {
		t.Errorf("FETCH of the widened cache opened %d files", n)
	}
	mustHave(t, u, "BODY[HEADER.FIELDS (\"X-Absent\")] {2}\r\n\r\n", "X-Mailer: mailer 3\r\nSubject: subject 3\r\n\r\n")
	for _, q := range []string{"FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Subject)])", "FETCH 1 (BODY.PEEK[HEADER])", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (Received)])"} {
		if _, n := files(q); n != 1 {
			t.Errorf("%s opened %d files, want 1", q, n)
		}
	}

	// SEARCH HEADER of a field kept in the record or with the file reads
	// no file either (message 1 has Received kept by the FETCH just above;
	// 2 and 3 do not).
	opened := e.srv.filesOpened.Load()
	checkSearch(t, r, "1 HEADER Received relay3", "1")
	checkSearch(t, r, "HEADER Message-ID m3@", "3")
	if n := e.srv.filesOpened.Load() - opened; n != 0 {
		t.Errorf("SEARCH HEADER of kept fields opened %d files", n)
	}
	checkSearch(t, r, "HEADER Received relay3", "1 2 3")
	if n := e.srv.filesOpened.Load() - opened; n != 2 {
		t.Errorf("SEARCH HEADER of a field kept for one message of 3 opened %d files, want 2", n)
	}

	// The copy shares the file and its cache; expunging every message of
	// the file drops it.
	r.ok("CREATE Kept")
	r.ok("COPY 1 Kept")
	r.ok("STORE 1 +FLAGS (\\Deleted)")
	r.ok("EXPUNGE")
	r.ok("SELECT Kept")
	if u, n := files("FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Mailer)])"); n != 0 {
		t.Errorf("FETCH of a copy's cached field opened %d files", n)
	} else {
		mustHave(t, u, "X-Mailer: mailer 1\r\n\r\n")
	}
	r.ok("STORE 1 +FLAGS (\\Deleted)")
	r.ok("EXPUNGE")
	e.deliver("alice", "Kept", tracedMsg(1, "subject 1"))
	r.ok("NOOP")
	if _, n := files("FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Mailer)])"); n != 1 {
		t.Errorf("FETCH of a message delivered again after its file lost every message opened %d files, want 1 (no cache left)", n)
	}
}
