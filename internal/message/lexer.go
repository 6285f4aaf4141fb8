package message

// The lexical layer of RFC 5322 (atoms, quoted strings, comments, folding
// whitespace) and RFC 2045 tokens, over one unfolded header value. The
// results follow Dovecot's rfc822-parser so envelopes and body structures
// look like the ones clients already see from it:
//
//	-1 (lexErr)  syntax error at the cursor
//	 0 (lexEnd)  the value ended
//	 1 (lexMore) more input follows at the cursor

const (
	lexErr  = -1
	lexEnd  = 0
	lexMore = 1
)

// Character classes: atext (RFC 5322, plus every octet >= 0x80 for
// RFC 6532 and real-world 8-bit headers) and atext that is not an RFC 2045
// tspecial ('/', '=', '?').
const (
	cAtext   = 1 // atext but a MIME tspecial
	cToken   = 2 // atext and a MIME token character
	cAnyText = cAtext | cToken
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 0x80,
			c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] = cToken
		}
	}
	for _, c := range []byte("!#$%&'*+-^_`{|}~") {
		t[c] = cToken
	}
	for _, c := range []byte("/=?") {
		t[c] = cAtext
	}
	return t
}()

func isAtext(c byte) bool { return charClass[c]&cAnyText != 0 }
func isToken(c byte) bool { return charClass[c]&cToken != 0 }

type lexer struct {
	s []byte
	i int
	// comment holds the text of the last comment skipped.
	comment []byte
}

func (l *lexer) peek() byte {
	if l.i < len(l.s) {
		return l.s[l.i]
	}
	return 0
}

func (l *lexer) status() int {
	if l.i < len(l.s) {
		return lexMore
	}
	return lexEnd
}

// skipComment skips a (possibly nested) comment; the cursor is at '('.
func (l *lexer) skipComment() int {
	l.comment = l.comment[:0]
	l.i++
	start, level := l.i, 1
	for ; l.i < len(l.s); l.i++ {
		switch l.s[l.i] {
		case '(':
			level++
		case ')':
			level--
			if level == 0 {
				l.comment = append(l.comment, l.s[start:l.i]...)
				l.i++
				return l.status()
			}
		case '\\':
			l.comment = append(l.comment, l.s[start:l.i]...)
			l.i++
			start = l.i
			if l.i >= len(l.s) {
				return lexErr
			}
		}
	}
	return lexErr // unterminated comment
}

// skipCFWS skips whitespace, line ends and comments.
func (l *lexer) skipCFWS() int {
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case ' ', '\t', '\r', '\n':
			l.i++
		case '(':
			if l.skipComment() < 0 {
				return lexErr
			}
		default:
			return lexMore
		}
	}
	return lexEnd
}

// atom appends one atom to dst.
func (l *lexer) atom(dst *[]byte) int {
	start := l.i
	for l.i < len(l.s) && isAtext(l.s[l.i]) {
		l.i++
	}
	if l.i == start {
		return lexErr
	}
	*dst = append(*dst, l.s[start:l.i]...)
	return l.skipCFWS()
}

// dotAtom appends a dot-atom (a domain) to dst, allowing CFWS around the
// dots as RFC 822 did. Empty labels ("a..b", "a.") are errors.
func (l *lexer) dotAtom(dst *[]byte) int {
	for {
		start := l.i
		for l.i < len(l.s) && isAtext(l.s[l.i]) {
			l.i++
		}
		if l.i == start {
			return lexErr
		}
		*dst = append(*dst, l.s[start:l.i]...)
		if ret := l.skipCFWS(); ret <= 0 {
			return ret
		}
		if l.s[l.i] != '.' {
			return lexMore
		}
		l.i++
		*dst = append(*dst, '.')
		if l.skipCFWS() <= 0 {
			return lexErr
		}
	}
}

