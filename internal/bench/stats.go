package bench

import (
	"strings"
	"sync"
	"time"
)

// opStats are one worker's counts for one command.
type opStats struct {
	ops    uint64
	errors uint64
	hist   *Histogram // allocated at the first op
}

// stats are one worker's counts, indexed like the mode's commands (with
// the extra lines after them).
type stats []opStats

func newStats(n int) stats { return make(stats, n) }

func (s stats) ok(op int, d time.Duration) {
	o := &s[op]
	if o.hist == nil {
		o.hist = new(Histogram)
	}
	o.ops++
	o.hist.Record(d)
}

func (s stats) fail(op int) { s[op].errors++ }

// merge adds o into s.
func (s stats) merge(o stats) {
	for i := range o {
		s[i].ops += o[i].ops
		s[i].errors += o[i].errors
		if o[i].hist != nil {
			if s[i].hist == nil {
				s[i].hist = new(Histogram)
			}
			s[i].hist.Merge(o[i].hist)
		}
	}
}

// maxSamples is how many distinct error messages a run keeps.
const maxSamples = 10

// samples keeps the first few distinct error messages, counted. Messages
// that differ only in their digits (ports, sizes, numbers) are one.
type samples struct {
	mu    sync.Mutex
	keys  map[string]int // normalized message → index in list
	list  []string
	count []uint64
	other uint64 // errors whose message was not kept
}

func newSamples() *samples { return &samples{keys: map[string]int{}} }

func (s *samples) add(msg string) {
	key := normalize(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.keys[key]; ok {
		s.count[i]++
		return
	}
	if len(s.list) >= maxSamples {
		s.other++
		return
	}
	s.keys[key] = len(s.list)
	s.list = append(s.list, msg)
	s.count = append(s.count, 1)
}

// normalize replaces every run of digits with '#'.
func normalize(s string) string {
	var b strings.Builder
	digits := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}
