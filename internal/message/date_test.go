package message

import (
	"net/mail"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339, "" for nil
	}{
		{"Tue, 2 Jan 2024 10:00:00 +0100", "2024-01-02T10:00:00+01:00"},
		{"2 Jan 2024 10:00:00 +0100", "2024-01-02T10:00:00+01:00"},
		{"Tue, 02 Jan 2024 10:00 -0930", "2024-01-02T10:00:00-09:30"},
		{"Tue, 2 Jan 24 10:00:00 GMT", "2024-01-02T10:00:00Z"},
		{"Tue, 2 Jan 99 10:00:00 GMT", "1999-01-02T10:00:00Z"},
		{"Tue, 2 Jan 124 10:00:00 GMT", "2024-01-02T10:00:00Z"},
		{"5 Jan 24 3:04 EST", "2024-01-05T03:04:00-05:00"},
		{"Fri, 5 Jan 2024 23:59:59 PDT", "2024-01-05T23:59:59-07:00"},
		{"Fri, 5 Jan 2024 23:59:59 Z", "2024-01-05T23:59:59Z"},
		{"Fri, 5 Jan 2024 23:59:59 A", "2024-01-05T23:59:59Z"},
		{"Fri, 5 Jan 2024 23:59:59 XYZT", "2024-01-05T23:59:59Z"},
		{"Fri, 5 Jan 2024 23:59:59", "2024-01-05T23:59:59Z"},
		{"Fri, 5 Jan 2024 23:59:59 +0000 (UTC)", "2024-01-05T23:59:59Z"},
		{"Fri (comment), 5 (more) January 2024 12:00:00 +0200", "2024-01-05T12:00:00+02:00"},
		{"Mon Jan  2 15:04:05 2006", "2006-01-02T15:04:05Z"},
		{"Sat, 31 Dec 2016 23:59:60 +0000", "2016-12-31T23:59:59Z"},
		{"Fri, 5 Jan 2024 23:59:59.123 +0100", "2024-01-05T23:59:59+01:00"},
		{"5 Jan 2024", "2024-01-05T00:00:00Z"},
		{"Thu, 1 Jan 1970 00:00:00 +0000", "1970-01-01T00:00:00Z"},
		// Not dates.
		{"", ""},
		{"yesterday", ""},
		{"31 Feb 2024 10:00:00 +0000", ""},
		{"5 Foo 2024 10:00:00 +0000", ""},
		{"5 Jan 2024 25:00:00 +0000", ""},
		{"5 Jan 2024 10:61:00 +0000", ""},
		{"2024-01-05T10:00:00Z", ""},
		{"0 Jan 2024", ""},
		{"5 Jan 99999", ""},
		{"5 Jan 0000", ""},
	}
	for _, tc := range tests {
		got := ""
		if d := parseDate([]byte(tc.in)); d != nil {
			got = d.Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("parseDate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParseDateMatchesNetMail checks RFC 5322 dates against the standard
// library.
func TestParseDateMatchesNetMail(t *testing.T) {
	for _, s := range []string{
		"Tue, 2 Jan 2024 10:00:00 +0100",
		"2 Jan 2024 10:00 -0700",
		"Wed, 29 Feb 2012 23:59:59 +1400",
		"Mon, 01 Jan 0001 00:00:00 +0000",
		"Fri, 31 Dec 9999 23:59:59 -1200",
	} {
		want, err := mail.ParseDate(s)
		if err != nil {
			t.Fatalf("net/mail %q: %v", s, err)
		}
		got := parseDate([]byte(s))
		if got == nil || !got.Equal(want) {
			t.Errorf("%q: got %v, net/mail %v", s, got, want)
			continue
		}
		_, off1 := got.Zone()
		_, off2 := want.Zone()
		if off1 != off2 {
			t.Errorf("%q: offset %d, net/mail %d", s, off1, off2)
		}
	}
}
