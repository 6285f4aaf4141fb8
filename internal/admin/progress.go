package admin

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/m-store/mstore/internal/msdb"
)

// progressBar shows progress: a bar redrawn in place on a terminal,
// otherwise a line every ten percent.
type progressBar struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	label    string
	detail   func(p msdb.Progress, elapsed time.Duration) string
	start    time.Time
	lastDraw time.Time
	lastStep int64
	drawn    bool
}

func newProgressBar(w io.Writer, terminal bool) *progressBar {
	return &progressBar{w: w, terminal: terminal, start: time.Now(), lastStep: -1, label: "progress",
		detail: func(p msdb.Progress, _ time.Duration) string { return fmt.Sprintf("%d of %d", p.Bytes, p.TotalBytes) }}
}

// replayBar shows recovery's replay.
func replayBar(w io.Writer, terminal bool) *progressBar {
	b := newProgressBar(w, terminal)
	b.label = "msdb_recover: replay"
	b.detail = func(p msdb.Progress, elapsed time.Duration) string {
		return fmt.Sprintf("%s of %s, %d records, %s, at LSN %v", humanBytes(p.Bytes), humanBytes(p.TotalBytes), p.Records, rate(p.Bytes, elapsed), p.At)
	}
	return b
}

func (b *progressBar) update(p msdb.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.TotalBytes <= 0 {
		return
	}
	pct := p.Bytes * 100 / p.TotalBytes
	if b.terminal {
		if time.Since(b.lastDraw) < 100*time.Millisecond && pct < 100 {
			return
		}
		b.lastDraw = time.Now()
		const width = 30
		fill := int(pct * width / 100)
		fmt.Fprintf(b.w, "\r%s [%s%s] %3d%%  %s ", b.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct, b.detail(p, time.Since(b.start)))
		b.drawn = true
		return
	}
	if step := pct / 10; step > b.lastStep {
		b.lastStep = step
		fmt.Fprintf(b.w, "%s: %d%%: %s\n", b.label, pct, b.detail(p, time.Since(b.start)))
	}
}

// interrupt prints a message line without garbling the bar.
func (b *progressBar) interrupt(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
	fmt.Fprint(b.w, msg)
}

// done ends the bar's line.
func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
