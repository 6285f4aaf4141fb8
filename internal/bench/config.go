package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Modes.
const (
	ModeLMTP = "lmtp"
	ModeIMAP = "imap"
	ModePOP3 = "pop3"
	ModeIdle = "idle"
)

// Modes lists the modes in the order the command line shows them.
var Modes = []string{ModeLMTP, ModeIMAP, ModePOP3, ModeIdle}

// Config is one run. Zero fields of the optional kind get Defaults' values
// through Validate.
type Config struct {
	Mode        string
	Host        string
	Port        int // the port of the protocol under test
	LMTPPort    int // imap, pop3, idle: LMTP port for prefill and refill (0: none)
	Prefill     int // messages each user's INBOX is filled up to (with LMTPPort)
	Users       int // users 1..Users
	UserPattern string
	Password    string
	Concurrency int
	Duration    time.Duration
	Size        int // message size in bytes (LMTP, APPEND, prefill)
	Sessions    int // idle: sessions to hold

	// Timeout bounds the wait for each reply (default 30s).
	Timeout time.Duration
	// Grace is how long, once the run ends, sessions under way may take
	// to finish before they are cut off (default 5s).
	Grace time.Duration
	// Ready receives the idle mode's "ready N sessions" line (nil: none).
	Ready io.Writer
	// Logger gets diagnostics (nil: slog.Default()).
	Logger *slog.Logger
}

// Defaults are the command line's defaults.
var Defaults = Config{
	Host:        "127.0.0.1",
	Prefill:     20,
	Users:       100,
	UserPattern: "bench%d@example.com",
	Password:    "benchpass",
	Concurrency: 16,
	Duration:    30 * time.Second,
	Size:        4096,
	Sessions:    100,
}

// MinSize is the smallest --size: the generated headers take up to about
// 300 bytes with a long address.
const MinSize = 512

// ErrConfig marks a bad configuration (a usage error).
var ErrConfig = errors.New("bad configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Validate checks c and fills in the defaults of Timeout, Grace and Logger.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeLMTP, ModeIMAP, ModePOP3, ModeIdle:
	default:
		return configErr("mode %q: must be one of %s", c.Mode, strings.Join(Modes, ", "))
	}
	if c.Host == "" {
		return configErr("--host is empty")
	}
	if c.Port < 1 || c.Port > 65535 {
		if c.Port == 0 {
			return configErr("--port is required")
		}
		return configErr("--port %d: not a port", c.Port)
	}
	if c.LMTPPort < 0 || c.LMTPPort > 65535 {
		return configErr("--lmtp-port %d: not a port", c.LMTPPort)
	}
	if c.Prefill < 0 {
		return configErr("--prefill %d: must not be negative", c.Prefill)
	}
	if c.Users < 1 {
		return configErr("--users %d: must be at least 1", c.Users)
	}
	if err := checkPattern(c.UserPattern); err != nil {
		return err
	}
	if strings.ContainsAny(c.Password, "\r\n\x00") {
		return configErr("--password contains a line break or NUL")
	}
	if c.Concurrency < 1 {
		return configErr("--concurrency %d: must be at least 1", c.Concurrency)
	}
	if c.Duration <= 0 {
		return configErr("--duration %s: must be positive", c.Duration)
	}
	if c.Size < MinSize {
		return configErr("--size %d: must be at least %d", c.Size, MinSize)
	}
	if c.Sessions < 1 {
		return configErr("--sessions %d: must be at least 1", c.Sessions)
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// checkPattern requires exactly one integer verb and a result that can be
// an address and an IMAP/POP3 login name.
func checkPattern(p string) error {
	verbs := 0
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		i++
		if i < len(p) && p[i] == '%' {
			continue
		}
		verbs++
	}
	if verbs != 1 {
		return configErr("--user-pattern %q: needs exactly one %%d for the user number", p)
	}
	u := fmt.Sprintf(p, 1)
	if strings.Contains(u, "%!") {
		return configErr("--user-pattern %q: needs a %%d verb for the user number (gives %q)", p, u)
	}
	if u == "" || strings.ContainsAny(u, " \t\r\n\"<>\\") {
		return configErr("--user-pattern %q: gives %q, which cannot be a login name and an address", p, u)
	}
	return nil
}

// user returns the name of user i (1-based).
func (c *Config) user(i int) string { return fmt.Sprintf(c.UserPattern, i) }

func (c *Config) addr() string     { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }
func (c *Config) lmtpAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.LMTPPort)) }

// commands are the op names of a mode, in report order; extra are lines
// reported but not in the TOTAL (pop3's REFILL).
func commands(mode string) (ops []string, extra []string) {
	switch mode {
	case ModeLMTP:
		return []string{"DELIVER"}, nil
	case ModeIMAP:
		return []string{"LOGIN", "SELECT", "FETCH_ENV", "FETCH_BODY", "STORE", "SEARCH", "APPEND", "EXPUNGE", "LOGOUT"}, nil
	case ModePOP3:
		return []string{"USER", "PASS", "STAT", "UIDL", "LIST", "RETR", "DELE", "QUIT"}, []string{"REFILL"}
	case ModeIdle:
		return []string{"LOGIN", "SELECT", "IDLE", "DONE", "LOGOUT"}, nil
	}
	return nil, nil
}
