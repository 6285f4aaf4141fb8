package blob

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// BenchmarkPut4K stores distinct 4 KB messages one after another (each an
// fsync of the file and one of its directory).
func BenchmarkPut4K(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	msg := randBytes(b, 4096)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.LittleEndian.PutUint64(msg, uint64(i))
		if _, _, err := s.Put(ctx, bytes.NewReader(msg), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkPut4KParallel is BenchmarkPut4K from GOMAXPROCS×16 goroutines,
// as many concurrent deliveries.
func BenchmarkPut4KParallel(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	base := randBytes(b, 4096)
	var seq atomic.Uint64
	b.SetBytes(int64(len(base)))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		msg := bytes.Clone(base)
		for pb.Next() {
			binary.LittleEndian.PutUint64(msg, seq.Add(1))
			if _, _, err := s.Put(ctx, bytes.NewReader(msg), 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}
