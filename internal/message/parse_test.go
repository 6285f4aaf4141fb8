package message

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// parseTests are the expected ENVELOPE and BODYSTRUCTURE of the corpus
// messages, in IMAP syntax. Except where dovecotDiffers says otherwise they
// are what Dovecot 2.3 answers for the same message (see dovecot_test.go).
var parseTests = []struct {
	name string
	env  string
	bs   string
	date string // Cache.Date formatted by time.Time.String, "" for nil
}{
	{
		name: "plain",
		env:  `("Tue, 2 Jan 2024 10:00:00 +0100" "Lunch?" (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.com")) NIL NIL NIL "<1234@example.org>")`,
		bs:   `("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 43 3 NIL NIL NIL NIL)`,
		date: "2024-01-02 10:00:00 +0100 +0100",
	},
	{
		name: "alternative",
		env:  `("Wed, 3 Jan 2024 08:30:00 -0500" "=?UTF-8?B?w5xiZXJyYXNjaHVuZyE=?=" (("Shop, Inc." NIL "news" "shop.example")) (("Shop, Inc." NIL "news" "shop.example")) ((NIL NIL "support" "shop.example")) ((NIL NIL "customer" "example.com")) NIL NIL "<prev@example.com>" "<abc.def@shop.example>")`,
		bs:   `(("text" "plain" ("charset" "UTF-8") NIL NIL "quoted-printable" 70 3 NIL NIL NIL NIL) ("text" "html" ("charset" "UTF-8") NIL NIL "quoted-printable" 53 1 NIL NIL NIL NIL) "alternative" ("boundary" "b1_5f2a") NIL NIL NIL)`,
		date: "2024-01-03 08:30:00 -0500 -0500",
	},
	{
		name: "mixed-attachments",
		env:  `("Thu, 4 Jan 2024 12:00:00 +0000" "Report and forwarded mail" (("Carol" NIL "carol" "example.net")) ((NIL NIL "list-bounces" "lists.example.net")) (("Carol" NIL "carol" "example.net")) ((NIL NIL "team" "example.net") ("Dave D." NIL "dave" "example.net")) ((NIL NIL "eve" "example.net")) ((NIL NIL "boss" "example.net")) NIL "<r1@example.net>")`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL) ("application" "pdf" ("name" "report.pdf") "<part1@example.net>" "Quarterly report" "base64" 84 NIL ("attachment" ("filename" "report.pdf" "size" "40")) NIL NIL) ("message" "rfc822" NIL NIL NIL "7bit" 344 ("Mon, 1 Jan 2024 09:00:00 +0200" "Original" (("Frank" NIL "frank" "example.org")) (("Frank" NIL "frank" "example.org")) (("Frank" NIL "frank" "example.org")) ((NIL NIL "carol" "example.net")) NIL NIL NIL "<orig@example.org>") (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 1 NIL NIL NIL NIL) ("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL) 19 NIL NIL NIL NIL) ("image" "png" NIL NIL NIL "base64" 12 NIL ("inline" NIL) NIL NIL) "mixed" ("boundary" "outer") NIL NIL NIL)`,
		date: "2024-01-04 12:00:00 +0000 +0000",
	},
	{
		name: "no-content-type",
		env:  `(NIL "Cron <root@host> run-parts /etc/cron.daily" (("Cron Daemon" NIL "root" "localhost")) (("Cron Daemon" NIL "root" "localhost")) (("Cron Daemon" NIL "root" "localhost")) ((NIL NIL "root" "localhost")) NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 63 2 NIL NIL NIL NIL)`,
	},
	{
		name: "groups",
		env:  `(NIL "groups" (("Announcements" NIL "announce" "example.com")) (("Announcements" NIL "announce" "example.com")) (("Announcements" NIL "announce" "example.com")) ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) ((NIL NIL "Friends" NIL) ("Joe" NIL "joe" "example.com") (NIL NIL "jane" "example.com") (NIL NIL NIL NIL) (NIL NIL "after" "example.com")) ((NIL NIL "Empty Group" NIL) (NIL NIL NIL NIL)) NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)`,
	},
	{
		name: "encoded-words",
		env:  `(NIL "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=" (("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")) (("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")) (("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")) (("=?US-ASCII?Q?Keith_Moore?=" NIL "moore" "cs.utk.edu") ("=?utf-8?q?J=C3=B6rg?=" NIL "jorg" "example.de")) NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "ISO-8859-1") NIL NIL "quoted-printable" 8 1 NIL NIL NIL NIL)`,
	},
	{
		name: "folded-headers",
		env:  `("Fri, 5 Jan 2024 23:59:59 -0800" "This subject line is rather long and was folded by the sending client twice" (("A very long display name that someone folded" NIL "folded" "example.com")) (("A very long display name that someone folded" NIL "folded" "example.com")) (("A very long display name that someone folded" NIL "folded" "example.com")) ((NIL NIL "one" "example.com") (NIL NIL "two" "example.com") (NIL NIL "three" "example.com")) NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "7bit" 8 1 NIL NIL ("en-US" "de") NIL)`,
		date: "2024-01-05 23:59:59 -0800 -0800",
	},
	{
		name: "lf-only",
		env:  `(NIL "bare LF" ((NIL NIL "lf" "example.com")) ((NIL NIL "lf" "example.com")) ((NIL NIL "lf" "example.com")) ((NIL NIL "lf2" "example.com")) NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 1 NIL NIL NIL NIL) ("application" "octet-stream" NIL NIL NIL "base64" 8 NIL NIL NIL NIL) "mixed" ("boundary" "XYZ") NIL NIL NIL)`,
	},
	{
		name: "no-body",
		env:  `(NIL "header only, no blank line" ((NIL NIL "nobody" "example.com")) ((NIL NIL "nobody" "example.com")) ((NIL NIL "nobody" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
	},
	{
		name: "empty-body",
		env:  `(NIL "empty body" ((NIL NIL "nobody" "example.com")) ((NIL NIL "nobody" "example.com")) ((NIL NIL "nobody" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
	},
	{
		name: "missing-final-boundary",
		env:  `(NIL "truncated" ((NIL NIL "trunc" "example.com")) ((NIL NIL "trunc" "example.com")) ((NIL NIL "trunc" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 38 1 NIL NIL NIL NIL) "mixed" ("boundary" "==b==") NIL NIL NIL)`,
	},
	{
		name: "rfc822-top",
		env:  `(NIL "Fwd: whole message" ((NIL NIL "fwd" "example.com")) ((NIL NIL "fwd" "example.com")) ((NIL NIL "fwd" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("message" "rfc822" NIL NIL NIL "7bit" 91 ("1 Feb 2023 00:00 GMT" "the inner one" ((NIL NIL "inner" "example.com")) ((NIL NIL "inner" "example.com")) ((NIL NIL "inner" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL) 5 NIL NIL NIL NIL)`,
	},
	{
		name: "digest",
		env:  `(NIL "digest" ((NIL NIL "digest" "lists.example")) ((NIL NIL "digest" "lists.example")) ((NIL NIL "digest" "lists.example")) NIL NIL NIL NIL NIL)`,
		bs:   `(("message" "rfc822" NIL NIL NIL "7bit" 52 (NIL "one" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL) "digest" ("boundary" "DD") NIL NIL NIL)`,
	},
	{
		name: "rfc2231",
		env:  `(NIL "2231" ((NIL NIL "x" "example.com")) ((NIL NIL "x" "example.com")) ((NIL NIL "x" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("application" "octet-stream" ("name*" "utf-8''%E2%82%AC%20rates.txt") NIL NIL "base64" 4 NIL ("attachment" ("size" "3" "filename*" "UTF-8''%E2%82%AC.txt")) NIL NIL) ("text" "plain" ("title" "hello world" "charset" "us-ascii") NIL NIL "7bit" 1 0 NIL NIL NIL NIL) "mixed" ("boundary" "R") NIL NIL NIL)`,
	},
	{
		name: "broken-addresses",
		env:  `(NIL "addresses" ((NIL NIL "undisclosed" "MISSING_DOMAIN")) ((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")) (("Name" NIL "a" "SYNTAX_ERROR") (NIL NIL "good" "example.com")) ((NIL NIL "a" "example.com") (NIL NIL "c" "example.com") ("Q \"uoted\"" NIL "q" "example.com")) ((NIL "@route.example,@r2.example" "user" "example.com") ("Broken" NIL "x" "SYNTAX_ERROR")) (("just text" NIL "MISSING_MAILBOX" "MISSING_DOMAIN") (NIL NIL "MISSING_MAILBOX" "nodomain.example")) NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1 NIL NIL NIL NIL)`,
	},
	{
		name: "boundary-prefix",
		env:  `(NIL "nested boundaries sharing a prefix" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL) ("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL) "alternative" ("boundary" "b-inner") NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)`,
	},
	{
		name: "inner-unclosed",
		env:  `(NIL "inner multipart never closed" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL) "alternative" ("boundary" "i") NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL) "mixed" ("boundary" "o") NIL NIL NIL)`,
	},
	{
		name: "header-cut-by-boundary",
		env:  `(NIL "a part whose header runs into the boundary" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL NIL NIL) "mixed" ("boundary" "c") NIL NIL NIL)`,
	},
	{
		name: "multipart-no-parts",
		env:  `(NIL "multipart with no delimiter" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "never") NIL NIL NIL)`,
	},
	{
		name: "multipart-no-boundary",
		env:  `(NIL "multipart without boundary" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)`,
	},
	{
		name: "content-fields",
		env:  `(NIL "all content fields" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "html" ("charset" "iso-8859-1") "<html@example.com>" "the page" "8bit" 31 0 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" NIL) ("fr" "en") "page.html") ("image" "gif" NIL "<img@example.com>" NIL "base64" 20 NIL NIL NIL NIL) "related" ("boundary" "rel" "type" "text/html") NIL ("fr") "http://example.com/page")`,
	},
	{
		name: "preamble-epilogue",
		env:  `(NIL "preamble and epilogue" ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) ((NIL NIL "p" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL NIL NIL) "mixed" ("boundary" "PE") NIL NIL NIL)`,
	},
	{
		name: "empty",
		env:  `(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
	},
	{
		name: "blank-line-only",
		env:  `(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL)`,
	},
	{
		name: "duplicate-headers",
		env:  `(NIL "first subject" ((NIL NIL "first" "example.com") (NIL NIL "second" "example.com")) ((NIL NIL "first" "example.com") (NIL NIL "second" "example.com")) ((NIL NIL "first" "example.com") (NIL NIL "second" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)`,
	},
	{
		name: "8bit-header",
		env:  `(NIL "Grüße" (("Jörg" NIL "jorg" "example.de")) (("Jörg" NIL "jorg" "example.de")) (("Jörg" NIL "jorg" "example.de")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 9 1 NIL NIL NIL NIL)`,
	},
	{
		name: "nested-rfc822-rfc822",
		env:  `(NIL "two levels of forward" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("message" "rfc822" NIL NIL NIL "7bit" 138 (NIL "level 1" ((NIL NIL "b" "example.com")) ((NIL NIL "b" "example.com")) ((NIL NIL "b" "example.com")) NIL NIL NIL NIL NIL) ("message" "rfc822" NIL NIL NIL "7bit" 48 (NIL "level 2" ((NIL NIL "c" "example.com")) ((NIL NIL "c" "example.com")) ((NIL NIL "c" "example.com")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) 8 NIL NIL NIL NIL) "mixed" ("boundary" "L1") NIL NIL NIL)`,
	},
	{
		name: "text-no-charset",
		env:  `(NIL "explicit text/html without charset" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 11 1 NIL NIL NIL NIL)`,
	},
	{
		name: "type-without-subtype",
		env:  `(NIL "type only" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 3 1 NIL NIL NIL NIL)`,
	},
	{
		name: "date-forms",
		env:  `("5 Jan 24 3:04 EST" "obsolete date" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1 NIL NIL NIL NIL)`,
		date: "2024-01-05 03:04:00 -0500 -0500",
	},
	{
		name: "tabs",
		env:  `(NIL "tab here and folded with tab and two spaces" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `("text" "plain" ("charset" "us-ascii") NIL "d\tesc" "7bit" 3 1 NIL NIL NIL NIL)`,
	},
	{
		name: "multipart-no-subtype",
		env:  `(NIL NIL ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 0 NIL NIL NIL NIL) "mixed" ("boundary" "q") NIL NIL NIL)`,
	},
	{
		name: "delimiter-cut-at-end",
		env:  `(NIL NIL ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL) "mixed" ("boundary" "e") NIL NIL NIL)`,
	},
	{
		name: "delimiter-at-end",
		env:  `(NIL NIL ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`,
		bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "e") NIL NIL NIL)`,
	},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			raw := corpusMsg(tc.name).raw()
			c := Parse(raw)
			if c.Size != int64(len(raw)) {
				t.Errorf("Size = %d, want %d", c.Size, len(raw))
			}
			if got := imapString(envTree(&c.Envelope)); got != tc.env {
				t.Errorf("ENVELOPE\n got %s\nwant %s", got, tc.env)
			}
			if got := imapString(normalize(bsTree(&c.Body, true))); got != tc.bs {
				t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", got, tc.bs)
			}
			var date string
			if c.Date != nil {
				date = c.Date.String()
			}
			if date != tc.date {
				t.Errorf("Date = %q, want %q", date, tc.date)
			}
			checkInvariants(t, c, raw)
		})
	}
}

func TestParseCoversCorpus(t *testing.T) {
	have := map[string]bool{"deep-nesting": true}
	for _, tc := range parseTests {
		have[tc.name] = true
	}
	for _, m := range corpus() {
		if !have[m.name] {
			t.Errorf("corpus message %q has no expected values in parseTests", m.name)
		}
	}
}

// checkInvariants checks what must hold for any message: offsets nest,
// sizes and line counts match the octets, the cached header is the
// message's, and every section can be resolved.
func checkInvariants(t testing.TB, c *Cache, raw []byte) {
	t.Helper()
	if c.Size != int64(len(raw)) {
		t.Fatalf("Size %d != len %d", c.Size, len(raw))
	}
	if !bytes.Equal(c.RawHeader, raw[:c.Body.BodyStart]) {
		t.Fatalf("RawHeader is not raw[:BodyStart]")
	}
	if c.Body.HeaderStart != 0 || c.Body.BodyEnd != c.Size {
		t.Fatalf("top-level part spans %d..%d, want 0..%d", c.Body.HeaderStart, c.Body.BodyEnd, c.Size)
	}
	parts := 0
	var walk func(p *Part, lo, hi int64, depth int)
	walk = func(p *Part, lo, hi int64, depth int) {
		parts++
		if depth > MaxDepth {
			t.Fatalf("part at depth %d", depth)
		}
		if p.HeaderStart < lo || p.BodyStart < p.HeaderStart || p.BodyEnd < p.BodyStart || p.BodyEnd > hi {
			t.Fatalf("part %d/%d/%d outside %d..%d", p.HeaderStart, p.BodyStart, p.BodyEnd, lo, hi)
		}
		body := raw[p.BodyStart:p.BodyEnd]
		if p.IsText() || p.Message != nil {
			if n := int64(bytes.Count(body, []byte("\n"))); n != p.Lines {
				t.Errorf("Lines = %d, body has %d", p.Lines, n)
			}
		} else if p.Lines != 0 {
			t.Errorf("Lines = %d for %s", p.Lines, p.MediaType())
		}
		if p.IsMultipart() && p.Message != nil {
			t.Fatalf("part is both multipart and message")
		}
		if !p.IsMultipart() && p.Message == nil {
			dec, err := AppendDecoded(nil, p.Encoding, body)
			switch {
			case err != nil && p.BinarySize != -1:
				t.Errorf("BinarySize %d but decoding failed: %v", p.BinarySize, err)
			case err == nil && int64(len(dec)) != p.BinarySize:
				t.Errorf("BinarySize %d, decoded %d octets", p.BinarySize, len(dec))
			}
		}
		if strings.EqualFold(p.Type, "multipart") && !p.IsMultipart() && !strings.EqualFold(p.Subtype, "unknown") {
			t.Errorf("multipart/%s part has no children", p.Subtype)
		}
		if strings.EqualFold(p.Type, "message") && (strings.EqualFold(p.Subtype, "rfc822") || strings.EqualFold(p.Subtype, "global")) && p.Message == nil {
			t.Errorf("message/%s part has no message", p.Subtype)
		}
		cur := p.BodyStart
		for i := range p.Parts {
			walk(&p.Parts[i], cur, p.BodyEnd, depth+1)
			cur = p.Parts[i].BodyEnd
		}
		if p.Message != nil {
			if p.Message.Body.HeaderStart != p.BodyStart || p.Message.Body.BodyEnd > p.BodyEnd ||
				p.Message.Body.BodyEnd < p.BodyEnd-2 {
				t.Errorf("encapsulated message %d..%d, part body %d..%d",
					p.Message.Body.HeaderStart, p.Message.Body.BodyEnd, p.BodyStart, p.BodyEnd)
			}
			walk(&p.Message.Body, p.BodyStart, p.BodyEnd, depth+1)
		}
	}
	walk(&c.Body, 0, c.Size, 0)
	if parts > MaxParts {
		t.Fatalf("%d parts, more than MaxParts", parts)
	}
	for _, s := range sections(c) {
		path, spec := splitSection(s)
		off, n, err := c.Section(path, spec)
		if err != nil {
			t.Fatalf("Section(%v, %q): %v", path, spec, err)
		}
		if off < 0 || n < 0 || off+n > c.Size {
			t.Fatalf("Section(%v, %q) = %d+%d outside the message", path, spec, off, n)
		}
	}
}

func TestSection(t *testing.T) {
	tests := []struct {
		msg  string
		path []int
		spec string
		want string
		err  error
	}{
		// A single-part message: part 1 is its body, MIME its header.
		{msg: "plain", path: nil, spec: "TEXT", want: "Are you free for lunch tomorrow?\r\n\r\nAlice\r\n"},
		{msg: "plain", path: []int{1}, want: "Are you free for lunch tomorrow?\r\n\r\nAlice\r\n"},
		{msg: "plain", path: []int{1}, spec: "MIME", want: string(corpusMsg("plain").raw()[:bytes.Index(corpusMsg("plain").raw(), []byte("\r\n\r\n"))+4])},
		{msg: "plain", path: []int{2}, err: ErrNoSection},
		{msg: "plain", path: []int{1, 1}, err: ErrNoSection},
		{msg: "plain", path: []int{0}, err: ErrNoSection},
		{msg: "plain", path: nil, spec: "MIME", err: ErrBadSpec},
		{msg: "plain", path: []int{1}, spec: "HEADER", err: ErrNotMessage},
		{msg: "plain", path: nil, spec: "BOGUS", err: ErrBadSpec},
		// Multipart parts: the CRLF before a boundary is not the part's.
		{msg: "alternative", path: []int{2}, want: "<html><body><p>=C3=9Cberraschung!</p></body></html>\r\n"},
		{msg: "alternative", path: []int{2}, spec: "mime", want: "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"},
		{msg: "alternative", path: []int{3}, err: ErrNoSection},
		{msg: "mixed-attachments", path: []int{1}, want: "See attached.\r\n"},
		{msg: "mixed-attachments", path: []int{2}, want: "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\neJwr5HIK4TI2UzA=\r\n"},
		{msg: "mixed-attachments", path: []int{4}, want: "iVBORw0KGgo="},
		{msg: "mixed-attachments", path: []int{3}, spec: "MIME", want: "Content-Type: message/rfc822\r\n\r\n"},
		// A message/rfc822 part: HEADER and TEXT are its message's; its
		// part numbers are those of its message.
		{msg: "mixed-attachments", path: []int{3}, spec: "HEADER", want: "Date: Mon, 1 Jan 2024 09:00:00 +0200\r\nFrom: Frank <frank@example.org>\r\nTo: carol@example.net\r\nSubject: Original\r\nMessage-ID: <orig@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n"},
		{msg: "mixed-attachments", path: []int{3}, spec: "TEXT", want: "--inner\r\nContent-Type: text/plain\r\n\r\nHello Carol.\r\n\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>Hello Carol.</p>\r\n\r\n--inner--\r\n"},
		{msg: "mixed-attachments", path: []int{3, 1}, want: "Hello Carol.\r\n"},
		{msg: "mixed-attachments", path: []int{3, 2}, spec: "MIME", want: "Content-Type: text/html\r\n\r\n"},
		{msg: "mixed-attachments", path: []int{3, 3}, err: ErrNoSection},
		{msg: "mixed-attachments", path: []int{3, 1}, spec: "TEXT", err: ErrNotMessage},
		// A top-level message/rfc822: part 1 is the message, 1.1 its body.
		{msg: "rfc822-top", path: []int{1}, spec: "HEADER", want: "From: inner@example.com\r\nSubject: the inner one\r\nDate: 1 Feb 2023 00:00 GMT\r\n\r\n"},
		{msg: "rfc822-top", path: []int{1, 1}, want: "inner body\r\n"},
		{msg: "rfc822-top", path: []int{1, 1}, spec: "MIME", want: "From: inner@example.com\r\nSubject: the inner one\r\nDate: 1 Feb 2023 00:00 GMT\r\n\r\n"},
		{msg: "nested-rfc822-rfc822", path: []int{1, 1, 1}, want: "deepest"},
		{msg: "nested-rfc822-rfc822", path: []int{1, 1}, spec: "HEADER", want: "From: c@example.com\r\nSubject: level 2\r\n\r\n"},
		{msg: "digest", path: []int{1, 1}, want: "first message\r\n"},
		{msg: "digest", path: []int{2}, want: "not a message\r\n"},
		// Broken structures.
		{msg: "no-body", path: nil, spec: "HEADER", want: "From: nobody@example.com\r\nSubject: header only, no blank line"},
		{msg: "no-body", path: nil, spec: "TEXT", want: ""},
		{msg: "no-body", path: []int{1}, want: ""},
		{msg: "empty", path: nil, want: ""},
		{msg: "empty", path: []int{1}, spec: "MIME", want: ""},
		{msg: "missing-final-boundary", path: []int{2}, want: "second, and the message was cut here\r\n"},
		{msg: "inner-unclosed", path: []int{1, 1}, want: "never closed"},
		{msg: "inner-unclosed", path: []int{2}, want: "after"},
		{msg: "boundary-prefix", path: []int{1, 2}, want: "<b>inner</b>"},
		{msg: "boundary-prefix", path: []int{2}, want: "outer second"},
		{msg: "header-cut-by-boundary", path: []int{1}, spec: "MIME", want: "Content-Type: text/plain\r\nX-No-Blank-Line: true"},
		{msg: "header-cut-by-boundary", path: []int{1}, want: ""},
		{msg: "header-cut-by-boundary", path: []int{2}, want: "ok"},
		{msg: "multipart-no-parts", path: []int{1}, want: ""},
		{msg: "multipart-no-boundary", path: []int{1}, want: ""},
		{msg: "preamble-epilogue", path: []int{1}, want: "body"},
		{msg: "lf-only", path: []int{1}, want: "line one\nline two"},
		{msg: "lf-only", path: []int{2}, spec: "MIME", want: "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"},
	}
	for _, tc := range tests {
		name := tc.msg + "/" + partString(tc.path) + "." + tc.spec
		t.Run(name, func(t *testing.T) {
			raw := corpusMsg(tc.msg).raw()
			c := Parse(raw)
			off, n, err := c.Section(tc.path, tc.spec)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(raw[off : off+n]); got != tc.want {
				t.Errorf("section\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSectionWholeMessage(t *testing.T) {
	for _, m := range corpus() {
		raw := m.raw()
		c := Parse(raw)
		off, n, err := c.Section(nil, "")
		if err != nil || off != 0 || n != int64(len(raw)) {
			t.Errorf("%s: BODY[] = %d+%d, %v", m.name, off, n, err)
		}
		off, n, err = c.Section(nil, "HEADER")
		if err != nil || !bytes.Equal(raw[off:off+n], c.RawHeader) {
			t.Errorf("%s: BODY[HEADER] = %d+%d, %v", m.name, off, n, err)
		}
		off2, n2, _ := c.Section(nil, "TEXT")
		if off2 != n || off2+n2 != int64(len(raw)) {
			t.Errorf("%s: HEADER %d+%d and TEXT %d+%d do not make the message", m.name, off, n, off2, n2)
		}
	}
}

func TestPart(t *testing.T) {
	c := Parse(corpusMsg("mixed-attachments").raw())
	p, err := c.Part([]int{3, 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.MediaType() != "text/html" {
		t.Errorf("3.2 is %s", p.MediaType())
	}
	p, err = c.Part([]int{2})
	if err != nil {
		t.Fatal(err)
	}
	if p.BinarySize != 59 || !p.Disposition.Valid || p.Disposition.Value != "attachment" {
		t.Errorf("part 2: BinarySize %d, disposition %v", p.BinarySize, p.Disposition)
	}
	if fn, _ := paramValue(p.DispositionParams, "FILENAME"); fn != "report.pdf" {
		t.Errorf("filename %q", fn)
	}
	if _, err := c.Part([]int{9}); !errors.Is(err, ErrNoSection) || !strings.Contains(err.Error(), "part 9") {
		t.Errorf("Part(9) error %v", err)
	}
}

func TestLimits(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		raw := []byte(strings.ReplaceAll(deepNesting(MaxDepth+6), "\n", "\r\n"))
		c := Parse(raw)
		checkInvariants(t, c, raw)
		p := &c.Body
		depth := 0
		for p.IsMultipart() {
			if len(p.Parts) != 1 {
				t.Fatalf("depth %d: %d parts", depth, len(p.Parts))
			}
			p = &p.Parts[0]
			depth++
		}
		if depth != MaxDepth || p.MediaType() != "application/octet-stream" {
			t.Fatalf("deepest part at depth %d is %s, want depth %d application/octet-stream", depth, p.MediaType(), MaxDepth)
		}
		if !bytes.Contains(raw[p.BodyStart:p.BodyEnd], []byte("bottom")) {
			t.Errorf("flattened part does not hold the deeper parts")
		}
	})
	t.Run("rfc822-depth", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i < MaxDepth+10; i++ {
			b.WriteString("Subject: level\r\nContent-Type: message/rfc822\r\n\r\n")
		}
		b.WriteString("Subject: bottom\r\n\r\nbody\r\n")
		raw := []byte(b.String())
		c := Parse(raw)
		checkInvariants(t, c, raw)
	})
	t.Run("parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for i := 0; i < MaxParts+100; i++ {
			b.WriteString("--x\r\n\r\np\r\n")
		}
		b.WriteString("--x--\r\n")
		raw := []byte(b.String())
		c := Parse(raw)
		checkInvariants(t, c, raw)
		if len(c.Body.Parts) != MaxParts-1 {
			t.Errorf("%d parts recorded, want %d", len(c.Body.Parts), MaxParts-1)
		}
		if c.Body.BodyEnd != int64(len(raw)) {
			t.Errorf("multipart does not reach the end")
		}
	})
	t.Run("addresses", func(t *testing.T) {
		raw := []byte("To: " + strings.Repeat("a@b, ", MaxAddresses+10) + "\r\n\r\n")
		c := Parse(raw)
		if len(c.Envelope.To) != MaxAddresses {
			t.Errorf("%d addresses, want %d", len(c.Envelope.To), MaxAddresses)
		}
		// Groups cut at the limit stay balanced.
		for _, pre := range []int{0, 1, 2, 3} {
			raw = []byte("To: " + strings.Repeat("a@b, ", MaxAddresses-pre) + strings.Repeat("g: c@d, e@f;, ", 3) + "\r\n\r\n")
			l := Parse(raw).Envelope.To
			open := 0
			for _, a := range l {
				switch {
				case a.IsGroupStart():
					open++
				case a.IsGroupEnd():
					open--
				}
			}
			if open != 0 || len(l) > MaxAddresses {
				t.Errorf("%d before the groups: %d entries, %d groups left open", MaxAddresses-pre, len(l), open)
			}
		}
	})
}

func TestParseReaderAt(t *testing.T) {
	raw := corpusMsg("mixed-attachments").raw()
	c, err := ParseReaderAt(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Parse(raw)) {
		t.Errorf("ParseReaderAt and Parse differ")
	}
	if _, err := ParseReaderAt(bytes.NewReader(raw[:10]), int64(len(raw))); err == nil {
		t.Errorf("short read not reported")
	}
}

func TestParseDoesNotKeepInput(t *testing.T) {
	raw := corpusMsg("mixed-attachments").raw()
	c := Parse(raw)
	want := imapString(envTree(&c.Envelope)) + imapString(bsTree(&c.Body, true)) + string(c.RawHeader)
	for i := range raw {
		raw[i] = 'x'
	}
	if got := imapString(envTree(&c.Envelope)) + imapString(bsTree(&c.Body, true)) + string(c.RawHeader); got != want {
		t.Errorf("the cache changed with its input")
	}
}
