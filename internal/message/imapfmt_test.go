package message

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Test helpers: the cache as IMAP would send it, as a tree of nil (NIL),
// string, int64 and []any, and an IMAP response reader that gives the same
// tree, so results can be compared with a real server's.

func nsTree(s NString) any {
	if !s.Valid {
		return nil
	}
	return s.Value
}

func addrsTree(l []Address) any {
	if len(l) == 0 {
		return nil
	}
	out := make([]any, len(l))
	for i, a := range l {
		out[i] = []any{nsTree(a.Name), nsTree(a.ADL), nsTree(a.Mailbox), nsTree(a.Host)}
	}
	return out
}

func envTree(e *Envelope) []any {
	return []any{nsTree(e.Date), nsTree(e.Subject), addrsTree(e.From), addrsTree(e.Sender),
		addrsTree(e.ReplyTo), addrsTree(e.To), addrsTree(e.Cc), addrsTree(e.Bcc),
		nsTree(e.InReplyTo), nsTree(e.MessageID)}
}

func paramsTree(ps []Param) any {
	if len(ps) == 0 {
		return nil
	}
	var out []any
	for _, p := range ps {
		out = append(out, p.Name, p.Value)
	}
	return out
}

func dispTree(p *Part) any {
	if !p.Disposition.Valid {
		return nil
	}
	return []any{p.Disposition.Value, paramsTree(p.DispositionParams)}
}

func langTree(l []string) any {
	if len(l) == 0 {
		return nil
	}
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

// bsTree is BODYSTRUCTURE (extended) or BODY (not extended).
func bsTree(p *Part, extended bool) []any {
	var out []any
	if p.IsMultipart() {
		for i := range p.Parts {
			out = append(out, bsTree(&p.Parts[i], extended))
		}
		out = append(out, p.Subtype)
		if extended {
			out = append(out, paramsTree(p.Params), dispTree(p), langTree(p.Language), nsTree(p.Location))
		}
		return out
	}
	out = append(out, p.Type, p.Subtype, paramsTree(p.Params), nsTree(p.ID), nsTree(p.Description),
		p.Encoding, p.Size())
	switch {
	case p.Message != nil:
		out = append(out, envTree(&p.Message.Envelope), bsTree(&p.Message.Body, extended), p.Lines)
	case p.IsText():
		out = append(out, p.Lines)
	}
	if extended {
		out = append(out, nsTree(p.MD5), dispTree(p), langTree(p.Language), nsTree(p.Location))
	}
	return out
}

// imapString renders a tree in IMAP syntax (quoted strings only, for
// reading in test failures).
func imapString(v any) string {
	var b strings.Builder
	var w func(v any)
	w = func(v any) {
		switch v := v.(type) {
		case nil:
			b.WriteString("NIL")
		case string:
			b.WriteString(strconv.Quote(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case []any:
			b.WriteByte('(')
			for i, e := range v {
				if i > 0 {
					b.WriteByte(' ')
				}
				w(e)
			}
			b.WriteByte(')')
		default:
			panic(fmt.Sprintf("imapString: %T", v))
		}
	}
	w(v)
	return b.String()
}

// imapReader reads IMAP response data: atoms (NIL, numbers), quoted
// strings, literals and parenthesized lists.
type imapReader struct {
	b []byte
	i int
}

func (r *imapReader) skipSP() {
	for r.i < len(r.b) && r.b[r.i] == ' ' {
		r.i++
	}
}

func (r *imapReader) value() (any, error) {
	r.skipSP()
	if r.i >= len(r.b) {
		return nil, fmt.Errorf("unexpected end")
	}
	switch c := r.b[r.i]; c {
	case '(':
		r.i++
		list := []any{}
		for {
			r.skipSP()
			if r.i >= len(r.b) {
				return nil, fmt.Errorf("unterminated list")
			}
			if r.b[r.i] == ')' {
				r.i++
				return list, nil
			}
			v, err := r.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case '"':
		r.i++
		var s []byte
		for r.i < len(r.b) && r.b[r.i] != '"' {
			if r.b[r.i] == '\\' {
				r.i++
			}
			s = append(s, r.b[r.i])
			r.i++
		}
		r.i++
		return string(s), nil
	case '{':
		end := bytes.IndexByte(r.b[r.i:], '}')
		n, err := strconv.Atoi(string(r.b[r.i+1 : r.i+end]))
		if err != nil {
			return nil, err
		}
		r.i += end + 1
		if bytes.HasPrefix(r.b[r.i:], []byte("\r\n")) {
			r.i += 2
		}
		s := string(r.b[r.i : r.i+n])
		r.i += n
		return s, nil
	default:
		start := r.i
		for r.i < len(r.b) && r.b[r.i] != ' ' && r.b[r.i] != ')' && r.b[r.i] != '(' && r.b[r.i] != '\r' {
			if r.b[r.i] == '[' { // BODY[...] section names
				for r.i < len(r.b) && r.b[r.i] != ']' {
					r.i++
				}
			}
			r.i++
		}
		a := string(r.b[start:r.i])
		if a == "NIL" {
			return nil, nil
		}
		if n, err := strconv.ParseInt(a, 10, 64); err == nil {
			return n, nil
		}
		return a, nil
	}
}
