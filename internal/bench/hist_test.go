package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// reference is the nearest-rank quantile of sorted values.
func reference(sorted []uint64, q float64) uint64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestHistogramQuantilesAgainstSortedSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	dists := map[string]func() uint64{
		"uniform small":  func() uint64 { return 1 + r.Uint64N(500) },
		"uniform wide":   func() uint64 { return 1 + r.Uint64N(10_000_000) },
		"log-normal":     func() uint64 { return uint64(math.Exp(r.NormFloat64()*1.5+7)) + 1 },
		"bimodal":        func() uint64 { return []uint64{300, 40_000}[r.IntN(2)] + r.Uint64N(50) },
		"constant":       func() uint64 { return 1234 },
		"exponential":    func() uint64 { return uint64(r.ExpFloat64()*2000) + 1 },
		"one huge value": nil,
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			var vals []uint64
			if gen == nil {
				vals = []uint64{5, 7, 9, 50_000_000}
			} else {
				for range 20000 {
					vals = append(vals, gen())
				}
			}
			for _, v := range vals {
				h.Record(time.Duration(v) * time.Microsecond)
			}
			slices.Sort(vals)
			if h.Count() != uint64(len(vals)) {
				t.Fatalf("count %d, want %d", h.Count(), len(vals))
			}
			for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
				want := float64(reference(vals, q))
				got := float64(h.Quantile(q)) / float64(time.Microsecond)
				if math.Abs(got-want) > want*0.01 {
					t.Errorf("q%.3f: %.1f µs, want %.0f µs (±1%%)", q, got, want)
				}
			}
			if got := h.Max(); got != time.Duration(vals[len(vals)-1])*time.Microsecond {
				t.Errorf("max %v, want %d µs", got, vals[len(vals)-1])
			}
		})
	}
}

func TestHistogramMergeEqualsOne(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var all, a, b Histogram
	var vals []uint64
	for i := range 10000 {
		v := 1 + r.Uint64N(100_000)
		vals = append(vals, v)
		d := time.Duration(v) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	m.Merge(&Histogram{})
	if m != all {
		t.Fatal("merged histogram differs from the one fed everything")
	}
	slices.Sort(vals)
	want := float64(reference(vals, 0.99))
	if got := float64(m.Quantile(0.99) / time.Microsecond); math.Abs(got-want) > want*0.01 {
		t.Fatalf("p99 %v, want %v", got, want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in the bucket whose range holds it; buckets are
	// contiguous and at most 1/128 of their low bound wide.
	prevLow, prevW := uint64(0), uint64(1)
	for i := 1; i < histBuckets; i++ {
		low, w := bucketRange(i)
		if low != prevLow+prevW {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, low, prevLow+prevW)
		}
		if low >= histSub && float64(w)/float64(low) > 1.0/histSub {
			t.Fatalf("bucket %d [%d,+%d) too wide", i, low, w)
		}
		for _, v := range []uint64{low, low + w - 1} {
			if v <= histMax && bucketOf(v) != i {
				t.Fatalf("value %d in bucket %d, want %d", v, bucketOf(v), i)
			}
		}
		prevLow, prevW = low, w
	}
	if bucketOf(histMax) != histBuckets-1 {
		t.Fatalf("max value in bucket %d of %d", bucketOf(histMax), histBuckets)
	}
	if histMax < 60_000_000 {
		t.Fatalf("histogram ends at %d µs, below 60 s", histMax)
	}
	// Out of range values are clamped, not lost.
	var h Histogram
	h.Record(0)
	h.Record(-time.Second)
	h.Record(time.Hour)
	if h.Count() != 3 || h.Quantile(0.01) != time.Microsecond || h.Max() != histMax*time.Microsecond {
		t.Fatalf("clamping: count %d, min %v, max %v", h.Count(), h.Quantile(0.01), h.Max())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Fatal("empty histogram gives values")
	}
}
