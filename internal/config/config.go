// Package config reads ms.conf, the configuration file of M-Store.
//
// # File format
//
// ms.conf is a UTF-8 text file holding one setting per line:
//
//	# comment
//	name = value   # trailing comment
//
// Everything from a '#' to the end of its line is a comment and is dropped
// (so values cannot contain '#'). Blank lines are ignored. White space
// around names and values is trimmed; a value is everything after the
// first '='. A line that has no '=' or whose name is empty is an error, as
// is an unknown name or a name given twice. Names are case-sensitive.
// Keys that are not given keep their built-in defaults.
//
// # Keys
//
//	ms-path              Root directory of the store (default /var/md/store).
//	                     A relative path is resolved against the directory
//	                     holding the configuration file. Must not be empty.
//	runtime-user         Unix user the store runs as (default sms): letters,
//	                     digits, '_', '-' and '.', not starting with '-',
//	                     1 to 32 characters.
//	log-file-size        Size of a transaction log file (default 10M): an
//	                     integer number of bytes, optionally followed by K, M
//	                     or G (case-insensitive, powers of 1024); between 64K
//	                     and 1G inclusive.
//	checkpoint-interval  Time between checkpoints (default 60s): a Go duration
//	                     such as 90s, 5m or 1h30m (see time.ParseDuration);
//	                     must be greater than zero.
//
// # Locating the file
//
// Find picks the file named by the -f flag, else the one named by the
// MS_CONF environment variable, else DefaultPath. Only when DefaultPath is
// used and does not exist do the built-in defaults apply silently.
//
// Every error about the file's contents names the file and line, in the
// form "file:line: message", and is a *ParseError.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultPath is the configuration file used when neither -f nor $MS_CONF
// names one.
const DefaultPath = "/etc/md/store/ms.conf"

// EnvVar is the environment variable that names the configuration file when
// no -f flag is given.
const EnvVar = "MS_CONF"

// Bounds of log-file-size, in bytes.
const (
	MinLogFileSize int64 = 64 << 10
	MaxLogFileSize int64 = 1 << 30
)

// maxLineLen bounds the length of a single line of the configuration file.
const maxLineLen = 1 << 20

// Config holds the settings of ms.conf.
type Config struct {
	Source             string        // file the values came from; "" when only built-in defaults apply
	MSPath             string        // absolute
	RuntimeUser        string        // Unix user the store runs as
	LogFileSize        int64         // bytes, within [MinLogFileSize, MaxLogFileSize]
	CheckpointInterval time.Duration // > 0
	LMTPListen         string        // host:port, or unix:/path
	MaxMessageSize     int64         // bytes
	QuotaDefault       int64         // bytes a new account may hold; 0: no limit
	MailSweepGrace     time.Duration // unreferenced message files younger than this are kept
	PasswordHashCost   int           // bcrypt cost of new password hashes
	AuthCacheTTL       time.Duration // how long a successful password check is remembered (0: never)
	POP3Listen         string        // "" when off
	POP3SListen        string        // implicit TLS; "" when off
	IMAPListen         string        // "" when off
	IMAPSListen        string        // implicit TLS; "" when off
	TLSCert, TLSKey    string        // PEM files; both or neither
	AllowPlaintextAuth bool          // passwords over unencrypted non-loopback connections
	IMAPMaxSessions    int           // logged-in IMAP sessions per account
}

// Errors that a *ParseError may wrap, for use with errors.Is.
var (
	ErrSyntax       = errors.New("syntax error")
	ErrUnknownKey   = errors.New("unknown key")
	ErrDuplicateKey = errors.New("duplicate key")
)

