package message

// Address lists for the envelope. The grammar is RFC 5322 section 3.4 with
// its obsolete forms; the handling of broken input is Dovecot's, so clients
// see what they see from the most common IMAP server:
//
//   - a mailbox with no local part gets Mailbox "MISSING_MAILBOX", one with
//     no domain gets Host "MISSING_DOMAIN" ("To: undisclosed" becomes
//     (NIL NIL "undisclosed" "MISSING_DOMAIN"));
//   - an angle address that cannot be parsed ("Name <a@b@c>", "Name <x@")
//     gets Host "SYNTAX_ERROR", "<>" gets both placeholders, and a bad
//     source route ADL "INVALID_ROUTE";
//   - a display name is the phrase with quotes and comments removed and
//     words joined by one space, then cleaned for humans (see forHumans);
//     an addr-spec's comment ("a@b (Name)") becomes its name; words with
//     no address ("just some words") are a name with both placeholders;
//   - dots are taken as they come in a local part ("foo.@docomo.ne.jp",
//     in real use) but a domain with an empty label ("a@b.", "a@b..c") is
//     MISSING_DOMAIN;
//   - a group is parsed into start marker, members, end marker even when
//     its closing ';' is missing; a broken member does not end the group.
//
// Unlike Dovecot, empty list elements ("a@b,,c@d", allowed by obs-addr-list)
// are skipped, and after an element with trailing garbage ("a@b junk, c@d")
// parsing resumes at the next top-level comma instead of stopping, so no
// later address is lost.

const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
	syntaxError    = "SYNTAX_ERROR"
	invalidRoute   = "INVALID_ROUTE"
)

type addrParser struct {
	l       lexer
	buf     []byte
	cur     Address
	invalid bool // the current address has a syntax error
	list    []Address
	// reserve is the room kept under MaxAddresses for the end marker of
	// an open group, so that a list cut at the limit stays balanced.
	reserve int
}

// appendAddressList parses an unfolded address header value and appends
// its addresses to list.
func appendAddressList(list []Address, v []byte) []Address {
	p := addrParser{l: lexer{s: v}, list: list}
	if p.l.skipCFWS() <= 0 {
		return list
	}
	p.parseList()
	return p.list
}

func (p *addrParser) add() {
	if len(p.list) < MaxAddresses-p.reserve {
		a := p.cur
		if a.Name.Valid {
			a.Name.Value = forHumans(a.Name.Value)
		}
		a.ADL.Value = noNUL(a.ADL.Value)
		a.Mailbox.Value = noNUL(a.Mailbox.Value)
		a.Host.Value = noNUL(a.Host.Value)
		p.list = append(p.list, a)
	}
	p.cur, p.invalid = Address{}, false
}

func (p *addrParser) addFixed() {
	if !p.cur.Mailbox.Valid {
		p.cur.Mailbox = nstr(missingMailbox)
	}
	if !p.cur.Host.Valid || p.cur.Host.Value == "" {
		p.cur.Host = nstr(missingDomain)
	}
	p.add()
}

// localPart leaves the local part in p.buf too.
func (p *addrParser) localPart() int {
	p.buf = p.buf[:0]
	if p.l.i >= len(p.l.s) {
		return lexErr
	}
	var ret int
	if p.l.s[p.l.i] == '"' {
		ret = p.l.quoted(&p.buf)
	} else {
		ret = p.l.localDotAtom(&p.buf)
	}
	if ret < 0 {
		return lexErr
	}
	p.cur.Mailbox = nstr(string(p.buf))
	return ret
}

func (p *addrParser) domain() int {
	p.buf = p.buf[:0]
	ret := p.l.domain(&p.buf)
	if ret < 0 {
		return lexErr
	}
	p.cur.Host = nstr(string(p.buf))
	return ret
}

// route parses obs-domain-list: "@" domain *(*(CFWS / ",") [CFWS] "@" domain).
func (p *addrParser) route() int {
	p.buf = p.buf[:0]
	for {
		if p.l.i >= len(p.l.s) {
			return lexEnd
		}
		if p.l.s[p.l.i] != '@' {
			break
		}
		if len(p.buf) > 0 {
			p.buf = append(p.buf, ',')
		}
		p.buf = append(p.buf, '@')
		if ret := p.l.domain(&p.buf); ret <= 0 {
			return ret
		}
		for p.l.skipCFWS() > 0 && p.l.s[p.l.i] == ',' {
			p.l.i++
		}
	}
	p.cur.ADL = nstr(string(p.buf))
	return lexMore
}

// angleAddr parses "<" [route ":"] [local-part ["@" domain]] ">"; the
// cursor is at '<'.
func (p *addrParser) angleAddr() int {
	p.l.i++
	if p.l.skipCFWS() <= 0 {
		return lexErr
	}
	if p.l.s[p.l.i] == '@' {
		if p.route() > 0 && p.l.peek() == ':' {
			p.l.i++
		} else {
			p.cur.ADL = nstr(invalidRoute)
			if p.l.i >= len(p.l.s) {
				return lexErr
			}
			// Go on anyway.
		}
		if p.l.skipCFWS() <= 0 {
			return lexErr
		}
	}
	if p.l.s[p.l.i] != '>' { // "<>" has neither part
		if p.localPart() <= 0 {
			return lexErr
		}
		if p.l.s[p.l.i] == '@' {
			if p.domain() <= 0 {
				return lexErr
			}
		}
	}
	if p.l.s[p.l.i] != '>' {
		return lexErr
	}
	p.l.i++
	return p.l.skipCFWS()
}

