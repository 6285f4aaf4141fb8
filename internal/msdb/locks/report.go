package locks

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Report writes snap and cycles to w as a human-readable table, one line per
// holder and per waiter, then one paragraph per cycle, for example:
//
//	pop3:alice  exclusive  held by 7f3a (pid 1234, pop3 from 127.0.0.1:5555) since 2026-11-28T12:00:00Z
//	            waiting:   exclusive  9c1d (pid 1234, pop3 from 127.0.0.1:5556) since 2026-11-28T12:00:05Z
//	deadlock: 7f3a -> 9c1d -> 7f3a
//	  7f3a waits for exclusive "mbox:1", held exclusive by 9c1d
//	  9c1d waits for exclusive "pop3:alice", held exclusive by 7f3a
//
// A hold's count is shown as "count N" when it is above 1. Times are UTC,
// RFC 3339. A resource name that is not printable text without spaces is
// quoted. An empty snapshot prints "no locks". Pass the cycles of the same
// snapshot, CyclesOf(snap), so that the two agree.
func Report(w io.Writer, snap []Lock, cycles [][]Edge) error {
	var b strings.Builder
	if len(snap) == 0 {
		b.WriteString("no locks\n")
	}
	width := 0
	for _, l := range snap {
		width = max(width, utf8.RuneCountInString(displayName(l.Resource)))
	}
	const modeWidth = len("exclusive")
	for _, l := range snap {
		name := displayName(l.Resource)
		line := 0
		prefix := func() string {
			line++
			if line == 1 {
				return fmt.Sprintf("%-*s  ", width, name)
			}
			return strings.Repeat(" ", width+2)
		}
		for _, h := range l.Holders {
			count := ""
			if h.Count > 1 {
				count = fmt.Sprintf(" count %d", h.Count)
			}
			fmt.Fprintf(&b, "%s%-*s  held by %s%s since %s\n",
				prefix(), modeWidth, h.Mode, h.Owner, count, formatTime(h.Since))
		}
		for _, wt := range l.Waiters {
			fmt.Fprintf(&b, "%s%-*s  %-*s  %s since %s\n",
				prefix(), modeWidth, "waiting:", modeWidth, wt.Mode, wt.Owner, formatTime(wt.Since))
		}
	}
	for _, c := range cycles {
		fmt.Fprintf(&b, "deadlock: %s\n", FormatCycle(c))
		for _, e := range c {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write lock report: %w", err)
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// displayName returns name, quoted if it is empty, is not UTF-8 or has a
// space or a character that is not printable.
func displayName(name string) string {
	if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(name)
	}
	return name
}