// ParseError reports a problem at a given line of a configuration file.
type ParseError struct {
	File string // name of the file, as given to Parse or Load
	Line int    // 1-based line number
	Key  string // key concerned, if any
	Err  error  // description of the problem
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// keyDef describes one configuration key. To add a key, add a field to
// Config and an entry to keys.
type keyDef struct {
	name string
	def  string // default, in the syntax of the file
	// set parses value and stores it in c. dir is the directory holding
	// the configuration file, for resolving relative paths.
	set func(c *Config, value, dir string) error
}

// keys lists every key accepted in ms.conf, in documentation order.
var keys = []keyDef{
	{name: "ms-path", def: "/var/md/store", set: setMSPath},
	{name: "runtime-user", def: "sms", set: setRuntimeUser},
	{name: "log-file-size", def: "10M", set: setLogFileSize},
	{name: "checkpoint-interval", def: "60s", set: setCheckpointInterval},
	{name: "lmtp-listen", def: "127.0.0.1:24", set: setLMTPListen},
	{name: "max-message-size", def: "50M", set: setMaxMessageSize},
	{name: "quota-default", def: "0", set: setQuotaDefault},
	{name: "mail-sweep-grace", def: "7d", set: setMailSweepGrace},
	{name: "password-hash-cost", def: "10", set: setPasswordHashCost},
	{name: "auth-cache-ttl", def: "1h", set: setAuthCacheTTL},
	{name: "pop3-listen", def: ":110", set: listenKey(func(c *Config) *string { return &c.POP3Listen })},
	{name: "pop3s-listen", def: "", set: listenKey(func(c *Config) *string { return &c.POP3SListen })},
	{name: "imap-listen", def: ":143", set: listenKey(func(c *Config) *string { return &c.IMAPListen })},
	{name: "imaps-listen", def: "", set: listenKey(func(c *Config) *string { return &c.IMAPSListen })},
	{name: "tls-cert", def: "", set: pathKey(func(c *Config) *string { return &c.TLSCert })},
	{name: "tls-key", def: "", set: pathKey(func(c *Config) *string { return &c.TLSKey })},
	{name: "allow-plaintext-auth", def: "no", set: setAllowPlaintextAuth},
	{name: "imap-max-sessions-per-user", def: "20", set: setIMAPMaxSessions},
}

// keyIndex maps a key name to its definition.
var keyIndex = func() map[string]*keyDef {
	m := make(map[string]*keyDef, len(keys))
	for i := range keys {
		m[keys[i].name] = &keys[i]
	}
	return m
}()

// Keys returns the names of all keys accepted in ms.conf.
func Keys() []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

// Defaults returns the built-in configuration, used when no file applies.
func Defaults() *Config {
	c := &Config{}
	for _, k := range keys {
		if err := k.set(c, k.def, "/"); err != nil {
			panic(fmt.Sprintf("config: bad built-in default %s = %q: %v", k.name, k.def, err))
		}
	}
	return c
}

// Parse reads a configuration in ms.conf format from r. name is used in
// error messages, as Config.Source, and to resolve a relative ms-path
// against its directory.
func Parse(r io.Reader, name string) (*Config, error) {
	c := Defaults()
	c.Source = name
	dir := filepath.Dir(name)
	seen := make(map[string]int) // key -> line first given
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // byte order mark
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fail := func(key string, err error) error {
			return &ParseError{File: name, Line: lineNo, Key: key, Err: err}
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fail("", fmt.Errorf(`%w: missing "=" in %q`, ErrSyntax, line))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" {
			return nil, fail("", fmt.Errorf("%w: empty key name", ErrSyntax))
		}
		def, ok := keyIndex[k]
		if !ok {
			return nil, fail(k, fmt.Errorf("%w %q", ErrUnknownKey, k))
		}
		if first, dup := seen[k]; dup {
			return nil, fail(k, fmt.Errorf("%w %q (first given on line %d)", ErrDuplicateKey, k, first))
		}
		seen[k] = lineNo
		if err := def.set(c, v, dir); err != nil {
			return nil, fail(k, fmt.Errorf("%s %q: %w", k, v, err))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{File: name, Line: lineNo + 1, Err: fmt.Errorf("reading: %w", err)}
	}
	return c, nil
}

// Load reads the configuration file at path, which must exist.
func Load(path string) (*Config, error) {
	return load(path, "")
}

// load is Load; origin, if non-empty, says where path came from and is
// added to errors opening it.
func load(path, origin string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		// err is a *fs.PathError and names path.
		return nil, fmt.Errorf("reading configuration%s: %w", origin, err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Overridable in tests.
var (
	defaultPath = DefaultPath
	lookupEnv   = os.LookupEnv
)

// Find resolves which file to read and loads it: flagPath (from -f) if
// non-empty; else $MS_CONF if set and non-empty; else DefaultPath. When the
// file came from -f or $MS_CONF and does not exist, that is an error naming
// it. When it is DefaultPath and does not exist, the built-in defaults apply
// (Source "").
func Find(flagPath string) (*Config, error) {
	if flagPath != "" {
		return load(flagPath, " given by -f")
	}
	if p, ok := lookupEnv(EnvVar); ok && p != "" {
		return load(p, " given by $"+EnvVar)
	}
	c, err := load(defaultPath, "")
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
			return Defaults(), nil
		}
		return nil, err
	}
	return c, nil
}

// DatabaseHome returns <ms-path>/database.
func (c *Config) DatabaseHome() string { return filepath.Join(c.MSPath, "database") }

// DataDir returns <ms-path>/database/data.
func (c *Config) DataDir() string { return filepath.Join(c.DatabaseHome(), "data") }

// LogDir returns <ms-path>/database/transaction_log.
func (c *Config) LogDir() string { return filepath.Join(c.DatabaseHome(), "transaction_log") }

// RunDir returns <ms-path>/run.
func (c *Config) RunDir() string { return filepath.Join(c.MSPath, "run") }

// BackupDir returns <ms-path>/backup.
func (c *Config) BackupDir() string { return filepath.Join(c.MSPath, "backup") }

// MailDir returns <ms-path>/mail.
func (c *Config) MailDir() string { return filepath.Join(c.MSPath, "mail") }

// Overridable in tests.
var (
	// currentUser returns the effective uid of the process and its user
	// name ("" if unknown).
	currentUser = func() (uid int, name string) {
		uid = os.Geteuid()
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			name = u.Username
		}
		return uid, name
	}
	// lookupUID returns the uid of the named user, if it exists.
	lookupUID = func(name string) (uid int, ok bool) {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, false
		}
		uid, err = strconv.Atoi(u.Uid)
		return uid, err == nil
	}
)

