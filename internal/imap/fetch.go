package imap

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/imap/internal/imapwire"
	"github.com/m-store/mstore/internal/message"
	"github.com/m-store/mstore/internal/store"
)

// FETCH.
//
// Messages are read in batches, each batch in one read transaction of the
// store (store.ReadMessages): the message records (flags, internal date,
// size) and, when an item needs it, the parsed-message cache, from which
// ENVELOPE, BODYSTRUCTURE and BINARY.SIZE are answered and every section is
// mapped to a byte range of the message file. The top-level BODY[HEADER]
// and BODY[HEADER.FIELDS …] come from the record when it keeps the whole
// header or, for the fields of message.KeptFields, those fields
// (message.Cache.KeptHeader); else they are read from the file too, and
// HEADER.FIELDS filters the range once read. The top-level fields such a
// HEADER.FIELDS asked for are then kept with the file
// (store.CacheHeaderFields, once per batch), and a later HEADER.FIELDS of
// fields they cover is answered from them. The transaction
// is over before anything is written to the client; message files are
// opened only for sections that need their bytes, and only those bytes are
// read, streamed to the client.

const (
	fetchBatch      = 10000    // messages per read transaction
	fetchBatchBytes = 16 << 20 // cache bytes per read transaction
)

var errBatchFull = errors.New("batch full")

// fetchMsg is one message's answer, prepared inside the read transaction.
type fetchMsg struct {
	uid      uint32
	flags    store.Flags
	date     time.Time
	size     int64
	blob     string
	c        *message.Cache // for ENVELOPE and BODYSTRUCTURE
	binSizes []uint32
	parts    []fetchPart // BodySection then BinarySection, in request order

	// cacheNames are the header fields to cache with the message's file
	// once its header is read (HEADER.FIELDS the cache did not cover, and
	// those it did); hdrCache is what writeFetch made of them.
	cacheNames []string
	hdrCache   *store.HeaderFields
}

// Limits of the header fields cached per message file: a client asking
// for more is answered from the file each time.
const (
	maxCachedFieldNames = 64
	maxCachedFieldBytes = 8 << 10
)

// cacheNames adds to names (or, when it is nil, to those hf covers) the
// lower-cased fields of a HEADER.FIELDS item.
func cacheNames(names []string, hf *store.HeaderFields, fields []string) []string {
	if names == nil && hf != nil {
		names = slices.Clone(hf.Names)
	}
	for _, f := range fields {
		if f = strings.ToLower(f); !slices.Contains(names, f) {
			names = append(names, f)
		}
	}
	return names
}

// fetchPart is one BODY[…] or BINARY[…] item: inline bytes, or a range
// of the message file, maybe to filter (HEADER.FIELDS) or decode (BINARY)
// before the partial range is cut.
type fetchPart struct {
	data    []byte
	inline  bool
	off, n  int64
	filter  []string // header field names, with not
	not     bool
	top     bool   // the top-level header: its bytes fill the header-fields cache
	decode  string // Content-Transfer-Encoding to remove
	decSize int64  // the decoded part's size (BINARY.SIZE), -1 unknown
	partial *goimap.SectionPartial
}

// cut applies a <partial> to inline data.
func cut(b []byte, p *goimap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	o := min(p.Offset, int64(len(b)))
	e := o + min(p.Size, int64(len(b))-o)
	return b[o:e]
}

// cutRange applies a <partial> to a file range.
func cutRange(off, n int64, p *goimap.SectionPartial) (int64, int64) {
	if p == nil {
		return off, n
	}
	o := min(p.Offset, n)
	return off + o, min(p.Size, n-o)
}

func inline(b []byte, p *goimap.SectionPartial) fetchPart {
	return fetchPart{data: cut(b, p), inline: true}
}

