package pop3

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want Command
		err  error
	}{
		{"STAT\r\n", Command{Name: "STAT"}, nil},
		{"stat\r\n", Command{Name: "STAT"}, nil},
		{"StAt", Command{Name: "STAT"}, nil},
		{"STAT \r\n", Command{Name: "STAT"}, nil},
		{"LIST\n", Command{Name: "LIST"}, nil},
		{"LIST 12\r\n", Command{Name: "LIST", Args: []string{"12"}}, nil},
		{"uidl 3", Command{Name: "UIDL", Args: []string{"3"}}, nil},
		{"TOP 1 0", Command{Name: "TOP", Args: []string{"1", "0"}}, nil},
		{"TOP  1   10 ", Command{Name: "TOP", Args: []string{"1", "10"}}, nil},
		{"USER alice@example.org", Command{Name: "USER", Args: []string{"alice@example.org"}}, nil},
		{"PASS secret with  spaces \r\n", Command{Name: "PASS", Args: []string{"secret with  spaces "}}, nil},
		{"PASS  x", Command{Name: "PASS", Args: []string{" x"}}, nil},
		{"AUTH", Command{Name: "AUTH"}, nil},
		{"AUTH PLAIN", Command{Name: "AUTH", Args: []string{"PLAIN"}}, nil},
		{"AUTH PLAIN " + strings.Repeat("QUFB", 40), Command{Name: "AUTH", Args: []string{"PLAIN", strings.Repeat("QUFB", 40)}}, nil},
		{"CAPA", Command{Name: "CAPA"}, nil},
		{"QUIT\r\n", Command{Name: "QUIT"}, nil},

		{"", Command{}, ErrEmpty},
		{"\r\n", Command{}, ErrEmpty},
		{"   \r\n", Command{}, ErrEmpty},
		{"XYZZY\r\n", Command{Name: "XYZZ"}, ErrUnknown},
		{"FOO\r\n", Command{Name: "FOO"}, ErrUnknown},
		{"ST\r\n", Command{Name: "ST"}, ErrUnknown},
		{"ST4T\r\n", Command{Name: "ST4T"}, ErrUnknown},
		{" STAT\r\n", Command{Name: ""}, ErrUnknown},
		{"STAT 1", Command{Name: "STAT", Args: []string{"1"}}, ErrSyntax},
		{"RETR", Command{Name: "RETR"}, ErrSyntax},
		{"RETR x", Command{Name: "RETR", Args: []string{"x"}}, ErrSyntax},
		{"RETR -1", Command{Name: "RETR", Args: []string{"-1"}}, ErrSyntax},
		{"RETR +1", Command{Name: "RETR", Args: []string{"+1"}}, ErrSyntax},
		{"RETR 12345678901", Command{Name: "RETR", Args: []string{"12345678901"}}, ErrSyntax},
		{"TOP 1", Command{Name: "TOP", Args: []string{"1"}}, ErrSyntax},
		{"DELE 1 2", Command{Name: "DELE", Args: []string{"1", "2"}}, ErrSyntax},
		{"PASS", Command{Name: "PASS"}, ErrSyntax},
		{"PASS ", Command{Name: "PASS"}, ErrSyntax},
		{"USER a\x00b", Command{}, ErrSyntax},
		{"STAT\rX\r\n", Command{}, ErrSyntax},
		{"USER " + strings.Repeat("a", 41), Command{Name: "USER", Args: []string{strings.Repeat("a", 41)}}, ErrSyntax},
		{"NOOP " + strings.Repeat("a", 300), Command{}, ErrTooLong},
	}
	for _, tt := range tests {
		got, err := ParseCommand([]byte(tt.line))
		if !errors.Is(err, tt.err) || tt.err == nil && err != nil {
			t.Errorf("ParseCommand(%q) error %v, want %v", tt.line, err, tt.err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCommand(%q) = %#v, want %#v", tt.line, got, tt.want)
		}
	}
}

func TestParseCommandLength(t *testing.T) {
	// 255 octets with the CRLF is the longest line (RFC 2449 section 4).
	ok := "PASS " + strings.Repeat("p", MaxLine-len("PASS ")-2) + "\r\n"
	if _, err := ParseCommand([]byte(ok)); err != nil {
		t.Errorf("%d-octet line: %v", len(ok), err)
	}
	long := "PASS " + strings.Repeat("p", MaxLine-len("PASS ")-1) + "\r\n"
	if _, err := ParseCommand([]byte(long)); !errors.Is(err, ErrTooLong) {
		t.Errorf("%d-octet line: %v, want ErrTooLong", len(long), err)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"STAT\r\n", "LIST 1\r\n", "TOP 1 10\r\n", "PASS a b c\r\n", "USER x\r\n",
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "uidl\n", "RETR 99999999999\r\n",
		"\r\n", "\x00", "QUIT", "dele 01\r\n", "NOOP\t\r\n", "\xff\xfe\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := ParseCommand(line)
		if len(line) > MaxLine && !errors.Is(err, ErrTooLong) {
			t.Fatalf("line of %d octets accepted", len(line))
		}
		if !utf8.ValidString(cmd.Name) && err == nil {
			t.Fatalf("invalid UTF-8 name %q", cmd.Name)
		}
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnknown) {
				t.Fatalf("error %v wraps none of the parse errors", err)
			}
			if errText := errorText(err); strings.ContainsAny(errText, "\r\n") {
				t.Fatalf("error text %q has a line end", errText)
			}
			return
		}
		spec, ok := commands[cmd.Name]
		if !ok {
			t.Fatalf("unknown command %q accepted", cmd.Name)
		}
		if len(cmd.Args) < spec.min || len(cmd.Args) > spec.max {
			t.Fatalf("%s with %d arguments accepted", cmd.Name, len(cmd.Args))
		}
		for _, a := range cmd.Args {
			if strings.ContainsAny(a, "\r\n\x00") {
				t.Fatalf("argument %q has a control character", a)
			}
			if spec.numeric && !isNumber(a) {
				t.Fatalf("%s argument %q is not a number", cmd.Name, a)
			}
			if cmd.Name != "PASS" && (a == "" || strings.ContainsAny(a, " \t")) {
				t.Fatalf("%s argument %q is empty or has a space", cmd.Name, a)
			}
		}
		// Parsing is a function of the line: the same line with CRLF, LF or
		// nothing at the end gives the same command.
		body := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		for _, v := range []string{body, body + "\n", body + "\r\n"} {
			if len(v) > MaxLine {
				continue
			}
			again, err := ParseCommand([]byte(v))
			if err != nil || !reflect.DeepEqual(again, cmd) {
				t.Fatalf("%q parses as %#v, %v; %q as %#v", v, again, err, line, cmd)
			}
		}
	})
}
