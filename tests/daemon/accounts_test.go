package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/m-store/mstore/internal/store"
)

// listed parses `mstore user list`: account name → messages column.
func listed(t testing.TB, r result) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("user list has no header:\n%v", r)
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 4 {
			t.Fatalf("user list: bad line %q", l)
		}
		if _, dup := out[f[0]]; dup {
			t.Errorf("user list shows %s twice", f[0])
		}
		out[f[0]] = f[2]
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mailTable is the msdb table the store keeps its records in, each kind
// under a one-byte key prefix (internal/store/store.go).
const mailTable = "mail"

// Key prefixes ("spaces") of the mail table.
const (
	spaceAccounts      = 'A'
	spaceAccountIDs    = 'a'
	spaceMailboxes     = 'M'
	spaceMailboxIDs    = 'm'
	spaceMessages      = 'U'
	spaceFiles         = 'F'
	spaceDropped       = 'D'
	spaceSubscriptions = 'S'
)

// dumpRecords is the number of records msdb_dump prints for a table, by
// the first byte of their keys.
func dumpRecords(t testing.TB, d *daemon, table string) map[byte]int {
	t.Helper()
	r := d.ok(nil, "msdb_dump", table)
	_, data, ok := strings.Cut(r.stdout, "HEADER=END\n")
	if !ok || !strings.HasSuffix(data, "DATA=END\n") {
		t.Fatalf("msdb_dump %s: not a dump:\n%v", table, r)
	}
	data = strings.TrimSuffix(data, "DATA=END\n")
	out := map[byte]int{}
	if data == "" {
		return out
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Fatalf("msdb_dump %s: %d data lines, not key/value pairs", table, len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		k := lines[i]
		if len(k) < 2 || k[0] != ' ' {
			t.Fatalf("msdb_dump %s: bad key line %q", table, k)
		}
		out[k[1]]++
	}
	return out
}

// blobID is the message file id of content (the hex SHA-256, blob/doc.go).
func blobID(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestAccounts: mstore user add (stdin and --password), passwd, list,
// quota and del, on a stopped store (directly) and on a running one
// (through the control socket); del takes the account's mail with it.
func TestAccounts(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})

	// Stopped: directly.
	r := d.ok([]byte("secret-a\n"), "mstore", "user", "add", "alice")
	if !strings.Contains(r.stderr, "account alice created") {
		t.Errorf("user add alice:\n%v", r)
	}
	d.ok(nil, "mstore", "user", "add", "bob", "--password", "secret-b")
	d.ok([]byte("secret-d\r\n"), "mstore", "user", "add", "dave")
	d.ok(nil, "mstore", "user", "add", "erin@example.org", "--password", "secret-e")
	if r := d.run(nil, "mstore", "user", "add", "ALICE", "--password", "x"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("adding ALICE when alice exists: want exit 1 saying it exists:\n%v", r)
	}
	if r := d.run([]byte{}, "mstore", "user", "add", "nopw"); r.code != 1 || !strings.Contains(r.stderr, "password") {
		t.Errorf("user add without a password: want exit 1 about the password:\n%v", r)
	}
	if r := d.run(nil, "mstore", "user", "add", "bad name", "--password", "x"); r.code != 1 {
		t.Errorf("user add 'bad name': want exit 1:\n%v", r)
	}
	d.ok(nil, "mstore", "user", "passwd", "bob", "--password", "secret-b2")
	d.ok(nil, "mstore", "user", "quota", "alice", "10K")
	if r := d.run(nil, "mstore", "user", "quota", "alice", "lots"); r.code != 1 {
		t.Errorf("user quota alice lots: want exit 1:\n%v", r)
	}
	if r := d.run(nil, "mstore", "user", "del", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("user del nosuch: want exit 1 naming it:\n%v", r)
	}
	got := listed(t, d.ok(nil, "mstore", "user", "list"))
	if strings.Join(keys(got), " ") != "alice bob dave erin@example.org" {
		t.Errorf("user list (stopped): %v", keys(got))
	}

	// Running: through the daemon.
	d.start()
	r = d.ok([]byte("secret-c\n"), "mstore", "user", "add", "carol")
	if !strings.Contains(r.stderr, "account carol created") {
		t.Errorf("live user add carol:\n%v", r)
	}
	d.ok(nil, "mstore", "user", "add", "frank", "--password", "secret-f")
	d.ok([]byte("secret-a2\n"), "mstore", "user", "passwd", "alice")
	d.ok(nil, "mstore", "user", "quota", "carol", "1M")
	if r := d.run(nil, "mstore", "user", "add", "Carol", "--password", "x"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("live: adding Carol when carol exists: want exit 1 saying it exists:\n%v", r)
	}
	if r := d.run(nil, "mstore", "user", "del", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("live user del nosuch: want exit 1 naming it:\n%v", r)
	}

	// Mail: X to bob, dave and erin; Y to dave only; Z to bob only.
	msgX, msgY, msgZ := testMessage("acct-x"), testMessage("acct-y"), testMessage("acct-z")
	for _, c := range []struct {
		msg   []byte
		rcpts []string
	}{{msgX, []string{"bob@example.org", "dave@example.org", "erin@example.org"}}, {msgY, []string{"dave@example.org"}}, {msgZ, []string{"bob@example.org"}}} {
		res, err := lmtpSend(d.addr, "sender@example.net", c.rcpts, c.msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range c.rcpts {
			if !res.acked(rc) {
				t.Fatalf("deliver to %s: %v", rc, res.data[rc])
			}
		}
	}
	got = listed(t, d.ok(nil, "mstore", "user", "list"))
	if strings.Join(keys(got), " ") != "alice bob carol dave erin@example.org frank" {
		t.Errorf("live user list: %v", keys(got))
	}
	if got["dave"] != "2" || got["bob"] != "2" || got["erin@example.org"] != "1" {
		t.Errorf("live user list: messages bob %s, dave %s, erin %s; want 2, 2, 1", got["bob"], got["dave"], got["erin@example.org"])
	}
	r = d.ok(nil, "mstore", "user", "del", "dave")
	if !strings.Contains(r.stderr, "deleted") {
		t.Errorf("live user del dave:\n%v", r)
	}
	if res, err := lmtpSend(d.addr, "sender@example.net", []string{"dave@example.org"}, testMessage("to-dave")); err != nil || !res.rcpt["dave@example.org"].is(550, "5.1.1") {
		t.Errorf("LMTP to dave after del: %v %v, want 550 5.1.1 at RCPT", res.rcpt, err)
	}
	if !strings.Contains(d.logTail(), "tool=user") {
		t.Errorf("the daemon's log shows no control request for the user tool:\n%s", d.logTail())
	}
	d.stop()

	// Stopped again: del bob directly, with his mail.
	r = d.ok(nil, "mstore", "user", "del", "bob")
	if !strings.Contains(r.stderr, "deleted") {
		t.Errorf("user del bob:\n%v", r)
	}
	got = listed(t, d.ok(nil, "mstore", "user", "list"))
	if strings.Join(keys(got), " ") != "alice carol erin@example.org frank" {
		t.Errorf("user list at the end: %v", keys(got))
	}
	// Nothing of bob's or dave's is left in the tables.
	recs := dumpRecords(t, d, mailTable)
	for _, c := range []struct {
		space byte
		what  string
		want  int
	}{
		{spaceAccounts, "accounts", 4}, {spaceAccountIDs, "account ids", 4},
		{spaceMailboxes, "mailboxes (one INBOX each)", 4}, {spaceMailboxIDs, "mailbox ids", 4},
		{spaceMessages, "messages (erin's copy of X)", 1}, {spaceSubscriptions, "subscriptions", 4},
		// X referenced; Y's and Z's records stay with the time their last
		// reference went, so that the sweep keeps the files for its grace.
		{spaceFiles, "message files (X live, Y and Z dropped)", 3}, {spaceDropped, "dropped message files (Y and Z)", 2},
	} {
		if recs[c.space] != c.want {
			t.Errorf("%s table, %s (%q keys): %d records, want %d", mailTable, c.what, c.space, recs[c.space], c.want)
		}
	}

	d.withStore(func(ctx context.Context, st *store.Store) {
		for name, pw := range map[string]string{"alice": "secret-a2", "carol": "secret-c", "erin@example.org": "secret-e", "frank": "secret-f"} {
			if _, err := st.Authenticate(ctx, name, pw); err != nil {
				t.Errorf("authenticate %s: %v", name, err)
			}
		}
		if _, err := st.Authenticate(ctx, "alice", "secret-a"); err == nil {
			t.Errorf("alice's old password still works after passwd")
		}
		for _, gone := range []string{"bob", "dave"} {
			if _, err := st.Account(ctx, gone); !errors.Is(err, store.ErrNoAccount) {
				t.Errorf("account %s after del: %v, want ErrNoAccount", gone, err)
			}
		}
		a, err := st.Account(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if a.QuotaBytes != 10<<10 {
			t.Errorf("alice's quota: %d, want %d", a.QuotaBytes, 10<<10)
		}
		if cost, err := bcrypt.Cost([]byte(a.Hash)); err != nil || cost != 4 {
			t.Errorf("alice's hash: cost %d (%v), want 4 (password-hash-cost)", cost, err)
		}
		c, err := st.Account(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		if c.QuotaBytes != 1<<20 {
			t.Errorf("carol's quota: %d, want %d", c.QuotaBytes, 1<<20)
		}
		sameMessages(t, "erin/INBOX", mailboxBytes(t, ctx, st, "erin@example.org", "INBOX"), [][]byte{msgX})
		for _, c := range []struct {
			what string
			msg  []byte
			want bool
		}{{"X (erin has it)", msgX, true}, {"Y (dave's only)", msgY, false}, {"Z (bob's only)", msgZ, false}} {
			// Grace 0: whether a message references it now (the sweep
			// keeps a file for its grace period after the last reference).
			ref, err := st.Referenced(ctx, blobID(c.msg), 0)
			if err != nil {
				t.Fatal(err)
			}
			if ref != c.want {
				t.Errorf("message file of %s: referenced %v, want %v", c.what, ref, c.want)
			}
		}
	})
}

// TestImport: mstore user import of 10,000 accounts through the running
// daemon, with bad lines reported by number and the rest created.
func TestImport(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("existing", "pw")

	const good = 10000
	hashed, err := bcrypt.GenerateFromPassword([]byte("hashed-pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	line := 0
	add := func(s string) int {
		b.WriteString(s + "\n")
		line++
		return line
	}
	add("# accounts for the import test")
	add("")
	bad := map[int]string{} // line → what the report must say
	for i := range good {
		switch i {
		case 2:
			bad[add("no colon on this line")] = `want "name:password"`
		case 4000:
			bad[add("bad name:pw")] = "not allowed"
		case 7777:
			bad[add("emptypw@example.org:")] = "empty password"
		case 9000:
			bad[add("existing:another")] = "exists"
		case 9500:
			bad[add("user00001@example.org:again")] = "exists" // a duplicate within the file
		}
		if i == 5000 {
			add(fmt.Sprintf("user%05d@example.org:{BLF-CRYPT}%s", i, hashed))
			continue
		}
		add(fmt.Sprintf("user%05d@example.org:pw%05d", i, i))
	}
	file := filepath.Join(d.dir, "users.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	r := d.run(nil, "mstore", "user", "import", file)
	t.Logf("import of %d accounts (%d bad lines) through the daemon took %v", good, len(bad), time.Since(begin))
	if r.code != 1 {
		t.Errorf("import with refused lines: want exit 1:\n%v", r)
	}
	for n, what := range bad {
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^import: line %d: .*%s`, n, regexp.QuoteMeta(what)))
		if !re.MatchString(r.stderr) {
			t.Errorf("import does not report line %d (%s):\n%v", n, what, r)
		}
	}
	if n := strings.Count(r.stderr, "import: line "); n != len(bad) {
		t.Errorf("import reports %d bad lines, want %d:\n%v", n, len(bad), r)
	}
	summary := fmt.Sprintf("import: %d accounts created, %d lines refused, of %d", good, len(bad), good+len(bad))
	if !strings.Contains(r.stderr, summary) {
		t.Errorf("import does not end with %q:\n%v", summary, r)
	}
	if i := strings.LastIndex(r.stderr, "import: line "); i > strings.Index(r.stderr, summary) {
		t.Errorf("the summary is not at the end:\n%v", r)
	}

	// A small import from standard input, all good: exit 0.
	r = d.run([]byte("stdin1:pw1\nstdin2:pw2\n\nstdin3:pw3\n"), "mstore", "user", "import", "-")
	if r.code != 0 || !strings.Contains(r.stderr, "import: 3 accounts created, 0 lines refused, of 3") {
		t.Errorf("import - of 3 good lines:\n%v", r)
	}

	got := listed(t, d.ok(nil, "mstore", "user", "list"))
	if len(got) != good+1+3 {
		t.Errorf("user list shows %d accounts, want %d", len(got), good+1+3)
	}
	for _, n := range []string{"existing", "user00000@example.org", "user09999@example.org", "stdin3"} {
		if _, ok := got[n]; !ok {
			t.Errorf("user list does not show %s", n)
		}
	}
	d.stop()

	d.withStore(func(ctx context.Context, st *store.Store) {
		for name, pw := range map[string]string{
			"user00000@example.org": "pw00000", "user09999@example.org": "pw09999", "USER04321@example.org": "pw04321",
			"user05000@example.org": "hashed-pw", "existing": "pw", "stdin2": "pw2"} {
			if _, err := st.Authenticate(ctx, name, pw); err != nil {
				t.Errorf("authenticate %s: %v", name, err)
			}
		}
		if _, err := st.Authenticate(ctx, "existing", "another"); err == nil {
			t.Errorf("the refused line changed existing's password")
		}
		if _, err := st.Authenticate(ctx, "user00001@example.org", "again"); err == nil {
			t.Errorf("the duplicate line changed user00001's password")
		}
		// Each account whole: its INBOX is there.
		for _, n := range []string{"user00000@example.org", "user07776@example.org", "user09999@example.org", "stdin1"} {
			if _, err := st.MailboxStatus(ctx, n, "INBOX"); err != nil {
				t.Errorf("%s has no INBOX: %v", n, err)
			}
		}
		if _, err := st.Account(ctx, "emptypw@example.org"); !errors.Is(err, store.ErrNoAccount) {
			t.Errorf("the account of a refused line exists: %v", err)
		}
	})
}
