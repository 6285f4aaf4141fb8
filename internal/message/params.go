package message

import (
	"sort"
	"strconv"
	"strings"
)

// Parsing of the Content-* fields. All of it is lenient: a field that
// cannot be parsed is treated as absent, never as an error.

// parseContentType parses "type/subtype *(; param)". typ is empty when
// the field has no usable type; sub is empty when the subtype is missing.
// Parameters are read even after a malformed type.
func parseContentType(v []byte) (typ, sub []byte, params []Param) {
	l := lexer{s: v}
	if l.skipCFWS() <= 0 {
		return nil, nil, nil
	}
	typ, ret := l.tokenSpan()
	if ret > 0 && l.s[l.i] == '/' {
		l.i++
		if l.skipCFWS() > 0 {
			sub, _ = l.tokenSpan()
		}
	}
	return typ, sub, parseParams(&l)
}

// parseDisposition parses "token *(; param)"; disp is empty when there is
// no token.
func parseDisposition(v []byte) (disp []byte, params []Param) {
	l := lexer{s: v}
	if l.skipCFWS() <= 0 {
		return nil, nil
	}
	disp, _ = l.tokenSpan()
	if len(disp) == 0 {
		return nil, nil
	}
	return disp, parseParams(&l)
}

// parseEncoding parses Content-Transfer-Encoding: one token and nothing
// else, or nil.
func parseEncoding(v []byte) []byte {
	l := lexer{s: v}
	if l.skipCFWS() <= 0 {
		return nil
	}
	tok, ret := l.tokenSpan()
	if ret != lexEnd || len(tok) == 0 {
		return nil
	}
	return tok
}

// parseLanguage parses Content-Language: 1#Language-tag.
func parseLanguage(v []byte) []string {
	l := lexer{s: v}
	var langs []string
	l.skipCFWS()
	for len(langs) < MaxAddresses {
		var tag []byte
		if l.atom(&tag) < 0 {
			break
		}
		langs = append(langs, intern(tag))
		if l.peek() != ',' {
			break
		}
		l.i++
		l.skipCFWS()
	}
	return langs
}

// parseParams reads *(";" attribute "=" value) from the cursor. Junk
// between parameters is skipped up to the next ';'. An unquoted value runs
// to the next ';' or white space, so the common invalid forms
// boundary=----=_Part_1 and name==?utf-8?b?…?= keep their whole value.
// RFC 2231 continuations are joined (see joinRFC2231).
func parseParams(l *lexer) []Param {
	var params []Param
	for len(params) < MaxParams-1 { // room for setMIME's default charset
		// Find the next ';'.
		for l.i < len(l.s) && l.s[l.i] != ';' {
			if l.s[l.i] == '"' {
				var discard []byte
				l.quoted(&discard)
				continue
			}
			l.i++
		}
		if l.i >= len(l.s) {
			break
		}
		l.i++
		if l.skipCFWS() <= 0 {
			break
		}
		key, ret := l.tokenSpan()
		if ret <= 0 || len(key) == 0 || l.s[l.i] != '=' {
			continue
		}
		l.i++
		var val []byte
		if l.skipCFWS() > 0 {
			if l.s[l.i] == '"' {
				if val, ret = l.quotedSpan(); ret < 0 {
					continue // unterminated: dropped, as Dovecot does
				}
			} else {
				start := l.i
				for l.i < len(l.s) {
					c := l.s[l.i]
					if c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' {
						break
					}
					l.i++
				}
				val = l.s[start:l.i]
				if l.skipCFWS() < 0 {
					continue
				}
			}
		}
		params = append(params, Param{Name: intern(key), Value: noNUL(intern(val))})
	}
	return joinRFC2231(params)
}

// rfc2231Key splits "name*", "name*N" and "name*N*" into their parts; ok
// is false for a plain name.
func rfc2231Key(k string) (base string, idx int, extended, ok bool) {
	star := strings.IndexByte(k, '*')
	if star <= 0 {
		return "", 0, false, false
	}
	base, rest := k[:star], k[star+1:]
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits > 6 {
		return "", 0, false, false
	}
	if digits > 0 {
		idx, _ = strconv.Atoi(rest[:digits])
		rest = rest[digits:]
	}
	switch rest {
	case "":
		return base, idx, digits == 0, true // "name*" is extended
	case "*":
		return base, idx, true, true
	}
	return "", 0, false, false
}

