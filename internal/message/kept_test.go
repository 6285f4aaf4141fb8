package message

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"
)

// keptFieldsOf is what a KeptFieldsOnly section must render as: the
// header's fields named in KeptFields, as stored, in order.
func keptFieldsOf(header []byte) []byte {
	var b []byte
	for pos := 0; ; {
		f, next, ok := nextField(header, pos)
		if !ok {
			return b
		}
		pos = next
		if f.name != nil && isKeptFieldBytes(f.name) {
			b = append(b, f.raw...)
		}
	}
}

// checkKept decodes rec, made from c (parsed, with its RawHeader), and
// checks that the header it keeps is exact: the whole header, or its
// KeptFields, which answer every HEADER.FIELDS of kept names as the whole
// header does.
func checkKept(t testing.TB, c *Cache, rec []byte) KeptState {
	t.Helper()
	var d Cache
	if err := d.UnmarshalBinary(rec); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	block, st := d.KeptHeader()
	switch st {
	case KeptAll:
		if !bytes.Equal(block, c.RawHeader) {
			t.Fatalf("kept header differs:\n got %q\nwant %q", block, c.RawHeader)
		}
	case KeptFieldsOnly:
		if want := keptFieldsOf(c.RawHeader); !bytes.Equal(block, want) {
			t.Fatalf("kept fields differ:\n got %q\nwant %q", block, want)
		}
		for _, names := range [][]string{
			{"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Priority", "X-Priority", "References", "Newsgroups", "In-Reply-To", "Content-Type", "Reply-To"},
			{"subject"}, {"DATE", "message-id"}, KeptFields[:],
		} {
			if got, want := FilterHeader(block, names, false), c.HeaderFields(names, false); !bytes.Equal(got, want) {
				t.Fatalf("HEADER.FIELDS %v from the kept fields:\n got %q\nwant %q", names, got, want)
			}
		}
	case KeptNone:
		if block != nil {
			t.Fatalf("KeptNone with %d octets", len(block))
		}
	}
	return st
}

// TestKeptHeader: for the corpus and thousands of generated, partly damaged
// messages, the header a record keeps is exact, and the record keeps the
// whole header whenever it fits.
func TestKeptHeader(t *testing.T) {
	var count [3]int
	check := func(name string, raw []byte) {
		c := Parse(raw)
		rec := roundTrip(t, c)
		st := checkKept(t, c, rec)
		count[st]++
		if n := len(rec) - len(withoutKept(t, rec)) + 1; st != KeptAll && len(c.RawHeader) > 0 && len(c.RawHeader) <= 200 {
			t.Errorf("%s: a header of %d octets is not kept whole (state %d, %d octets of section)", name, len(c.RawHeader), st, n)
		}
	}
	for _, m := range corpus() {
		check(m.name, m.raw())
	}
	g := &gen{r: rand.New(rand.NewSource(11)), damage: true}
	for range 3000 {
		m := g.message()
		check("generated", m)
		// The same behind a trace header too large to keep.
		check("generated with trace", append(receivedLines(g.r, 12), m...))
	}
	t.Logf("whole header kept %d, kept fields only %d, none %d", count[KeptAll], count[KeptFieldsOnly], count[KeptNone])
	if count[KeptAll] < 3000 || count[KeptFieldsOnly] == 0 {
		t.Errorf("states seen %v: the generator should make both kinds", count)
	}
}

