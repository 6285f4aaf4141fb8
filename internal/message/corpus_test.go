package message

import (
	"fmt"
	"strings"
)

// The test corpus: real-world-shaped messages, written with "\n" and stored
// with CRLF (unless lf), as the store keeps them. Used by the table tests,
// the Dovecot differential test and as fuzz seeds.

type testMsg struct {
	name string
	text string
	lf   bool // keep bare LF line ends
}

func (m testMsg) raw() []byte {
	if m.lf {
		return []byte(m.text)
	}
	return []byte(strings.ReplaceAll(m.text, "\n", "\r\n"))
}

func corpus() []testMsg {
	msgs := []testMsg{
		{name: "plain", text: `Return-Path: <alice@example.org>
Received: from mail.example.org (mail.example.org [192.0.2.1])
	by mx.example.com with ESMTPS id 123
	for <bob@example.com>; Tue, 2 Jan 2024 10:00:00 +0100
Date: Tue, 2 Jan 2024 10:00:00 +0100
From: Alice Example <alice@example.org>
To: Bob <bob@example.com>
Subject: Lunch?
Message-ID: <1234@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Are you free for lunch tomorrow?

Alice
`},
		{name: "alternative", text: `Date: Wed, 3 Jan 2024 08:30:00 -0500
From: "Shop, Inc." <news@shop.example>
Reply-To: support@shop.example
To: customer@example.com
Subject: =?UTF-8?B?w5xiZXJyYXNjaHVuZyE=?=
Message-ID: <abc.def@shop.example>
In-Reply-To: <prev@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1_5f2a"

This is a multi-part message in MIME format.

--b1_5f2a
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

=C3=9Cberraschung! Sale today.=20
Long line that is soft=
 broken.

--b1_5f2a
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>=C3=9Cberraschung!</p></body></html>

--b1_5f2a--
`},
		{name: "mixed-attachments", text: `Date: Thu, 4 Jan 2024 12:00:00 +0000
From: Carol <carol@example.net>
Sender: list-bounces@lists.example.net
To: team@example.net, "Dave D." <dave@example.net>
Cc: eve@example.net
Bcc: boss@example.net
Subject: Report and forwarded mail
Message-ID: <r1@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset="us-ascii"

See attached.

--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"; size=40
Content-Transfer-Encoding: base64
Content-ID: <part1@example.net>
Content-Description: Quarterly report

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
eJwr5HIK4TI2UzA=

--outer
Content-Type: message/rfc822

Date: Mon, 1 Jan 2024 09:00:00 +0200
From: Frank <frank@example.org>
To: carol@example.net
Subject: Original
Message-ID: <orig@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

Hello Carol.

--inner
Content-Type: text/html

<p>Hello Carol.</p>

--inner--

--outer
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-Disposition: inline

iVBORw0KGgo=
--outer--

`},
		{name: "no-content-type", text: `From: root@localhost (Cron Daemon)
To: root@localhost
Subject: Cron <root@host> run-parts /etc/cron.daily
MIME-Version: 1.0

/etc/cron.daily/logrotate:
error: skipping "/var/log/syslog"
`},
		{name: "groups", text: `From: Announcements <announce@example.com>
To: undisclosed-recipients:;
Cc: Friends: Joe <joe@example.com>, jane@example.com;, after@example.com
Bcc: "Empty Group":;
Subject: groups
MIME-Version: 1.0

group test
`},
		{name: "encoded-words", text: `From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>
To: =?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>, "=?utf-8?q?J=C3=B6rg?=" <jorg@example.de>
Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=
 =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

caf=E9
`},
		{name: "folded-headers", text: `From: "A very long display name that someone folded"
 <folded@example.com>
To: one@example.com,
	two@example.com,
  three@example.com
Subject: This subject line is rather long and was
 folded by the sending client
	twice
Date: Fri,
 5 Jan 2024 23:59:59
 -0800
MIME-Version: 1.0
Content-Type: text/plain;
	charset="utf-8";
	format=flowed
Content-Language: en-US, de (German)

folded
`},
		{name: "lf-only", lf: true, text: `From: lf@example.com
To: lf2@example.com
Subject: bare LF
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=XYZ

--XYZ
Content-Type: text/plain

line one
line two
--XYZ
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQF
--XYZ--
`},
		{name: "no-body", text: `From: nobody@example.com
Subject: header only, no blank line`},
		{name: "empty-body", text: `From: nobody@example.com
Subject: empty body

`},
		{name: "missing-final-boundary", text: `From: trunc@example.com
Subject: truncated
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==b=="

--==b==
Content-Type: text/plain

first
--==b==
Content-Type: text/plain

second, and the message was cut here
`},
		{name: "rfc822-top", text: `From: fwd@example.com
Subject: Fwd: whole message
MIME-Version: 1.0
Content-Type: message/rfc822

From: inner@example.com
Subject: the inner one
Date: 1 Feb 2023 00:00 GMT

inner body
`},
		{name: "digest", text: `From: digest@lists.example
Subject: digest
MIME-Version: 1.0
Content-Type: multipart/digest; boundary=DD

--DD

From: a@example.com
Subject: one

first message

--DD
Content-Type: text/plain

not a message

--DD--
`},
		{name: "rfc2231", text: `From: x@example.com
Subject: 2231
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=R

--R
Content-Type: application/octet-stream;
 name*0*=utf-8''%E2%82%AC%20rates;
 name*1=".txt"
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC.txt; size=3
Content-Transfer-Encoding: base64

YWJj
--R
Content-Type: text/plain; title*1=" world"; title*0="hello"

t
--R--
`},
		{name: "broken-addresses", text: `From: undisclosed
Sender: <>
Reply-To: Name <a@b@c>, good@example.com
To: a@example.com junk, c@example.com,, "Q \"uoted\"" <q@example.com>
Cc: <@route.example,@r2.example:user@example.com>, Broken <x@
Bcc: just text (with comment), (only comment) @nodomain.example
Subject: addresses
MIME-Version: 1.0

x
`},
		{name: "boundary-prefix", text: `From: p@example.com
Subject: nested boundaries sharing a prefix
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: multipart/alternative; boundary="b-inner"

--b-inner
Content-Type: text/plain

inner plain
--b-inner
Content-Type: text/html

<b>inner</b>
--b-inner--
--b
Content-Type: text/plain

outer second
--b--
`},
		{name: "inner-unclosed", text: `From: p@example.com
Subject: inner multipart never closed
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="o"

--o
Content-Type: multipart/alternative; boundary="i"

--i
Content-Type: text/plain

never closed
--o
Content-Type: text/plain

after
--o--
epilogue text
`},
		{name: "header-cut-by-boundary", text: `From: p@example.com
Subject: a part whose header runs into the boundary
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="c"

--c
Content-Type: text/plain
X-No-Blank-Line: true
--c
Content-Type: text/plain

ok
--c--
`},
		{name: "multipart-no-parts", text: `From: p@example.com
Subject: multipart with no delimiter
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never"

just a preamble
`},
		{name: "multipart-no-boundary", text: `From: p@example.com
Subject: multipart without boundary
MIME-Version: 1.0
Content-Type: multipart/mixed

--x
Content-Type: text/plain

x
--x--
`},
		{name: "content-fields", text: `From: p@example.com
Subject: all content fields
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"; type="text/html"
Content-Language: fr
Content-Location: http://example.com/page

--rel
Content-Type: text/html; charset=iso-8859-1
Content-ID: <html@example.com>
Content-Description: the page
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Disposition: inline
Content-Language: fr, en
Content-Location: page.html
Content-Transfer-Encoding: 8bit

<img src="cid:img@example.com">
--rel
Content-Type: image/gif
Content-ID: <img@example.com>
Content-Transfer-Encoding: base64

R0lGODlhAQABAAAAACw=
--rel--
`},
		{name: "preamble-epilogue", text: `From: p@example.com
Subject: preamble and epilogue
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=PE

preamble line 1
preamble line 2
--PE
Content-Type: text/plain

body
--PE--
epilogue line 1
epilogue line 2
`},
		{name: "empty", text: ``},
		{name: "blank-line-only", text: `
body with no header
`},
		{name: "duplicate-headers", text: `From: first@example.com
From: second@example.com
Subject: first subject
Subject: second subject
Content-Type: text/html
Content-Type: text/plain
MIME-Version: 1.0

dup
`},
		{name: "8bit-header", text: "From: Jörg <jorg@example.de>\nSubject: Grüße\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\n"},
		{name: "nested-rfc822-rfc822", text: `From: a@example.com
Subject: two levels of forward
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=L1

--L1
Content-Type: message/rfc822

From: b@example.com
Subject: level 1
MIME-Version: 1.0
Content-Type: message/rfc822

From: c@example.com
Subject: level 2

deepest
--L1--
`},
		{name: "text-no-charset", text: `From: a@example.com
Subject: explicit text/html without charset
MIME-Version: 1.0
Content-Type: text/html

<p>hi</p>
`},
		{name: "type-without-subtype", text: `From: a@example.com
Subject: type only
MIME-Version: 1.0
Content-Type: text; charset=utf-8

x
`},
		{name: "date-forms", text: `From: a@example.com
Date: 5 Jan 24 3:04 EST
Subject: obsolete date

x
`},
	}
	msgs = append(msgs,
		testMsg{name: "tabs", text: "From: a@example.com\nSubject: tab\there\n\tand folded with tab\n  and two spaces\nContent-Description: d\tesc\nMIME-Version: 1.0\n\nx\n"},
		testMsg{name: "multipart-no-subtype", text: "From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart; boundary=q\n\n--q\n\nx\n--q--\n"},
		testMsg{name: "delimiter-cut-at-end", text: "From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=e\n\n--e\n\nonly part\n--e"},
		testMsg{name: "delimiter-at-end", text: "From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=e\n\n--e\n\nfirst part\n--e\n"},
		testMsg{name: "deep-nesting", text: deepNesting(MaxDepth + 6)},
	)
	return msgs
}

// deepNesting is a message with n nested multipart/mixed levels and a text
// part at the bottom.
func deepNesting(n int) string {
	var b strings.Builder
	b.WriteString("From: deep@example.com\nSubject: deep\nMIME-Version: 1.0\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"L%03d\"\n\n--L%03d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\nbottom\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--L%03d--\n", i)
	}
	return b.String()
}

func corpusMsg(name string) testMsg {
	for _, m := range corpus() {
		if m.name == name {
			return m
		}
	}
	panic("no corpus message " + name)
}
