package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/m-store/mstore/internal/store"
)

// rcptReply is one recipient's reply after DATA, in the order received.
type rcptReply struct {
	rcpt string
	reply
}

// sender runs one LMTP transaction: the RCPT replies by recipient and the
// replies after DATA, one per accepted recipient.
type sender func(t *testing.T, from string, rcpts []string, msg []byte) (map[string]reply, []rcptReply)

// goSMTPSender delivers with go-smtp's LMTP client.
func goSMTPSender(addr string) sender {
	return func(t *testing.T, from string, rcpts []string, msg []byte) (map[string]reply, []rcptReply) {
		t.Helper()
		res, err := lmtpSend(addr, from, rcpts, msg)
		if err != nil {
			t.Fatalf("go-smtp: deliver to %v: %v", rcpts, err)
		}
		var data []rcptReply
		for _, r := range rcpts {
			if rep, ok := res.data[r]; ok {
				data = append(data, rcptReply{r, rep})
			}
		}
		return res.rcpt, data
	}
}

// pythonSender delivers with Python's smtplib.LMTP (testdata/lmtp_client.py).
func pythonSender(addr string) sender {
	host, port, _ := strings.Cut(addr, ":")
	return func(t *testing.T, from string, rcpts []string, msg []byte) (map[string]reply, []rcptReply) {
		t.Helper()
		req, _ := json.Marshal(map[string]any{"host": host, "port": port, "from": from, "rcpts": rcpts,
			"message": base64.StdEncoding.EncodeToString(msg)})
		cmd := exec.Command("python3", filepath.Join("testdata", "lmtp_client.py"))
		cmd.Stdin = bytes.NewReader(req)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("python3 lmtp_client.py: %v\n%s", err, errb.String())
		}
		var ans struct {
			LHLO int               `json:"lhlo"`
			Mail []json.RawMessage `json:"mail"`
			Rcpt [][]any           `json:"rcpt"`
			Data [][]any           `json:"data"`
		}
		if err := json.Unmarshal(out.Bytes(), &ans); err != nil {
			t.Fatalf("python3 lmtp_client.py: bad answer %q: %v", out.String(), err)
		}
		if ans.LHLO != 250 {
			t.Fatalf("smtplib: LHLO answered %d", ans.LHLO)
		}
		parse := func(v []any) (string, reply) {
			text := v[2].(string)
			enh, rest, _ := strings.Cut(text, " ")
			if strings.Count(enh, ".") != 2 {
				enh, rest = "", text
			}
			return v[0].(string), reply{Code: int(v[1].(float64)), Enh: enh, Text: rest}
		}
		rc := map[string]reply{}
		for _, v := range ans.Rcpt {
			r, rep := parse(v)
			rc[r] = rep
		}
		var data []rcptReply
		for _, v := range ans.Data {
			r, rep := parse(v)
			data = append(data, rcptReply{r, rep})
		}
		return rc, data
	}
}

// testMessage is a message with lines that LMTP must dot-stuff and
// unstuff, 8-bit text, and CRLF line ends.
func testMessage(id string) []byte {
	return message([]string{
		"From: Sender <sender@example.net>",
		"To: Someone <someone@example.org>",
		"Subject: message " + id,
		"Message-ID: <" + id + "@test.example>",
		"Date: Mon, 02 Jun 2025 10:00:00 +0000",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
	},
		"Hello, this is message "+id+".",
		".a line starting with a dot",
		"..a line starting with two dots",
		".",
		"...",
		" . not at the start",
		"Grüße, ünïcödé ✓",
		"",
		"-- ",
		"the end of "+id)
}

