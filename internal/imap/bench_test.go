package imap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// fill delivers n distinct messages into a mailbox of user, from workers
// goroutines so that group commit makes it quick.
func (e *testEnv) fill(tb testing.TB, user, mailbox string, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				in, err := e.st.Ingest(ctx, strings.NewReader(msg(i, fmt.Sprintf("Message number %d of the benchmark", i))), 0)
				if err == nil {
					_, err = e.st.Deliver(ctx, in, []store.Recipient{{Account: user, Mailbox: mailbox}}, time.Now())
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
}

// benchConn sends one command and reads its whole answer, counting bytes.
type benchConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func (b *benchConn) do(tb testing.TB, cmd string) int64 {
	b.tag++
	tag := "b" + strconv.Itoa(b.tag)
	if _, err := fmt.Fprintf(b.c, "%s %s\r\n", tag, cmd); err != nil {
		tb.Fatal(err)
	}
	var n int64
	prefix := []byte(tag + " ")
	for {
		l, err := b.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			n += int64(len(l))
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		n += int64(len(l))
		if bytes.HasPrefix(l, prefix) {
			if !bytes.HasPrefix(l[len(prefix):], []byte("OK")) {
				tb.Fatalf("%s: %s", cmd, l)
			}
			return n
		}
		if m := literalRE.FindSubmatch(bytes.TrimRight(l, "\r\n")); m != nil {
			k, _ := strconv.Atoi(string(m[1]))
			c, err := io.CopyN(io.Discard, b.r, int64(k))
			if err != nil {
				tb.Fatal(err)
			}
			n += c
		}
	}
}

func (e *testEnv) benchConn(tb testing.TB, user string) *benchConn {
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	b := &benchConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if _, err := b.r.ReadString('\n'); err != nil {
		tb.Fatal(err)
	}
	b.do(tb, "LOGIN "+user+" secret")
	return b
}

// FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE) of a 10,000-message mailbox,
// and a few other queries: time, and files opened and bytes read from
// them (none: the cache record answers every one of these, header
// sections included, since it keeps these small headers whole).
func BenchmarkFetch10k(b *testing.B) {
	e := newEnv(b, Options{})
	e.user("bench", "secret")
	e.fill(b, "bench", "", 10000)
	c := e.benchConn(b, "bench")
	c.do(b, "EXAMINE INBOX")
	for _, q := range []string{
		"FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)",
		"FETCH 1:* (FLAGS UID)",
		"FETCH 1:* (BODYSTRUCTURE)",
		"SEARCH SUBJECT \"number 9999 \"",
		"FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])",
		// Thunderbird's message list.
		"FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
		"FETCH 1:* (BODY.PEEK[HEADER])",
		"SEARCH HEADER Message-ID \"<m9999@\"",
	} {
		b.Run(q, func(b *testing.B) {
			opened, read := e.srv.filesOpened.Load(), e.srv.fileBytes.Load()
			var out int64
			b.ResetTimer()
			for range b.N {
				out += c.do(b, q)
			}
			b.StopTimer()
			b.ReportMetric(float64(out)/float64(b.N), "resp-bytes/op")
			b.ReportMetric(float64(e.srv.filesOpened.Load()-opened)/float64(b.N), "files-opened/op")
			b.ReportMetric(float64(e.srv.fileBytes.Load()-read)/float64(b.N), "file-bytes/op")
		})
	}
}

// SELECT (and EXAMINE) of a 100,000-message mailbox.
func BenchmarkSelect100k(b *testing.B) {
	e := newEnv(b, Options{})
	e.user("bench", "secret")
	e.fill(b, "bench", "", 1000)
	ctx := context.Background()
	mb, err := e.st.MailboxStatus(ctx, "bench", "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	uids := make([]uint32, 1000)
	for i := range uids {
		uids[i] = uint32(i + 1)
	}
	for range 99 {
		if _, err := e.st.Copy(ctx, mb.ID, uids, "INBOX", false); err != nil {
			b.Fatal(err)
		}
	}
	c := e.benchConn(b, "bench")
	for _, q := range []string{"SELECT INBOX", "EXAMINE INBOX"} {
		b.Run(q, func(b *testing.B) {
			for range b.N {
				c.do(b, q)
			}
		})
	}
}

func rssAnonKB(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	tb.Skip("no RssAnon")
	return 0
}

// RssAnon of the process per idle logged-in session (with INBOX
// selected), measured over 2,000 sessions. The client ends of the
// connections live in the same process but hold no buffers.
func BenchmarkIdleSessionRSS(b *testing.B) {
	e := newEnv(b, Options{MaxSessions: 100000})
	e.user("bench", "secret")
	e.fill(b, "bench", "", 100)
	const n = 2000
	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	login := []byte("a LOGIN bench secret\r\nb SELECT INBOX\r\n")
	buf := make([]byte, 4096)
	settle := func() int64 {
		runtime.GC()
		debug.FreeOSMemory()
		return rssAnonKB(b)
	}
	// Warm up: one session, so that one-time allocations are not counted.
	for range 2 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.Write(login)
		readUntil(b, c, buf, "b OK")
	}
	before := settle()
	for range n {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(login); err != nil {
			b.Fatal(err)
		}
		readUntil(b, c, buf, "b OK")
	}
	after := settle()
	for range b.N {
	}
	b.ReportMetric(float64(after-before)/n, "RssAnon-KB/session")
	b.ReportMetric(float64(e.srv.sessionCount()), "sessions")
}

func readUntil(tb testing.TB, c net.Conn, buf []byte, marker string) {
	var got []byte
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for !bytes.Contains(got, []byte(marker)) {
		k, err := c.Read(buf)
		if err != nil {
			tb.Fatal(err)
		}
		got = append(got, buf[:k]...)
	}
}
