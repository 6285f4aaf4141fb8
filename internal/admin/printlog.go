package admin

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/msdb/wal"
)

// PrintLogOptions are msdb_printlog's flags.
type PrintLogOptions struct {
	Begin, End wal.LSN // print records from Begin through End; zero End: to the end
}

var errStopPrint = errors.New("end LSN reached")

// PrintLog is msdb_printlog: one line per log record, in LSN order. It reads
// the log files only, so it runs beside a live store. Damage at the end of
// the log is reported after the records that precede it.
func PrintLog(cfg *config.Config, o PrintLogOptions, tio IO) error {
	dir := cfg.LogDir()
	nums, err := wal.ListFiles(dir)
	if err != nil {
		return err
	}
	if len(nums) == 0 {
		return fmt.Errorf("no log files in %s", dir)
	}
	out := bufio.NewWriter(tio.Out)
	defer out.Flush()
	var line []byte
	var prev uint32
	for _, n := range nums {
		if n < o.Begin.File || (!o.End.IsZero() && n > o.End.File) {
			continue
		}
		if prev != 0 && n != prev+1 {
			fmt.Fprintf(tio.Err, "msdb_printlog: log files %s..%s are missing\n", logName(prev+1), logName(n-1))
		}
		prev = n
		var from uint32
		if n == o.Begin.File {
			from = o.Begin.Offset
		}
		fe, err := wal.ReadFile(dir, n, from, func(r *wal.Record) error {
			if !o.End.IsZero() && o.End.Less(r.LSN) {
				return errStopPrint
			}
			line = formatRecord(line[:0], r)
			_, err := out.Write(line)
			return err
		})
		if errors.Is(err, errStopPrint) {
			return nil
		}
		if err != nil {
			return err
		}
		if fe.Damage != nil {
			out.Flush()
			kind := "damage"
			if fe.Damage.Torn && n == nums[len(nums)-1] {
				kind = "torn tail (recovery will cut it)"
			}
			fmt.Fprintf(tio.Err, "msdb_printlog: %s: %v\n", kind, fe.Damage)
			if !fe.Damage.Torn || n != nums[len(nums)-1] {
				return fmt.Errorf("log file %s is damaged at offset %d", fe.Damage.File, fe.Damage.At.Offset)
			}
		}
	}
	return nil
}

// formatRecord renders one record as a line.
func formatRecord(b []byte, r *wal.Record) []byte {
	b = append(b, r.LSN.String()...)
	switch r.Type {
	case wal.TypeCheckpoint:
		b = append(b, "\tcheckpoint\ttxid="...)
		b = strconv.AppendUint(b, r.TxID, 10)
		b = append(b, "\ttime="...)
		b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, "\ttables durable through "...)
		b = append(b, r.Durable.String()...)
		return append(b, '\n')
	}
	b = append(b, "\ttxn\ttxid="...)
	b = strconv.AppendUint(b, r.TxID, 10)
	b = append(b, "\ttime="...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\tops="...)
	b = strconv.AppendInt(b, int64(len(r.Ops)), 10)
	for i, op := range r.Ops {
		if i == 0 {
			b = append(b, '\t')
		} else {
			b = append(b, "; "...)
		}
		switch op.Kind {
		case wal.OpPut:
			b = fmt.Appendf(b, "put %s key=%s value=%d bytes", op.Table, quoteKey(op.Key), len(op.Value))
		case wal.OpDelete:
			b = fmt.Appendf(b, "delete %s key=%s", op.Table, quoteKey(op.Key))
		case wal.OpCreateTable:
			b = fmt.Appendf(b, "create-table %s", op.Table)
		}
	}
	return append(b, '\n')
}

// quoteKey shows a key as a quoted string, shortened past 64 bytes.
func quoteKey(k []byte) string {
	const limit = 64
	if len(k) > limit {
		return strconv.Quote(string(k[:limit])) + "…(" + strconv.Itoa(len(k)) + " bytes)"
	}
	q := strconv.Quote(string(k))
	return strings.ReplaceAll(q, "\t", `\t`)
}
