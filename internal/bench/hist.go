package bench

import (
	"math/bits"
	"time"
)

// Histogram layout. Values are microseconds. Below histSub a bucket holds
// one value; above, every power of two [2^e, 2^(e+1)) is split into
// histSub buckets of equal width 2^(e-histSubBits), so a bucket is at most
// 1/histSub (0.8%) of its lower bound wide. Values above histMax (67 s)
// are counted as histMax.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histTopBit  = 25 // the highest bit a value may have
	histMax     = 1<<(histTopBit+1) - 1
	histBuckets = (histTopBit - histSubBits + 2) << histSubBits
)

// Histogram counts latencies in fixed logarithmic buckets from 1 µs to
// 67 s with better than 1% precision, in constant space (20 KB). The zero
// value is empty and ready. It is not safe for concurrent use: each worker
// keeps its own and they are merged at the end.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // microseconds
	min    uint64 // valid when n > 0
	max    uint64
}

// bucketOf returns the bucket of v (in [0, histMax]).
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1))
	shift := e - histSubBits
	return (shift+1)<<histSubBits + int(v>>uint(shift)) - histSub
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (low, width uint64) {
	if i < histSub {
		return uint64(i), 1
	}
	shift := i>>histSubBits - 1
	m := uint64(i&(histSub-1)) + histSub
	return m << uint(shift), 1 << uint(shift)
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 1))
	v = min(v, histMax)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Quantile returns the value at quantile q (0 < q <= 1) by nearest rank:
// the smallest recorded value with at least q·n values at or below it,
// as the middle of its bucket (within 0.4%, never outside the recorded
// minimum and maximum). It is 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++ // ceil
	}
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, w := bucketRange(i)
			v := float64(low) + float64(w-1)/2
			v = min(max(v, float64(h.min)), float64(h.max))
			return time.Duration(v * float64(time.Microsecond))
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// Mean is the average value recorded.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Max is the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }
