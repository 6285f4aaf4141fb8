package message

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// roundTrip marshals c, unmarshals the result and checks that it is equal
// but for RawHeader, which the record does not hold: the header is
// Body.BodyStart octets of the message file, and RawHeader is nil after
// decoding.
func roundTrip(t testing.TB, c *Cache) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	if b[0] != Version {
		t.Fatalf("MarshalBinary wrote version %d, want %d", b[0], Version)
	}
	var d Cache
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if d.RawHeader != nil {
		t.Fatalf("decoded version %d record has a RawHeader", Version)
	}
	if d.Body.BodyStart != int64(len(c.RawHeader)) || d.HeaderLen() != int64(len(c.RawHeader)) {
		t.Fatalf("decoded header length %d, want %d", d.Body.BodyStart, len(c.RawHeader))
	}
	if !sameDecoded(c, &d) {
		t.Fatalf("decoded cache differs:\n got %s %s\nwant %s %s",
			imapString(envTree(&d.Envelope)), imapString(bsTree(&d.Body, true)),
			imapString(envTree(&c.Envelope)), imapString(bsTree(&c.Body, true)))
	}
	b2, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs (%v)", err)
	}
	// With the header loaded again (as a caller reads it from the file),
	// the cache is the one encoded, and encodes the same.
	d.RawHeader = c.RawHeader
	if !sameDecoded(c, &d) {
		t.Fatalf("decoded cache with its header differs")
	}
	if b3, err := d.MarshalBinary(); err != nil || !bytes.Equal(b, b3) {
		t.Fatalf("re-encoding with the header differs (%v)", err)
	}
	return b
}

// sameDecoded reports whether d holds what c holds, apart from RawHeader
// (a record has none) and where a record's kept header is (kept); the
// kept headers themselves are compared by TestKeptHeader.
func sameDecoded(c, d *Cache) bool {
	x, y := withoutHeader(c), withoutHeader(d)
	x.kept, y.kept = keptRef{}, keptRef{}
	return reflect.DeepEqual(x, y)
}

// withoutHeader is a shallow copy of c with RawHeader nil: what a record
// of c decodes to.
func withoutHeader(c *Cache) *Cache {
	x := *c
	x.RawHeader = nil
	return &x
}

