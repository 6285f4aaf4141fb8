package admin

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/m-store/mstore/internal/msdb"
)

// progressBar shows recovery's replay: a bar redrawn in place on a
// terminal, otherwise a line every ten percent.
type progressBar struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	start    time.Time
	lastDraw time.Time
	lastStep int64
	last     msdb.Progress
	drawn    bool
}

func newProgressBar(w io.Writer, terminal bool) *progressBar {
	return &progressBar{w: w, terminal: terminal, start: time.Now(), lastStep: -1}
}

func (b *progressBar) update(p msdb.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = p
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
		fmt.Fprintf(b.w, "\rreplay [%s%s] %3d%%  %s / %s  %d records  %s ",
			strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct,
			humanBytes(p.Bytes), humanBytes(p.TotalBytes), p.Records, rate(p.Bytes, time.Since(b.start)))
		b.drawn = true
		return
	}
	if step := pct / 10; step > b.lastStep {
		b.lastStep = step
		fmt.Fprintf(b.w, "msdb_recover: replayed %d%%: %d records, %s of %s, at LSN %v\n",
			pct, p.Records, humanBytes(p.Bytes), humanBytes(p.TotalBytes), p.At)
	}
}

// done ends the bar's line.
func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
