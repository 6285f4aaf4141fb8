package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
)

// copyBufSize is the size of the buffers a RETR or TOP borrows to read the
// message file and to write to the session's writer.
const copyBufSize = 32 << 10

var (
	fileReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, copyBufSize) }}
	copyWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, copyBufSize) }}
)

// errReadMessage marks an error reading the message file (as opposed to
// writing to the client).
var errReadMessage = errors.New("read message file")

// writeMessage writes the message read from src to dst as the payload of
// a multi-line response (RFC 1939 section 3), and its terminating ".CRLF":
//
//   - every line ends in CRLF: an LF not preceded by CR becomes CRLF (a
//     CR not followed by LF is left as it is, as data);
//   - a line beginning with "." gets one more "." in front;
//   - a last line without a line end gets CRLF;
//   - then ".CRLF".
//
// With bodyLines < 0 the whole message is sent (RETR). Otherwise (TOP)
// the header, the empty line that ends it, and at most bodyLines lines of
// the body; a message without an empty line is all header and is sent
// whole. src is read in slices of its buffer, so a message is never held
// in memory whole, however long its lines. The error wraps errReadMessage
// when reading src failed; any error leaves the response unfinished, and
// the caller must close the connection.
func writeMessage(dst io.Writer, src io.Reader, bodyLines int) error {
	r := fileReaders.Get().(*bufio.Reader)
	w := copyWriters.Get().(*bufio.Writer)
	r.Reset(src)
	w.Reset(dst)
	defer func() {
		r.Reset(nil)
		w.Reset(nil)
		fileReaders.Put(r)
		copyWriters.Put(w)
	}()
	var (
		atStart  = true  // at the start of a line
		lineLen  = 0     // octets of the current line so far, before its LF
		last     byte    // the last octet read
		inBody   = false // past the empty line that ends the header
		linesOut = 0     // body lines sent
	)
	for {
		if atStart && inBody && bodyLines >= 0 && linesOut >= bodyLines {
			break
		}
		piece, rerr := r.ReadSlice('\n')
		if len(piece) > 0 {
			if atStart && piece[0] == '.' {
				w.WriteByte('.')
			}
			if piece[len(piece)-1] == '\n' {
				content := piece[:len(piece)-1]
				crBefore := len(content) > 0 && content[len(content)-1] == '\r' ||
					len(content) == 0 && lineLen > 0 && last == '\r'
				w.Write(content)
				var err error
				if crBefore {
					err = w.WriteByte('\n')
				} else {
					_, err = w.WriteString("\r\n")
				}
				if err != nil {
					return fmt.Errorf("send message: %w", err)
				}
				n := lineLen + len(content)
				empty := n == 0 || n == 1 && crBefore
				switch {
				case !inBody && empty:
					inBody = true
				case inBody:
					linesOut++
				}
				atStart, lineLen = true, 0
			} else {
				if _, err := w.Write(piece); err != nil {
					return fmt.Errorf("send message: %w", err)
				}
				atStart = false
				lineLen += len(piece)
			}
			last = piece[len(piece)-1]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != bufio.ErrBufferFull {
			return fmt.Errorf("%w: %w", errReadMessage, rerr)
		}
	}
	if !atStart {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	return nil
}