func planBody(c *message.Cache, hf *store.HeaderFields, s *goimap.FetchItemBodySection) (fetchPart, error) {
	names, not := s.HeaderFields, false
	if len(s.HeaderFieldsNot) > 0 {
		names, not = s.HeaderFieldsNot, true
	}
	fields := len(names) > 0
	spec := string(s.Specifier)
	top := len(s.Part) == 0 && fields && !not
	if len(s.Part) == 0 && (fields || strings.EqualFold(spec, "HEADER")) {
		// The record keeps the whole header, or the fields mail clients
		// fetch for their message lists.
		kb, st := c.KeptHeader()
		switch {
		case st == message.KeptAll && !fields:
			return inline(kb, s.Partial), nil
		case st == message.KeptAll, st == message.KeptFieldsOnly && top && message.AllKept(names):
			return inline(message.FilterHeader(kb, names, not), s.Partial), nil
		}
	}
	if top && hf.Covers(names) {
		return inline(message.FilterHeader(hf.Block, names, false), s.Partial), nil
	}
	// The top-level HEADER is (0, c.HeaderLen()), read from the file like
	// any other section: the cache record does not hold the header.
	off, n, err := c.Section(s.Part, spec)
	switch {
	case errors.Is(err, message.ErrNoSection), errors.Is(err, message.ErrNotMessage):
		// A section the message does not have is empty (RFC 3501 6.4.5).
		return inline(nil, nil), nil
	case errors.Is(err, message.ErrBadSpec):
		return fetchPart{}, bad("Bad section %s", spec)
	case err != nil:
		return fetchPart{}, err
	}
	if fields {
		return fetchPart{off: off, n: n, filter: names, not: not, partial: s.Partial, top: top}, nil
	}
	off, n = cutRange(off, n, s.Partial)
	return fetchPart{off: off, n: n}, nil
}

// cte classifies a Content-Transfer-Encoding for BINARY (RFC 3516).
func cte(enc string) (identity, known bool) {
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary":
		return true, true
	case "base64", "quoted-printable":
		return false, true
	}
	return false, false
}

func planBinary(c *message.Cache, s *goimap.FetchItemBinarySection) (fetchPart, error) {
	if len(s.Part) == 0 {
		off, n := cutRange(0, c.Size, s.Partial)
		return fetchPart{off: off, n: n}, nil
	}
	pt, err := c.Part(s.Part)
	if errors.Is(err, message.ErrNoSection) {
		return inline(nil, nil), nil
	}
	if err != nil {
		return fetchPart{}, err
	}
	if pt.IsMultipart() || pt.Message != nil {
		off, n := cutRange(pt.BodyStart, pt.Size(), s.Partial)
		return fetchPart{off: off, n: n}, nil
	}
	identity, known := cte(pt.Encoding)
	switch {
	case !known:
		return fetchPart{}, no(codeUnknownCTE, "Cannot decode Content-Transfer-Encoding %q of part %s", pt.Encoding, partString(s.Part))
	case identity:
		off, n := cutRange(pt.BodyStart, pt.Size(), s.Partial)
		return fetchPart{off: off, n: n}, nil
	}
	return fetchPart{off: pt.BodyStart, n: pt.Size(), decode: pt.Encoding, decSize: pt.BinarySize, partial: s.Partial}, nil
}

// decodedRange is the part of a BINARY section's decoded octets that the
// client gets (its partial), when the decoded size is known.
func (p *fetchPart) decodedRange() (off, n int64) {
	return cutRange(0, p.decSize, p.partial)
}

func binarySize(c *message.Cache, part []int) (uint32, error) {
	if len(part) == 0 {
		return uint32(min(c.Size, math.MaxUint32)), nil
	}
	pt, err := c.Part(part)
	if errors.Is(err, message.ErrNoSection) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pt.IsMultipart() || pt.Message != nil {
		return uint32(min(pt.Size(), math.MaxUint32)), nil
	}
	if pt.BinarySize < 0 {
		return 0, no(codeUnknownCTE, "Cannot decode Content-Transfer-Encoding %q of part %s", pt.Encoding, partString(part))
	}
	return uint32(min(pt.BinarySize, math.MaxUint32)), nil
}

func partString(p []int) string {
	var b strings.Builder
	for i, n := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, n)
	}
	return b.String()
}