// TestKeptHeaderTemplates: fields in the forms mail software writes take
// one octet each; anything else is kept as it is.
func TestKeptHeaderTemplates(t *testing.T) {
	for _, tc := range []struct {
		header   string
		maxOctet int // of the section, state and count included
	}{
		{"From: Alice Example <alice@example.org>\r\nTo: bob@example.com, Carol <carol@example.net>\r\n", 4},
		{"From: \"Smith, John\" <john@example.org>\r\nReply-To: \"Help Desk\" <help@example.org>\r\n", 4},
		{"Subject: Re: [list] something\r\nDate: Tue, 2 Jan 2024 10:00:00 +0100\r\nMessage-Id: <a.b@c>\r\nIn-Reply-To: <x@y>\r\n", 6},
		{"Mime-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n\tboundary=\"b1_5f2a\"\r\nContent-Transfer-Encoding: 7bit\r\n", 5},
		{"Content-Type: text/plain; charset=\"utf-8\"\r\n", 3},
		{"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n", 3},
		{"Content-Type: text/html;\r\n charset=UTF-8\r\n", 3},
		{"Cc: \"O'Brien \\\"Bob\\\"\" <bob@example.net>\r\n", 3},
	} {
		raw := []byte(tc.header + "\r\nbody\r\n")
		c := Parse(raw)
		rec := roundTrip(t, c)
		if st := checkKept(t, c, rec); st != KeptAll {
			t.Errorf("%q: state %d, want the whole header", tc.header, st)
		}
		if n := len(rec) - len(withoutKept(t, rec)) + 1; n > tc.maxOctet {
			t.Errorf("%q: %d octets of section, want at most %d", tc.header, n, tc.maxOctet)
		}
	}
	// Forms the templates do not make are kept octet for octet.
	for _, h := range []string{
		"FROM: a@b\r\n", "From:a@b\r\n", "From: a@b \r\n", "From: <a@b>\r\n", "From: a@b (Alice)\r\n",
		"To: undisclosed-recipients:;\r\n", "Subject: folded\r\n  twice\r\n", "Subject:  two spaces\r\n",
		"Date: Tue, 2 Jan 2024 10:00:00 +0100 (CET)\r\n", "Content-Type: TEXT/PLAIN\r\n",
		"Content-Type: text/plain; name*=utf-8''a%20b\r\n", "From: a@b\n", "X-Other: 1\r\n",
		"no colon here\r\n",
	} {
		raw := []byte(h + "\r\nbody\r\n")
		c := Parse(raw)
		if st := checkKept(t, c, roundTrip(t, c)); st != KeptAll {
			t.Errorf("%q: state %d, want the whole header", h, st)
		}
	}
}

// TestKeptHeaderBudget: a header too large for the record keeps its
// KeptFields, or nothing when even they are too large.
func TestKeptHeaderBudget(t *testing.T) {
	received := string(receivedLines(rand.New(rand.NewSource(1)), 10))
	common := "From: Alice <alice@example.org>\r\nSubject: hello\r\nX-Priority: 3\r\n"
	for _, tc := range []struct {
		header string
		want   KeptState
	}{
		{received + common, KeptFieldsOnly},
		{common + "References: " + strings.Repeat("<0123456789.abcdef@example.org> ", 40) + "\r\n" + received, KeptNone},
	} {
		raw := []byte(tc.header + "\r\nbody\r\n")
		c := Parse(raw)
		rec := roundTrip(t, c)
		if st := checkKept(t, c, rec); st != tc.want {
			t.Errorf("header of %d octets: state %d, want %d", len(c.RawHeader), st, tc.want)
		}
		if n := len(rec) - len(withoutKept(t, rec)) + 1; n > keptBudget {
			t.Errorf("section of %d octets, over %d", n, keptBudget)
		}
	}
}

