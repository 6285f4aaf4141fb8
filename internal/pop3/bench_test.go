package pop3

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// benchMessage is a message of about size octets with 76-octet CRLF
// lines, some starting with a dot, distinct for each (account, n).
func benchMessage(account string, n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender@example.org\r\nTo: %s@example.org\r\nSubject: message %d\r\nMessage-ID: <%s.%d@example.org>\r\n\r\n", account, n, account, n)
	for i := 0; b.Len() < size; i++ {
		line := fmt.Sprintf("%s line %d of message %d ", account, i, n)
		if i%50 == 0 {
			line = "." + line
		}
		line += strings.Repeat("x", max(0, 74-len(line)))
		b.WriteString(line[:74] + "\r\n")
	}
	return b.Bytes()
}

// fillAccounts creates accounts named prefix0.. with msgs messages each of
// about size octets, delivering from several goroutines so that commits
// are grouped.
func fillAccounts(b *testing.B, te *testEnv, prefix string, accounts, msgs, size int) []string {
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
		te.addAccount(b, names[i], "secret")
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range msgs {
				in, err := te.st.Ingest(ctx, bytes.NewReader(benchMessage(name, n, size)), 0)
				if err != nil {
					errs <- err
					return
				}
				if _, err := te.st.Deliver(ctx, in, []store.Recipient{{Account: name}}, time.Now()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return names
}

// benchClient is a logged-in connection for the benchmarks.
type benchClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func benchLogin(b *testing.B, addr, user string) *benchClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := &benchClient{conn: conn, r: bufio.NewReaderSize(conn, 32<<10)}
	if _, err := c.r.ReadSlice('\n'); err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "USER %s\r\nPASS secret\r\n", user); err != nil {
		b.Fatal(err)
	}
	for range 2 {
		line, err := c.r.ReadSlice('\n')
		if err != nil || !bytes.HasPrefix(line, []byte("+OK")) {
			b.Fatalf("login %s: %q %v", user, line, err)
		}
	}
	return c
}

// retr retrieves message n and returns the octets of its payload.
func (c *benchClient) retr(n int) (int64, error) {
	if _, err := fmt.Fprintf(c.conn, "RETR %d\r\n", n); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("+OK")) {
		return 0, fmt.Errorf("RETR %d: %q %v", n, line, err)
	}
	var total int64
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return total, err
		}
		if string(line) == ".\r\n" {
			return total, nil
		}
		total += int64(len(line))
	}
}

// BenchmarkRetr: 10 concurrent sessions, each of its own account with 200
// messages of 20 KB, retrieving messages round-robin. One op is one RETR.
func BenchmarkRetr(b *testing.B) {
	const (
		sessions = 10
		msgs     = 200
		size     = 20 << 10
	)
	te := newTestEnv(b)
	names := fillAccounts(b, te, "user", sessions, msgs, size)
	opts := testOptions(b)
	srv := New(te.st, opts)
	addr := serve(b, srv, nil)
	clients := make([]*benchClient, sessions)
	for i, name := range names {
		clients[i] = benchLogin(b, addr, name)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	per := (b.N + sessions - 1) / sessions
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine int64
			for k := 0; k < per && i*per+k < b.N; k++ {
				n, err := c.retr(1 + (i*per+k)%msgs)
				if err != nil {
					b.Error(err)
					return
				}
				mine += n
			}
			mu.Lock()
			total += mine
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	for _, c := range clients {
		fmt.Fprintf(c.conn, "QUIT\r\n")
		c.conn.Close()
	}
}

// rssAnon reads this process's anonymous resident memory in bytes.
func rssAnon(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Skip("no RssAnon in /proc/self/status")
	return 0
}

func settledRSS(b *testing.B) int64 {
	for range 3 {
		runtime.GC()
		debug.FreeOSMemory()
		time.Sleep(50 * time.Millisecond)
	}
	return rssAnon(b)
}

// idleClientsScript logs in one connection per account named on the
// command line and holds them open until stdin closes. The clients run in
// another process so that only the server's memory is measured.
const idleClientsScript = `
import socket, sys
host, port, users = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
conns = []
for u in users:
    s = socket.create_connection((host, port))
    f = s.makefile("rb")
    f.readline()
    s.sendall(("USER %s\r\nPASS secret\r\n" % u).encode())
    for _ in range(2):
        line = f.readline()
        if not line.startswith(b"+OK"):
            print("login failed", u, line, flush=True)
            sys.exit(1)
    conns.append((s, f))
print("ready", flush=True)
sys.stdin.read()
`

// BenchmarkIdleSessionRSS reports the anonymous RSS (RssAnon) a logged-in
// idle session costs the server: 100 sessions, each of its own account
// with 20 messages, against none, divided by 100. The clients are a
// Python process.
func BenchmarkIdleSessionRSS(b *testing.B) {
	const sessions = 100
	python, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 runs the idle clients; not found")
	}
	te := newTestEnv(b)
	names := fillAccounts(b, te, "idle", sessions, 20, 2<<10)
	srv := New(te.st, testOptions(b))
	addr := serve(b, srv, nil)
	host, port, _ := net.SplitHostPort(addr)
	// Warm up: one session logs in and out, so that one-off allocations
	// (bcrypt, TLS-less paths, pools) are not counted.
	c := benchLogin(b, addr, names[0])
	fmt.Fprintf(c.conn, "QUIT\r\n")
	io.Copy(io.Discard, c.r)
	c.conn.Close()
	for range b.N {
		b.StopTimer()
		before := settledRSS(b)
		cmd := exec.Command(python, append([]string{"-c", idleClientsScript, host, port}, names...)...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			b.Fatalf("idle clients: %q %v", line, err)
		}
		if n := len(te.env.Locks.Snapshot()); n != sessions {
			b.Fatalf("%d maildrops locked, want %d", n, sessions)
		}
		after := settledRSS(b)
		b.ReportMetric(float64(after-before)/sessions, "RssAnon-bytes/session")
		stdin.Close()
		cmd.Wait()
		for i := 0; len(te.env.Locks.Snapshot()) > 0 && i < 1000; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		b.StartTimer()
	}
}