// nameAddr parses [display-name] angle-addr; -1 means "not a name-addr"
// (nothing recorded).
func (p *addrParser) nameAddr() int {
	p.buf = p.buf[:0]
	if p.l.phrase(&p.buf) <= 0 || p.l.peek() != '<' {
		return lexErr
	}
	if len(p.buf) > 0 {
		p.cur.Name = nstr(string(p.buf))
	}
	if p.angleAddr() < 0 {
		p.cur.Host = nstr(syntaxError)
		p.invalid = true
	}
	return p.l.status()
}

// addrSpec parses local-part "@" domain; a comment in it becomes the name,
// and a word followed by more words with no '@' is a display name alone.
func (p *addrParser) addrSpec() int {
	p.l.comment = p.l.comment[:0]
	quoted := p.l.peek() == '"'
	ret, ret2 := p.localPart(), -2
	if ret <= 0 {
		p.invalid = true
	}
	if ret != lexEnd && p.l.peek() == '@' {
		ret2 = p.domain()
		if ret2 <= 0 {
			ret = ret2
		}
	}
	switch {
	case len(p.l.comment) > 0:
		p.cur.Name = nstr(string(p.l.comment))
	case ret2 == -2:
		// "user" alone is a mailbox; "user more words" a display name.
		p.buf = append(p.buf, ' ')
		n := len(p.buf)
		p.l.phrase(&p.buf)
		if len(p.buf) != n {
			p.cur.Mailbox = NString{}
			p.cur.Name = nstr(string(p.buf))
		} else if !quoted {
			p.cur.Host = nstr("")
		}
		p.invalid = true
		ret = lexErr
	}
	return ret
}

func (p *addrParser) mailbox() int {
	start := p.l.i
	ret := p.nameAddr()
	if ret < 0 {
		p.l.i = start
		p.cur, p.invalid = Address{}, false
		ret = p.addrSpec()
		if p.invalid && !p.cur.Name.Valid && p.cur.Mailbox.Valid && !p.cur.Host.Valid {
			p.cur.Name, p.cur.Mailbox = p.cur.Mailbox, NString{}
		}
	}
	p.addFixed()
	return ret
}

// group parses display-name ":" [mailbox-list / CFWS] ";"; -1 means "not a
// group" (nothing recorded).
func (p *addrParser) group() int {
	p.buf = p.buf[:0]
	if p.l.phrase(&p.buf) <= 0 || p.l.peek() != ':' {
		return lexErr
	}
	// From here on it is a group, however broken.
	p.l.i++
	ret := p.l.skipCFWS()
	p.cur.Mailbox = nstr(string(p.buf))
	started := len(p.list) < MaxAddresses-1
	if started {
		p.add()
		p.reserve = 1
	} else {
		p.cur = Address{} // no room for the group: its members may not fit either
	}

	if ret > 0 && p.l.s[p.l.i] != ';' {
		for {
			if p.skipEmpty() <= 0 {
				ret = lexErr
				break
			}
			if p.l.s[p.l.i] == ';' {
				break
			}
			p.mailbox() // a broken mailbox: go on anyway
			if p.l.peek() != ',' {
				break
			}
		}
	}
	if ret >= 0 {
		if p.l.peek() == ';' {
			p.l.i++
			ret = p.l.skipCFWS()
		} else {
			ret = lexErr
		}
	}
	p.reserve = 0
	if started {
		p.add() // end of group
	}
	p.cur, p.invalid = Address{}, false
	if ret == lexEnd {
		return lexEnd
	}
	return lexMore
}

// skipEmpty skips the commas of empty list elements (obs-addr-list,
// obs-mbox-list).
func (p *addrParser) skipEmpty() int {
	for p.l.i < len(p.l.s) && p.l.s[p.l.i] == ',' {
		p.l.i++
		if ret := p.l.skipCFWS(); ret <= 0 {
			return ret
		}
	}
	return p.l.status()
}

func (p *addrParser) address() int {
	start := p.l.i
	ret := p.group()
	if ret < 0 {
		p.l.i = start
		p.cur, p.invalid = Address{}, false
		ret = p.mailbox()
	}
	return ret
}

func (p *addrParser) parseList() {
	for len(p.list) < MaxAddresses {
		if p.skipEmpty() <= 0 {
			return
		}
		if p.address() == lexEnd {
			return
		}
		if p.l.peek() != ',' && !p.resync() {
			return
		}
	}
}

// resync moves the cursor to the next comma outside quoted strings,
// comments and angle brackets; false at the end of the value.
func (p *addrParser) resync() bool {
	s, i, angle := p.l.s, p.l.i, false
	for i < len(s) {
		switch s[i] {
		case '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
		case '(':
			p.l.i = i
			if p.l.skipComment() < 0 {
				return false
			}
			i = p.l.i
			continue
		case '<':
			angle = true
		case '>':
			angle = false
		case ',':
			if !angle {
				p.l.i = i
				return true
			}
		}
		i++
	}
	p.l.i = len(s)
	return false
}