// prepare builds a message's answer from its record and cache.
func prepare(o *goimap.FetchOptions, msg *store.Message, cb []byte) (*fetchMsg, error) {
	fm := &fetchMsg{uid: msg.UID, flags: msg.Flags, date: msg.InternalDate, size: msg.Size, blob: msg.Blob}
	if cb == nil {
		return fm, nil
	}
	var c message.Cache
	if err := c.UnmarshalBinary(cb); err != nil {
		return nil, fmt.Errorf("message %d (file %s): %w", msg.UID, msg.Blob, err)
	}
	if o.Envelope || o.BodyStructure != nil {
		fm.c = &c
	}
	for _, s := range o.BinarySectionSize {
		n, err := binarySize(&c, s.Part)
		if err != nil {
			return nil, err
		}
		fm.binSizes = append(fm.binSizes, n)
	}
	for _, s := range o.BodySection {
		p, err := planBody(&c, msg.HeaderFields, s)
		if err != nil {
			return nil, err
		}
		if p.top {
			fm.cacheNames = cacheNames(fm.cacheNames, msg.HeaderFields, p.filter)
		}
		fm.parts = append(fm.parts, p)
	}
	for _, s := range o.BinarySection {
		p, err := planBinary(&c, s)
		if err != nil {
			return nil, err
		}
		fm.parts = append(fm.parts, p)
	}
	return fm, nil
}

func needsCache(o *goimap.FetchOptions) bool {
	return o.Envelope || o.BodyStructure != nil || len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
}

