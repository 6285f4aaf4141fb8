package bench

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Message kinds, in the Subject. The imap mode reads the subject back in
// envelopes: messages it appended itself may be expunged by another
// session at any time, so it fetches and flags only the others.
const (
	kindDelivery = "delivery"
	kindAppend   = "append"
	subjectMark  = "mstore-bench "
)

// words make up subjects and body lines.
var words = []string{
	"the", "store", "keeps", "mail", "message", "delivery", "mailbox", "server", "client",
	"quota", "flags", "seen", "answered", "draft", "header", "body", "line", "transaction",
	"log", "commit", "group", "table", "recovery", "checkpoint", "archive", "backup",
	"account", "password", "session", "command", "reply", "status", "folder", "search",
	"subject", "envelope", "literal", "octets", "network", "latency", "throughput",
	"report", "meeting", "tomorrow", "afternoon", "project", "budget", "review", "draft",
	"please", "thanks", "regards", "attached", "schedule", "update", "question", "answer",
}

// bodyLines is a pool of text lines (of 40 to 76 characters, without line
// ends) that message bodies are cut from. No line starts with a dot.
var bodyLines = func() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	lines := make([][]byte, 512)
	for i := range lines {
		target := 40 + r.IntN(37)
		var l []byte
		for {
			w := words[r.IntN(len(words))]
			if len(l)+1+len(w) > target {
				break
			}
			if len(l) > 0 {
				l = append(l, ' ')
			}
			l = append(l, w...)
		}
		lines[i] = l
	}
	return lines
}()

// msgSeq numbers the messages of this process; runID tells processes
// apart, so that Message-IDs are unique across runs too.
var (
	msgSeq atomic.Uint64
	runID  = strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.FormatUint(uint64(rand.Uint32()), 36)
)

// msgGen makes messages. Each worker has its own: the returned bytes are
// valid until the next call.
type msgGen struct {
	rng *rand.Rand
	buf []byte
}

func newMsgGen(rng *rand.Rand) *msgGen { return &msgGen{rng: rng} }

// message returns an RFC 5322 message of exactly size bytes (or, when size
// is too small for its headers, the headers and an empty body), with CRLF
// line ends, headers From, To, Subject, Date, Message-ID (unique), MIME
// and a text/plain body; id is its Message-ID, with the angle brackets.
func (g *msgGen) message(kind, to string, size int) (msg, id []byte) {
	n := msgSeq.Add(1)
	b := g.buf[:0]
	b = append(b, "From: M-Store Bench <bench-sender@mstore-bench.example>\r\nTo: "...)
	b = append(b, to...)
	b = append(b, "\r\nSubject: "+subjectMark...)
	b = append(b, kind...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, n, 10)
	for range 3 {
		b = append(b, ' ')
		b = append(b, words[g.rng.IntN(len(words))]...)
	}
	subjEnd := len(b)
	b = append(b, "\r\nDate: "...)
	b = time.Now().AppendFormat(b, time.RFC1123Z)
	b = append(b, "\r\nMessage-ID: "...)
	idStart := len(b)
	b = append(b, '<')
	b = strconv.AppendUint(b, n, 10)
	b = append(b, '.')
	b = append(b, runID...)
	b = append(b, "@mstore-bench.example>"...)
	idEnd := len(b)
	b = append(b, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"...)
	rest := size - len(b)
	if rest == 1 {
		// No body line is one byte long: lengthen the subject instead.
		b = slices.Insert(b, subjEnd, 'x')
		idStart++
		idEnd++
		rest = 0
	}
	li := g.rng.IntN(len(bodyLines))
	for rest > 0 {
		l := bodyLines[li%len(bodyLines)]
		li++
		switch {
		case len(l)+2 <= rest-3 || len(l)+2 == rest:
			// A whole line, leaving either nothing or room for one more
			// line (at least one character and CRLF).
		case rest-2 <= len(l):
			l = l[:rest-2] // the last line, cut to fit
		default:
			// rest-3 < len(l)+2 < rest: a whole line would leave 1 or 2
			// bytes; shorten it so that the next line has three.
			l = l[:rest-5]
		}
		b = append(b, l...)
		b = append(b, '\r', '\n')
		rest -= len(l) + 2
	}
	g.buf = b
	return b, b[idStart:idEnd]
}
