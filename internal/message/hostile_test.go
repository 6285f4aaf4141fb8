package message

import (
	"fmt"
	"strings"
	"testing"
)

// TestHostileInputs parses and encodes inputs built to make a careless
// parser quadratic, deeply recursive or huge. There is no timing
// assertion: a regression shows as a test that does not finish.
func TestHostileInputs(t *testing.T) {
	const mb = 1 << 20
	inputs := map[string]string{
		"many addresses": "To: " + strings.Repeat("a@b, ", mb/5) + "\r\n\r\nx",
		"many groups":    "Cc: " + strings.Repeat("g:a@b;, ", mb/8) + "\r\n\r\nx",
		"nested comments": "From: " + strings.Repeat("(", mb/2) + "a@b" + strings.Repeat(")", mb/2) +
			"\r\nDate: " + strings.Repeat("(", 1000) + "\r\n\r\nx",
		"unterminated quotes": "From: " + strings.Repeat("\"a, ", mb/4) + "\r\n" +
			"Content-Type: text/plain" + strings.Repeat("; a=\"b", mb/8) + "\r\n\r\nx",
		"many delimiters": "Content-Type: multipart/mixed; boundary=x\r\n\r\n" + strings.Repeat("--x\r\n", mb/5),
		"many near-delimiters": "Content-Type: multipart/mixed; boundary=\"" + strings.Repeat("b", 5000) + "\"\r\n\r\n" +
			strings.Repeat("--"+strings.Repeat("b", 4999)+"c\r\n", 200),
		"dash lines":  "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n" + strings.Repeat("--y\r\n", mb/5),
		"deep rfc822": strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 5000) + "x",
		"deep multipart": func() string {
			var b strings.Builder
			for i := 0; i < 5000; i++ {
				b.WriteString("Content-Type: multipart/mixed; boundary=\"" + strings.Repeat("z", i%50+1) + "\"\r\n\r\n--" + strings.Repeat("z", i%50+1) + "\r\n")
			}
			return b.String()
		}(),
		// Distinct strings long enough to be looked for as references.
		"many long addresses": func() string {
			var b strings.Builder
			b.WriteString("To: ")
			for i := 0; b.Len() < mb; i++ {
				fmt.Fprintf(&b, "\"N%07d\" <m%07d@h%07d.example>, ", i, i, i)
			}
			return b.String() + "\r\n\r\nx"
		}(),
		"many header lines": strings.Repeat("X-A: b\r\n", mb/8) + "\r\nx",
		"folded forever":    "Subject: a" + strings.Repeat("\r\n b", mb/4) + "\r\n\r\nx",
		"one long line":     strings.Repeat("x", mb),
		"base64 junk":       "Content-Transfer-Encoding: base64\r\n\r\n" + strings.Repeat("QUJD=*\r\n", mb/8),
		"qp junk":           "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + strings.Repeat("=4=\r\n=ZZ \t\r\n", mb/12),
		"many params":       "Content-Type: text/plain" + strings.Repeat("; a*1*=b", mb/8) + "\r\n\r\nx",
		"many languages":    "Content-Language: " + strings.Repeat("en, ", mb/4) + "\r\n\r\nx",
		"nul bytes":         "Subject: " + strings.Repeat("\x00", 1000) + "\r\nFrom: \"\x00\" <\x00@\x00>\r\n\r\n\x00",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			raw := []byte(in)
			c := Parse(raw)
			checkInvariants(t, c, raw)
			roundTrip(t, c)
			c.HeaderFields([]string{"to", "subject"}, false)
			c.Header("from")
		})
	}
}