// CheckInvoker returns nil when the current process runs as root (effective
// uid 0) or as the runtime user, and otherwise an error saying that tool
// must be run as one of them.
func (c *Config) CheckInvoker(tool string) error {
	uid, name := currentUser()
	return checkInvoker(tool, c.RuntimeUser, uid, name, lookupUID)
}

func checkInvoker(tool, runtimeUser string, uid int, name string, lookup func(string) (int, bool)) error {
	if uid == 0 {
		return nil
	}
	if name != "" && name == runtimeUser {
		return nil
	}
	if ruid, ok := lookup(runtimeUser); ok && ruid == uid {
		return nil
	}
	who := fmt.Sprintf("uid %d", uid)
	if name != "" {
		who = fmt.Sprintf("%q, uid %d", name, uid)
	}
	return fmt.Errorf("%s must be run as root or as the runtime user %q (running as %s)", tool, runtimeUser, who)
}

// Value parsers. Errors need not name the key or value: Parse adds them.

func setMSPath(c *Config, v, dir string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(dir, v)
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return fmt.Errorf("cannot make path absolute: %w", err)
	}
	c.MSPath = abs
	return nil
}

const maxUserNameLen = 32

func setRuntimeUser(c *Config, v, _ string) error {
	if err := checkUserName(v); err != nil {
		return err
	}
	c.RuntimeUser = v
	return nil
}

func checkUserName(v string) error {
	switch {
	case v == "":
		return errors.New("must not be empty")
	case len(v) > maxUserNameLen:
		return fmt.Errorf("too long: at most %d characters", maxUserNameLen)
	case v[0] == '-':
		return errors.New(`must not start with "-"`)
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-' || b == '.') {
			return fmt.Errorf(`invalid character %q: want letters, digits, "_", "-" or "."`, rune(b))
		}
	}
	return nil
}