// plainRecord writes c as the encoder of version 2 wrote it without its
// string references (version2), or as version 3 without any of its
// shortcuts (version3, or Version with no header fields kept): no
// references, no date layout, no part flags but the kind. All decode to c; UnmarshalBinary must accept what older or
// simpler encoders write. It is written independently of encoding.go, from
// the grammar in doc.go.
func plainRecord(c *Cache, version byte) []byte {
	b := []byte{version}
	b = binary.AppendUvarint(b, uint64(c.Size))
	b = binary.AppendUvarint(b, uint64(c.Body.BodyStart))
	if version == version2 {
		b = append(b, c.RawHeader...)
	}
	if c.Date == nil {
		b = append(b, 0)
	} else {
		_, off := c.Date.Zone()
		b = append(b, 1)
		b = binary.AppendVarint(b, c.Date.Unix())
		b = binary.AppendVarint(b, int64(off))
	}
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s))<<1)
		b = append(b, s...)
	}
	nstr := func(s NString) {
		if !s.Valid {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(s.Value))<<1+1)
		b = append(b, s.Value...)
	}
	addrs := func(l []Address, same bool) {
		if same && len(l) > 0 {
			b = append(b, 1)
			return
		}
		if len(l) == 0 {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(l))+2)
		for _, a := range l {
			nstr(a.Name)
			nstr(a.ADL)
			nstr(a.Mailbox)
			nstr(a.Host)
		}
	}
	envelope := func(e *Envelope) {
		nstr(e.Date)
		nstr(e.Subject)
		addrs(e.From, false)
		addrs(e.Sender, addrsEqual(e.Sender, e.From))
		addrs(e.ReplyTo, addrsEqual(e.ReplyTo, e.From))
		addrs(e.To, false)
		addrs(e.Cc, false)
		addrs(e.Bcc, false)
		nstr(e.InReplyTo)
		nstr(e.MessageID)
	}
	params := func(ps []Param) {
		b = binary.AppendUvarint(b, uint64(len(ps)))
		for _, p := range ps {
			str(p.Name)
			str(p.Value)
		}
	}
	var part func(pt *Part, top bool, lo int64)
	part = func(pt *Part, top bool, lo int64) {
		if !top || version == version2 {
			b = binary.AppendUvarint(b, uint64(pt.HeaderStart-lo))
			b = binary.AppendUvarint(b, uint64(pt.BodyStart-pt.HeaderStart))
			b = binary.AppendUvarint(b, uint64(pt.BodyEnd-pt.BodyStart))
		}
		switch {
		case len(pt.Parts) > 0:
			b = append(b, kindMultipart)
		case pt.Message != nil:
			b = append(b, kindMessage)
		default:
			b = append(b, kindLeaf)
		}
		str(pt.Type)
		str(pt.Subtype)
		params(pt.Params)
		nstr(pt.ID)
		nstr(pt.Description)
		str(pt.Encoding)
		nstr(pt.MD5)
		nstr(pt.Disposition)
		params(pt.DispositionParams)
		b = binary.AppendUvarint(b, uint64(len(pt.Language)))
		for _, l := range pt.Language {
			str(l)
		}
		nstr(pt.Location)
		b = binary.AppendUvarint(b, uint64(pt.Lines))
		b = binary.AppendUvarint(b, uint64(pt.BinarySize+1))
		if len(pt.Parts) > 0 {
			b = binary.AppendUvarint(b, uint64(len(pt.Parts)))
			cur := pt.BodyStart
			for i := range pt.Parts {
				part(&pt.Parts[i], false, cur)
				cur = pt.Parts[i].BodyEnd
			}
		}
		if pt.Message != nil {
			envelope(&pt.Message.Envelope)
			part(&pt.Message.Body, false, pt.BodyStart)
		}
	}
	envelope(&c.Envelope)
	part(&c.Body, true, 0)
	if version == Version {
		b = append(b, byte(KeptNone)) // no header fields kept
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, m := range corpus() {
		t.Run(m.name, func(t *testing.T) {
			raw := m.raw()
			c := Parse(raw)
			b := roundTrip(t, c)
			v2RoundTrip(t, c, b)
			t.Logf("%d octets of message, %d of header, %d of cache", len(raw), len(c.RawHeader), len(b))
		})
	}
	g := &gen{r: rand.New(rand.NewSource(5)), damage: true}
	for i := 0; i < 500; i++ {
		c := Parse(g.message())
		v2RoundTrip(t, c, roundTrip(t, c))
	}
}

// v2RoundTrip checks that the plain version 2 and version 3 forms of c
// (see plainRecord) decode to c (its header included for version 2), and
// re-encode to rec, the record MarshalBinary made of c.
func v2RoundTrip(t testing.TB, c *Cache, rec []byte) {
	t.Helper()
	for _, v := range []byte{version2, version3, Version} {
		var d Cache
		if err := d.UnmarshalBinary(plainRecord(c, v)); err != nil {
			t.Fatalf("plain version %d record: %v", v, err)
		}
		want := c
		if v != version2 {
			want = withoutHeader(c)
		}
		if !sameDecoded(want, &d) {
			t.Fatalf("plain version %d record decodes differently", v)
		}
		// A record without the header keeps none of it when re-encoded.
		wantRec := rec
		if v != version2 {
			wantRec = withoutKept(t, rec)
		}
		if b, err := d.MarshalBinary(); err != nil || !bytes.Equal(b, wantRec) {
			t.Fatalf("plain version %d record re-encodes differently (%v)", v, err)
		}
	}
}

// withoutKept is a version 4 record without its kept-header section.
func withoutKept(t testing.TB, rec []byte) []byte {
	t.Helper()
	var d Cache
	if err := d.UnmarshalBinary(rec); err != nil {
		t.Fatalf("record: %v", err)
	}
	if d.kept.state == KeptNone {
		return rec
	}
	return append(rec[:d.kept.off:d.kept.off], byte(KeptNone))
}

