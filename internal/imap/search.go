package imap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/message"
	"github.com/m-store/mstore/internal/store"
)

// SEARCH (RFC 3501 6.4.4, RFC 9051 6.4.4), with ESEARCH's result options
// (RFC 4731) and SEARCHRES (RFC 5182).
//
// Messages are read in batches, each in one read transaction: records for
// flags, dates and sizes, the parsed-message cache when a header key or a
// SENT* key needs it. Keys are tried cheapest first. FROM, TO, CC, BCC and
// SUBJECT match the envelope, from the cache (RFC 3501 defines them on the
// envelope structure's fields); HEADER FROM x matches the field's text,
// like any HEADER key (our imapserver gives HEADER's field name in lower
// case, and these keys as "From", "To", "Cc", "Bcc", "Subject"). HEADER matches the header octets the
// record keeps when they hold the field (message.Cache.KeptHeader: the
// whole header, or the fields of message.KeptFields), else the fields kept
// with the file (store.HeaderFields, after a client fetched them) when
// they do; else it reads the top-level header from the message file, one
// read of the range the cache gives. BODY and TEXT also read the text
// parts (decoded from their transfer encoding and, for the common
// charsets, to UTF-8).
// Either opens the file only for messages that passed the cheaper keys, at
// most once per message. Strings match case-insensitively, against the raw
// value and against its RFC 2047 decoding. A message whose file cannot be
// read matches no key that needs it; the error is logged.

const searchBatch = 2000

type searchMsg struct {
	seq, uid uint32
	flags    store.Flags
	date     time.Time
	size     int64
	blob     string
	c        *message.Cache
	hf       *store.HeaderFields // header fields kept with the file, if any

	sec     *blob.Section // the message file, once opened; closed after matching
	secErr  error         // why it could not be opened
	hdrDone bool          // c.RawHeader loaded, or failed (then hdrOK false)
	hdrOK   bool
	loaded  bool
	header  string // folded, decoded header (TEXT)
	body    string // folded, decoded text of the body (BODY, TEXT)

	keptDone  bool              // kept and keptState read from c
	kept      []byte            // the header octets the record keeps
	keptState message.KeptState // what they are
}

type searcher struct {
	ss     *session
	m      *selected
	n      uint32 // messages in the view ("*" as a sequence number)
	maxUID uint32 // "*" as a UID
	err    error  // a message file that could not be read
}

// searchNeeds reports whether the criteria need the parsed-message cache
// and whether they may need the message file (BODY, TEXT, and HEADER,
// whose field's text is read from the file when the record does not keep
// it).
func searchNeeds(c *goimap.SearchCriteria) (cache, file bool) {
	cache = len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero()
	file = len(c.Body) > 0 || len(c.Text) > 0
	for _, h := range c.Header {
		if _, env := envelopeText(&message.Envelope{}, h.Key); !env {
			file = true
		}
	}
	for i := range c.Not {
		cc, ff := searchNeeds(&c.Not[i])
		cache, file = cache || cc, file || ff
	}
	for i := range c.Or {
		for j := range c.Or[i] {
			cc, ff := searchNeeds(&c.Or[i][j])
			cache, file = cache || cc, file || ff
		}
	}
	return cache || file, file
}

