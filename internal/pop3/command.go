package pop3

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLine is the longest command line accepted, in octets, counting the
// terminating CRLF (RFC 2449 section 4).
const MaxLine = 255

// maxArg is the longest argument of a command other than PASS and AUTH's
// initial response (RFC 2449 section 4 says 40 octets).
const maxArg = 40

// Command is one parsed command line.
type Command struct {
	// Name is the keyword in upper case, e.g. "RETR".
	Name string
	// Args are the arguments. PASS has exactly one, the rest of the line
	// after "PASS " (a password may contain spaces, RFC 1939 section 7).
	// For every other command they are the space-separated words.
	Args []string
}

// Errors of ParseCommand. Each is wrapped with a text fit for a -ERR line.
var (
	ErrEmpty   = errors.New("empty command line")
	ErrTooLong = errors.New("command line too long")
	ErrSyntax  = errors.New("syntax error")
	ErrUnknown = errors.New("unknown command")
)

// argSpec says how many arguments a command takes and whether they are
// message numbers (decimal, no sign).
type argSpec struct {
	min, max int
	numeric  bool
}

var commands = map[string]argSpec{
	"USER": {1, 1, false},
	"PASS": {1, 1, false}, // the rest of the line, see Command.Args
	"AUTH": {0, 2, false},
	"APOP": {2, 2, false}, // parsed so that it gets a clear "not supported"
	"CAPA": {0, 0, false},
	"STLS": {0, 0, false},
	"QUIT": {0, 0, false},
	"STAT": {0, 0, false},
	"LIST": {0, 1, true},
	"UIDL": {0, 1, true},
	"RETR": {1, 1, true},
	"TOP":  {2, 2, true},
	"DELE": {1, 1, true},
	"NOOP": {0, 0, false},
	"RSET": {0, 0, false},
}

// ParseCommand parses one command line, with or without its CRLF (a bare
// LF is accepted too). Keywords are case-insensitive. Arguments are
// separated by spaces (runs of spaces and trailing spaces are tolerated);
// the arguments of LIST, UIDL, RETR, TOP and DELE must be decimal numbers
// of at most 10 digits. Control characters other than the line end are
// refused, and so is a line longer than MaxLine octets. The error, when
// not nil, wraps one of ErrEmpty, ErrTooLong, ErrSyntax or ErrUnknown;
// with ErrUnknown, Name is the keyword that was not understood, upper-cased
// (cut to 4 characters).
func ParseCommand(line []byte) (Command, error) {
	if len(line) > MaxLine {
		return Command{}, fmt.Errorf("%w (over %d octets)", ErrTooLong, MaxLine)
	}
	s := string(line)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	if strings.TrimLeft(s, " ") == "" {
		return Command{}, ErrEmpty
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return Command{}, fmt.Errorf("%w: control character 0x%02x in command line", ErrSyntax, c)
		}
	}
	kw, rest := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		kw, rest = s[:i], s[i+1:]
	}
	name := strings.ToUpper(kw)
	if len(name) < 3 || len(name) > 4 || strings.IndexFunc(name, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		if len(name) > 4 {
			name = name[:4]
		}
		return Command{Name: strings.ToValidUTF8(name, "?")}, fmt.Errorf("%w: keywords are 3 or 4 letters", ErrUnknown)
	}
	spec, ok := commands[name]
	if !ok {
		return Command{Name: name}, ErrUnknown
	}
	cmd := Command{Name: name}
	if name == "PASS" {
		if rest == "" {
			return cmd, fmt.Errorf("%w: PASS needs a password", ErrSyntax)
		}
		cmd.Args = []string{rest}
		return cmd, nil
	}
	if args := strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' }); len(args) > 0 {
		cmd.Args = args
	}
	if n := len(cmd.Args); n < spec.min || n > spec.max {
		return cmd, fmt.Errorf("%w: %s takes %s", ErrSyntax, name, argCount(spec))
	}
	for _, a := range cmd.Args {
		if spec.numeric && !isNumber(a) {
			return cmd, fmt.Errorf("%w: %s takes decimal numbers", ErrSyntax, name)
		}
		if name != "AUTH" && len(a) > maxArg {
			return cmd, fmt.Errorf("%w: argument longer than %d octets", ErrSyntax, maxArg)
		}
	}
	return cmd, nil
}

func argCount(s argSpec) string {
	switch {
	case s.min == s.max && s.max == 0:
		return "no arguments"
	case s.min == s.max && s.max == 1:
		return "one argument"
	case s.min == s.max:
		return fmt.Sprintf("%d arguments", s.min)
	default:
		return fmt.Sprintf("%d to %d arguments", s.min, s.max)
	}
}

// isNumber reports whether a is 1 to 10 decimal digits.
func isNumber(a string) bool {
	if a == "" || len(a) > 10 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] < '0' || a[i] > '9' {
			return false
		}
	}
	return true
}
