package message

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// benchMessage is a typical multipart/mixed message of about size octets:
// a realistic header (Received chain, DKIM), a multipart/alternative with
// quoted-printable text and HTML, and a base64 attachment taking the rest.
func benchMessage(size int) []byte {
	var b strings.Builder
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n\tby mail.example.com with ESMTPS id 4T%dXk; Tue, 2 Jan 2024 10:00:0%d +0000\r\n", i, i, i, i, i)
	}
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=sel;\r\n" +
		"\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n" +
		"\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n")
	b.WriteString("From: \"Alice Example\" <alice@example.net>\r\n" +
		"To: Bob <bob@example.com>, carol@example.com, \"Dave, D.\" <dave@example.org>\r\n" +
		"Cc: team:eve@example.com, frank@example.com;\r\n" +
		"Subject: =?UTF-8?Q?Quarterly_report_=E2=80=94_draft?=\r\n" +
		"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n" +
		"Message-ID: <20240102100000.1234@example.net>\r\n" +
		"In-Reply-To: <20231231.5678@example.com>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"----=_Part_1_1234567890.1700000000000\"\r\n\r\n")
	b.WriteString("This is a multi-part message in MIME format.\r\n\r\n" +
		"------=_Part_1_1234567890.1700000000000\r\n" +
		"Content-Type: multipart/alternative; boundary=\"----=_Part_2_987654321.1700000000001\"\r\n\r\n" +
		"------=_Part_2_987654321.1700000000001\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for i := 0; i < 8; i++ {
		b.WriteString("Hello Bob, here is the quarterly report draft =E2=80=94 please have a lo=\r\nok before Friday.\r\n")
	}
	b.WriteString("\r\n------=_Part_2_987654321.1700000000001\r\n" +
		"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>")
	for i := 0; i < 8; i++ {
		b.WriteString("<p>Hello Bob, here is the quarterly report draft =E2=80=94 please have a look.</p>\r\n")
	}
	b.WriteString("</body></html>\r\n------=_Part_2_987654321.1700000000001--\r\n\r\n" +
		"------=_Part_1_1234567890.1700000000000\r\n" +
		"Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n")
	rest := size - b.Len() - 60
	data := make([]byte, rest*57/78) // 57 octets make a 76-character line and CRLF
	rand.New(rand.NewSource(1)).Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n------=_Part_1_1234567890.1700000000000--\r\n")
	return []byte(b.String())
}

func benchSizes() []int { return []int{4 << 10, 100 << 10} }

func BenchmarkParse(b *testing.B) {
	for _, size := range benchSizes() {
		raw := benchMessage(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				Parse(raw)
			}
		})
	}
}

func BenchmarkMarshalBinary(b *testing.B) {
	for _, size := range benchSizes() {
		c := Parse(benchMessage(size))
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				var err error
				if buf, err = c.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnmarshalBinary decodes the cache record of each message; a
// FETCH of 10,000 messages costs 10,000 of these.
func BenchmarkUnmarshalBinary(b *testing.B) {
	for _, size := range benchSizes() {
		rec, err := Parse(benchMessage(size)).MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				var c Cache
				if err := c.UnmarshalBinary(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rec)), "record-bytes")
		})
	}
}

func TestBenchMessage(t *testing.T) {
	for _, size := range benchSizes() {
		raw := benchMessage(size)
		c := Parse(raw)
		checkInvariants(t, c, raw)
		if !c.Body.IsMultipart() || len(c.Body.Parts) != 2 || len(c.Body.Parts[0].Parts) != 2 {
			t.Fatalf("%d: unexpected structure %s", size, imapString(bsTree(&c.Body, false)))
		}
		if d := len(raw) - size; d < -200 || d > 200 {
			t.Errorf("benchmark message of %d octets, want about %d", len(raw), size)
		}
	}
}
