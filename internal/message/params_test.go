package message

import (
	"reflect"
	"testing"
)

// contentTypeTests are Content-Type values and the BODYSTRUCTURE type,
// subtype and parameters they give. Those in contentTypeDiffers are where
// this package and Dovecot 2.3 deliberately differ; TestDovecotContentTypes
// checks the others against Dovecot.
var contentTypeTests = []struct {
	in   string
	want string
}{
	{"text/plain", `("text" "plain" ("charset" "us-ascii"))`},
	{"Text/HTML; Charset=ISO-8859-1", `("Text" "HTML" ("Charset" "ISO-8859-1"))`},
	{"text/plain; CHARSET=UTF-8; Name=\"a b\"", `("text" "plain" ("CHARSET" "UTF-8" "Name" "a b"))`},
	{"text/plain; charset = \"utf-8\" ; format=flowed", `("text" "plain" ("charset" "utf-8" "format" "flowed"))`},
	{"text/plain;charset=utf-8;", `("text" "plain" ("charset" "utf-8"))`},
	{"text/plain; a=\"x\"y; b=c", `("text" "plain" ("a" "x" "b" "c" "charset" "us-ascii"))`},
	{"text/plain; a=(comment)b", `("text" "plain" ("a" "b" "charset" "us-ascii"))`},
	{"text/plain; a=", `("text" "plain" ("a" "" "charset" "us-ascii"))`},
	{"text/plain; a=b c=d", `("text" "plain" ("a" "b" "charset" "us-ascii"))`},
	{"text/plain; name==?utf-8?b?w6Q=?=", `("text" "plain" ("name" "=?utf-8?b?w6Q=?=" "charset" "us-ascii"))`},
	{"text/plain; a=\"unterminated", `("text" "plain" ("charset" "us-ascii"))`},
	{"text/plain; a=\"esc\\\"aped\"", `("text" "plain" ("a" "esc\"aped" "charset" "us-ascii"))`},
	{"image/png", `("image" "png" NIL)`},
	{"message/rfc822", `("message" "rfc822" NIL)`},
	// RFC 2231: joined, and moved after the plain parameters (Dovecot).
	{"application/x; name*0=\"a\"; name*1=\"b\"; z=1", `("application" "x" ("z" "1" "name" "ab"))`},
	{"application/x; name*1*=%41; name*0*=utf-8''%42", `("application" "x" ("name*" "utf-8''%42%41"))`},
	{"application/x; name*0=\"50%\"; name*1*=%41", `("application" "x" ("name*" "''50%25%41"))`},
	{"application/x; name*=utf-8''%41; a=b", `("application" "x" ("a" "b" "name*" "utf-8''%41"))`},
	{"application/x; name*0=a; name*2=c", `("application" "x" ("name*0" "a" "name*2" "c"))`},
	{"application/x; NAME*0=a; name*1=b", `("application" "x" ("NAME" "ab"))`},
	// Where this package keeps more than Dovecot.
	{"application/octet-stream; name=foo/bar.pdf; x=a=b", `("application" "octet-stream" ("name" "foo/bar.pdf" "x" "a=b"))`},
	{"multipart/mixed; boundary=----=_Part_0_12.34", `("multipart" "mixed" ("boundary" "----=_Part_0_12.34"))`},
	{"text/plain; junk; charset=utf-8", `("text" "plain" ("charset" "utf-8"))`},
	{"text/plain; =x; b=c", `("text" "plain" ("b" "c" "charset" "us-ascii"))`},
	{"text", `("text" "plain" ("charset" "us-ascii"))`},
	{"application", `("application" "unknown" NIL)`},
	// No usable type.
	{"", `("text" "plain" ("charset" "us-ascii"))`},
	{"/html", `("text" "plain" ("charset" "us-ascii"))`},
	{"; charset=utf-8", `("text" "plain" ("charset" "us-ascii"))`},
}

var contentTypeDiffers = map[string]bool{
	"application/octet-stream; name=foo/bar.pdf; x=a=b": true, // Dovecot: "foo", "a"
	"multipart/mixed; boundary=----=_Part_0_12.34":      true, // Dovecot: "----"
	"text/plain; junk; charset=utf-8":                   true, // Dovecot drops charset
	"text/plain; =x; b=c":                               true, // Dovecot: ("" "x")
	"text":                                              true, // Dovecot: ("" "")
	"application":                                       true, // Dovecot: ("application" "")
	"/html":                                             true, // Dovecot: ("" "")
	"":                                                  true, // Dovecot: ("" "")
	"; charset=utf-8":                                   true, // Dovecot: ("" "")
}

func typeTree(p *Part) string {
	return imapString([]any{p.Type, p.Subtype, paramsTree(p.Params)})
}

func TestContentType(t *testing.T) {
	for _, tc := range contentTypeTests {
		c := Parse([]byte("Content-Type: " + tc.in + "\r\n\r\nx\r\n"))
		if got := typeTree(&c.Body); got != tc.want {
			t.Errorf("%q\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestContentFields(t *testing.T) {
	c := Parse([]byte("Content-Type: text/plain\r\n" +
		"Content-Transfer-Encoding: Base64 (comment)\r\n" +
		"Content-Disposition: Attachment;\r\n filename=\"a.txt\"; size=3\r\n" +
		"Content-Language: en-US (English), de\r\n" +
		"Content-ID: <id@x>\r\nContent-Description: =?utf-8?q?x?=\r\n" +
		"Content-MD5: abc=\r\nContent-Location: http://x/y\r\n\r\nYWJj\r\n"))
	p := &c.Body
	if p.Encoding != "Base64" || p.BinarySize != 3 {
		t.Errorf("encoding %q, binary size %d", p.Encoding, p.BinarySize)
	}
	if got := imapString(dispTree(p)); got != `("Attachment" ("filename" "a.txt" "size" "3"))` {
		t.Errorf("disposition %s", got)
	}
	if !reflect.DeepEqual(p.Language, []string{"en-US", "de"}) {
		t.Errorf("language %q", p.Language)
	}
	if p.ID.Value != "<id@x>" || p.Description.Value != "=?utf-8?q?x?=" || p.MD5.Value != "abc=" || p.Location.Value != "http://x/y" {
		t.Errorf("fields %v %v %v %v", p.ID, p.Description, p.MD5, p.Location)
	}
	for _, v := range []string{"", "7bit garbage", "(only comment)", "a;b"} {
		c := Parse([]byte("Content-Transfer-Encoding: " + v + "\r\n\r\n"))
		if c.Body.Encoding != "7bit" {
			t.Errorf("CTE %q gives %q, want the default 7bit", v, c.Body.Encoding)
		}
	}
	c = Parse([]byte("Content-Disposition: ; filename=x\r\n\r\n"))
	if c.Body.Disposition.Valid || c.Body.DispositionParams != nil {
		t.Errorf("disposition without a value: %v %v", c.Body.Disposition, c.Body.DispositionParams)
	}
}