// TestUnmarshalV2 decodes records written by the version 2 encoder (with
// strings referring to the header), as databases made before version 3
// hold: they decode, header included, to what testdata/v2/*.json says
// (what Parse gave when they were made), and re-encode as version 3.
func TestUnmarshalV2(t *testing.T) {
	recs, err := filepath.Glob("testdata/v2/*.rec")
	if err != nil || len(recs) == 0 {
		t.Fatalf("no version 2 records: %v", err)
	}
	for _, path := range recs {
		name := strings.TrimSuffix(filepath.Base(path), ".rec")
		t.Run(name, func(t *testing.T) {
			rec, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(path, ".rec") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if rec[0] != 2 {
				t.Fatalf("%s is not a version 2 record", path)
			}
			var c Cache
			if err := c.UnmarshalBinary(rec); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			got, err := json.MarshalIndent(&c, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("decoded:\n%s\nwant:\n%s", got, want)
			}
			raw := corpusMsg(name).raw()
			if c.Size != int64(len(raw)) || !bytes.Equal(c.RawHeader, raw[:c.HeaderLen()]) || (c.RawHeader == nil) != (c.HeaderLen() == 0) {
				t.Errorf("RawHeader %q, want the %d octets %q", c.RawHeader, c.HeaderLen(), raw[:c.HeaderLen()])
			}
			// Re-encoded, it is a version 3 record of the same cache.
			b, err := c.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			var d Cache
			if err := d.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary of the re-encoding: %v", err)
			}
			if b[0] != Version || !sameDecoded(&c, &d) {
				t.Errorf("re-encoded as version %d, decodes differently", b[0])
			}
			if len(b) >= len(rec) && len(c.RawHeader) > 100 {
				t.Errorf("version 3 record of %d octets, version 2 of %d", len(b), len(rec))
			}
			// Every proper prefix is an error.
			for n := 0; n < len(rec); n++ {
				if err := d.UnmarshalBinary(rec[:n]); err == nil {
					t.Fatalf("prefix of %d/%d octets decoded", n, len(rec))
				}
			}
		})
	}
}

// TestReferences: a string already in the record is written as a
// reference to its first occurrence; a reference must lie in the record
// before its own tag; version 2 references point into the header.
func TestReferences(t *testing.T) {
	raw := []byte("From: Abcd <abcd@example.org>\r\nTo: abcd@example.org, x@abc, y@abc\r\nSubject: abcd\r\n\r\nx")
	c := Parse(raw)
	rec := roundTrip(t, c)
	// "abcd" (the Subject, before From in the envelope) and "example.org"
	// (From's host) are inline once; the mailboxes and To's host are
	// references (tag, offset), while "abc", too short, is inline each
	// time.
	for s, n := range map[string]int{"abcd": 1, "example.org": 1, "\x07abc": 2} {
		if got := bytes.Count(rec, []byte(s)); got != n {
			t.Errorf("%q %d times in the record % x, want %d", s, got, rec, n)
		}
	}
	subj := bytes.Index(rec, []byte("abcd"))
	host := bytes.Index(rec, []byte("example.org"))
	if want := []byte{(11<<1 | 1) + 1, byte(host)}; bytes.Count(rec, want) != 1 { // To's host
		t.Errorf("no reference % x to offset %d in % x", want, host, rec)
	}
	if want := []byte{(4<<1 | 1) + 1, byte(subj)}; bytes.Count(rec, want) != 2 { // the mailboxes
		t.Errorf("not 2 references % x to offset %d in % x", want, subj, rec)
	}

	// A message whose Subject ("abcd", inline) is the first string.
	raw = []byte("Subject: abcd\r\n\r\nx")
	c = Parse(raw)
	rec = roundTrip(t, c)
	inline := []byte("\x09abcd") // nstr tag (4<<1)+1
	at := bytes.Index(rec, inline)
	if at < 0 || bytes.Count(rec, inline) != 1 {
		t.Fatalf("subject not found once in % x", rec)
	}
	// withRef is rec with the subject a reference of n octets at off.
	withRef := func(n, off uint64) []byte {
		b := append([]byte(nil), rec[:at]...)
		b = binary.AppendUvarint(b, (n<<1|1)+1)
		b = binary.AppendUvarint(b, off)
		return append(b, rec[at+len(inline):]...)
	}
	var d Cache
	for _, tc := range []struct {
		n, off uint64
		ok     bool
	}{
		{4, uint64(at) - 4, true}, // ends at the tag: the limit
		{uint64(at), 0, true},     // the whole record before the tag
		{0, uint64(at), true},     // empty, at the tag
		{4, 0, true},
		{4, uint64(at) - 3, false}, // its tag's first octet
		{1, uint64(at), false},     // its own tag
		{4, uint64(at), false},
		{2, uint64(at) + 1, false}, // later octets
		{4, uint64(at) + 2, false},
		{uint64(at) + 1, 0, false},
		{1, 1 << 40, false},
		{1 << 40, 0, false},
		{4, ^uint64(0) - 1, false},
	} {
		b := withRef(tc.n, tc.off)
		err := d.UnmarshalBinary(b)
		if tc.ok {
			want := rec[tc.off : tc.off+tc.n]
			if err != nil || !d.Envelope.Subject.Valid || d.Envelope.Subject.Value != string(want) {
				t.Errorf("reference to %d octets at %d, tag at %d: %v, subject %q, want %q", tc.n, tc.off, at, err, d.Envelope.Subject, want)
			}
			if err == nil {
				// Whatever decodes encodes, and decodes the same.
				var d2 Cache
				b2, err := d.MarshalBinary()
				if err == nil {
					err = d2.UnmarshalBinary(b2)
				}
				if err != nil || !sameDecoded(&d, &d2) {
					t.Errorf("reference to %d octets at %d: re-encoding differs (%v)", tc.n, tc.off, err)
				}
			}
		} else if !errors.Is(err, errCorrupt) && !errors.Is(err, errTruncated) || err == nil {
			t.Errorf("reference to %d octets at %d, tag at %d: %v, want an error", tc.n, tc.off, at, err)
		}
	}

	// In version 2 a reference is into the header: "abcd" is at offset 9.
	v2 := plainRecord(c, version2)
	i := bytes.Index(v2, inline)
	if i < 0 || bytes.Count(v2, inline) != 1 {
		t.Fatalf("subject not found once in % x", v2)
	}
	ref := bytes.Join([][]byte{v2[:i], {0x0a, 9}, v2[i+len(inline):]}, nil)
	if err := d.UnmarshalBinary(ref); err != nil || !sameDecoded(c, &d) {
		t.Errorf("version 2 record with a header reference: %v", err)
	}
	for _, off := range []byte{14, 20, 0x7f} { // past the header's 17 octets
		ref = bytes.Join([][]byte{v2[:i], {0x0a, off}, v2[i+len(inline):]}, nil)
		if err := d.UnmarshalBinary(ref); err == nil {
			t.Errorf("version 2 reference to 4 octets at %d of a header of 17: decoded", off)
		}
	}
}

