package daemon

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestIMAPThroughDaemon: curl's IMAP client lists, searches and fetches a
// mailbox on the running daemon's imap-listen address.
func TestIMAPThroughDaemon(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("ivy", "pw-ivy")
	send := goSMTPSender(d.addr)
	msg := testMessage("imap-1")
	if _, data := send(t, "sender@example.net", []string{"ivy@example.org"}, msg); len(data) != 1 || data[0].Code != 250 {
		t.Fatalf("delivery: %+v", data)
	}
	curl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "60", "-u", "ivy:pw-ivy"}, args...)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, errb.String())
		}
		return string(out)
	}
	if got := curl("imap://" + d.imap + "/"); !strings.Contains(got, "INBOX") {
		t.Errorf("LIST: %q", got)
	}
	if got := curl("imap://"+d.imap+"/INBOX", "-X", "SEARCH ALL"); strings.TrimSpace(got) != "* SEARCH 1" {
		t.Errorf("SEARCH ALL: %q", got)
	}
	if got := curl("imap://" + d.imap + "/INBOX;UID=1"); got != string(msg) {
		t.Errorf("FETCH UID 1: %d bytes, want the %d delivered", len(got), len(msg))
	}
}

// TestIMAPExpungeDuringPOP3: an IMAP session expunges from INBOX while a
// POP3 session holds it (both through the daemon, Python's imaplib and
// poplib): the POP3 session's numbers and RETR stay valid until it ends,
// DELE of the expunged message does not fail, and at the end exactly the
// message neither removed is left: none lost, none twice.
func TestIMAPExpungeDuringPOP3(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("otto", "pw-otto")
	send := goSMTPSender(d.addr)
	var msgs [][]byte
	for _, id := range []string{"mix-1", "mix-2", "mix-3"} {
		m := testMessage(id)
		msgs = append(msgs, m)
		if _, data := send(t, "sender@example.net", []string{"otto@example.org"}, m); len(data) != 1 || data[0].Code != 250 {
			t.Fatalf("delivery: %+v", data)
		}
	}
	ph, pp, _ := strings.Cut(d.pop3, ":")
	ih, ip, _ := strings.Cut(d.imap, ":")
	cmd := exec.Command("python3", filepath.Join("testdata", "imap_pop3_interplay.py"), ph, pp, ih, ip, "otto", "pw-otto")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("interplay script: %v\n%s", err, errb.String())
	}
	var r struct {
		StatBefore []int    `json:"pop_stat_before"`
		UIDLBefore []string `json:"pop_uidl_before"`
		Expunge    []string `json:"imap_expunge"`
		StatDuring []int    `json:"pop_stat_during"`
		Retr1      []byte   `json:"pop_retr1"` // base64, decoded by encoding/json
		Retr2      []byte   `json:"pop_retr2"`
		Quit       string   `json:"pop_quit"`
		IMAPAfter  string   `json:"imap_after"`
		StatAfter  []int    `json:"pop_stat_after"`
		UIDLAfter  []string `json:"pop_uidl_after"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.StatBefore[0] != 3 || len(r.Expunge) != 1 || r.StatDuring[0] != 3 {
		t.Fatalf("POP3 view changed under an IMAP expunge: %+v", r)
	}
	// poplib strips the line ends and un-stuffs; compare the text.
	norm := func(b []byte) string { return strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") }
	if norm(r.Retr1) != norm(msgs[0]) || norm(r.Retr2) != norm(msgs[1]) {
		t.Errorf("RETR during the expunge did not return the delivered messages:\n%q\n%q", r.Retr1, msgs[0])
	}
	if !strings.HasPrefix(r.Quit, "+OK") {
		t.Errorf("QUIT: %q", r.Quit)
	}
	if r.StatAfter[0] != 1 || len(r.UIDLAfter) != 1 || !strings.HasSuffix(r.UIDLAfter[0], strings.Fields(r.UIDLBefore[2])[1]) {
		t.Errorf("after both sessions: stat %v, uidl %v (before %v)", r.StatAfter, r.UIDLAfter, r.UIDLBefore)
	}
	if r.IMAPAfter != "1" {
		t.Errorf("IMAP SEARCH ALL after: %q, want 1", r.IMAPAfter)
	}
}
