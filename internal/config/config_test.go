package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := Defaults()
	want := Config{
		Source:             "",
		MSPath:             "/var/md/store",
		RuntimeUser:        "sms",
		LogFileSize:        10 << 20,
		CheckpointInterval: 60 * time.Second,
		LMTPListen:         "127.0.0.1:24",
		MaxMessageSize:     50 << 20,
		MailSweepGrace:     7 * 24 * time.Hour,
		PasswordHashCost:   10,
		AuthCacheTTL:       time.Hour,
		POP3Listen:         ":110",
		IMAPListen:         ":143",
		IMAPMaxSessions:    20,
	}
	if *c != want {
		t.Errorf("Defaults() = %+v, want %+v", *c, want)
	}
	// Every key has a default, and the table and index agree.
	if len(keyIndex) != len(keys) {
		t.Errorf("keyIndex has %d entries, keys %d (duplicate name?)", len(keyIndex), len(keys))
	}
	if got := strings.Join(Keys(), ","); got != "ms-path,runtime-user,log-file-size,checkpoint-interval,lmtp-listen,max-message-size,quota-default,mail-sweep-grace,password-hash-cost,auth-cache-ttl,pop3-listen,pop3s-listen,imap-listen,imaps-listen,tls-cert,tls-key,allow-plaintext-auth,imap-max-sessions-per-user" {
		t.Errorf("Keys() = %s", got)
	}
}

