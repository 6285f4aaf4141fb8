package message

import (
	"math/rand"
	"reflect"
	"testing"
)

const foldedHeader = "Received: from a\r\n\tby b; Tue, 2 Jan 2024\r\n" +
	"From: Alice <a@example.org>\r\n" +
	"Subject: first line\r\n second line\r\n" +
	"X-Empty:\r\n" +
	"subject : lower case and space before colon\r\n" +
	"From nobody Tue Jan  2 00:00:00 2024\r\n" +
	"To: b@example.org\r\n" +
	"\r\n"

func TestHeaderFields(t *testing.T) {
	c := Parse([]byte(foldedHeader + "body\r\n"))
	tests := []struct {
		names []string
		not   bool
		want  string
	}{
		{[]string{"SUBJECT"}, false, "Subject: first line\r\n second line\r\nsubject : lower case and space before colon\r\n\r\n"},
		{[]string{"from", "to"}, false, "From: Alice <a@example.org>\r\nTo: b@example.org\r\n\r\n"},
		{[]string{"x-empty"}, false, "X-Empty:\r\n\r\n"},
		{[]string{"X-Missing"}, false, "\r\n"},
		{nil, false, "\r\n"},
		// As Dovecot: lines whose "name" is no field name are kept by NOT.
		{[]string{"Received", "Subject", "X-Empty"}, true, "From: Alice <a@example.org>\r\nFrom nobody Tue Jan  2 00:00:00 2024\r\nTo: b@example.org\r\n\r\n"},
		{nil, true, foldedHeader},
	}
	for _, tc := range tests {
		if got := string(c.HeaderFields(tc.names, tc.not)); got != tc.want {
			t.Errorf("HeaderFields(%q, %v)\n got %q\nwant %q", tc.names, tc.not, got, tc.want)
		}
	}
	// A header cut off without a line end still ends with CRLF CRLF.
	c = Parse([]byte("From: a@b\r\nSubject: no end"))
	if got := string(c.HeaderFields([]string{"subject"}, false)); got != "Subject: no end\r\n\r\n" {
		t.Errorf("unterminated field: %q", got)
	}
	c = Parse([]byte("From: a@b\r\nno colon line\r\n  continuation\r\nTo: c@d\r\n\r\nbody\r\n"))
	if got := string(c.HeaderFields([]string{"received"}, true)); got != "From: a@b\r\nno colon line\r\n  continuation\r\nTo: c@d\r\n\r\n" {
		t.Errorf("no-colon line with NOT: %q", got)
	}
	if got := string(c.HeaderFields([]string{"no colon line"}, false)); got != "\r\n" {
		t.Errorf("no-colon line matched a name: %q", got)
	}
	c = Parse([]byte("From: a@b\r\nSubject: cut\r"))
	if got := string(c.HeaderFields([]string{"subject"}, false)); got != "Subject: cut\r\r\n\r\n" {
		t.Errorf("field cut after CR: %q", got)
	}
	// LF-only messages keep their own line ends.
	c = Parse([]byte("From: a@b\nSubject: x\n y\n\nbody"))
	if got := string(c.HeaderFields([]string{"subject"}, false)); got != "Subject: x\n y\n\r\n" {
		t.Errorf("LF header: %q", got)
	}
}

func TestHeader(t *testing.T) {
	c := Parse([]byte(foldedHeader + "body\r\n"))
	tests := []struct {
		name string
		want []string
	}{
		{"subject", []string{"first line second line", "lower case and space before colon"}},
		{"Received", []string{"from a\tby b; Tue, 2 Jan 2024"}},
		{"X-EMPTY", []string{""}},
		{"from", []string{"Alice <a@example.org>"}},
		{"x-missing", nil},
	}
	for _, tc := range tests {
		if got := c.Header(tc.name); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Header(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFilterHeaderOfEncapsulatedMessage(t *testing.T) {
	raw := corpusMsg("mixed-attachments").raw()
	c := Parse(raw)
	off, n, err := c.Section([]int{3}, "HEADER.FIELDS")
	if err != nil {
		t.Fatal(err)
	}
	got := string(FilterHeader(raw[off:off+n], []string{"Subject", "From"}, false))
	if want := "From: Frank <frank@example.org>\r\nSubject: Original\r\n\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestUnfold(t *testing.T) {
	tests := []struct{ in, want string }{
		{" plain ", "plain "},
		{" a\r\n b \r\n\tc\r\n", "a b \tc"},
		{" a\n b\n", "a b"},
		{"\r\n", ""},
		{"a\r\n\r\n", "a"},
	}
	for _, tc := range tests {
		if got := string(unfold([]byte(tc.in))); got != tc.want {
			t.Errorf("unfold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestForHumans(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{" \t ", ""},
		{"plain", "plain"},
		{" a  b\t\tc ", "a b c"},
		{"a\r\n b", "a b"},
		{"a\x00b", "a\uFFFDb"},
	}
	for _, tc := range tests {
		if got := forHumans(tc.in); got != tc.want {
			t.Errorf("forHumans(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFilterHeaderOfFiltered: filtering a header to some fields and then
// to fewer gives what filtering it to those fewer gives, which is what
// lets a store keep the fields a client asked for and answer later
// requests for any of them from that (the IMAP server's header-fields
// cache). Checked on the corpus and on damaged generated messages, with
// names in other cases, repeated, and absent.
func TestFilterHeaderOfFiltered(t *testing.T) {
	headers := [][]byte{[]byte(foldedHeader)}
	for _, m := range corpus() {
		headers = append(headers, Parse(m.raw()).RawHeader)
	}
	g := &gen{r: rand.New(rand.NewSource(3)), damage: true}
	for range 300 {
		headers = append(headers, Parse(g.message()).RawHeader)
	}
	names := []string{"From", "SUBJECT", "subject", "To", "Cc", "Date", "Message-ID", "X-Empty", "Received", "Content-Type", "X-Absent", "From nobody Tue Jan  2 00"}
	r := rand.New(rand.NewSource(4))
	for i, h := range headers {
		for range 20 {
			wide := make([]string, 0, len(names))
			for _, n := range names {
				if r.Intn(2) == 0 {
					wide = append(wide, n)
				}
			}
			var narrow []string
			for _, n := range wide {
				if r.Intn(2) == 0 {
					narrow = append(narrow, n)
				}
			}
			got := FilterHeader(FilterHeader(h, wide, false), narrow, false)
			if want := FilterHeader(h, narrow, false); string(got) != string(want) {
				t.Fatalf("header %d: filtered to %q then %q = %q, want %q", i, wide, narrow, got, want)
			}
		}
	}
}
