package daemon

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestPOP3ThroughDaemon: mail delivered by LMTP to the running daemon is
// listed and retrieved byte for byte by curl's POP3 client on the daemon's
// pop3-listen address, and DELE through curl removes it.
func TestPOP3ThroughDaemon(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("pat", "pw-pat")
	send := goSMTPSender(d.addr)
	msgs := [][]byte{testMessage("pop3-1"), sizedMessage("pop3-2", 200000)}
	for _, m := range msgs {
		if _, data := send(t, "sender@example.net", []string{"pat@example.org"}, m); len(data) != 1 || data[0].Code != 250 {
			t.Fatalf("delivery: %+v", data)
		}
	}
	curl := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "60", "-u", "pat:pw-pat"}, args...)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, errb.String())
		}
		return out
	}
	list := string(curl("pop3://" + d.pop3 + "/"))
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 2 {
		t.Fatalf("LIST through the daemon: %q", list)
	}
	for i, m := range msgs {
		got := curl("pop3://" + d.pop3 + "/" + string(rune('1'+i)))
		if !bytes.Equal(got, m) {
			t.Errorf("RETR %d: %d bytes, want the %d delivered", i+1, len(got), len(m))
		}
	}
	curl("pop3://"+d.pop3+"/1", "-X", "DELE", "-I")
	if lines := strings.Split(strings.TrimSpace(string(curl("pop3://"+d.pop3+"/"))), "\n"); len(lines) != 1 {
		t.Fatalf("after DELE of message 1: %q", lines)
	}
}
