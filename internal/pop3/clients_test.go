package pop3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// requireTool finds a program the test drives; missing, the test is
// skipped, unless CI=true, where it fails.
func requireTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required with CI=true: %v (%s)", name, err, hint)
		}
		t.Skipf("%s not found (%s); skipping", name, hint)
	}
	return p
}

func run(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// clientFixture: alice with the first four test messages, a server with
// STLS on one listener and implicit TLS on another.
type clientFixture struct {
	*testEnv
	plainAddr, tlsAddr string
	dir                string   // cert.pem, key.pem
	want               [][]byte // as RETR sends them (before dot-stuffing)
	sizes              []int    // as stored (LIST's sizes)
	uidls              []string
}

func newClientFixture(t *testing.T, withTLS bool) *clientFixture {
	te := newTestEnv(t)
	te.addAccount(t, "alice", "secret")
	f := &clientFixture{testEnv: te, dir: t.TempDir()}
	var uids []uint32
	for _, m := range testMessages[:4] {
		uids = append(uids, te.deliver(t, "alice", m))
		f.want = append(f.want, normalize(m))
		f.sizes = append(f.sizes, len(m))
	}
	uv := te.inbox(t, "alice").Mailbox.UIDValidity
	for _, u := range uids {
		f.uidls = append(f.uidls, fmt.Sprintf("%d.%d", uv, u))
	}
	opts := testOptions(t)
	if withTLS {
		cfg, _ := testCert(t, f.dir)
		opts.TLSConfig = cfg
	}
	srv := New(te.st, opts)
	f.plainAddr = serve(t, srv, nil)
	if withTLS {
		f.tlsAddr = serve(t, srv, opts.TLSConfig)
	}
	return f
}

func port(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoplib(t *testing.T) {
	python := requireTool(t, "python3", "Python's poplib drives the server")
	f := newClientFixture(t, true)
	spec := map[string]any{
		"host": "127.0.0.1", "port": port(t, f.plainAddr), "tls_port": port(t, f.tlsAddr),
		"user": "alice", "password": "secret", "cafile": filepath.Join(f.dir, "cert.pem"),
		"uidls": f.uidls, "sizes": f.sizes,
	}
	var msgs []string
	for _, m := range f.want {
		msgs = append(msgs, base64.StdEncoding.EncodeToString(m))
	}
	spec["messages"] = msgs
	spec["top"] = map[string]any{"msg": 4, "lines": 2, "want": base64.StdEncoding.EncodeToString(
		[]byte("From: d@example.org\r\nSubject: top\r\n\r\nbody 1\r\nbody 2\r\n"))}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(f.dir, "spec.json")
	if err := os.WriteFile(specFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/poplib_client.py")
	if err != nil {
		t.Fatal(err)
	}
	// basic deletes message 2, so it runs last.
	for _, scenario := range []string{"authplain", "stls", "pop3s", "basic"} {
		out, err := run(t, f.dir, nil, python, script, specFile, scenario)
		if err != nil || !strings.HasSuffix(out, "OK\n") {
			t.Fatalf("poplib %s: %v\n%s", scenario, err, out)
		}
		waitNoLocksEnv(t, f.testEnv)
	}
	snap := f.inbox(t, "alice")
	if len(snap.Messages) != 3 || snap.Messages[1].UID == snapUID(f.uidls[1]) {
		t.Errorf("after poplib's DELE 2 and QUIT the INBOX holds %d messages", len(snap.Messages))
	}
}

func snapUID(uidl string) uint32 {
	var uv, uid uint32
	fmt.Sscanf(uidl, "%d.%d", &uv, &uid)
	return uid
}

func waitNoLocksEnv(t *testing.T, te *testEnv) {
	t.Helper()
	for i := 0; len(te.env.Locks.Snapshot()) > 0; i++ {
		if i == 3000 {
			t.Fatalf("locks still held: %+v", te.env.Locks.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCurl(t *testing.T) {
	curl := requireTool(t, "curl", "curl's POP3 support drives the server")
	f := newClientFixture(t, true)
	base := "pop3://127.0.0.1:" + port(t, f.plainAddr)
	out, err := run(t, f.dir, nil, curl, "-sS", "--max-time", "60", "-u", "alice:secret", base+"/")
	if err != nil {
		t.Fatalf("curl list: %v\n%s", err, out)
	}
	var want strings.Builder
	for i, n := range f.sizes {
		fmt.Fprintf(&want, "%d %d\r\n", i+1, n)
	}
	if out != want.String() {
		t.Errorf("curl list:\n%q\nwant\n%q", out, want.String())
	}
	for i, m := range f.want {
		out, err := run(t, f.dir, nil, curl, "-sS", "--max-time", "60", "-u", "alice:secret", fmt.Sprintf("%s/%d", base, i+1))
		if err != nil {
			t.Fatalf("curl retr %d: %v\n%s", i+1, err, out)
		}
		if out != string(m) {
			t.Errorf("curl retr %d:\n%q\nwant\n%q", i+1, out, m)
		}
	}
	// Over STLS, certificate checked.
	out, err = run(t, f.dir, nil, curl, "-sS", "--max-time", "60", "--ssl-reqd", "--cacert", filepath.Join(f.dir, "cert.pem"),
		"-u", "alice:secret", "pop3://localhost:"+port(t, f.plainAddr)+"/2")
	if err != nil || out != string(f.want[1]) {
		t.Errorf("curl retr over STLS: %v\n%q", err, out)
	}
	// A custom command: UIDL.
	out, err = run(t, f.dir, nil, curl, "-sS", "--max-time", "60", "-u", "alice:secret", "-X", "UIDL", base+"/")
	if err != nil {
		t.Fatalf("curl UIDL: %v\n%s", err, out)
	}
	for i, u := range f.uidls {
		if !strings.Contains(out, fmt.Sprintf("%d %s\r\n", i+1, u)) {
			t.Errorf("curl UIDL lacks %d %s:\n%s", i+1, u, out)
		}
	}
	waitNoLocksEnv(t, f.testEnv)
	if n := len(f.inbox(t, "alice").Messages); n != len(f.want) {
		t.Errorf("%d messages left after curl, want %d", n, len(f.want))
	}
}

// TestFetchmail: fetchmail retrieves every message of a maildrop, byte
// for byte, first with keep over plain text on loopback, then over STLS (the
// test's certificate checked) deleting them.
func TestFetchmail(t *testing.T) {
	fetchmail := requireTool(t, "fetchmail", "apt-get install fetchmail; .ci/run installs it")
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", withTLS), func(t *testing.T) {
			f := newClientFixture(t, withTLS)
			// A larger maildrop: more messages, a long one, lines with dots.
			var big bytes.Buffer
			big.WriteString("From: big@example.org\r\nSubject: big\r\n\r\n")
			for i := 0; i < 20000; i++ {
				fmt.Fprintf(&big, ".line %d of a long message, with a leading dot\r\n", i)
			}
			f.deliver(t, "alice", big.Bytes())
			f.want = append(f.want, big.Bytes())
			for i := 0; i < 20; i++ {
				m := crlf(fmt.Sprintf("From: n%d@example.org\nSubject: number %d\n\nbody %d\n.\n", i, i, i))
				f.deliver(t, "alice", m)
				f.want = append(f.want, m)
			}
			home := t.TempDir()
			outDir := filepath.Join(home, "out")
			if err := os.Mkdir(outDir, 0o700); err != nil {
				t.Fatal(err)
			}
			mda := filepath.Join(home, "mda.sh")
			if err := os.WriteFile(mda, []byte("#!/bin/sh\nf=$(mktemp "+outDir+"/msg.XXXXXXXX) && cat > \"$f\"\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			// set invisible: no Received header; no stripcr: keep CRLF;
			// norewrite: leave addresses alone. So the MDA gets the
			// message exactly as sent (fetchmail man page, "Keywords").
			opts := "no stripcr no rewrite no mimedecode"
			if withTLS {
				opts += " sslproto 'TLS1.2+' sslcertck sslcommonname 'localhost' sslcertfile '" + filepath.Join(f.dir, "cert.pem") + "'"
			} else {
				opts += " sslproto ''"
			}
			if !withTLS {
				opts += " keep"
			} else {
				opts += " nokeep"
			}
			rc := fmt.Sprintf("set no syslog\nset no bouncemail\nset invisible\npoll 127.0.0.1 with proto POP3 port %s\n  user \"alice\" there with password \"secret\" is \"%s\" here\n  options %s\n  mda \"%s\"\n",
				port(t, f.plainAddr), "nobody", opts, mda)
			rcFile := filepath.Join(home, "fetchmailrc")
			if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"HOME=" + home, "FETCHMAILHOME=" + home}
			out, err := run(t, home, env, fetchmail, "-f", rcFile, "--nodetach", "-v", "--pidfile", filepath.Join(home, "pid"))
			if err != nil {
				t.Fatalf("fetchmail: %v\n%s", err, out)
			}
			if withTLS && !strings.Contains(out, "upgrade to TLS succeeded") {
				t.Errorf("fetchmail did not use STLS:\n%s", out)
			}
			files, err := filepath.Glob(filepath.Join(outDir, "msg.*"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range files {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			var want []string
			for _, m := range f.want {
				want = append(want, string(m))
			}
			sort.Strings(got)
			sort.Strings(want)
			if len(got) != len(want) {
				t.Fatalf("fetchmail delivered %d messages, want %d\n%s", len(got), len(want), out)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("message differs:\n got %q\nwant %q", trunc(got[i]), trunc(want[i]))
				}
			}
			waitNoLocksEnv(t, f.testEnv)
			left := len(f.inbox(t, "alice").Messages)
			if withTLS && left != 0 {
				t.Errorf("%d messages left after fetchmail without keep", left)
			}
			if !withTLS && left != len(want) {
				t.Errorf("%d messages left after fetchmail --keep, want %d", left, len(want))
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