func TestDirs(t *testing.T) {
	c := &Config{MSPath: "/srv/ms"}
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"DatabaseHome", c.DatabaseHome(), "/srv/ms/database"},
		{"DataDir", c.DataDir(), "/srv/ms/database/data"},
		{"LogDir", c.LogDir(), "/srv/ms/database/transaction_log"},
		{"RunDir", c.RunDir(), "/srv/ms/run"},
		{"BackupDir", c.BackupDir(), "/srv/ms/backup"},
		{"MailDir", c.MailDir(), "/srv/ms/mail"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s() = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

const confName = "/etc/md/store/ms.conf"

// TestParseValid checks files that parse; want is applied to Defaults() with
// Source set to confName.
func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  func(c *Config)
	}{
		{"empty", "", nil},
		{"only comments and blanks", "# hello\n\n   \n\t# x = y\n#\n", nil},
		{"all keys", "ms-path = /srv/ms\nruntime-user = mstore\nlog-file-size = 1G\ncheckpoint-interval = 5m\n",
			func(c *Config) {
				c.MSPath = "/srv/ms"
				c.RuntimeUser = "mstore"
				c.LogFileSize = 1 << 30
				c.CheckpointInterval = 5 * time.Minute
			}},
		{"no final newline", "runtime-user=bob", func(c *Config) { c.RuntimeUser = "bob" }},
		{"white space trimmed", "  \t runtime-user \t =   bob  \t \n", func(c *Config) { c.RuntimeUser = "bob" }},
		{"trailing comment", "runtime-user = bob # the user\n", func(c *Config) { c.RuntimeUser = "bob" }},
		{"comment right after value", "runtime-user = bob#x=y\n", func(c *Config) { c.RuntimeUser = "bob" }},
		{"CRLF", "runtime-user = bob\r\nlog-file-size = 64K\r\n", func(c *Config) {
			c.RuntimeUser = "bob"
			c.LogFileSize = 64 << 10
		}},
		{"BOM", "\uFEFFruntime-user = bob\n", func(c *Config) { c.RuntimeUser = "bob" }},
		{"value holds =", "ms-path = /a=b\n", func(c *Config) { c.MSPath = "/a=b" }},

		// ms-path
		{"ms-path cleaned", "ms-path = /srv//ms/./x/../\n", func(c *Config) { c.MSPath = "/srv/ms" }},
		{"ms-path relative", "ms-path = store\n", func(c *Config) { c.MSPath = "/etc/md/store/store" }},
		{"ms-path relative dot", "ms-path = .\n", func(c *Config) { c.MSPath = "/etc/md/store" }},
		{"ms-path relative parent", "ms-path = ../../../var/x\n", func(c *Config) { c.MSPath = "/var/x" }},
		{"ms-path with space", "ms-path = /srv/my store\n", func(c *Config) { c.MSPath = "/srv/my store" }},

		// runtime-user
		{"user with all classes", "runtime-user = a.B_c-9\n", func(c *Config) { c.RuntimeUser = "a.B_c-9" }},
		{"user 32 chars", "runtime-user = " + strings.Repeat("u", 32) + "\n", func(c *Config) { c.RuntimeUser = strings.Repeat("u", 32) }},
		{"user starting with _", "runtime-user = _ms\n", func(c *Config) { c.RuntimeUser = "_ms" }},

		// log-file-size
		{"size bytes min", "log-file-size = 65536\n", func(c *Config) { c.LogFileSize = 65536 }},
		{"size bytes max", "log-file-size = 1073741824\n", func(c *Config) { c.LogFileSize = 1 << 30 }},
		{"size K", "log-file-size = 64K\n", func(c *Config) { c.LogFileSize = 64 << 10 }},
		{"size k", "log-file-size = 100k\n", func(c *Config) { c.LogFileSize = 100 << 10 }},
		{"size M", "log-file-size = 512M\n", func(c *Config) { c.LogFileSize = 512 << 20 }},
		{"size m", "log-file-size = 1m\n", func(c *Config) { c.LogFileSize = 1 << 20 }},
		{"size G", "log-file-size = 1G\n", func(c *Config) { c.LogFileSize = 1 << 30 }},
		{"size g", "log-file-size = 1g\n", func(c *Config) { c.LogFileSize = 1 << 30 }},
		{"size 1024M", "log-file-size = 1024M\n", func(c *Config) { c.LogFileSize = 1 << 30 }},
		{"size leading zeros", "log-file-size = 0064K\n", func(c *Config) { c.LogFileSize = 64 << 10 }},

		// checkpoint-interval
		{"interval s", "checkpoint-interval = 90s\n", func(c *Config) { c.CheckpointInterval = 90 * time.Second }},
		{"interval compound", "checkpoint-interval = 1h30m\n", func(c *Config) { c.CheckpointInterval = 90 * time.Minute }},
		{"interval ms", "checkpoint-interval = 250ms\n", func(c *Config) { c.CheckpointInterval = 250 * time.Millisecond }},
		{"interval 1ns", "checkpoint-interval = 1ns\n", func(c *Config) { c.CheckpointInterval = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.input), confName)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Defaults()
			want.Source = confName
			if tc.want != nil {
				tc.want(want)
			}
			if *got != *want {
				t.Errorf("Parse =\n  %+v\nwant\n  %+v", *got, *want)
			}
		})
	}
}