// sizedMessage is a message of exactly n bytes (n at least ~120), with
// CRLF line ends.
func sizedMessage(id string, n int) []byte {
	var b bytes.Buffer
	b.Write(message([]string{
		"From: sender@example.net",
		"Subject: sized " + id,
		"Message-ID: <" + id + "@test.example>",
	}))
	for rem := n - b.Len(); rem > 0; rem = n - b.Len() {
		l := max(0, min(70, rem-2))
		if rem-(l+2) == 1 { // leave room for a last, empty line
			l--
		}
		b.WriteString(strings.Repeat("x", l) + "\r\n")
	}
	if b.Len() != n {
		panic(fmt.Sprintf("sizedMessage(%q, %d) made %d bytes", id, n, b.Len()))
	}
	return b.Bytes()
}

// mbKey names a mailbox of an account.
type mbKey struct{ account, mailbox string }

// lmtpScenario sets up accounts (alice, bob, carol@example.org, dave with
// a quota) and alice's mailbox "work", delivers with send, checks every
// reply, then stops the daemon and checks the stored bytes exactly.
func lmtpScenario(t *testing.T, newSender func(addr string) sender) {
	d := newDaemon(t, daemonOptions{})
	send := newSender(d.addr)
	// Accounts made directly, on the stopped store.
	for _, a := range []string{"alice", "bob", "carol@example.org", "dave"} {
		d.addUser(a, "pw-"+a)
	}
	d.withStore(func(ctx context.Context, st *store.Store) {
		if _, err := st.CreateMailbox(ctx, "alice", "work", ""); err != nil {
			t.Fatalf("create alice/work: %v", err)
		}
	})
	d.start()
	d.ok(nil, "mstore", "user", "quota", "dave", "3000")

	want := map[mbKey][][]byte{}
	type step struct {
		name    string
		rcpts   []string
		msg     []byte
		atRcpt  map[string]string // rcpt → "code enh" refused at RCPT
		atData  map[string]string // rcpt → "code enh" after DATA
		deliver map[string]mbKey  // rcpt → where its copy goes
	}
	ok := "250 2.0.0"
	unknown := "550 5.1.1"
	m4, m5 := sizedMessage("m4", 2000), sizedMessage("m5", 2000)
	steps := []step{
		{name: "one recipient", rcpts: []string{"alice@example.org"}, msg: testMessage("m1"),
			atData: map[string]string{"alice@example.org": ok}, deliver: map[string]mbKey{"alice@example.org": {"alice", "INBOX"}}},
		{name: "several recipients", rcpts: []string{"alice@example.org", "bob@example.org", "carol@example.org"}, msg: testMessage("m2"),
			atData:  map[string]string{"alice@example.org": ok, "bob@example.org": ok, "carol@example.org": ok},
			deliver: map[string]mbKey{"alice@example.org": {"alice", "INBOX"}, "bob@example.org": {"bob", "INBOX"}, "carol@example.org": {"carol@example.org", "INBOX"}}},
		{name: "unknown recipients", rcpts: []string{"nobody@example.org", "bob@example.org", "ghost@example.net"}, msg: testMessage("m3"),
			atRcpt: map[string]string{"nobody@example.org": unknown, "ghost@example.net": unknown},
			atData: map[string]string{"bob@example.org": ok}, deliver: map[string]mbKey{"bob@example.org": {"bob", "INBOX"}}},
		{name: "under quota", rcpts: []string{"dave@example.org", "bob@example.org"}, msg: m4,
			atData: map[string]string{"dave@example.org": ok, "bob@example.org": ok}, deliver: map[string]mbKey{"dave@example.org": {"dave", "INBOX"}, "bob@example.org": {"bob", "INBOX"}}},
		{name: "over quota", rcpts: []string{"dave@example.org", "bob@example.org"}, msg: m5,
			atData: map[string]string{"dave@example.org": "452 4.2.2", "bob@example.org": ok}, deliver: map[string]mbKey{"bob@example.org": {"bob", "INBOX"}}},
		{name: "+detail into an existing mailbox", rcpts: []string{"alice+work@example.org"}, msg: testMessage("m6"),
			atData: map[string]string{"alice+work@example.org": ok}, deliver: map[string]mbKey{"alice+work@example.org": {"alice", "work"}}},
		{name: "+detail without the mailbox, and case", rcpts: []string{"alice+nope@example.org", "Bob+work@Example.ORG"}, msg: testMessage("m7"),
			atData:  map[string]string{"alice+nope@example.org": ok, "Bob+work@Example.ORG": ok},
			deliver: map[string]mbKey{"alice+nope@example.org": {"alice", "INBOX"}, "Bob+work@Example.ORG": {"bob", "INBOX"}}},
		{name: "address account, case-insensitive", rcpts: []string{"CAROL@EXAMPLE.ORG"}, msg: testMessage("m8"),
			atData: map[string]string{"CAROL@EXAMPLE.ORG": ok}, deliver: map[string]mbKey{"CAROL@EXAMPLE.ORG": {"carol@example.org", "INBOX"}}},
		{name: "only unknown recipients", rcpts: []string{"nobody@example.org"}, msg: testMessage("m9"),
			atRcpt: map[string]string{"nobody@example.org": unknown}},
	}
	for _, s := range steps {
		rc, data := send(t, "sender@example.net", s.rcpts, s.msg)
		var accepted []string
		for _, r := range s.rcpts {
			got := rc[r]
			if w, refused := s.atRcpt[r]; refused {
				if fmt.Sprintf("%d %s", got.Code, got.Enh) != w {
					t.Errorf("%s: RCPT %s: got %v, want %s", s.name, r, got, w)
				}
				continue
			}
			if got.Code != 250 {
				t.Errorf("%s: RCPT %s: got %v, want 250", s.name, r, got)
			}
			accepted = append(accepted, r)
		}
		if len(data) != len(accepted) {
			t.Errorf("%s: %d replies after DATA, want %d (one per accepted recipient): %v", s.name, len(data), len(accepted), data)
		}
		for i, r := range accepted {
			if i >= len(data) {
				break
			}
			got := data[i]
			if got.rcpt != r {
				t.Errorf("%s: reply %d after DATA is for %s, want %s", s.name, i+1, got.rcpt, r)
			}
			if w := s.atData[r]; fmt.Sprintf("%d %s", got.Code, got.Enh) != w {
				t.Errorf("%s: after DATA, %s: got %v, want %s", s.name, r, got.reply, w)
			}
			if got.Code == 250 && !strings.Contains(got.Text, "<"+r+">") {
				t.Errorf("%s: after DATA, the reply for %s does not name it: %v", s.name, r, got.reply)
			}
		}
		for _, r := range s.rcpts {
			if k, ok := s.deliver[r]; ok {
				want[k] = append(want[k], s.msg)
			}
		}
	}

	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		files := map[string]string{} // content → message file id: the same content is stored once
		for _, k := range []mbKey{{"alice", "INBOX"}, {"alice", "work"}, {"bob", "INBOX"}, {"carol@example.org", "INBOX"}, {"dave", "INBOX"}} {
			m, msgs := readMailbox(t, ctx, st, k.account, k.mailbox)
			got := make([][]byte, len(msgs))
			for i, msg := range msgs {
				got[i] = msg.Bytes
				if f, ok := files[string(msg.Bytes)]; ok && f != msg.Blob {
					t.Errorf("%s/%s UID %d: the same content is in two message files, %s and %s", k.account, k.mailbox, msg.UID, f, msg.Blob)
				}
				files[string(msg.Bytes)] = msg.Blob
				if msg.UID != uint32(i+1) {
					t.Errorf("%s/%s: message %d has UID %d, want %d", k.account, k.mailbox, i+1, msg.UID, i+1)
				}
			}
			sameMessages(t, k.account+"/"+k.mailbox, got, want[k])
			if m.UIDNext != uint32(len(msgs)+1) {
				t.Errorf("%s/%s: UIDNEXT %d after %d messages", k.account, k.mailbox, m.UIDNext, len(msgs))
			}
			var size int64
			for _, b := range got {
				size += int64(len(b))
			}
			if m.Bytes != size {
				t.Errorf("%s/%s: the mailbox counts %d bytes, its messages have %d", k.account, k.mailbox, m.Bytes, size)
			}
		}
		a, err := st.Account(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		if a.QuotaBytes != 3000 || a.UsedBytes != int64(len(m4)) || a.UsedMessages != 1 {
			t.Errorf("dave: quota %d, used %d bytes in %d messages; want quota 3000, %d bytes in 1 message",
				a.QuotaBytes, a.UsedBytes, a.UsedMessages, len(m4))
		}
	})
}

