package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// OpResult is one line of the report: a command, or TOTAL.
type OpResult struct {
	Command   string  `json:"command"`
	Ops       uint64  `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Errors    uint64  `json:"errors"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
}

// Result is a run's report. It is printed as a table (WriteTable) or as
// one JSON object (WriteJSON).
type Result struct {
	Mode        string `json:"mode"`
	Server      string `json:"server"`
	Concurrency int    `json:"concurrency"`
	// Duration is the measured time: from the start of the run (after
	// prefill) until the last worker stopped; in idle mode, from the
	// first connection to the last logout.
	Duration float64 `json:"duration_s"`
	Size     int     `json:"size"`
	Users    int     `json:"users"`
	// Sessions is the number of sessions held (idle mode).
	Sessions int `json:"sessions,omitempty"`
	// Prefilled is the number of messages delivered before the run.
	Prefilled int `json:"prefilled,omitempty"`
	// Interrupted is set when the run was cut short (SIGINT, or nothing
	// worked).
	Interrupted bool       `json:"interrupted,omitempty"`
	Ops         []OpResult `json:"ops"`
	Total       OpResult   `json:"total"`
	// ErrorSamples are the first distinct error messages, "COMMAND: what".
	ErrorSamples []string `json:"error_samples"`

	extra int // the last extra lines of Ops are not in Total
}

// Op returns the line of command name (a zero line if there is none).
func (r *Result) Op(name string) OpResult {
	for _, o := range r.Ops {
		if o.Command == name {
			return o
		}
	}
	return OpResult{Command: name}
}

// Errors is the number of errors of every line, TOTAL or not.
func (r *Result) Errors() uint64 {
	var n uint64
	for _, o := range r.Ops {
		n += o.Errors
	}
	return n
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func opResult(name string, o opStats, elapsed time.Duration) OpResult {
	r := OpResult{Command: name, Ops: o.ops, Errors: o.errors}
	if elapsed > 0 {
		r.OpsPerSec = round(float64(o.ops)/elapsed.Seconds(), 1)
	}
	if o.hist != nil {
		r.P50 = ms(o.hist.Quantile(0.50))
		r.P99 = ms(o.hist.Quantile(0.99))
	}
	return r
}

// newResult builds the report of merged stats: names are the mode's
// commands, which make up TOTAL, then the extra lines.
func newResult(cfg *Config, names, extra []string, st stats, elapsed time.Duration, smp *samples) *Result {
	r := &Result{
		Mode:         cfg.Mode,
		Server:       cfg.addr(),
		Concurrency:  cfg.Concurrency,
		Duration:     round(elapsed.Seconds(), 3),
		Size:         cfg.Size,
		Users:        cfg.Users,
		ErrorSamples: []string{},
	}
	var total opStats
	total.hist = new(Histogram)
	for i, name := range names {
		r.Ops = append(r.Ops, opResult(name, st[i], elapsed))
		total.ops += st[i].ops
		total.errors += st[i].errors
		total.hist.Merge(st[i].hist)
	}
	for i, name := range extra {
		r.Ops = append(r.Ops, opResult(name, st[len(names)+i], elapsed))
	}
	r.extra = len(extra)
	r.Total = opResult("TOTAL", total, elapsed)
	if smp != nil {
		smp.mu.Lock()
		for i, m := range smp.list {
			if c := smp.count[i]; c > 1 {
				m = fmt.Sprintf("%s (%d times)", m, c)
			}
			r.ErrorSamples = append(r.ErrorSamples, m)
		}
		if smp.other > 0 {
			r.ErrorSamples = append(r.ErrorSamples, fmt.Sprintf("(%d more errors of other kinds)", smp.other))
		}
		smp.mu.Unlock()
	}
	return r
}

// WriteJSON writes r as one JSON object and a newline.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// WriteTable writes r for people: a header line, one line per command,
// TOTAL, and the error samples.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s  server %s  concurrency %d  duration %.1fs  size %d  users %d",
		r.Mode, r.Server, r.Concurrency, r.Duration, r.Size, r.Users)
	if r.Sessions > 0 {
		fmt.Fprintf(&b, "  sessions %d", r.Sessions)
	}
	if r.Prefilled > 0 {
		fmt.Fprintf(&b, "  prefilled %d", r.Prefilled)
	}
	if r.Interrupted {
		b.WriteString("  (interrupted)")
	}
	b.WriteByte('\n')
	const row = "%-12s %10v %10v %8v %9v %9v\n"
	fmt.Fprintf(&b, row, "COMMAND", "OPS", "OPS/S", "ERRORS", "P50 MS", "P99 MS")
	line := func(o OpResult) {
		fmt.Fprintf(&b, row, o.Command, o.Ops, fmt.Sprintf("%.1f", o.OpsPerSec), o.Errors,
			fmt.Sprintf("%.3f", o.P50), fmt.Sprintf("%.3f", o.P99))
	}
	main := r.Ops[:len(r.Ops)-r.extra]
	for _, o := range main {
		line(o)
	}
	line(r.Total)
	// Lines not in the TOTAL (pop3's REFILL) come after it.
	for _, o := range r.Ops[len(main):] {
		line(o)
	}
	if len(r.ErrorSamples) > 0 {
		b.WriteString("errors:\n")
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