func hasModSeq(c *goimap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// Search answers SEARCH and UID SEARCH.
func (ss *session) Search(kind imapserver.NumKind, c *goimap.SearchCriteria, o *goimap.SearchOptions) (*goimap.SearchData, error) {
	defer ss.begin()()
	m, err := ss.selectedOK()
	if err != nil {
		if ss.sel != nil && o.ReturnSave {
			ss.sel.searchRes = nil
		}
		return nil, err
	}
	d, err := ss.search(m, kind, c)
	if o.ReturnSave {
		m.searchRes = nil
		if err == nil {
			m.searchRes = savedResult(d.uids, o)
		}
	}
	if err != nil {
		return nil, err
	}
	return d.data, nil
}

// ClearSearchResult empties "$" (imapserver.SessionSearchResult): a
// SEARCH with SAVE answered NO before it reached Search.
func (ss *session) ClearSearchResult() {
	defer ss.begin()()
	if ss.sel != nil {
		ss.sel.searchRes = nil
	}
}

// savedResult is what SAVE keeps of a result, UIDs ascending (RFC 5182
// 2.1): with MIN and/or MAX but neither ALL nor COUNT, only the minimum
// and/or the maximum; else all of it.
func savedResult(uids []uint32, o *goimap.SearchOptions) []uint32 {
	if len(uids) == 0 || o.ReturnAll || o.ReturnCount || !o.ReturnMin && !o.ReturnMax {
		return uids
	}
	var saved []uint32
	if o.ReturnMin {
		saved = append(saved, uids[0])
	}
	if o.ReturnMax && (!o.ReturnMin || len(uids) > 1) {
		saved = append(saved, uids[len(uids)-1])
	}
	return saved
}

type searchResult struct {
	data *goimap.SearchData
	uids []uint32
}

func (ss *session) search(m *selected, kind imapserver.NumKind, c *goimap.SearchCriteria) (*searchResult, error) {
	if hasModSeq(c) {
		return nil, bad("CONDSTORE is not supported")
	}
	s := &searcher{ss: ss, m: m, n: uint32(len(m.uids))}
	if len(m.uids) > 0 {
		s.maxUID = m.uids[len(m.uids)-1]
	}
	withCache, _ := searchNeeds(c)
	ctx, cancel := ss.ctx()
	defer cancel()
	var seqs, uids []uint32
	for start := 0; start < len(m.uids); start += searchBatch {
		end := min(start+searchBatch, len(m.uids))
		batch := m.uids[start:end]
		msgs := make([]*searchMsg, 0, len(batch))
		err := ss.srv.st.ReadMessages(ctx, m.id, batch, withCache, func(msg *store.Message, cb []byte) error {
			x := &searchMsg{uid: msg.UID, flags: msg.Flags, date: msg.InternalDate, size: msg.Size, blob: msg.Blob}
			if hf := msg.HeaderFields; hf != nil {
				// Valid only during the call, like the cache.
				x.hf = &store.HeaderFields{Names: hf.Names, Block: bytes.Clone(hf.Block)}
			}
			if cb != nil {
				x.c = new(message.Cache)
				if err := x.c.UnmarshalBinary(cb); err != nil {
					return fmt.Errorf("message %d (file %s): %w", msg.UID, msg.Blob, err)
				}
			}
			msgs = append(msgs, x)
			return nil
		})
		if err != nil {
			return nil, ss.storeErr("SEARCH", err, codeNonExistent)
		}
		for _, x := range msgs {
			x.seq = m.seq(x.uid)
			ok := s.match(x, c)
			if x.sec != nil {
				x.sec.Close()
				x.sec = nil
			}
			if ok {
				seqs = append(seqs, x.seq)
				uids = append(uids, x.uid)
			}
		}
	}
	if s.err != nil {
		ss.log.Error("SEARCH: read message file", "mailbox", m.name, "err", s.err)
	}
	d := &goimap.SearchData{Count: uint32(len(seqs))}
	nums := seqs
	if kind == imapserver.NumKindUID {
		nums = uids
		var set goimap.UIDSet
		for _, u := range uids {
			set = appendUID(set, u)
		}
		d.All = set
	} else {
		var set goimap.SeqSet
		for _, n := range seqs {
			if k := len(set); k > 0 && set[k-1].Stop+1 == n {
				set[k-1].Stop = n
			} else {
				set = append(set, goimap.SeqRange{Start: n, Stop: n})
			}
		}
		d.All = set
	}
	if len(nums) > 0 {
		d.Min, d.Max = nums[0], nums[len(nums)-1]
	}
	return &searchResult{data: d, uids: uids}, nil
}

func inRange(n, lo, hi, star uint32) bool {
	if lo == 0 {
		lo = star
	}
	if hi == 0 {
		hi = star
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return n >= lo && n <= hi
}

func (s *searcher) seqIn(set goimap.SeqSet, n uint32) bool {
	for _, r := range set {
		if inRange(n, r.Start, r.Stop, s.n) {
			return true
		}
	}
	return false
}

func (s *searcher) uidIn(set goimap.UIDSet, u uint32) bool {
	if goimap.IsSearchRes(set) {
		_, ok := slices.BinarySearch(s.m.searchRes, u)
		return ok
	}
	for _, r := range set {
		if inRange(u, uint32(r.Start), uint32(r.Stop), s.maxUID) {
			return true
		}
	}
	return false
}

func (s *searcher) hasFlag(x *searchMsg, f goimap.Flag) bool {
	if strings.EqualFold(string(f), `\Recent`) {
		return s.m.isRecent(x.uid)
	}
	return x.flags.Has(string(f))
}

// day is a date without time and zone: RFC 3501 compares dates only.
func day(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func (s *searcher) match(x *searchMsg, c *goimap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !s.seqIn(set, x.seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !s.uidIn(set, x.uid) {
			return false
		}
	}
	if !c.Since.IsZero() && day(x.date).Before(day(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !day(x.date).Before(day(c.Before)) {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if x.c == nil || x.c.Date == nil {
			return false
		}
		sd := day(*x.c.Date)
		if !c.SentSince.IsZero() && sd.Before(day(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !sd.Before(day(c.SentBefore)) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !s.hasFlag(x, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if s.hasFlag(x, f) {
			return false
		}
	}
	if c.Larger > 0 && x.size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && x.size >= c.Smaller {
		return false
	}
	for _, h := range c.Header {
		if x.c == nil {
			return false
		}
		if vals, ok := envelopeText(&x.c.Envelope, h.Key); ok {
			if !textMatch(vals, h.Value) {
				return false
			}
			continue
		}
		if kb, ok := x.keptFields(h.Key); ok {
			if !textMatch(message.HeaderValues(kb, h.Key), h.Value) {
				return false
			}
			continue
		}
		if x.hf.Covers([]string{h.Key}) {
			if !textMatch(message.HeaderValues(x.hf.Block, h.Key), h.Value) {
				return false
			}
			continue
		}
		if !s.loadHeader(x) || !textMatch(x.c.Header(h.Key), h.Value) {
			return false
		}
	}
	for i := range c.Not {
		if s.match(x, &c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !s.match(x, &c.Or[i][0]) && !s.match(x, &c.Or[i][1]) {
			return false
		}
	}
	if len(c.Body) > 0 || len(c.Text) > 0 {
		s.load(x)
		for _, b := range c.Body {
			if !strings.Contains(x.body, fold(b)) {
				return false
			}
		}
		for _, t := range c.Text {
			t = fold(t)
			if !strings.Contains(x.body, t) && !strings.Contains(x.header, t) {
				return false
			}
		}
	}
	return true
}

func fold(s string) string { return strings.ToLower(s) }

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeWords decodes RFC 2047 encoded-words, leaving the text as it is
// when it cannot.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// envelopeText is what SEARCH FROM, TO, CC, BCC and SUBJECT match: "the
// envelope structure's" field (RFC 3501 6.4.4, RFC 9051 6.4.4), which the
// cache holds, so these keys open no file. An address is matched as
// `name <mailbox@host>` (a group by its name). ok is false for any other
// name, HEADER's among them (imapserver gives those in lower case): they
// match the field's text.
func envelopeText(e *message.Envelope, name string) (vals []string, ok bool) {
	var l []message.Address
	switch name { // exactly as imapserver names these keys: HEADER's are lower case
	case "Subject":
		if e.Subject.Valid {
			vals = []string{e.Subject.Value}
		}
		return vals, true
	case "From":
		l = e.From
	case "To":
		l = e.To
	case "Cc":
		l = e.Cc
	case "Bcc":
		l = e.Bcc
	default:
		return nil, false
	}
	for _, a := range l {
		switch {
		case a.IsGroupEnd():
		case a.IsGroupStart():
			vals = append(vals, a.Mailbox.Value)
		case a.Name.Valid:
			vals = append(vals, a.Name.Value+" <"+a.Mailbox.Value+"@"+a.Host.Value+">")
		default:
			vals = append(vals, a.Mailbox.Value+"@"+a.Host.Value)
		}
	}
	return vals, true
}

// textMatch is SEARCH's match of a header field: some value contains
// needle, as it is or RFC 2047-decoded, case-insensitively; an empty
// needle matches when there is a value (the field is present).
func textMatch(vals []string, value string) bool {
	if len(vals) == 0 {
		return false
	}
	if value == "" {
		return true
	}
	needle := fold(value)
	for _, v := range vals {
		if strings.Contains(fold(v), needle) || strings.Contains(fold(decodeWords(v)), needle) {
			return true
		}
	}
	return false
}

// load reads the text of a message for BODY and TEXT: the decoded header,
// and every text part (and encapsulated message header) decoded from its
// transfer encoding and charset.
func (s *searcher) load(x *searchMsg) {
	if x.loaded {
		return
	}
	x.loaded = true
	// The file first: a header the record keeps is no reason to match
	// TEXT while the body cannot be read.
	if s.file(x) == nil || !s.loadHeader(x) {
		return
	}
	x.header = fold(decodeWords(string(x.c.RawHeader)))
	sec := s.file(x)
	if sec == nil {
		return
	}
	var b strings.Builder
	s.walkText(sec, &x.c.Body, &b)
	x.body = b.String()
}

// file returns x's message file, opened on first use (search closes it once
// x is matched); nil, with s.err set, when it cannot be opened.
func (s *searcher) file(x *searchMsg) *blob.Section {
	if x.sec == nil && x.secErr == nil {
		x.sec, x.secErr = s.ss.srv.openMessage(x.blob)
		if x.secErr != nil {
			s.err = fmt.Errorf("message %d (file %s): %w", x.uid, x.blob, x.secErr)
		}
	}
	return x.sec
}

// keptFields returns the top-level header octets x's record keeps (read
// once), if they hold every field named name: the whole header (which
// then is x.c.RawHeader too), or the fields of message.KeptFields.
func (x *searchMsg) keptFields(name string) ([]byte, bool) {
	if x.c == nil {
		return nil, false
	}
	if !x.keptDone {
		x.keptDone = true
		x.kept, x.keptState = x.c.KeptHeader()
		if x.keptState == message.KeptAll && x.c.RawHeader == nil {
			x.c.RawHeader = x.kept
		}
	}
	return x.kept, x.keptState == message.KeptAll || x.keptState == message.KeptFieldsOnly && message.IsKeptField(name)
}

// loadHeader makes x.c.RawHeader the message's top-level header: bytes
// [0, x.c.HeaderLen()) of its file, read once (a cache decoded from a
// version 2 record already holds it). It reports false, with s.err set,
// when there is no cache or the header cannot be read.
func (s *searcher) loadHeader(x *searchMsg) bool {
	if x.hdrDone {
		return x.hdrOK
	}
	x.hdrDone = true
	if x.c == nil {
		return false
	}
	x.keptFields("") // the whole header, if the record keeps it
	n := x.c.HeaderLen()
	if x.c.RawHeader == nil && n > 0 {
		sec := s.file(x)
		if sec == nil {
			return false
		}
		if n > sec.Size() {
			s.err = fmt.Errorf("message %d (file %s): file of %d octets, shorter than its %d-octet header", x.uid, x.blob, sec.Size(), n)
			return false
		}
		h := make([]byte, n)
		k, err := sec.ReadAt(h, 0)
		s.ss.srv.fileBytes.Add(int64(k))
		if k < len(h) {
			s.err = fmt.Errorf("message %d (file %s): read header: %w", x.uid, x.blob, err)
			return false
		}
		x.c.RawHeader = h
	}
	x.hdrOK = true
	return true
}

func (s *searcher) read(sec *blob.Section, off, n int64) []byte {
	buf := make([]byte, n)
	k, err := sec.ReadAt(buf, off)
	s.ss.srv.fileBytes.Add(int64(k))
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return buf[:k]
}

func (s *searcher) walkText(sec *blob.Section, p *message.Part, b *strings.Builder) {
	switch {
	case p.IsMultipart():
		for i := range p.Parts {
			s.walkText(sec, &p.Parts[i], b)
		}
	case p.Message != nil:
		h := s.read(sec, p.Message.Body.HeaderStart, p.Message.Body.BodyStart-p.Message.Body.HeaderStart)
		b.WriteString(fold(decodeWords(string(h))))
		b.WriteByte('\n')
		s.walkText(sec, &p.Message.Body, b)
	case p.IsText():
		raw := s.read(sec, p.BodyStart, p.Size())
		dec, err := message.AppendDecoded(nil, p.Encoding, raw)
		if err != nil {
			dec = raw
		}
		charset := ""
		for _, pm := range p.Params {
			if strings.EqualFold(pm.Name, "charset") {
				charset = pm.Value
			}
		}
		b.WriteString(fold(toUTF8(charset, dec)))
		b.WriteByte('\n')
	}
}

// toUTF8 converts text of the charsets mail mostly uses; others are taken
// as they are.
func toUTF8(charset string, b []byte) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252", "iso-8859-15":
		if utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 }) {
			return string(b)
		}
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c)
		}
		return string(rs)
	}
	return string(b)
}

func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "windows-1252", "cp1252", "iso-8859-15", "latin1":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(toUTF8("iso-8859-1", b)), nil
	}
	return nil, fmt.Errorf("charset %s not supported", charset)
}
