package lmtp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// startServer runs an LMTP server over a new store with one account,
// "alice", and returns its address.
func startServer(t *testing.T) (*Server, *store.Store, string, <-chan error) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	env, err := msdb.Open(ctx, msdb.Options{Home: dir + "/database", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	blobs, err := blob.Open(dir+"/mail", blob.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{HashCost: 4, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, "alice", "x"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(st, Options{Logger: quiet})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return srv, st, ln.Addr().String(), served
}

// TestShutdownIdleSession: Shutdown closes a session that is between
// transactions and returns (go-smtp's Conn.Close calls back into the
// session's Logout, which must not wait for Shutdown's own lock).
func TestShutdownIdleSession(t *testing.T) {
	srv, st, addr, served := startServer(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	// One delivery, then idle.
	msg := "From: a@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := c.Mail("a@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Shutdown with an idle session does not return")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("the session is still open after Shutdown")
	}
	// The delivery acknowledged before is there.
	m, err := st.MailboxStatus(context.Background(), "alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if m.Messages != 1 {
		t.Errorf("INBOX holds %d messages, want 1", m.Messages)
	}
}

// TestLongLines: lines longer than go-smtp's default 2,000 bytes are
// stored as sent; a line over the limit is refused for good (5xx), not
// with a temporary failure an MTA would retry for days.
func TestLongLines(t *testing.T) {
	_, st, addr, _ := startServer(t)
	send := func(body string) error {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClientLMTP(conn)
		defer c.Close()
		if err := c.Hello("test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("alice@example.org", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			return err
		}
		return w.Close()
	}
	long := "Subject: long\r\n\r\n" + strings.Repeat("y", 300000) + "\r\nend\r\n"
	if err := send(long); err != nil {
		t.Fatalf("a 300,000-byte line: %v", err)
	}
	ctx := context.Background()
	m, err := st.MailboxStatus(ctx, "alice", "INBOX")
	if err != nil || m.Messages != 1 {
		t.Fatalf("INBOX after the long line: %+v %v", m, err)
	}
	err = send("Subject: too long\r\n\r\n" + strings.Repeat("z", maxLineLength+10) + "\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("a line over the limit: %v, want a 5xx", err)
	}
}
