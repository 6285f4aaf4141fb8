package daemon

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIMAPModelConsistency runs testdata/imapmodel.py against the running
// daemon: three IMAP sessions on one INBOX each keep a model of sequence
// number -> UID and flags, updated only from the untagged responses they
// are sent, while LMTP delivers and the sessions fetch, store, search,
// copy, move, expunge and idle at random. The script checks every FETCH's
// sequence number against the model, that no EXPUNGE comes during FETCH,
// STORE or SEARCH or outside a command, that UIDs ascend and are never
// reused, that UIDVALIDITY stays, and, with the load paused, that each
// model equals the server's UID FETCH 1:* (UID FLAGS) exactly. First the
// script's --self-test shows that its checks catch injected wrong
// responses.
func TestIMAPModelConsistency(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	script := filepath.Join("testdata", "imapmodel.py")
	run := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), runGuard)
		defer cancel()
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, python, append([]string{script}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Errorf("imapmodel.py %s: still running after %v, killed", strings.Join(args, " "), runGuard)
		}
		return out.String(), err
	}

	if out, err := run("--self-test"); err != nil || !strings.Contains(out, "all detected") {
		t.Fatalf("imapmodel.py --self-test: the checks do not catch injected violations (%v):\n%s", err, out)
	}

	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("mona", "pw-mona")
	_, imapPort, _ := strings.Cut(d.imap, ":")
	_, lmtpPort, _ := strings.Cut(d.addr, ":")
	start := time.Now()
	out, err := run("--imap-port", imapPort, "--lmtp-port", lmtpPort, "--user", "mona", "--password", "pw-mona",
		"--recipient", "mona@example.org", "--seconds", "15", "--sessions", "3")
	var ee *exec.ExitError
	switch {
	case err == nil:
		t.Logf("%s(%v)", out, time.Since(start).Round(time.Second))
	case errors.As(err, &ee):
		t.Fatalf("imapmodel.py found violations (exit %d):\n%s\n--- daemon log:\n%s", ee.ExitCode(), out, d.logTail())
	default:
		t.Fatalf("imapmodel.py: %v\n%s", err, out)
	}
}