// localDotAtom appends an unquoted local part to dst. Dots are taken as
// they come ("foo.", "a..b", ".x" are in real use), as Dovecot takes them.
func (l *lexer) localDotAtom(dst *[]byte) int {
	ret := lexErr
	for {
		for l.i < len(l.s) && l.s[l.i] == '.' {
			*dst = append(*dst, '.')
			l.i++
			if l.i == len(l.s) {
				return lexEnd
			}
			ret = lexMore
		}
		if l.s[l.i] == '@' {
			return ret
		}
		if ret = l.atom(dst); ret <= 0 || l.s[l.i] != '.' {
			return ret
		}
	}
}

// tokenSpan reads an RFC 2045 token (plus '.', which real mail puts in
// unquoted values), possibly empty, as a sub-slice of the input.
func (l *lexer) tokenSpan() ([]byte, int) {
	start := l.i
	for l.i < len(l.s) && (isToken(l.s[l.i]) || l.s[l.i] == '.') {
		l.i++
	}
	tok := l.s[start:l.i]
	return tok, l.skipCFWS()
}

// quotedSpan is quoted, without copying when the string has no escapes
// or folding.
func (l *lexer) quotedSpan() ([]byte, int) {
	start := l.i + 1
	for i := start; i < len(l.s); i++ {
		switch l.s[i] {
		case '"':
			l.i = i + 1
			return l.s[start:i], l.skipCFWS()
		case '\\', '\n':
			var buf []byte
			return buf, l.quoted(&buf)
		}
	}
	var buf []byte
	return buf, l.quoted(&buf)
}

// quoted appends the content of a quoted string to dst, without its
// quotes, backslashes and folding line ends; the cursor is at '"'.
func (l *lexer) quoted(dst *[]byte) int {
	l.i++
	start := l.i
	for ; l.i < len(l.s); l.i++ {
		switch l.s[l.i] {
		case '"':
			*dst = append(*dst, l.s[start:l.i]...)
			l.i++
			return l.skipCFWS()
		case '\n':
			end := l.i
			if end > start && l.s[end-1] == '\r' {
				end--
			}
			*dst = append(*dst, l.s[start:end]...)
			start = l.i + 1
		case '\\':
			*dst = append(*dst, l.s[start:l.i]...)
			l.i++
			start = l.i
			if l.i >= len(l.s) {
				return lexErr
			}
		}
	}
	*dst = append(*dst, l.s[start:]...)
	return lexErr // missing closing quote
}

// atomOrDot appends a run of atext and '.' (obs-phrase) to dst.
func (l *lexer) atomOrDot(dst *[]byte) int {
	start := l.i
	for l.i < len(l.s) && (isAtext(l.s[l.i]) || l.s[l.i] == '.') {
		l.i++
	}
	*dst = append(*dst, l.s[start:l.i]...)
	return l.skipCFWS()
}

// phrase appends a phrase (words separated by one space) to dst.
func (l *lexer) phrase(dst *[]byte) int {
	if l.i >= len(l.s) {
		return lexEnd
	}
	if l.s[l.i] == '.' {
		return lexErr
	}
	for {
		var ret int
		if l.s[l.i] == '"' {
			ret = l.quoted(dst)
		} else {
			ret = l.atomOrDot(dst)
		}
		if ret <= 0 {
			return ret
		}
		c := l.s[l.i]
		if !isAtext(c) && c != '"' && c != '.' {
			return lexMore
		}
		*dst = append(*dst, ' ')
	}
}

// domainLiteral appends "[…]" to dst; the cursor is at '['.
func (l *lexer) domainLiteral(dst *[]byte) int {
	start := l.i
	for ; l.i < len(l.s); l.i++ {
		switch l.s[l.i] {
		case '\\':
			l.i++
			if l.i >= len(l.s) {
				return lexErr
			}
		case ']':
			l.i++
			*dst = append(*dst, l.s[start:l.i]...)
			return l.skipCFWS()
		}
	}
	return lexErr // missing ']'
}

// domain appends the domain after '@' to dst; the cursor is at '@'.
func (l *lexer) domain(dst *[]byte) int {
	l.i++
	if l.skipCFWS() <= 0 {
		return lexErr
	}
	if l.s[l.i] == '[' {
		return l.domainLiteral(dst)
	}
	return l.dotAtom(dst)
}