func TestParseRelativeName(t *testing.T) {
	// With a relative file name, ms-path is still made absolute, against
	// the file's directory relative to the working directory.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, msPath, want string
	}{
		{"ms.conf", "store", filepath.Join(wd, "store")},
		{"conf/ms.conf", "store", filepath.Join(wd, "conf", "store")},
		{"conf/ms.conf", "/abs", "/abs"},
	} {
		c, err := Parse(strings.NewReader("ms-path = "+tc.msPath), tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.MSPath != tc.want {
			t.Errorf("name %q, ms-path %q: MSPath = %q, want %q", tc.name, tc.msPath, c.MSPath, tc.want)
		}
		if c.Source != tc.name {
			t.Errorf("Source = %q, want %q", c.Source, tc.name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		input   string
		line    int
		key     string
		is      error  // if non-nil, errors.Is(err, is) must hold
		wantMsg string // the whole message, if non-empty
		substrs []string
	}{
		// syntax
		{name: "no =", input: "# c\n\nruntime-user bob\n", line: 3, is: ErrSyntax,
			wantMsg: `ms.conf:3: syntax error: missing "=" in "runtime-user bob"`},
		{name: "= only in comment", input: "runtime-user # = bob\n", line: 1, is: ErrSyntax},
		{name: "empty name", input: "runtime-user = bob\n = x\n", line: 2, is: ErrSyntax,
			wantMsg: "ms.conf:2: syntax error: empty key name"},
		{name: "bare =", input: "=\n", line: 1, is: ErrSyntax},

		// unknown keys
		{name: "unknown key", input: "# x\n\n\n\n\nruntime-user = bob\nms_path = /x\n", line: 7, key: "ms_path", is: ErrUnknownKey,
			wantMsg: `ms.conf:7: unknown key "ms_path"`},
		{name: "case matters", input: "MS-PATH = /x\n", line: 1, key: "MS-PATH", is: ErrUnknownKey},
		{name: "inner space", input: "ms path = /x\n", line: 1, key: "ms path", is: ErrUnknownKey},
		{name: "unknown key with bad value", input: "bogus =\n", line: 1, key: "bogus", is: ErrUnknownKey},

		// duplicates
		{name: "duplicate", input: "ms-path = /a\n# c\nruntime-user = x\nms-path = /a\n", line: 4, key: "ms-path", is: ErrDuplicateKey,
			wantMsg: `ms.conf:4: duplicate key "ms-path" (first given on line 1)`},
		{name: "duplicate wins over bad value", input: "log-file-size = 1M\nlog-file-size = 12Q\n", line: 2, key: "log-file-size", is: ErrDuplicateKey},

		// ms-path
		{name: "ms-path empty", input: "ms-path =\n", line: 1, key: "ms-path",
			wantMsg: `ms.conf:1: ms-path "": must not be empty`},
		{name: "ms-path only comment", input: "ms-path = # nothing\n", line: 1, key: "ms-path"},

		// runtime-user
		{name: "user empty", input: "runtime-user =\n", line: 1, key: "runtime-user", substrs: []string{"empty"}},
		{name: "user leading -", input: "runtime-user = -bob\n", line: 1, key: "runtime-user", substrs: []string{`start with "-"`}},
		{name: "user too long", input: "runtime-user = " + strings.Repeat("u", 33) + "\n", line: 1, key: "runtime-user", substrs: []string{"at most 32"}},
		{name: "user space", input: "runtime-user = bo b\n", line: 1, key: "runtime-user", substrs: []string{"invalid character ' '"}},
		{name: "user slash", input: "runtime-user = a/b\n", line: 1, key: "runtime-user"},
		{name: "user colon", input: "runtime-user = a:b\n", line: 1, key: "runtime-user"},
		{name: "user non-ASCII", input: "runtime-user = jos\u00e9\n", line: 1, key: "runtime-user"},
		{name: "user dollar", input: "runtime-user = host$\n", line: 1, key: "runtime-user"},

		// log-file-size
		{name: "size bad suffix", input: "# a\n\nlog-file-size = 12Q\n", line: 3, key: "log-file-size",
			substrs: []string{`ms.conf:3: log-file-size "12Q": invalid size`}},
		{name: "size empty", input: "log-file-size =\n", line: 1, key: "log-file-size"},
		{name: "size suffix only", input: "log-file-size = M\n", line: 1, key: "log-file-size"},
		{name: "size negative", input: "log-file-size = -1M\n", line: 1, key: "log-file-size"},
		{name: "size plus", input: "log-file-size = +1M\n", line: 1, key: "log-file-size"},
		{name: "size space", input: "log-file-size = 10 M\n", line: 1, key: "log-file-size"},
		{name: "size B suffix", input: "log-file-size = 10MB\n", line: 1, key: "log-file-size"},
		{name: "size T suffix", input: "log-file-size = 1T\n", line: 1, key: "log-file-size"},
		{name: "size fraction", input: "log-file-size = 1.5M\n", line: 1, key: "log-file-size"},
		{name: "size hex", input: "log-file-size = 0x10000\n", line: 1, key: "log-file-size"},
		{name: "size too small", input: "log-file-size = 65535\n", line: 1, key: "log-file-size",
			wantMsg: `ms.conf:1: log-file-size "65535": out of range: must be between 64K and 1G (65536 to 1073741824 bytes)`},
		{name: "size 63K", input: "log-file-size = 63K\n", line: 1, key: "log-file-size", substrs: []string{"between 64K and 1G"}},
		{name: "size zero", input: "log-file-size = 0\n", line: 1, key: "log-file-size", substrs: []string{"between 64K and 1G"}},
		{name: "size too big bytes", input: "log-file-size = 1073741825\n", line: 1, key: "log-file-size", substrs: []string{"between 64K and 1G"}},
		{name: "size 1025M", input: "log-file-size = 1025M\n", line: 1, key: "log-file-size", substrs: []string{"between 64K and 1G"}},
		{name: "size 2G", input: "log-file-size = 2G\n", line: 1, key: "log-file-size", substrs: []string{"between 64K and 1G"}},
		{name: "size overflow on shift", input: "log-file-size = 9007199254740992K\n", line: 1, key: "log-file-size", substrs: []string{"too large"}},
		{name: "size overflow int64", input: "log-file-size = 99999999999999999999\n", line: 1, key: "log-file-size", substrs: []string{"too large"}},

		// checkpoint-interval
		{name: "interval no unit", input: "checkpoint-interval = 60\n", line: 1, key: "checkpoint-interval"},
		{name: "interval empty", input: "checkpoint-interval =\n", line: 1, key: "checkpoint-interval"},
		{name: "interval garbage", input: "checkpoint-interval = soon\n", line: 1, key: "checkpoint-interval"},
		{name: "interval zero", input: "checkpoint-interval = 0s\n", line: 1, key: "checkpoint-interval",
			wantMsg: `ms.conf:1: checkpoint-interval "0s": must be greater than zero`},
		{name: "interval bare zero", input: "checkpoint-interval = 0\n", line: 1, key: "checkpoint-interval", substrs: []string{"greater than zero"}},
		{name: "interval negative", input: "checkpoint-interval = -5s\n", line: 1, key: "checkpoint-interval", substrs: []string{"greater than zero"}},

		// errors stop at the first bad line
		{name: "first error wins", input: "runtime-user = ok\nfoo = 1\nbar = 2\n", line: 2, key: "foo", is: ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.input), "ms.conf")
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error", *c)
			}
			if c != nil {
				t.Errorf("Parse returned non-nil Config with error")
			}
			msg := err.Error()
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %q (%T) is not a *ParseError", msg, err)
			}
			if pe.File != "ms.conf" || pe.Line != tc.line || pe.Key != tc.key {
				t.Errorf("ParseError{File: %q, Line: %d, Key: %q}, want {%q, %d, %q}; error: %s",
					pe.File, pe.Line, pe.Key, "ms.conf", tc.line, tc.key, msg)
			}
			prefix := "ms.conf:" + strconv.Itoa(tc.line) + ": "
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if tc.key != "" && !strings.Contains(msg, tc.key) {
				t.Errorf("error %q does not name key %q", msg, tc.key)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q: errors.Is(err, %v) is false", msg, tc.is)
			}
			if tc.wantMsg != "" && msg != tc.wantMsg {
				t.Errorf("error\n  %s\nwant\n  %s", msg, tc.wantMsg)
			}
			for _, s := range tc.substrs {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestParseLongLine(t *testing.T) {
	input := "runtime-user = bob\n# " + strings.Repeat("x", maxLineLen+10) + "\n"
	_, err := Parse(strings.NewReader(input), "ms.conf")
	if err == nil || !strings.HasPrefix(err.Error(), "ms.conf:2: reading: ") {
		t.Errorf("Parse with overlong line: error %v, want ms.conf:2: reading: ...", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(errReader{boom}, "ms.conf")
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "ms.conf:1: ") {
		t.Errorf("Parse with failing reader: %v", err)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "ms.conf", "ms-path = store # relative\nruntime-user = bob\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != p || c.MSPath != filepath.Join(dir, "store") || c.RuntimeUser != "bob" {
		t.Errorf("Load = %+v", *c)
	}

	bad := writeFile(t, dir, "bad.conf", "\nruntime-user = bob\nlog-file-size = 12Q\n")
	_, err = Load(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":3: log-file-size \"12Q\": ") {
		t.Errorf("Load(bad) error = %v", err)
	}

	missing := filepath.Join(dir, "missing.conf")
	_, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) error = %v, want not-exist naming %s", err, missing)
	}

	_, err = Load(dir) // a directory
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Load(dir) error = %v, want error naming %s", err, dir)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	flagFile := writeFile(t, dir, "flag.conf", "runtime-user = fromflag\n")
	envFile := writeFile(t, dir, "env.conf", "runtime-user = fromenv\n")
	defFile := writeFile(t, dir, "default.conf", "runtime-user = fromdefault\n")
	badFile := writeFile(t, dir, "bad.conf", "nope = 1\n")
	missing := filepath.Join(dir, "missing.conf")

	for _, tc := range []struct {
		name       string
		flag       string
		env        *string // nil: unset
		def        string
		wantUser   string // "" means an error is expected
		wantSource string
		errHas     []string
	}{
		{name: "flag wins", flag: flagFile, env: &envFile, def: defFile, wantUser: "fromflag", wantSource: flagFile},
		{name: "env when no flag", env: &envFile, def: defFile, wantUser: "fromenv", wantSource: envFile},
		{name: "default when no flag or env", def: defFile, wantUser: "fromdefault", wantSource: defFile},
		{name: "empty env ignored", env: ptr(""), def: defFile, wantUser: "fromdefault", wantSource: defFile},
		{name: "missing default gives defaults", def: missing, wantUser: "sms", wantSource: ""},
		{name: "missing default gives defaults with empty env", env: ptr(""), def: missing, wantUser: "sms", wantSource: ""},
		{name: "missing flag file", flag: missing, env: &envFile, def: defFile, errHas: []string{"reading configuration given by -f: open " + missing + ": "}},
		{name: "missing env file", env: &missing, def: defFile, errHas: []string{"reading configuration given by $MS_CONF: open " + missing + ": "}},
		{name: "bad flag file", flag: badFile, def: defFile, errHas: []string{badFile + ":1: unknown key"}},
		{name: "bad env file", env: &badFile, def: defFile, errHas: []string{badFile + ":1: unknown key"}},
		{name: "bad default file", def: badFile, errHas: []string{badFile + ":1: unknown key"}},
		{name: "default is a directory", def: dir, errHas: []string{dir + ":1: reading: "}},
		{name: "default under a file", def: filepath.Join(defFile, "ms.conf"), errHas: []string{"reading configuration: open " + defFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oldDef, oldEnv := defaultPath, lookupEnv
			t.Cleanup(func() { defaultPath, lookupEnv = oldDef, oldEnv })
			defaultPath = tc.def
			lookupEnv = func(k string) (string, bool) {
				if k != EnvVar {
					t.Errorf("lookupEnv(%q), want %q", k, EnvVar)
				}
				if tc.env == nil {
					return "", false
				}
				return *tc.env, true
			}
			c, err := Find(tc.flag)
			if tc.wantUser == "" {
				if err == nil {
					t.Fatalf("Find succeeded with %+v, want error", *c)
				}
				for _, s := range tc.errHas {
					if !strings.HasPrefix(err.Error(), s) {
						t.Errorf("error %q does not start with %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if c.RuntimeUser != tc.wantUser || c.Source != tc.wantSource {
				t.Errorf("Find: RuntimeUser %q Source %q, want %q %q", c.RuntimeUser, c.Source, tc.wantUser, tc.wantSource)
			}
			if tc.wantSource == "" && *c != *Defaults() {
				t.Errorf("Find = %+v, want defaults", *c)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCheckInvokerHelper(t *testing.T) {
	lookup := func(users map[string]int) func(string) (int, bool) {
		return func(name string) (int, bool) {
			uid, ok := users[name]
			return uid, ok
		}
	}
	sys := lookup(map[string]int{"sms": 990, "bob": 1000, "root": 0})
	none := lookup(nil)
	for _, tc := range []struct {
		name    string
		runtime string
		uid     int
		user    string
		lookup  func(string) (int, bool)
		wantErr string
	}{
		{name: "root", runtime: "sms", uid: 0, user: "root", lookup: sys},
		{name: "root without name", runtime: "sms", uid: 0, user: "", lookup: none},
		{name: "runtime user by name", runtime: "sms", uid: 990, user: "sms", lookup: none},
		{name: "runtime user by uid", runtime: "sms", uid: 990, user: "", lookup: sys},
		{name: "other user", runtime: "sms", uid: 1000, user: "bob", lookup: sys,
			wantErr: `msdb_test must be run as root or as the runtime user "sms" (running as "bob", uid 1000)`},
		{name: "other user, runtime user missing", runtime: "sms", uid: 1000, user: "bob", lookup: none,
			wantErr: `msdb_test must be run as root or as the runtime user "sms" (running as "bob", uid 1000)`},
		{name: "unnamed uid", runtime: "sms", uid: 4242, user: "", lookup: sys,
			wantErr: `msdb_test must be run as root or as the runtime user "sms" (running as uid 4242)`},
		{name: "name differs though uid unknown", runtime: "mstore", uid: 990, user: "sms", lookup: sys,
			wantErr: `msdb_test must be run as root or as the runtime user "mstore" (running as "sms", uid 990)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkInvoker("msdb_test", tc.runtime, tc.uid, tc.user, tc.lookup)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("no error, want %q", tc.wantErr)
			case tc.wantErr != "" && err.Error() != tc.wantErr:
				t.Errorf("error\n  %s\nwant\n  %s", err, tc.wantErr)
			}
		})
	}
}

func TestCheckInvoker(t *testing.T) {
	// The real process: as root it must succeed; otherwise running as a
	// runtime user equal to our own name must succeed.
	uid, name := currentUser()
	if uid != os.Geteuid() {
		t.Errorf("currentUser uid = %d, want %d", uid, os.Geteuid())
	}
	c := Defaults()
	if uid == 0 {
		if err := c.CheckInvoker("msdb_test"); err != nil {
			t.Errorf("as root: %v", err)
		}
	} else if name != "" {
		c.RuntimeUser = name
		if err := c.CheckInvoker("msdb_test"); err != nil {
			t.Errorf("as runtime user %q: %v", name, err)
		}
	}

	// Through the method, with the identity injected.
	oldCur, oldLookup := currentUser, lookupUID
	t.Cleanup(func() { currentUser, lookupUID = oldCur, oldLookup })
	currentUser = func() (int, string) { return 1000, "bob" }
	lookupUID = func(string) (int, bool) { return 0, false }
	err := Defaults().CheckInvoker("msdb_test")
	want := `msdb_test must be run as root or as the runtime user "sms" (running as "bob", uid 1000)`
	if err == nil || err.Error() != want {
		t.Errorf("CheckInvoker as bob: %v, want %s", err, want)
	}
	currentUser = func() (int, string) { return 0, "root" }
	if err := Defaults().CheckInvoker("msdb_test"); err != nil {
		t.Errorf("CheckInvoker as injected root: %v", err)
	}
}

func TestLookupUID(t *testing.T) {
	if uid, ok := lookupUID("root"); ok && uid != 0 {
		t.Errorf("lookupUID(root) = %d", uid)
	}
	if _, ok := lookupUID("no-such-user-xyzzy"); ok {
		t.Errorf("lookupUID(no-such-user-xyzzy) found a user")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"# comment\n\n",
		"ms-path = /srv/ms\nruntime-user = mstore\nlog-file-size = 1G\ncheckpoint-interval = 5m\n",
		"ms-path = rel/dir # c\n",
		"log-file-size = 64k\r\n",
		"log-file-size = 12Q\n",
		"log-file-size = 9223372036854775807G\n",
		"checkpoint-interval = -1s\n",
		"runtime-user = -x\n",
		"a b c\n",
		"=\n",
		"ms-path = /a\nms-path = /b\n",
		"\uFEFFruntime-user=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s), "/etc/ms.conf")
		if err != nil {
			if c != nil {
				t.Errorf("non-nil Config with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "/etc/ms.conf:") {
				t.Errorf("error %q does not name the file", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Errorf("error %q is not a *ParseError with a line", err)
			}
			return
		}
		if c.LogFileSize < MinLogFileSize || c.LogFileSize > MaxLogFileSize {
			t.Errorf("LogFileSize %d out of bounds", c.LogFileSize)
		}
		if c.CheckpointInterval <= 0 {
			t.Errorf("CheckpointInterval %v not positive", c.CheckpointInterval)
		}
		if !filepath.IsAbs(c.MSPath) {
			t.Errorf("MSPath %q not absolute", c.MSPath)
		}
		if err := checkUserName(c.RuntimeUser); err != nil {
			t.Errorf("RuntimeUser %q: %v", c.RuntimeUser, err)
		}
		if c.Source != "/etc/ms.conf" {
			t.Errorf("Source = %q", c.Source)
		}
	})
}

func TestDaemonKeys(t *testing.T) {
	for _, tc := range []struct {
		line  string
		ok    bool
		check func(*Config) bool
	}{
		{"lmtp-listen = 127.0.0.1:2424", true, func(c *Config) bool { return c.LMTPListen == "127.0.0.1:2424" }},
		{"lmtp-listen = unix:/run/lmtp.sock", true, func(c *Config) bool { return c.LMTPListen == "unix:/run/lmtp.sock" }},
		{"lmtp-listen = unix:lmtp.sock", true, func(c *Config) bool { return c.LMTPListen == "unix:/etc/x/lmtp.sock" }},
		{"lmtp-listen = nowhere", false, nil},
		{"lmtp-listen = 1.2.3.4:99999", false, nil},
		{"max-message-size = 10M", true, func(c *Config) bool { return c.MaxMessageSize == 10<<20 }},
		{"max-message-size = 10", false, nil},
		{"quota-default = 1G", true, func(c *Config) bool { return c.QuotaDefault == 1<<30 }},
		{"mail-sweep-grace = 2d", true, func(c *Config) bool { return c.MailSweepGrace == 48*time.Hour }},
		{"mail-sweep-grace = 90m", true, func(c *Config) bool { return c.MailSweepGrace == 90*time.Minute }},
		{"mail-sweep-grace = 10s", false, nil},
		{"password-hash-cost = 4", true, func(c *Config) bool { return c.PasswordHashCost == 4 }},
		{"password-hash-cost = 3", false, nil},
		{"auth-cache-ttl = 30m", true, func(c *Config) bool { return c.AuthCacheTTL == 30*time.Minute }},
		{"auth-cache-ttl = off", true, func(c *Config) bool { return c.AuthCacheTTL == 0 }},
		{"auth-cache-ttl = 0", true, func(c *Config) bool { return c.AuthCacheTTL == 0 }},
		{"auth-cache-ttl = 8d", false, nil},
		{"auth-cache-ttl = soon", false, nil},
	} {
		c, err := Parse(strings.NewReader(tc.line+"\n"), "/etc/x/ms.conf")
		if tc.ok != (err == nil) {
			t.Errorf("%q: err = %v", tc.line, err)
			continue
		}
		if err == nil && !tc.check(c) {
			t.Errorf("%q: parsed as %+v", tc.line, c)
		}
		if err != nil && !strings.Contains(err.Error(), "ms.conf:1:") {
			t.Errorf("%q: error %q does not name file and line", tc.line, err)
		}
	}
}