// TestReferenceBudget: the encoder looks for references in the first
// refWindow octets of the record only, and scans refBudget octets in all,
// so that a record of many strings costs linear time.
func TestReferenceBudget(t *testing.T) {
	const s = "abcdef"
	e := encoder{start: 3, budget: refBudget}
	e.b = append([]byte("xyz"+s), bytes.Repeat([]byte{'-'}, refWindow)...)
	e.b = append(e.b, "ghijkl"...)
	e.str("ghijkl") // past the window
	if !bytes.HasSuffix(e.b, []byte("ghijkl\x0cghijkl")) {
		t.Fatalf("string matching past the window written as % x", e.b[len(e.b)-6:])
	}
	refs := 0
	for {
		e.str(s)
		if bytes.HasSuffix(e.b, []byte("\x0c"+s)) {
			break
		}
		if !bytes.HasSuffix(e.b, []byte{0x0d, 0}) {
			t.Fatalf("reference written as % x", e.b[len(e.b)-6:])
		}
		refs++
	}
	if want := refBudget/refWindow - 1; refs != want { // one scan for "ghijkl"
		t.Errorf("%d references before the budget ran out, want %d", refs, want)
	}
	e.b = e.b[:e.start+len(s)]
	e.str(s)
	if !bytes.HasSuffix(e.b, []byte("\x0c"+s)) {
		t.Errorf("reference written with the budget spent")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	c := Parse(corpusMsg("mixed-attachments").raw())
	good, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := os.ReadFile("testdata/v2/mixed-attachments.rec")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("v3", func(t *testing.T) { testUnmarshalRejects(t, good) })
	t.Run("v2", func(t *testing.T) { testUnmarshalRejects(t, v2) })
	// Unknown versions.
	for _, v := range []byte{0, 1, Version + 1, 0xff} {
		bad := append([]byte(nil), good...)
		bad[0] = v
		var d Cache
		if err := d.UnmarshalBinary(bad); !errors.Is(err, ErrVersion) {
			t.Errorf("version %d: %v", v, err)
		}
	}
}

// testUnmarshalRejects checks that damaged forms of the record good are
// refused, or decode to a cache that encodes.
func testUnmarshalRejects(t *testing.T, good []byte) {
	var d Cache
	// Every proper prefix is an error.
	for n := 0; n < len(good); n++ {
		if err := d.UnmarshalBinary(good[:n]); err == nil {
			t.Fatalf("prefix of %d/%d octets decoded", n, len(good))
		}
	}
	// Trailing octets are an error.
	if err := d.UnmarshalBinary(append(append([]byte(nil), good...), 0)); err == nil {
		t.Errorf("trailing octet accepted")
	}
	// Another version is an error that names it.
	bad := append([]byte(nil), good...)
	bad[0] = Version + 1
	if err := d.UnmarshalBinary(bad); !errors.Is(err, ErrVersion) || !bytes.Contains([]byte(err.Error()), []byte("version")) {
		t.Errorf("version %d: %v", bad[0], err)
	}
	// A failed decode leaves the Cache as it was.
	d = Cache{Size: 42}
	_ = d.UnmarshalBinary(good[:len(good)/2])
	if d.Size != 42 {
		t.Errorf("failed decode changed the cache")
	}
	// Random corruption never panics, and whatever decodes re-encodes.
	rng := rand.New(rand.NewSource(6))
	for i := 0; i < 20000; i++ {
		b := append([]byte(nil), good...)
		for j := 0; j < 1+rng.Intn(4); j++ {
			b[rng.Intn(len(b))] = byte(rng.Intn(256))
		}
		var x Cache
		if x.UnmarshalBinary(b) == nil {
			if _, err := x.MarshalBinary(); err != nil {
				t.Fatalf("decoded corrupt record does not re-encode: %v", err)
			}
		}
	}
}

func TestUnmarshalHostileCounts(t *testing.T) {
	// A record that claims huge counts or lengths must fail fast, not
	// allocate. With an empty header both versions read the same up to the
	// top-level part.
	for _, v := range []byte{Version, version2} {
		for _, b := range [][]byte{
			{v, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, // From with 2^32 addresses
			{v, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
			{v, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f},
			{v, 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}, // header of 2^63 octets
			{v, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3d, 0},            // header longer than the message
			// A multipart of 2^28 parts (version 3: the top-level part has
			// no offsets, and every field is left out by its flags).
			{v, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, kindMultipart | 0x3c, 0, 0xff, 0xff, 0xff, 0x7f},
		} {
			var d Cache
			if err := d.UnmarshalBinary(b); err == nil {
				t.Errorf("% x decoded", b)
			}
		}
	}
}

// TestRecordSize logs the record size of a typical small message (like
// those `mstore bench` delivers, what bench/compare.sh compares with
// Dovecot's index) and of the corpus messages, and keeps the first from
// growing.
func TestRecordSize(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: M-Store Bench <bench-sender@mstore-bench.example>\r\nTo: user1@mstore-bench.example\r\n" +
		"Subject: mstore-bench lmtp 5 word12 word34 word56\r\n" +
		"Date: Fri, 15 Jan 2027 08:00:05 +0000\r\n" +
		"Message-ID: <5.e9ba58c4@mstore-bench.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for b.Len() < 4096-80 {
		b.WriteString("Line 123 of a message body, with some words to make it look like text.\r\n")
	}
	rec := roundTrip(t, Parse([]byte(b.String())))
	// 254 octets before references, date layouts and part flags; 155
	// with them: 12 for size, header length and date (the Date field left
	// out), Subject 41, From 50, Sender and Reply-To 2, To 11 (its host a
	// reference to From's), Cc, Bcc and In-Reply-To 3, Message-ID 34, and
	// 2 for the body part (flags, lines); then 9 for the whole header
	// (version 4): state, count, and each of its 7 fields a line template.
	t.Logf("typical message: %d octets of record: %q", len(rec), rec)
	if len(rec) > 170 {
		t.Errorf("typical message: record of %d octets, want at most 170", len(rec))
	}
	for _, m := range corpus() {
		c := Parse(m.raw())
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-24s %5d octets of record, %4d of them header fields (%d of plain version 3 record)",
			m.name, len(b), len(b)-len(withoutKept(t, b)), len(plainRecord(c, version3)))
	}
}

func TestMarshalRejectsInconsistentCache(t *testing.T) {
	c := Parse(corpusMsg("mixed-attachments").raw())
	bad := *c
	bad.Size--
	if _, err := bad.MarshalBinary(); err == nil {
		t.Errorf("Size shorter than the body: encoded")
	}
	bad = *c
	bad.Body.Parts = append([]Part(nil), c.Body.Parts...)
	bad.Body.Parts[1].BodyEnd = bad.Body.Parts[0].BodyStart
	if _, err := bad.MarshalBinary(); err == nil {
		t.Errorf("part ending before it starts: encoded")
	}
	d := time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)
	bad = *c
	bad.Date = &d
	if _, err := bad.MarshalBinary(); err == nil {
		t.Errorf("date in year 20000: encoded")
	}
	bad = *c
	bad.RawHeader = bad.RawHeader[:len(bad.RawHeader)-1]
	if _, err := bad.MarshalBinary(); err == nil {
		t.Errorf("RawHeader shorter than the header: encoded")
	}
	bad = *c
	bad.RawHeader = []byte{}
	if _, err := bad.MarshalBinary(); err == nil {
		t.Errorf("empty, non-nil RawHeader for a header of %d octets: encoded", c.HeaderLen())
	}
	// Without its header (decoded from a record), a cache encodes the same
	// but for the header fields it no longer has.
	want, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := withoutHeader(c).MarshalBinary(); err != nil || !bytes.Equal(got, withoutKept(t, want)) {
		t.Errorf("cache without RawHeader encodes differently (%v)", err)
	}
}