func setLogFileSize(c *Config, v, _ string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	if n < MinLogFileSize || n > MaxLogFileSize {
		return fmt.Errorf("out of range: must be between 64K and 1G (%d to %d bytes)", MinLogFileSize, MaxLogFileSize)
	}
	c.LogFileSize = n
	return nil
}

// parseSize parses a non-negative integer number of bytes with an optional
// K, M or G suffix (case-insensitive, powers of 1024).
func parseSize(s string) (int64, error) {
	digits, shift := s, 0
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		}
		if shift != 0 {
			digits = s[:len(s)-1]
		}
	}
	bad := errors.New("invalid size: want an integer optionally followed by K, M or G")
	if digits == "" {
		return 0, bad
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > (1<<63-1)>>shift {
		return 0, errors.New("invalid size: too large")
	}
	return n << shift, nil
}

func setCheckpointInterval(c *Config, v, _ string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d <= 0 {
		return errors.New("must be greater than zero")
	}
	c.CheckpointInterval = d
	return nil
}

// parseDuration is time.ParseDuration that also takes whole days ("7d").
func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.Atoi(n)
		if err != nil || days > 100000 {
			return 0, errors.New("invalid duration: too many days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func setLMTPListen(c *Config, v, dir string) error {
	addr, err := listenAddress(v, dir)
	if err != nil {
		return err
	}
	c.LMTPListen = addr
	return nil
}

// listenAddress checks host:port or unix:/path (a relative socket path is
// taken relative to the configuration file's directory).
func listenAddress(v, dir string) (string, error) {
	if p, ok := strings.CutPrefix(v, "unix:"); ok {
		if p == "" {
			return "", errors.New("unix: needs a socket path")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return "unix:" + filepath.Clean(p), nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("want host:port or unix:/path: %w", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

func setMaxMessageSize(c *Config, v, _ string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	if n < 1024 || n > 2<<30 {
		return errors.New("out of range: must be between 1K and 2G")
	}
	c.MaxMessageSize = n
	return nil
}

func setQuotaDefault(c *Config, v, _ string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	c.QuotaDefault = n
	return nil
}

func setMailSweepGrace(c *Config, v, _ string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	if d < time.Hour {
		return errors.New("must be at least 1h: a message file is referenced within seconds of being written, but never remove one sooner")
	}
	c.MailSweepGrace = d
	return nil
}

func setAuthCacheTTL(c *Config, v, _ string) error {
	if v == "off" {
		c.AuthCacheTTL = 0
		return nil
	}
	d, err := parseDuration(v)
	if err != nil || d < 0 || d > 7*24*time.Hour {
		return errors.New("want a duration up to 7d (e.g. 1h), 0 or off")
	}
	c.AuthCacheTTL = d
	return nil
}

func setPasswordHashCost(c *Config, v, _ string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 4 || n > 31 {
		return errors.New("want a bcrypt cost from 4 to 31")
	}
	c.PasswordHashCost = n
	return nil
}

// listenKey parses an optional listen address ("" or "off": not listening).
func listenKey(field func(*Config) *string) func(*Config, string, string) error {
	return func(c *Config, v, dir string) error {
		if v == "" || v == "off" {
			*field(c) = ""
			return nil
		}
		addr, err := listenAddress(v, dir)
		if err != nil {
			return err
		}
		*field(c) = addr
		return nil
	}
}

// pathKey parses an optional file path, relative to the file's directory.
func pathKey(field func(*Config) *string) func(*Config, string, string) error {
	return func(c *Config, v, dir string) error {
		if v != "" && !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		*field(c) = v
		return nil
	}
}

func setAllowPlaintextAuth(c *Config, v, _ string) error {
	switch strings.ToLower(v) {
	case "yes", "true", "on":
		c.AllowPlaintextAuth = true
	case "no", "false", "off":
		c.AllowPlaintextAuth = false
	default:
		return errors.New("want yes or no")
	}
	return nil
}

func setIMAPMaxSessions(c *Config, v, _ string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return errors.New("want a number from 1 to 10000")
	}
	c.IMAPMaxSessions = n
	return nil
}
