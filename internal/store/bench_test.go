package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
)

// BenchmarkDeliver4K measures deliveries of distinct 4 KB messages (file
// stored and synced, parsed, one transaction) with 1, 4 and 16 concurrent
// deliverers: the store's part of an LMTP delivery.
func BenchmarkDeliver4K(b *testing.B) {
	for _, conc := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			env, err := msdb.Open(ctx, msdb.Options{Home: dir + "/db"})
			if err != nil {
				b.Fatal(err)
			}
			defer env.Close()
			blobs, err := blob.Open(dir + "/mail")
			if err != nil {
				b.Fatal(err)
			}
			s, err := Open(ctx, env, blobs, Options{HashCost: 4})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.CreateAccount(ctx, "bench", "x"); err != nil {
				b.Fatal(err)
			}
			body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 62)
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						msg := fmt.Appendf(nil, "From: a@example.org\r\nTo: bench@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@bench>\r\n\r\n", i, i)
						msg = append(msg, body...)
						in, err := s.Ingest(ctx, bytes.NewReader(msg), 0)
						if err != nil {
							b.Error(err)
							return
						}
						res, err := s.Deliver(ctx, in, []Recipient{{Account: "bench"}}, time.Now())
						if err != nil || res[0].Err != nil {
							b.Error(err, res[0].Err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