// joinRFC2231 joins RFC 2231 parameters as Dovecot does: the plain
// parameters keep their order, then come the RFC 2231 ones sorted by name.
// The segments of one name (name*0, name*1*, …) are joined into one
// parameter named "name*" with the value as sent (charset'lang'%XX, the
// '%' of non-extended segments escaped) when any segment is extended, or
// "name" otherwise; when the segment numbers are not exactly 0..n-1 the
// segments are kept as name*N / name*N* with their own values.
func joinRFC2231(params []Param) []Param {
	type seg struct {
		base     string
		idx      int
		extended bool
		value    string
	}
	n2231 := 0
	for _, p := range params {
		if strings.IndexByte(p.Name, '*') > 0 {
			n2231++
		}
	}
	if n2231 == 0 {
		return params
	}
	var segs []seg
	out := make([]Param, 0, len(params))
	for _, p := range params {
		if base, idx, ext, ok := rfc2231Key(p.Name); ok {
			segs = append(segs, seg{base, idx, ext, p.Value})
		} else {
			out = append(out, p)
		}
	}
	if len(segs) == 0 {
		return params
	}
	sort.SliceStable(segs, func(a, b int) bool {
		if segs[a].base != segs[b].base {
			return segs[a].base < segs[b].base
		}
		return segs[a].idx < segs[b].idx
	})
	for i := 0; i < len(segs); {
		j := i
		ok, ext := true, false
		for ; j < len(segs) && equalFold(segs[j].base, segs[i].base); j++ {
			if segs[j].idx != j-i {
				ok = false
			}
			ext = ext || segs[j].extended
		}
		if !ok {
			for k := i; k < j; k++ {
				name := segs[k].base + "*" + strconv.Itoa(segs[k].idx)
				if segs[k].extended {
					name += "*"
				}
				out = append(out, Param{Name: name, Value: segs[k].value})
			}
			i = j
			continue
		}
		var val strings.Builder
		if ext && !segs[i].extended {
			val.WriteString("''")
		}
		for k := i; k < j; k++ {
			if ext && !segs[k].extended {
				val.WriteString(strings.ReplaceAll(segs[k].value, "%", "%25"))
			} else {
				val.WriteString(segs[k].value)
			}
		}
		name := segs[i].base
		if ext {
			name += "*"
		}
		out = append(out, Param{Name: name, Value: val.String()})
		i = j
	}
	return out
}

// paramValue returns the value of the first parameter named name (ASCII
// case-insensitive).
func paramValue(params []Param, name string) (string, bool) {
	for _, p := range params {
		if equalFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// equalFold is ASCII-only case folding, as header and parameter names use.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y && lowerASCII(x) != lowerASCII(y) {
			return false
		}
	}
	return true
}

func equalFoldBytes(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y && lowerASCII(x) != lowerASCII(y) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// interned holds the strings most MIME headers repeat, so parsing them
// does not allocate.
var interned = func() map[string]string {
	m := make(map[string]string)
	for _, s := range []string{
		"text", "plain", "html", "enriched", "calendar", "csv", "rfc822-headers",
		"multipart", "mixed", "alternative", "related", "signed", "encrypted", "digest", "report",
		"message", "rfc822", "global", "delivery-status", "disposition-notification",
		"application", "octet-stream", "pdf", "pgp-signature", "pkcs7-signature", "pkcs7-mime",
		"x-pkcs7-signature", "zip", "ics", "json", "msword", "vnd.ms-excel",
		"image", "png", "jpeg", "jpg", "gif", "audio", "video",
		"charset", "boundary", "name", "filename", "format", "delsp", "method", "type",
		"protocol", "micalg", "size", "creation-date", "modification-date", "report-type",
		"us-ascii", "utf-8", "UTF-8", "iso-8859-1", "ISO-8859-1", "iso-8859-15", "windows-1252",
		"flowed", "fixed", "yes", "no",
		"7bit", "8bit", "binary", "base64", "quoted-printable", "7BIT", "8BIT", "BASE64",
		"QUOTED-PRINTABLE", "Base64", "Quoted-Printable",
		"attachment", "inline", "en", "en-US", "de", "fr",
		"TEXT", "PLAIN", "HTML", "MULTIPART", "MIXED", "ALTERNATIVE", "RELATED",
		"APPLICATION", "OCTET-STREAM", "IMAGE", "MESSAGE", "RFC822", "CHARSET", "BOUNDARY",
		"US-ASCII", "Us-Ascii", "Text", "Plain", "Html", "Multipart", "Mixed", "Alternative",
	} {
		m[s] = s
	}
	return m
}()

func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}
