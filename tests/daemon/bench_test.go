package daemon

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkLMTP4K delivers 4 KB messages (each distinct) to one account
// over 1, 4 and 16 concurrent LMTP connections, and reports deliveries per
// second and the daemon's anonymous RSS (RssAnon, KB) at the end.
func BenchmarkLMTP4K(b *testing.B) {
	d := newDaemon(b, daemonOptions{})
	d.addUser("bench", "pw")
	pid := d.start()
	var serial atomic.Int64
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			clients := make([]*lmtpClient, conns)
			for i := range clients {
				l, err := dialLMTP(d.addr)
				if err != nil {
					b.Fatal(err)
				}
				clients[i] = l
			}
			defer func() {
				for _, l := range clients {
					l.close()
				}
			}()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, l := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						msg := sizedMessage(fmt.Sprintf("bench-%012d", serial.Add(1)), 4096)
						res, err := l.send("bench@example.net", []string{"bench@example.org"}, msg)
						if err != nil || !res.acked("bench@example.org") {
							b.Errorf("deliver: %v %v", res.data, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			if v, err := procStatus(pid, "RssAnon"); err == nil {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
				b.ReportMetric(kb, "RssAnon-KB")
			} else {
				b.Logf("RssAnon: %v", err)
			}
		})
	}
}