// Fetch answers FETCH and UID FETCH.
func (ss *session) Fetch(w *imapserver.FetchWriter, ns goimap.NumSet, o *goimap.FetchOptions) error {
	defer ss.begin()()
	m, err := ss.selectedOK()
	if err != nil {
		return err
	}
	if o.ModSeq || o.ChangedSince != 0 {
		return bad("CONDSTORE is not supported")
	}
	idx, err := m.resolve(ns, true)
	if err != nil {
		return err
	}
	markSeen := false
	if !m.readOnly {
		for _, s := range o.BodySection {
			markSeen = markSeen || !s.Peek
		}
		for _, s := range o.BinarySection {
			markSeen = markSeen || !s.Peek
		}
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	rev2 := ss.rev2()
	withCache := needsCache(o)
	seen := map[uint32]bool{} // flags changed by the implicit \Seen
	missing, unreadable := false, false
	for start := 0; start < len(idx); {
		end := min(start+fetchBatch, len(idx))
		uids := make([]uint32, end-start)
		for i, x := range idx[start:end] {
			uids[i] = m.uids[x]
		}
		if markSeen {
			changed, err := ss.srv.st.StoreFlags(ctx, m.id, uids, store.FlagsAdd, store.Flags{System: store.FlagSeen})
			if err != nil {
				return ss.storeErr("FETCH", err, codeNonExistent)
			}
			m.noteOwn(changed)
			for _, c := range changed {
				seen[c.UID] = true
			}
		}
		var msgs []*fetchMsg
		var bytes int
		var last uint32
		err := ss.srv.st.ReadMessages(ctx, m.id, uids, withCache, func(msg *store.Message, cb []byte) error {
			fm, err := prepare(o, msg, cb)
			if err != nil {
				return err
			}
			msgs = append(msgs, fm)
			last = msg.UID
			if bytes += len(cb); bytes > fetchBatchBytes {
				return errBatchFull
			}
			return nil
		})
		if errors.Is(err, errBatchFull) {
			i, _ := slices.BinarySearch(uids, last)
			uids = uids[:i+1]
			end = start + i + 1
		} else if err != nil {
			var ie *goimap.Error
			if errors.As(err, &ie) {
				return err
			}
			return ss.storeErr("FETCH", err, codeNonExistent)
		}
		if len(msgs) < len(uids) {
			missing = true
		}
		cache := map[uint32]*store.HeaderFields{}
		for _, fm := range msgs {
			ok, err := ss.writeFetch(w, m, fm, o, seen[fm.uid], rev2)
			if err != nil {
				return err
			}
			unreadable = unreadable || !ok
			if fm.hdrCache != nil {
				cache[fm.uid] = fm.hdrCache
			}
		}
		if len(cache) > 0 {
			// The next FETCH of these fields opens no file. A failure
			// costs only that.
			if err := ss.srv.st.CacheHeaderFields(ctx, m.id, cache); err != nil {
				ss.log.Warn("FETCH: cache header fields", "mailbox", m.name, "err", err)
			}
		}
		start = end
	}
	if unreadable {
		return no(goimap.ResponseCodeServerBug, "Some messages could not be read; the administrator has the details in the log")
	}
	if missing && !isUIDSet(ns) {
		// UID FETCH ignores a UID that no longer exists (RFC 3501
		// 6.4.8); the EXPUNGE follows it.
		return no(codeExpungeIssued, "Some messages were expunged by another session")
	}
	return nil
}

// noteOwn records the MODSEQ of this session's own flag change, so that
// its notification is not sent back as an unsolicited FETCH.
func (m *selected) noteOwn(changed []store.Message) {
	var top uint64
	for _, c := range changed {
		top = max(top, c.ModSeq)
		m.learnKeywords(c.Flags.Keywords)
	}
	if top != 0 {
		m.own[top] = struct{}{}
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeFetch writes one message's FETCH response. It reads what it needs
// of the message file before writing anything, so a missing file leaves
// the message out (ok false) instead of a broken response.
func (ss *session) writeFetch(w *imapserver.FetchWriter, m *selected, fm *fetchMsg, o *goimap.FetchOptions, seenSet, rev2 bool) (ok bool, err error) {
	seq := m.seq(fm.uid)
	if seq == 0 {
		return true, nil
	}
	var sec *blob.Section
	for i := range fm.parts {
		p := &fm.parts[i]
		if p.inline {
			continue
		}
		if sec == nil {
			if sec, err = ss.srv.openMessage(fm.blob); err != nil {
				ss.log.Error("open message file", "mailbox", m.name, "uid", fm.uid, "file", fm.blob, "err", err)
				return false, nil
			}
			defer sec.Close()
		}
		if p.off+p.n > sec.Size() {
			ss.log.Error("message file shorter than its cache says", "mailbox", m.name, "uid", fm.uid, "file", fm.blob, "size", sec.Size(), "want", p.off+p.n)
			return false, nil
		}
		if p.filter == nil && (p.decode == "" || p.decSize >= 0) {
			continue // streamed below
		}
		if p.decode != "" {
			// BINARY of an encoded part: streamed from the file through
			// the decoder, reading only up to the end of the partial.
			data, err := ss.readDecoded(sec, p)
			switch {
			case errors.Is(err, message.ErrUnknownEncoding):
				return false, no(codeUnknownCTE, "%v", err)
			case err != nil:
				ss.log.Error("read message file", "mailbox", m.name, "uid", fm.uid, "file", fm.blob, "err", err)
				return false, nil
			}
			p.data, p.inline = data, true
			continue
		}
		raw := make([]byte, p.n)
		if _, err := sec.ReadAt(raw, p.off); err != nil && !(errors.Is(err, io.EOF) && p.n == 0) {
			ss.log.Error("read message file", "mailbox", m.name, "uid", fm.uid, "file", fm.blob, "err", err)
			return false, nil
		}
		ss.srv.fileBytes.Add(p.n)
		var out []byte
		if p.top && fm.hdrCache == nil && len(fm.cacheNames) <= maxCachedFieldNames {
			if block := message.FilterHeader(raw, fm.cacheNames, false); len(block) <= maxCachedFieldBytes {
				fm.hdrCache = &store.HeaderFields{Names: fm.cacheNames, Block: block}
			}
		}
		if p.filter != nil {
			out = message.FilterHeader(raw, p.filter, p.not)
		}
		p.data, p.inline = cut(out, p.partial), true
	}

	rw := w.CreateMessage(seq)
	if o.UID {
		rw.WriteUID(goimap.UID(fm.uid))
	}
	if o.Flags || seenSet {
		rw.WriteFlags(m.flagList(fm.flags, fm.uid, rev2))
	}
	if o.InternalDate {
		rw.WriteInternalDate(fm.date)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(fm.size)
	}
	if o.Envelope {
		rw.WriteItem("ENVELOPE", func(enc *imapwire.Encoder) { writeEnvelope(enc, &fm.c.Envelope) })
	}
	if o.BodyStructure != nil {
		body, bs := rw.BodyStructureForms()
		if body {
			rw.WriteItem("BODY", func(enc *imapwire.Encoder) { writeBody(enc, &fm.c.Body, false) })
		}
		if bs {
			rw.WriteItem("BODYSTRUCTURE", func(enc *imapwire.Encoder) { writeBody(enc, &fm.c.Body, true) })
		}
	}
	for i, s := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(s, fm.binSizes[i])
	}
	nb := len(o.BodySection)
	for i := range fm.parts {
		p := &fm.parts[i]
		size := p.n
		var skip int64 // decoded octets before the partial
		switch {
		case p.inline:
			size = int64(len(p.data))
		case p.decode != "":
			skip, size = p.decodedRange()
		}
		var lw io.WriteCloser
		if i < nb {
			lw = rw.WriteBodySection(o.BodySection[i], size)
		} else {
			lw = rw.WriteBinarySection(o.BinarySection[i-nb], size)
		}
		switch {
		case p.inline:
			_, err = lw.Write(p.data)
		case p.decode != "":
			err = ss.streamDecoded(lw, sec, p, skip, size)
		default:
			bp := copyBufs.Get().(*[]byte)
			var n int64
			n, err = io.CopyBuffer(lw, io.NewSectionReader(sec, p.off, p.n), *bp)
			copyBufs.Put(bp)
			ss.srv.fileBytes.Add(n)
			if err == nil && n != size {
				err = fmt.Errorf("message file %s: read %d of %d bytes", fm.blob, n, size)
			}
		}
		if err == nil {
			err = lw.Close()
		}
		if err != nil {
			// The response is cut in the middle of a literal: the
			// connection cannot go on.
			ss.log.Error("write FETCH", "mailbox", m.name, "uid", fm.uid, "err", err)
			ss.conn.NetConn().Close()
			return false, err
		}
	}
	return true, rw.Close()
}

// openMessage opens a message file, counting it for tests and benchmarks.
func (s *Server) openMessage(id string) (*blob.Section, error) {
	s.filesOpened.Add(1)
	return s.st.OpenMessage(id)
}

// readDecoded reads the BINARY section p, whose Content-Transfer-Encoding
// p.decode it removes, from the message file sec, when the cache does not
// know its decoded size (else streamDecoded writes it): the encoded bytes are
// streamed through message.NewDecoder, the decoded octets before the
// partial's offset are skipped and reading stops at its end. Only the
// decoded octets returned are held (not the encoded part), and little more
// of the file is read than the encoding of the octets up to the end of the
// partial (one decoder buffer more). What it reads is counted in fileBytes.
func (ss *session) readDecoded(sec *blob.Section, p *fetchPart) ([]byte, error) {
	// Decoding never lengthens: base64 gives at most 3 octets per 4
	// characters, quoted-printable at most one per character.
	limit := p.n
	if strings.EqualFold(p.decode, "base64") {
		limit = p.n/4*3 + 2
	}
	skip, n := cutRange(0, limit, p.partial)
	r, f, err := decodedFrom(sec, p, skip)
	defer func() { ss.srv.fileBytes.Add(f.n) }()
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, n))
}

