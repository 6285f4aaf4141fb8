package imap

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// Real peers: Python's imaplib and curl.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func TestPythonImaplib(t *testing.T) {
	py := needTool(t, "python3")
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", msg(1, "first"))
	h, p := hostPort(t, e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/imaplib_suite.py", h, p, "alice", "secret")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if sc.Text() == "IDLING" {
			e.deliver("alice", "", msg(2, "during idle"))
		}
	}
	err = cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "PASS") {
		t.Fatalf("imaplib suite: %v\n%s%s", err, out.String(), stderr.String())
	}
}

func TestPythonTwoSessions(t *testing.T) {
	py := needTool(t, "python3")
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := range 10 {
		e.deliver("alice", "", msg(i, "seed"))
	}
	h, p := hostPort(t, e.addr)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // LMTP-like deliveries while the script runs
		defer wg.Done()
		ctx := context.Background()
		for i := 0; !stop.Load(); i++ {
			in, err := e.st.Ingest(ctx, strings.NewReader(msg(1000+i, "live")), 0)
			if err == nil {
				_, err = e.st.Deliver(ctx, in, []store.Recipient{{Account: "alice"}}, time.Now())
			}
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/imaplib_twosessions.py", h, p, "alice", "secret", "60")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if sc.Text() == "ROUNDS DONE" {
			stop.Store(true)
			wg.Wait()
			stdin.Write([]byte("go\n"))
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "PASS") {
		t.Fatalf("two sessions: %v\n%s%s", err, out.String(), stderr.String())
	}
}

func TestCurl(t *testing.T) {
	curl := needTool(t, "curl")
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", msg(1, "first"))
	e.deliver("alice", "", msg(2, "second"))
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE Archive/2024")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args = append([]string{"-sS", "--max-time", "30", "-u", "alice:secret"}, args...)
		out, err := exec.CommandContext(ctx, curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	base := "imap://" + e.addr
	// LIST
	out := run(base + "/")
	for _, want := range []string{`* LIST (\HasNoChildren) "/" INBOX`, `"Archive/2024"`} {
		if !strings.Contains(out, want) {
			t.Errorf("curl LIST lacks %q:\n%s", want, out)
		}
	}
	// SEARCH
	out = run(base+"/INBOX", "-X", "SEARCH ALL")
	if !strings.Contains(out, "* SEARCH 1 2") {
		t.Errorf("curl SEARCH ALL:\n%s", out)
	}
	out = run(base+"/INBOX", "-X", "SEARCH SUBJECT second")
	if !strings.Contains(out, "* SEARCH 2") {
		t.Errorf("curl SEARCH SUBJECT:\n%s", out)
	}
	out = run(base + "/INBOX?SUBJECT%20first")
	if !strings.Contains(out, "* SEARCH 1") {
		t.Errorf("curl search URL:\n%s", out)
	}
	// FETCH by UID, a section, a partial.
	out = run(base + "/INBOX;UID=1")
	if out != msg(1, "first") {
		t.Errorf("curl UID=1 = %q", out)
	}
	out = run(base + "/INBOX;UID=2;SECTION=HEADER.FIELDS%20(SUBJECT)")
	if out != "Subject: second\r\n\r\n" {
		t.Errorf("curl SECTION = %q", out)
	}
	out = run(base + "/INBOX;UID=2;SECTION=TEXT")
	if out != "Body of message 2.\r\n" {
		t.Errorf("curl TEXT = %q", out)
	}
	out = run(base + "/INBOX;MAILINDEX=2;SECTION=1;PARTIAL=0.4")
	if out != "Body" {
		t.Errorf("curl MAILINDEX/PARTIAL = %q", out)
	}
	// EXAMINE, STATUS through custom commands; APPEND by upload.
	out = run(base+"/", "-X", "STATUS INBOX (MESSAGES UIDNEXT)")
	if !strings.Contains(out, "MESSAGES 2 UIDNEXT 3") {
		t.Errorf("curl STATUS:\n%s", out)
	}
	f := t.TempDir() + "/m.eml"
	if err := os.WriteFile(f, []byte(msg(3, "uploaded")), 0o600); err != nil {
		t.Fatal(err)
	}
	run(base+"/Archive%2F2024", "-T", f)
	out = run(base+"/Archive%2F2024", "-X", "SEARCH SUBJECT uploaded")
	if !strings.Contains(out, "* SEARCH 1") {
		t.Errorf("curl APPEND then SEARCH:\n%s", out)
	}
}
