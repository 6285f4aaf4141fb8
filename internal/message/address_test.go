package message

import (
	"net/mail"
	"testing"
)

// addressTests are address header values and the IMAP address list they
// give. Those in addressDiffers are where this package and Dovecot 2.3
// deliberately differ; the others are checked against Dovecot by
// TestDovecotAddresses.
var addressTests = []struct {
	in   string
	want string // IMAP address list; NIL for none
}{
	{"alice@example.org", `((NIL NIL "alice" "example.org"))`},
	{"Alice <alice@example.org>", `(("Alice" NIL "alice" "example.org"))`},
	{`"Doe, John" <john@example.org>`, `(("Doe, John" NIL "john" "example.org"))`},
	{`"Q \"uoted\" \\ name" <q@example.org>`, `(("Q \"uoted\" \\ name" NIL "q" "example.org"))`},
	{"john@example.org (John Doe)", `(("John Doe" NIL "john" "example.org"))`},
	{"John (middle) Doe <john@example.org>", `(("John Doe" NIL "john" "example.org"))`},
	{"<john@example.org>", `((NIL NIL "john" "example.org"))`},
	{"  a@b ,\tc@d  ", `((NIL NIL "a" "b") (NIL NIL "c" "d"))`},
	{"=?utf-8?q?J=C3=B6rg?= <j@example.de>", `(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "example.de"))`},
	{"=?utf-8?b?QQ==?=   =?utf-8?b?Qg==?= <ab@example.de>", `(("=?utf-8?b?QQ==?= =?utf-8?b?Qg==?=" NIL "ab" "example.de"))`},
	{"Jörg Müller <jm@bücher.example>", `(("Jörg Müller" NIL "jm" "bücher.example"))`},
	{`"john doe"@example.org`, `((NIL NIL "john doe" "example.org"))`},
	{"user@[192.0.2.1]", `((NIL NIL "user" "[192.0.2.1]"))`},
	{"user @ example . org", `((NIL NIL "user" "example.org"))`},
	{"first . last @ example.org", `(("first. last" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
	// Dots: lenient in the local part, strict in the domain (Dovecot).
	{"foo.@docomo.ne.jp", `((NIL NIL "foo." "docomo.ne.jp"))`},
	{".a@b", `((NIL NIL ".a" "b"))`},
	{"foo..bar@x.example", `((NIL NIL "foo..bar" "x.example"))`},
	{"y@example.", `((NIL NIL "y" "MISSING_DOMAIN"))`},
	{"y@example..com", `((NIL NIL "y" "MISSING_DOMAIN"))`},
	{"a@.b", `((NIL NIL "a" "MISSING_DOMAIN"))`},
	{"a@b. (comment)", `(("comment" NIL "a" "MISSING_DOMAIN"))`},
	{"<@a.example,@b.example:user@c.example>", `((NIL "@a.example,@b.example" "user" "c.example"))`},
	// Groups.
	{"undisclosed-recipients:;", `((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL))`},
	{"Team: a@b, Bob <c@d>;", `((NIL NIL "Team" NIL) (NIL NIL "a" "b") ("Bob" NIL "c" "d") (NIL NIL NIL NIL))`},
	{"Team: a@b, c@d;, e@f", `((NIL NIL "Team" NIL) (NIL NIL "a" "b") (NIL NIL "c" "d") (NIL NIL NIL NIL) (NIL NIL "e" "f"))`},
	{"Team: a@b", `((NIL NIL "Team" NIL) (NIL NIL "a" "b") (NIL NIL NIL NIL))`},
	{`"Empty":;`, `((NIL NIL "Empty" NIL) (NIL NIL NIL NIL))`},
	// Broken input: Dovecot's placeholders (all of these are what
	// Dovecot 2.3 answers too).
	{"undisclosed", `((NIL NIL "undisclosed" "MISSING_DOMAIN"))`},
	{"just some words", `(("just some words" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
	{"<>", `((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
	{"Name <a@b@c>", `(("Name" NIL "a" "SYNTAX_ERROR"))`},
	{"Name <a@b", `(("Name" NIL "a" "SYNTAX_ERROR"))`},
	{"Name <x@", `(("Name" NIL "x" "SYNTAX_ERROR"))`},
	{"@example.org", `((NIL NIL "MISSING_MAILBOX" "example.org"))`},
	{"x@", `((NIL NIL "x" "MISSING_DOMAIN"))`},
	{`"quoted"`, `(("quoted" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
	{"<@bad route user@example.org>", `((NIL "INVALID_ROUTE" "route" "SYNTAX_ERROR"))`},
	// Where this package goes on and Dovecot stops, or skips the empty
	// elements that Dovecot reports as MISSING_MAILBOX.
	{"a@b junk, c@d", `((NIL NIL "a" "b") (NIL NIL "c" "d"))`},
	{"a@b,, ,c@d,", `((NIL NIL "a" "b") (NIL NIL "c" "d"))`},
	{"Name <a@b@c>, d@e", `(("Name" NIL "a" "SYNTAX_ERROR") (NIL NIL "d" "e"))`},
	{`"unterminated <a@b>, c@d`, `((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
	{"(unterminated comment a@b", `NIL`},
	// Nothing.
	{"", `NIL`},
	{"   ", `NIL`},
	{"(just a comment)", `NIL`},
	{",,,", `NIL`},
	// Names are cleaned for humans; NUL is replaced.
	{"\"a\tb  c\" <x@y>", `(("a b c" NIL "x" "y"))`},
	{"\"a\x00b\" <x@y>", `(("a` + "\uFFFD" + `b" NIL "x" "y"))`},
}

var addressDiffers = map[string]bool{
	"a@b junk, c@d":     true,
	"a@b,, ,c@d,":       true,
	"Name <a@b@c>, d@e": true,
	",,,":               true,
}

func TestAddressList(t *testing.T) {
	for _, tc := range addressTests {
		got := imapString(addrsTree(appendAddressList(nil, []byte(tc.in))))
		if got != tc.want {
			t.Errorf("%q\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestAddressListMatchesNetMail checks well-formed lists against the
// standard library's RFC 5322 parser.
func TestAddressListMatchesNetMail(t *testing.T) {
	lists := []string{
		"alice@example.org",
		"Alice Example <alice@example.org>, bob@example.com",
		`"Doe, John" <john@example.org>, "Smith; Jane" <jane@example.org>`,
		"a.b.c@d.e.f, x+tag@sub.example.com",
		`"with \"escapes\"" <e@example.org>`,
		"<angle@only.example>",
	}
	for _, l := range lists {
		std, err := mail.ParseAddressList(l)
		if err != nil {
			t.Fatalf("net/mail %q: %v", l, err)
		}
		ours := appendAddressList(nil, []byte(l))
		if len(ours) != len(std) {
			t.Fatalf("%q: %d addresses, net/mail %d", l, len(ours), len(std))
		}
		for i, a := range std {
			name := ""
			if ours[i].Name.Valid {
				name = ours[i].Name.Value
			}
			if name != a.Name || ours[i].Mailbox.Value+"@"+ours[i].Host.Value != a.Address {
				t.Errorf("%q #%d: ours %q <%s@%s>, net/mail %q <%s>", l, i, name,
					ours[i].Mailbox.Value, ours[i].Host.Value, a.Name, a.Address)
			}
		}
	}
}

func TestEnvelopeDefaults(t *testing.T) {
	c := Parse([]byte("From: a@b\r\nSender:\r\nReply-To: (none)\r\nTo: c@d\r\nTo: e@f\r\n\r\n"))
	e := c.Envelope
	if imapString(addrsTree(e.Sender)) != imapString(addrsTree(e.From)) ||
		imapString(addrsTree(e.ReplyTo)) != imapString(addrsTree(e.From)) {
		t.Errorf("empty Sender/Reply-To not filled from From: %s", imapString(envTree(&e)))
	}
	if got := imapString(addrsTree(e.To)); got != `((NIL NIL "c" "d") (NIL NIL "e" "f"))` {
		t.Errorf("repeated To not joined: %s", got)
	}
	if e.Subject.Valid || e.Date.Valid || e.MessageID.Valid || e.InReplyTo.Valid || e.Cc != nil || e.Bcc != nil {
		t.Errorf("absent fields not NIL: %s", imapString(envTree(&e)))
	}
	c = Parse([]byte("Subject:\r\nMessage-ID: <a\x00b@c>\r\n\r\n"))
	if !c.Envelope.Subject.Valid || c.Envelope.Subject.Value != "" {
		t.Errorf("empty Subject is %v, want \"\"", c.Envelope.Subject)
	}
	if c.Envelope.MessageID.Value != "<a\uFFFDb@c>" {
		t.Errorf("NUL kept in Message-ID: %q", c.Envelope.MessageID.Value)
	}
	if c.Envelope.From != nil || c.Envelope.Sender != nil {
		t.Errorf("no From, but Sender %v", c.Envelope.Sender)
	}
}