// TestLMTPPython delivers with Python's smtplib.LMTP.
func TestLMTPPython(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	lmtpScenario(t, pythonSender)
}

// TestLMTPGoSMTP delivers with go-smtp's LMTP client.
func TestLMTPGoSMTP(t *testing.T) {
	t.Parallel()
	lmtpScenario(t, goSMTPSender)
}

// TestLMTPMaxMessageSize: a message over max-message-size gets 552 5.3.4
// for every recipient and nothing is stored; one at the limit or under it
// is delivered.
func TestLMTPMaxMessageSize(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{extra: []string{"max-message-size = 1K"}})
	d.addUser("alice", "pw")
	d.addUser("bob", "pw")
	d.start()
	rcpts := []string{"alice@example.org", "bob@example.org"}
	want := map[string][][]byte{} // rcpt → the messages acknowledged, to be stored
	for _, c := range []struct {
		size int
		ok   bool
	}{{1000, true}, {1024, true}, {1025, false}, {5000, false}, {200 << 10, false}} {
		msg := sizedMessage(fmt.Sprintf("size%d", c.size), c.size)
		res, err := lmtpSend(d.addr, "sender@example.net", rcpts, msg)
		if err != nil {
			t.Fatalf("deliver %d bytes: %v", c.size, err)
		}
		for _, r := range rcpts {
			got := res.data[r]
			switch {
			case c.ok && !got.is(250, "2.0.0"):
				t.Errorf("%d-byte message (max-message-size 1K) to %s: got %v, want 250 2.0.0", c.size, r, got)
			case !c.ok && !got.is(552, "5.3.4"):
				t.Errorf("%d-byte message (max-message-size 1K) to %s: got %v, want 552 5.3.4", c.size, r, got)
			}
		}
		for _, r := range rcpts {
			if res.acked(r) {
				want[r] = append(want[r], msg)
			}
		}
	}
	// Python's smtplib gets the same: one 552 5.3.4 per recipient.
	if _, err := exec.LookPath("python3"); err == nil {
		rc, data := pythonSender(d.addr)(t, "sender@example.net", rcpts, sizedMessage("python-big", 5000))
		if len(data) != len(rcpts) {
			t.Errorf("smtplib, 5000-byte message: %d replies after DATA, want %d (RCPT: %v)", len(data), len(rcpts), rc)
		}
		for _, r := range data {
			if !r.is(552, "5.3.4") {
				t.Errorf("smtplib, 5000-byte message (max-message-size 1K) to %s: got %v, want 552 5.3.4", r.rcpt, r.reply)
			}
		}
	}
	// The connection is still usable after a refused message: a small one
	// on the same connection goes through.
	l, err := dialLMTP(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	big := sizedMessage("big-then-small", 3000)
	if res, err := l.send("sender@example.net", rcpts[:1], big); err != nil || !res.data[rcpts[0]].is(552, "5.3.4") {
		t.Errorf("3000-byte message: %v %v, want 552 5.3.4", res.data, err)
	}
	small := sizedMessage("small-after-big", 500)
	if res, err := l.send("sender@example.net", rcpts[:1], small); err != nil || !res.acked(rcpts[0]) {
		t.Errorf("500-byte message after a refused one on the same connection: %v %v, want 250", res.data, err)
	}
	l.close()

	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		sameMessages(t, "alice/INBOX", mailboxBytes(t, ctx, st, "alice", "INBOX"), append(want[rcpts[0]], small))
		sameMessages(t, "bob/INBOX", mailboxBytes(t, ctx, st, "bob", "INBOX"), want[rcpts[1]])
	})
}