// dateAt is the position of the date octet of a version 3 record.
func dateAt(t *testing.T, rec []byte) int {
	t.Helper()
	i := 1
	for range 2 { // size, header-len
		_, n := binary.Uvarint(rec[i:])
		if n <= 0 {
			t.Fatalf("bad record % x", rec)
		}
		i += n
	}
	return i
}

// dateOctet is the date octet of a version 3 record.
func dateOctet(t *testing.T, rec []byte) byte { return rec[dateAt(t, rec)] }

// TestDateLayouts: a top-level Date that is exactly the parsed date in one
// of dateLayouts is left out of the record and rebuilt, and any other Date
// is kept as it is.
func TestDateLayouts(t *testing.T) {
	msg := func(date string) []byte {
		return []byte("From: a@example.org\r\nDate: " + date + "\r\nSubject: s\r\n\r\nbody\r\n")
	}
	times := []time.Time{
		time.Date(2027, 1, 15, 8, 0, 5, 0, time.FixedZone("", 0)),
		time.Date(2024, 1, 2, 10, 0, 0, 0, time.FixedZone("", 3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(9*3600+30*60))),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.FixedZone("", 14*3600)),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("", 0)),
		time.Date(1901, 6, 9, 12, 30, 0, 0, time.FixedZone("", -12*3600)),
	}
	for _, layout := range dateLayouts {
		for _, tm := range times {
			date := tm.Format(layout)
			c := Parse(msg(date))
			if c.Date == nil || c.Envelope.Date.Value != date {
				t.Fatalf("%q parsed as %v", date, c.Date)
			}
			// The first layout that gives the field is used: "02" and
			// "2" agree on days from 10.
			k := slices.IndexFunc(dateLayouts[:], func(l string) bool { return c.Date.Format(l) == date })
			if k < 0 {
				t.Fatalf("%q parsed as %v", date, c.Date)
			}
			rec := roundTrip(t, c)
			if got := dateOctet(t, rec); got != byte(2+k) || bytes.Contains(rec, []byte(date)) {
				t.Errorf("%q: date octet %d, want %d, record % x", date, got, 2+k, rec)
			}
			v2RoundTrip(t, c, rec)
		}
	}
	// Forms that parse, but are not the parsed date in a known layout.
	for _, date := range []string{
		"Fri, 15 Jan 2027 08:00:05 +0000 (UTC)",
		"Fri, 15 Jan 2027 08:00:05 -0800 (PST)",
		"Fri,  15 Jan 2027 08:00:05 +0000",
		"Fri, 15 Jan 2027 08:00:05  +0000",
		"Fri, 15 Jan 2027  08:00:05 +0000",
		"Fri,  5 Jan 2024 08:00:05 +0000",
		"Fri, 15 Jan 2027 08:00:05 +00:00",
		"Fri, 15 Jan 2027 08:00:05 +000",
		"Fri, 15 Jan 2027 08:00:05 GMT",
		"Fri, 15 Jan 2027 08:00:05 UT",
		"Fri, 15 Jan 2027 03:00:05 EST",
		"Fri, 15 Jan 2027 08:00:05 Z",
		"Fri, 15 Jan 2027 08:00:05",
		"15 Jan 2027 08:00:05 +0000",
		"Sat, 15 Jan 2027 08:00:05 +0000", // wrong day of week
		"fri, 15 jan 2027 08:00:05 +0000",
		"FRI, 15 JAN 2027 08:00:05 +0000",
		"Fri, 15 January 2027 08:00:05 +0000",
		"Fri, 15 Jan 27 08:00:05 +0000",
		"Fri, 15 Jan 2027 8:00:05 +0000",
		"Fri, 15 Jan 2027 08:00 +0000",
		"Fri, 15 Jan 2027 08:00:05.000 +0000",
		"Sat, 31 Dec 2016 23:59:60 +0000", // leap second, parsed as :59
		"Fri, 15 Jan 2027 08:00:05 +0000 ",
		"Fri,15 Jan 2027 08:00:05 +0000",
		"Fri, 15 Jan 2027 08:00:05 +0060", // minutes out of range: UTC
	} {
		c := Parse(msg(date))
		if c.Date == nil || c.Envelope.Date.Value != date {
			t.Fatalf("%q parsed as %v, envelope %q", date, c.Date, c.Envelope.Date)
		}
		rec := roundTrip(t, c)
		if got := dateOctet(t, rec); got != 1 || !bytes.Contains(rec, []byte(date)) {
			t.Errorf("%q: date octet %d, want 1, record % x", date, got, rec)
		}
		v2RoundTrip(t, c, rec)
	}
	// No parsed date: the string is kept.
	for _, date := range []string{"Fri,", "someday", "Fri, 31 Feb 2027 08:00:05 +0000", ""} {
		c := Parse(msg(date))
		if c.Date != nil || !c.Envelope.Date.Valid {
			t.Fatalf("%q parsed as %v, envelope %q", date, c.Date, c.Envelope.Date)
		}
		rec := roundTrip(t, c)
		if got := dateOctet(t, rec); got != 0 || !bytes.Contains(rec, []byte(date)) {
			t.Errorf("%q: date octet %d, want 0, record % x", date, got, rec)
		}
	}
	// A Cache built by hand: a Date but no Date field, a Date field but no
	// Date, a Date field another date's.
	c := Parse(msg("Fri, 15 Jan 2027 08:00:05 +0000"))
	other := time.Date(2027, 1, 15, 8, 0, 6, 0, time.FixedZone("", 0))
	for _, tc := range []struct {
		date  *time.Time
		field NString
	}{
		{c.Date, NString{}},
		{nil, c.Envelope.Date},
		{&other, c.Envelope.Date},
	} {
		x := *c
		x.Date, x.Envelope.Date = tc.date, tc.field
		rec := roundTrip(t, &x)
		if got := dateOctet(t, rec); got > 1 {
			t.Errorf("date %v, field %q: date octet %d", tc.date, tc.field, got)
		}
	}
	// Only the instant in seconds and the offset of a Date count: one in
	// another location, or with a fraction of a second, formats the same.
	for _, tm := range []time.Time{
		time.Date(2027, 1, 15, 8, 0, 5, 0, time.UTC),
		time.Date(2027, 1, 15, 8, 0, 5, 999999999, time.UTC),
		time.Date(2027, 1, 15, 9, 0, 5, 1, time.FixedZone("CET", 3600)),
		time.Date(1960, 1, 15, 8, 0, 5, 500000000, time.FixedZone("", 0)),
	} {
		x := *c
		x.Date = &tm
		x.Envelope.Date = nstr(tm.Format(dateLayouts[0]))
		b, err := x.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d Cache
		if err := d.UnmarshalBinary(b); err != nil || dateOctet(t, b) != 2 || d.Envelope.Date != x.Envelope.Date || d.Date.Unix() != tm.Unix() {
			t.Errorf("%v: %v, date octet %d, envelope date %q, want %q", tm, err, dateOctet(t, b), d.Envelope.Date, x.Envelope.Date)
		}
	}
	// An encapsulated message's Date is always a string, even when the
	// same as the top-level one, which is left out.
	const date = "Fri, 15 Jan 2027 08:00:05 +0000"
	c = Parse([]byte("Date: " + date + "\r\nContent-Type: message/rfc822\r\n\r\nDate: " + date + "\r\n\r\nx"))
	if c.Body.Message == nil || c.Body.Message.Envelope.Date.Value != date {
		t.Fatalf("no encapsulated message with a Date")
	}
	rec := roundTrip(t, c)
	if dateOctet(t, rec) != 2 || bytes.Count(rec, []byte(date)) != 1 {
		t.Errorf("date octet %d, %d copies of the date in % x", dateOctet(t, rec), bytes.Count(rec, []byte(date)), rec)
	}
	v2RoundTrip(t, c, rec)
	// Date octets past the layouts, and any layout in version 2, are
	// corrupt.
	c = Parse(msg(date))
	rec = roundTrip(t, c)
	at := dateAt(t, rec)
	if rec[at] != 2 {
		t.Fatalf("date octet %d in % x", rec[at], rec)
	}
	for _, o := range []byte{byte(2 + len(dateLayouts)), 0x80, 0xff} {
		bad := append([]byte(nil), rec...)
		bad[at] = o
		var d Cache
		if err := d.UnmarshalBinary(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("date octet %d: %v", o, err)
		}
	}
	v2 := plainRecord(c, version2)
	v2at := bytes.Index(v2, []byte("\r\n\r\n")) + 4 // the date octet follows the header
	if v2[v2at] != 1 {
		t.Fatalf("version 2 date octet not found in % x", v2)
	}
	for k := range dateLayouts {
		bad := slices.Concat(v2[:v2at], []byte{byte(2 + k)}, v2[v2at+1:])
		var d Cache
		if err := d.UnmarshalBinary(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("version 2 date octet %d: %v", 2+k, err)
		}
	}
}