// TestKeptHeaderCorrupt: a section that is not one is refused, and one
// whose lines do not make the header's length keeps nothing.
func TestKeptHeaderCorrupt(t *testing.T) {
	c := Parse([]byte("From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\nbody\r\n"))
	rec := roundTrip(t, c)
	at := len(withoutKept(t, rec)) - 1 // the state octet
	if rec[at] != byte(KeptAll) || rec[at+1] != 2 || rec[at+2] != 1 {
		t.Fatalf("record % x: want a whole-header section of 2 lines, From's template first", rec[at:])
	}
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"state 3", func(b []byte) []byte { b[at] = 3; return b }},
		{"template past the table", func(b []byte) []byte { b[at+2] = byte(len(lineTemplates) + 1); return b }},
		{"count past the end", func(b []byte) []byte { b[at+1] = 9; return b }},
		{"trailing octet", func(b []byte) []byte { return append(b, 0) }},
		{"cut", func(b []byte) []byte { return b[:len(b)-1] }},
	} {
		var d Cache
		if err := d.UnmarshalBinary(tc.edit(bytes.Clone(rec))); err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
	}
	// The Subject line replaced by the To template: the lines no longer
	// add up to the header's length.
	b := bytes.Clone(rec)
	b = append(b[:at+3], 7) // To, which this message has not: renders nothing
	var d Cache
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatalf("structurally sound section refused: %v", err)
	}
	if block, st := d.KeptHeader(); st != KeptNone || block != nil {
		t.Errorf("inconsistent section: state %d, %q", st, block)
	}
	if err := d.UnmarshalBinary(append(bytes.Clone(rec[:at]), 2, 1, 0, 2, 'x')); err != nil {
		t.Fatal(err)
	}
	if _, st := d.KeptHeader(); st != KeptNone {
		t.Errorf("a section shorter than the header: state %d", st)
	}
	if !errors.Is(func() error { var d Cache; return d.UnmarshalBinary([]byte{5}) }(), ErrVersion) {
		t.Errorf("version 5 is not ErrVersion")
	}
}

// receivedLines makes n trace fields, each different from the others.
func receivedLines(r *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		b = fmt.Appendf(b, "Received: from mx%d.example.net (mx.example.net [192.0.2.%d]) by mail.example.org with ESMTPS id %x; Tue, 2 Jan 2024 10:00:%02d +0100\r\n",
			r.Intn(100), r.Intn(256), r.Int63(), r.Intn(60))
	}
	return b
}

// TestKeptHeaderBounded: a record whose section names the same long line
// template many times renders no more than the header's length (a hostile
// record cannot make KeptHeader allocate much more than its header), and
// a header of many repeated address fields (which the envelope joins into
// one long list) is encoded with each line's rendering bounded by the
// line.
func TestKeptHeaderBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("To: ")
	for i := range 3000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "user%d@example.org", i)
	}
	b.WriteString("\r\nSubject: many\r\n\r\nbody\r\n")
	c := Parse([]byte(b.String()))
	rec := roundTrip(t, c)
	if st := checkKept(t, c, rec); st != KeptAll {
		t.Fatalf("state %d, want the whole header (its To line is the envelope's)", st)
	}
	at := len(withoutKept(t, rec)) - 1
	toTemplate := byte(7) // "To: ", names quoted when needed
	if rec[at+2] != toTemplate {
		t.Fatalf("section % x: want the To template first", rec[at:])
	}
	hostile := append(bytes.Clone(rec[:at]), byte(KeptAll), 0xe8, 0x07) // 1000 lines
	for range 1000 {
		hostile = append(hostile, toTemplate)
	}
	var d Cache
	if err := d.UnmarshalBinary(hostile); err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	block, st := d.KeptHeader()
	runtime.ReadMemStats(&m1)
	if st != KeptNone || block != nil {
		t.Errorf("1000 To lines for a header of one: state %d, %d octets", st, len(block))
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 8*uint64(c.HeaderLen())+1<<20 {
		t.Errorf("rendering allocated %d bytes for a header of %d", alloc, c.HeaderLen())
	}

	// 20,000 To fields of one address each: the envelope list holds the
	// first MaxAddresses of them, and no line is its template.
	b.Reset()
	for i := range 20000 {
		fmt.Fprintf(&b, "To: u%d@example.org\r\n", i)
	}
	b.WriteString("\r\nbody\r\n")
	c = Parse([]byte(b.String()))
	if st := checkKept(t, c, roundTrip(t, c)); st != KeptFieldsOnly && st != KeptNone {
		t.Errorf("20,000 To fields: state %d", st)
	}
}