// TestLMTPWire speaks LMTP line by line: the dot-unstuffing on the wire,
// CRLF kept, one reply per recipient in RCPT order, and a recipient whose
// account goes between RCPT and DATA.
func TestLMTPWire(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	for _, a := range []string{"alice", "bob", "carol"} {
		d.addUser(a, "pw")
	}
	d.start()

	c := dialRaw(t, d.addr)
	defer c.close()
	if rep := c.cmd(t, "LHLO client.test"); rep.Code != 250 {
		t.Fatalf("LHLO: %v", rep)
	}
	if rep := c.cmd(t, "MAIL FROM:<sender@example.net>"); rep.Code != 250 {
		t.Fatalf("MAIL: %v", rep)
	}
	for _, r := range []string{"bob@example.org", "nobody@example.org", "alice@example.org"} {
		rep := c.cmd(t, "RCPT TO:<"+r+">")
		want := 250
		if r == "nobody@example.org" {
			want = 550
			if rep.Enh != "5.1.1" {
				t.Errorf("RCPT %s: %v, want 550 5.1.1", r, rep)
			}
		}
		if rep.Code != want {
			t.Errorf("RCPT %s: %v, want %d", r, rep, want)
		}
	}
	if rep := c.cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %v", rep)
	}
	// As a client sends it: dot-stuffed.
	wire := "Subject: wire\r\nMessage-ID: <wire@test.example>\r\n\r\n..one dot\r\n...two dots\r\n..\r\nx.y\r\n\r\n.\r\n"
	stored := "Subject: wire\r\nMessage-ID: <wire@test.example>\r\n\r\n.one dot\r\n..two dots\r\n.\r\nx.y\r\n\r\n"
	if _, err := c.conn.Write([]byte(wire)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bob@example.org", "alice@example.org"} {
		rep := c.read(t)
		if !rep.is(250, "2.0.0") || !strings.Contains(rep.Text, "<"+r+">") {
			t.Errorf("after DATA, want 250 2.0.0 for <%s> next, got %v", r, rep)
		}
	}

	// carol is accepted at RCPT, then deleted before DATA: her copy is
	// refused as unknown, bob's is delivered.
	if rep := c.cmd(t, "MAIL FROM:<sender@example.net>"); rep.Code != 250 {
		t.Fatalf("MAIL: %v", rep)
	}
	for _, r := range []string{"carol@example.org", "bob@example.org"} {
		if rep := c.cmd(t, "RCPT TO:<"+r+">"); rep.Code != 250 {
			t.Fatalf("RCPT %s: %v", r, rep)
		}
	}
	d.ok(nil, "mstore", "user", "del", "carol")
	if rep := c.cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %v", rep)
	}
	second := "Subject: second\r\n\r\nbody\r\n"
	c.conn.Write([]byte(second + ".\r\n"))
	if rep := c.read(t); rep.Code/100 != 5 || !strings.Contains(rep.Text, "<carol@example.org>") {
		t.Errorf("after DATA, carol (deleted after RCPT): got %v, want a 5xx (550 5.1.1)", rep)
	} else if !rep.is(550, "5.1.1") {
		t.Logf("carol deleted after RCPT: %v", rep)
	}
	if rep := c.read(t); !rep.is(250, "2.0.0") {
		t.Errorf("after DATA, bob: got %v, want 250 2.0.0", rep)
	}
	if rep := c.cmd(t, "QUIT"); rep.Code != 221 {
		t.Errorf("QUIT: %v", rep)
	}

	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		sameMessages(t, "alice/INBOX", mailboxBytes(t, ctx, st, "alice", "INBOX"), [][]byte{[]byte(stored)})
		sameMessages(t, "bob/INBOX", mailboxBytes(t, ctx, st, "bob", "INBOX"), [][]byte{[]byte(stored), []byte(second)})
	})
}
