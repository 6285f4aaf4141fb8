package msdb

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchValue is a 300-byte record, the size of a message's metadata.
var benchValue = func() []byte {
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

func dirBytes(t testing.TB, dir string) int64 {
	var n int64
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			n += fi.Size()
		}
	}
	return n
}

// BenchmarkCommit measures transactions of one ~300-byte put with 1, 16
// and 64 concurrent committers: commits/s, latency percentiles, and the log
// and table bytes each transaction costs.
func BenchmarkCommit(b *testing.B) {
	for _, committers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("committers=%d", committers), func(b *testing.B) {
			dir := b.TempDir()
			e, err := Open(context.Background(), Options{Home: dir, LogFileSize: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := e.CreateTable(ctx, "messages", TableOptions{FillPercent: 0.95}); err != nil {
				b.Fatal(err)
			}
			logStart := e.w.Durable()
			var next atomic.Uint64
			lat := make([][]time.Duration, committers)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for c := range committers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > uint64(b.N) {
							return
						}
						key := binary.BigEndian.AppendUint64([]byte("mbox-0001/"), i)
						t0 := time.Now()
						err := e.Update(ctx, func(tx *Tx) error {
							t, err := tx.Table("messages")
							if err != nil {
								return err
							}
							return t.Put(key, benchValue)
						})
						lat[c] = append(lat[c], time.Since(t0))
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			end := e.w.Durable()
			var used int64
			if st, err := e.Stats(ctx); err == nil {
				b.Logf("groups %d avg %.1f, log sync %v, apply %v", st.Groups, st.AvgGroup, st.AvgLogSync, st.AvgApply)
				for _, t := range st.Tables {
					if t.Name == "messages" {
						used = t.Used
					}
				}
			}
			logBytes := int64(end.Offset) - int64(logStart.Offset) + int64(end.File-logStart.File)*(64<<20)
			if err := e.Close(); err != nil {
				b.Fatal(err)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(logBytes)/float64(b.N), "log-B/txn")
			// Table bytes: pages in use, not bbolt's preallocated tail.
			b.ReportMetric(float64(used)/float64(b.N), "table-B/txn")
		})
	}
}

// BenchmarkReplay measures recovery's replay speed: a log of ~300-byte
// transactions replayed into tables restored from before it.
func BenchmarkReplay(b *testing.B) {
	const records = 100000
	dir := b.TempDir()
	ctx := context.Background()
	e, err := Open(ctx, Options{Home: dir, LogFileSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.CreateTable(ctx, "messages", TableOptions{FillPercent: 0.95}); err != nil {
		b.Fatal(err)
	}
	snap := filepath.Join(b.TempDir(), "snap")
	if _, err := e.HotCopy(ctx, snap, filepath.Join(snap, "logs")); err != nil {
		b.Fatal(err)
	}
	// Fill the log quickly: many puts a transaction would understate the
	// per-record cost, so commit one put each from 64 goroutines.
	var wg sync.WaitGroup
	var next atomic.Uint64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > records {
					return
				}
				key := binary.BigEndian.AppendUint64([]byte("mbox-0001/"), i)
				if err := e.Update(ctx, func(tx *Tx) error {
					t, _ := tx.Table("messages")
					return t.Put(key, benchValue)
				}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	e.crash()
	logBytes := dirBytes(b, filepath.Join(dir, LogDirName))
	b.SetBytes(logBytes)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, f := range []string{"catalog.db", "messages.db"} {
			data, err := os.ReadFile(filepath.Join(snap, f))
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, DataDirName, f), data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		e, err := Open(ctx, Options{Home: dir, LogFileSize: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		r := e.Recovery()
		if r.Records < records {
			b.Fatalf("replayed %d records", r.Records)
		}
		b.ReportMetric(float64(r.Bytes)/(1<<20)/r.Duration.Seconds(), "replay-MB/s")
		e.crash()
		b.StartTimer()
	}
}
