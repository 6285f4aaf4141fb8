package bench

import (
	"bytes"
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// checkMessage requires a valid RFC 5322 message with CRLF line ends.
func checkMessage(t *testing.T, msg []byte) *mail.Message {
	t.Helper()
	for i, ch := range msg {
		switch ch {
		case '\n':
			if i == 0 || msg[i-1] != '\r' {
				t.Fatalf("bare LF at %d", i)
			}
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				t.Fatalf("bare CR at %d", i)
			}
		default:
			if ch >= 0x80 || (ch < ' ' && ch != '\t') {
				t.Fatalf("byte %#x at %d", ch, i)
			}
		}
	}
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Fatal("last line has no CRLF")
	}
	for _, l := range bytes.Split(msg, []byte("\r\n")) {
		if len(l) > 998 {
			t.Fatalf("line of %d bytes", len(l))
		}
		if bytes.HasPrefix(l, []byte(".")) {
			t.Fatalf("line starts with a dot: %q", l)
		}
	}
	if err := looksLikeMessage(msg); err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id"} {
		if m.Header.Get(h) == "" {
			t.Fatalf("no %s header in %q", h, msg)
		}
	}
	if _, err := m.Header.Date(); err != nil {
		t.Fatalf("Date: %v", err)
	}
	if _, err := mail.ParseAddress(m.Header.Get("From")); err != nil {
		t.Fatalf("From: %v", err)
	}
	return m
}

func TestMessageExactSizeAndValid(t *testing.T) {
	g := newMsgGen(rand.New(rand.NewPCG(3, 4)))
	for size := MinSize; size < 3000; size++ {
		msg, _ := g.message(kindDelivery, "bench1@example.com", size)
		if len(msg) != size {
			t.Fatalf("size %d: got %d bytes", size, len(msg))
		}
		if size%97 == 0 {
			checkMessage(t, msg)
		}
	}
	for _, size := range []int{4096, 10_000, 65536, 1 << 20} {
		msg, _ := g.message(kindAppend, "a-rather-long-user-name-0123456789@some.example.com", size)
		if len(msg) != size {
			t.Fatalf("size %d: got %d bytes", size, len(msg))
		}
		m := checkMessage(t, msg)
		if !strings.HasPrefix(m.Header.Get("Subject"), subjectMark+kindAppend+" ") {
			t.Fatalf("Subject %q", m.Header.Get("Subject"))
		}
	}
	// Every split of the body's remainder works, one byte included;
	// below the headers' size the message is the headers alone.
	for size := 150; size < 600; size++ {
		msg, _ := g.message(kindDelivery, "u@x", size)
		if len(msg) != size {
			hdrEnd := bytes.Index(msg, []byte("\r\n\r\n")) + 4
			if len(msg) < size || hdrEnd != len(msg) {
				t.Fatalf("size %d: got %d bytes (headers %d)", size, len(msg), hdrEnd)
			}
			continue
		}
		checkMessage(t, msg)
	}
}

func TestMessageIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	g := newMsgGen(rand.New(rand.NewPCG(5, 6)))
	g2 := newMsgGen(rand.New(rand.NewPCG(5, 6))) // same seed: IDs must still differ
	for i := range 20000 {
		gen := g
		if i%2 == 1 {
			gen = g2
		}
		msg, id := gen.message(kindDelivery, "u@example.com", 600)
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("Message-ID"); got != string(id) {
			t.Fatalf("returned id %q, header %q", id, got)
		}
		if _, err := mail.ParseAddress(string(bytes.Trim(id, "<>")) + ""); err != nil {
			t.Fatalf("Message-ID %q: %v", id, err)
		}
		if seen[string(id)] {
			t.Fatalf("Message-ID %s twice", id)
		}
		seen[string(id)] = true
	}
}

func TestMessageDateIsNow(t *testing.T) {
	g := newMsgGen(rand.New(rand.NewPCG(1, 2)))
	msg, _ := g.message(kindDelivery, "u@example.com", 1000)
	m := checkMessage(t, msg)
	d, _ := m.Header.Date()
	if time.Since(d).Abs() > time.Hour {
		t.Fatalf("Date %v", d)
	}
}

func TestDotStuffing(t *testing.T) {
	c, sent := pipeConn(t)
	l := &lmtpConn{conn: c}
	if err := l.writeDotted([]byte(".a\r\nb\r\n..c\r\n.\r\nlast")); err != nil {
		t.Fatal(err)
	}
	c.close()
	want := "..a\r\nb\r\n...c\r\n..\r\nlast\r\n.\r\n"
	if got := <-sent; got != want {
		t.Fatalf("stuffed %q, want %q", got, want)
	}
}
