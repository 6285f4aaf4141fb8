package lmtp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// benchUsers is how many accounts the deliveries are spread over.
const benchUsers = 100

// benchServer is an LMTP server over a store in a temporary directory.
type benchServer struct {
	env  *msdb.Env
	addr string
	srv  *Server
}

func startBenchServer(b *testing.B) *benchServer {
	b.Helper()
	ctx := context.Background()
	// MSTORE_BENCH_DIR keeps the stores (never removed): removing many
	// files right before a run slows ext4's inode allocation for a while
	// (recently deleted inodes are skipped), which would bias the next run.
	dir := b.TempDir()
	if d := os.Getenv("MSTORE_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "run-"); err != nil {
			b.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	env, err := msdb.Open(ctx, msdb.Options{Home: dir + "/database", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := blob.Open(dir+"/mail", blob.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{HashCost: 4, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchUsers {
		if _, err := st.CreateAccount(ctx, fmt.Sprintf("user%03d", i), "x"); err != nil {
			b.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := New(st, Options{MaxMessageSize: 50 << 20, Logger: quiet})
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		env.Close()
	})
	return &benchServer{env: env, addr: ln.Addr().String(), srv: srv}
}

// benchMessage is a distinct message of exactly size bytes.
func benchMessage(serial uint64, rcpt string, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, size+128), "From: bench@example.net\r\nTo: %s\r\nSubject: benchmark message %d\r\nMessage-ID: <%d.bench@example.net>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", rcpt, serial, serial)
	line := []byte("The quick brown fox jumps over the lazy dog, again and again. 0123456789\r\n")
	for len(b) < size {
		b = append(b, line...)
	}
	b = b[:size-2]
	return append(b, "\r\n"...)
}

// BenchmarkDeliverLMTP delivers distinct 4 KB messages, one recipient each
// (a random one of 100 accounts), through the real LMTP server over TCP
// from 1, 4 and 16 concurrent go-smtp LMTP clients, each waiting for its
// delivery's 250 before the next. It reports acknowledged deliveries per
// second, the committer's average group size during the run, and its
// average log sync and table apply times (since the store was opened).
// MSTORE_BENCH_SIZE sets the message size; MSTORE_BENCH_DIR keeps the
// stores there (see startBenchServer). The server runs with the test's
// GOMAXPROCS, not the daemon's (cmd/mstore raises it to at least 4).
func BenchmarkDeliverLMTP(b *testing.B) {
	size := 4096
	if s := os.Getenv("MSTORE_BENCH_SIZE"); s != "" {
		size, _ = strconv.Atoi(s)
	}
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			bs := startBenchServer(b)
			clients := make([]*smtp.Client, conns)
			for i := range clients {
				conn, err := net.Dial("tcp", bs.addr)
				if err != nil {
					b.Fatal(err)
				}
				c := smtp.NewClientLMTP(conn)
				if err := c.Hello("bench.example.net"); err != nil {
					b.Fatal(err)
				}
				clients[i] = c
				defer c.Close()
			}
			ctx := context.Background()
			st0, err := bs.env.Stats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var next, serial atomic.Uint64
			var wg sync.WaitGroup
			b.SetBytes(int64(size))
			b.ResetTimer()
			for ci, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(ci), uint64(time.Now().UnixNano())))
					for next.Add(1) <= uint64(b.N) {
						rcpt := fmt.Sprintf("user%03d@example.org", rng.IntN(benchUsers))
						msg := benchMessage(serial.Add(1), rcpt, size)
						if err := deliverOne(c, rcpt, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			if st1, err := bs.env.Stats(ctx); err == nil && st1.Groups > st0.Groups {
				groups := st1.Groups - st0.Groups
				b.ReportMetric(float64(st1.Commits-st0.Commits)/float64(groups), "txn/group")
				b.ReportMetric(float64(st1.AvgLogSync.Microseconds()), "logsync-µs")
				b.ReportMetric(float64(st1.AvgApply.Microseconds()), "apply-µs")
			}
		})
	}
}

func deliverOne(c *smtp.Client, rcpt string, msg []byte) error {
	if err := c.Mail("bench@example.net", nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	resp, err := w.CloseWithLMTPResponse()
	if err != nil {
		return fmt.Errorf("DATA end: %w", err)
	}
	if resp[rcpt] == nil {
		return fmt.Errorf("DATA end: no status for %s", rcpt)
	}
	return nil
}