// streamDecoded writes n decoded octets of the BINARY section p, after
// the first skip, from the message file to w: the part is decoded as it
// is read (message.NewDecoder), so a whole attachment is never held in
// memory. n comes from the cache (BINARY.SIZE, computed with the same
// decoding rules); a file that decodes to less is an error, and the
// caller ends the connection, as for a file shorter than its cache says.
func (ss *session) streamDecoded(w io.Writer, sec *blob.Section, p *fetchPart, skip, n int64) error {
	if n == 0 {
		return nil // a partial past the end
	}
	r, f, err := decodedFrom(sec, p, skip)
	defer func() { ss.srv.fileBytes.Add(f.n) }()
	if err != nil {
		return err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	got, err := io.CopyBuffer(w, io.LimitReader(r, n), *bp)
	if err == nil && got != n {
		err = fmt.Errorf("part decodes to %d octets or fewer, the cache says %d", skip+got, skip+n)
	}
	return err
}

// decodedFrom returns the decoded octets of the BINARY section p from the
// message file, after the first skip (fewer when the part decodes to
// fewer), and the count of file bytes read through it.
func decodedFrom(sec *blob.Section, p *fetchPart, skip int64) (io.Reader, *countingReaderAt, error) {
	f := &countingReaderAt{r: sec}
	dec, err := message.NewDecoder(p.decode, io.NewSectionReader(f, p.off, p.n))
	if err != nil {
		return nil, f, err
	}
	if _, err := io.CopyN(io.Discard, dec, skip); err != nil && !errors.Is(err, io.EOF) {
		return nil, f, fmt.Errorf("decode part to offset %d: %w", skip, err)
	}
	return dec, f, nil
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.n += int64(n)
	return n, err
}