// TestPartFlags: parts with the commonest values of their fields leave
// them out; flags version 3 does not know, or any in version 2, are
// corrupt.
func TestPartFlags(t *testing.T) {
	c := Parse([]byte("Subject: s\r\n\r\nbody\r\n"))
	rec := withoutKept(t, roundTrip(t, c))
	all := byte(kindLeaf | flagPlain | flag7bit | flagNoExt | flagBinSize)
	if rec[len(rec)-3] != all || rec[len(rec)-2] != 1 || rec[len(rec)-1] != 0 { // flags, lines, no header fields
		t.Fatalf("record % x does not end with flags %#x, 1 line and no header fields", rec, all)
	}
	for _, o := range []byte{all | 64, all | 128, all | 3} {
		bad := append([]byte(nil), rec...)
		bad[len(bad)-3] = o
		var d Cache
		if err := d.UnmarshalBinary(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("flags %#x: %v", o, err)
		}
	}
	// Each field that differs from the default is written.
	for _, tc := range []struct {
		hdr  string
		flag byte
	}{
		{"Content-Type: text/plain; charset=US-ASCII", flagPlain},
		{"Content-Type: Text/plain", flagPlain},
		{"Content-Type: text/plain; charset=us-ascii; format=flowed", flagPlain},
		{"Content-Transfer-Encoding: 7BIT", flag7bit},
		{"Content-Transfer-Encoding: 8bit", flag7bit},
		{"Content-ID: <x>", flagNoExt},
		{"Content-Description: d", flagNoExt},
		{"Content-MD5: m", flagNoExt},
		{"Content-Disposition: inline", flagNoExt},
		{"Content-Language: en", flagNoExt},
		{"Content-Location: l", flagNoExt},
		{"Content-Transfer-Encoding: base64", flag7bit | flagBinSize},
	} {
		c := Parse([]byte(tc.hdr + "\r\n\r\nYm9keQ==\r\n"))
		rec := roundTrip(t, c)
		v2RoundTrip(t, c, rec)
		// The date octet (0) and 10 NILs of the envelope, then the flags.
		if got := rec[dateAt(t, rec)+11]; got != all&^tc.flag {
			t.Errorf("%s: flags %#x, want %#x, in % x", tc.hdr, got, all&^tc.flag, rec)
		}
	}
	// In version 2 only the kind is allowed.
	v2 := plainRecord(c, version2)
	kind := bytes.Index(v2, []byte{kindLeaf, 8, 't', 'e', 'x', 't'}) // kind, type "text"
	if kind < 0 {
		t.Fatalf("version 2 kind not found in % x", v2)
	}
	for _, o := range []byte{flagPlain, flag7bit, flagNoExt, flagBinSize, 3, 64} {
		bad := append([]byte(nil), v2...)
		bad[kind] = o
		var d Cache
		if err := d.UnmarshalBinary(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("version 2 kind %#x: %v", o, err)
		}
	}
}
