package message

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
)

// The streaming decoder (NewDecoder) must give exactly what AppendDecoded
// gives, whatever the input and however it is read: the tests below read
// it in random small pieces from sources that return random small pieces
// (sometimes with io.EOF on the last), seekable or not, with the
// quoted-printable white space hold both as shipped and tiny, so that
// every buffer boundary and the seek-back path are crossed.

// chunkReader returns random short reads of r.
type chunkReader struct {
	r      *bytes.Reader
	rng    *rand.Rand
	max    int
	eof    bool // io.EOF with the last bytes
	zeroes bool // sometimes (0, nil)
	read   int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.zeroes && c.rng.Intn(8) == 0 {
		return 0, nil
	}
	if n := 1 + c.rng.Intn(c.max); len(p) > n {
		p = p[:n]
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	if err == nil && c.eof && c.r.Len() == 0 {
		err = io.EOF
	}
	return n, err
}

// seekChunkReader is a chunkReader that can seek.
type seekChunkReader struct{ *chunkReader }

func (s seekChunkReader) Seek(off int64, whence int) (int64, error) {
	return s.r.Seek(off, whence)
}

type streamOpts struct {
	hold     int  // quoted-printable white space held
	seekable bool // the source is an io.Seeker
	srcMax   int  // largest source read
	readMax  int  // largest read of the decoder
	skip     int  // bytes of the source before the body (seekable: starts mid-way)
}

func randomOpts(rng *rand.Rand) streamOpts {
	holds := []int{qpHold, 0, 1, 2, 3, 7}
	maxes := []int{1, 2, 3, 5, 17, 100, 4096, 1 << 16}
	return streamOpts{
		hold:     holds[rng.Intn(len(holds))],
		seekable: rng.Intn(2) == 0,
		srcMax:   maxes[rng.Intn(len(maxes))],
		readMax:  maxes[rng.Intn(len(maxes))],
		skip:     rng.Intn(3) * rng.Intn(10),
	}
}

// streamDecode decodes in with a decoder read in random pieces.
func streamDecode(enc string, in []byte, rng *rand.Rand, o streamOpts) ([]byte, error) {
	src := append(bytes.Repeat([]byte{'#'}, o.skip), in...)
	cr := &chunkReader{r: bytes.NewReader(src), rng: rng, max: o.srcMax, eof: rng.Intn(2) == 0, zeroes: rng.Intn(4) == 0}
	cr.r.Seek(int64(o.skip), io.SeekStart)
	var r io.Reader = cr
	if o.seekable {
		r = seekChunkReader{cr}
	}
	d, err := newDecoder(enc, r, o.hold)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, o.readMax)
	for {
		n := 1 + rng.Intn(o.readMax)
		n, err := d.Read(buf[:n])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// checkStream compares the streaming decoder with AppendDecoded for in.
func checkStream(t testing.TB, enc string, in []byte, rng *rand.Rand, o streamOpts) {
	t.Helper()
	want, werr := AppendDecoded(nil, enc, in)
	got, err := streamDecode(enc, in, rng, o)
	if (werr == nil) != (err == nil) {
		t.Fatalf("%s %+v: error %v, AppendDecoded %v", enc, o, err, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s %+v of %q:\n got %q\nwant %q", enc, o, clip(in), clip(got), clip(want))
	}
}

func clip(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:300:300], "…"...)
	}
	return b
}

var streamEncodings = []string{"base64", "quoted-printable", "Quoted-Printable", "BASE64", "7bit"}

// leaves calls f with every part that is neither multipart nor a message.
func leaves(p *Part, f func(*Part)) {
	switch {
	case p.Message != nil:
		leaves(&p.Message.Body, f)
	case len(p.Parts) > 0:
		for i := range p.Parts {
			leaves(&p.Parts[i], f)
		}
	default:
		f(p)
	}
}

func TestDecoderCorpus(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var inputs [][]byte
	for _, m := range corpus() {
		inputs = append(inputs, m.raw())
	}
	g := &gen{r: rand.New(rand.NewSource(4)), damage: true}
	for i := 0; i < 200; i++ {
		inputs = append(inputs, g.message())
	}
	for _, raw := range inputs {
		c := Parse(raw)
		leaves(&c.Body, func(p *Part) {
			body := raw[p.BodyStart:p.BodyEnd]
			for range 3 {
				checkStream(t, p.Encoding, body, rng, randomOpts(rng))
			}
		})
		// Whole messages, decoded as if they were encoded bodies.
		for _, enc := range streamEncodings {
			checkStream(t, enc, raw, rng, randomOpts(rng))
		}
	}
}

// TestDecoderWellFormed runs TestAppendDecoded's cases, and more small
// ones around the quoted-printable rules, through the decoder.
func TestDecoderWellFormed(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, in := range []string{"aGVsbG8=", "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", "aGVsbG8", "aGVsbG8=aGk=",
		" a G V s\tbG8*! =", "aGVsbA", "aGVsb", "====", "caf=E9", "caf=e9", "soft=\r\nbreak",
		"soft=  \r\nbreak", "soft=\nbreak", "trailing   \r\nspace\t\r\n", "bad =XY and =\r", "end=",
		"a=3D=3Db\nc", "", "=", "\r", "\n", " ", "=\r", "= \r", "=4", "=4 ", "=4\r\n", "==41=", "= =\r\n",
		"=4 =\r\n", "a \r\r\n", "a \rb", "\r\r\n", "=\r\n", "=\t \t\r\nx", "=41=\r\n=4=\r\n=ZZ \t\r\n"} {
		for _, enc := range streamEncodings {
			for range 20 {
				checkStream(t, enc, []byte(in), rng, randomOpts(rng))
			}
		}
	}
}

// TestDecoderJunk: short inputs made of the characters that matter, every
// way of reading them.
func TestDecoderJunk(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	const alphabet = "=A3f0 \t\r\nxZ+/"
	n := 30000
	if testing.Short() {
		n = 3000
	}
	for i := 0; i < n; i++ {
		b := make([]byte, rng.Intn(60))
		for j := range b {
			b[j] = alphabet[rng.Intn(len(alphabet))]
		}
		for _, enc := range []string{"base64", "quoted-printable"} {
			checkStream(t, enc, b, rng, randomOpts(rng))
		}
	}
	// Random bytes, and white space runs around the hold.
	for i := 0; i < 500; i++ {
		b := make([]byte, rng.Intn(5000))
		rng.Read(b)
		checkStream(t, "base64", b, rng, randomOpts(rng))
		checkStream(t, "quoted-printable", b, rng, randomOpts(rng))
		var s strings.Builder
		for s.Len() < 3000 {
			pieces := []string{"=", "=4", "=41", "x", "\r", "\n", "\r\n", "\t"}
			s.WriteString(pieces[rng.Intn(len(pieces))])
			s.WriteString(strings.Repeat(" \t"[rng.Intn(2):][:1], rng.Intn(2*qpHold+10)))
		}
		checkStream(t, "quoted-printable", []byte(s.String()), rng, randomOpts(rng))
	}
}

// TestDecoderHostile: large inputs, decoded with bounded memory from a
// seekable source and identically from any source.
func TestDecoderHostile(t *testing.T) {
	const mb = 1 << 20
	inputs := map[string]string{
		"spaces then text":       strings.Repeat(" ", mb) + "x",
		"spaces then line end":   strings.Repeat(" ", mb) + "\r\nx",
		"mixed white space":      strings.Repeat(" \t", mb/2) + "\r" + "y",
		"soft break after space": "=" + strings.Repeat("\t ", mb/2) + "\r\n=41",
		"eq and space":           strings.Repeat("= ", mb/2),
		"white space then cr":    strings.Repeat(" ", mb) + "\r",
		"qp junk":                strings.Repeat("=4=\r\n=ZZ \t\r\n", mb/12),
		"base64 junk":            strings.Repeat("QUJD=*\r\n", mb/8),
		"one long line":          strings.Repeat("x", mb),
		"padding":                strings.Repeat("=", mb),
	}
	rng := rand.New(rand.NewSource(7))
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			for _, enc := range []string{"base64", "quoted-printable"} {
				for _, o := range []streamOpts{
					{hold: qpHold, seekable: true, srcMax: 1 << 16, readMax: 1 << 16},
					{hold: qpHold, seekable: false, srcMax: 1 << 16, readMax: 1 << 16},
					{hold: 3, seekable: true, srcMax: 4096, readMax: 1000, skip: 5},
					randomOpts(rng),
				} {
					o.srcMax, o.readMax = max(o.srcMax, 512), max(o.readMax, 512) // no all-night byte-at-a-time
					checkStream(t, enc, []byte(in), rng, o)
				}
				// Seekable: a constant number of allocations.
				src := bytes.NewReader([]byte(in))
				var buf [4096]byte
				allocs := testing.AllocsPerRun(2, func() {
					src.Seek(0, io.SeekStart)
					d, _ := NewDecoder(enc, src)
					for {
						if _, err := d.Read(buf[:]); err != nil {
							if err != io.EOF {
								t.Fatal(err)
							}
							break
						}
					}
				})
				if allocs > 2 {
					t.Errorf("%s: %v allocations", enc, allocs)
				}
			}
		})
	}
}

// TestDecoderReadsLittle: a short read of a large body reads one buffer
// of the source.
func TestDecoderReadsLittle(t *testing.T) {
	body := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n"), 1<<15) // 1.2 MB
	cr := &chunkReader{r: bytes.NewReader(body), rng: rand.New(rand.NewSource(1)), max: 1 << 20}
	d, err := NewDecoder("base64", cr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(d, buf); err != nil || string(buf) != "ABCDEFGHIJ" {
		t.Fatalf("%q %v", buf, err)
	}
	if cr.read > decodeBufSize {
		t.Fatalf("read %d bytes of the source for 10", cr.read)
	}
	// Skipping 100000 octets reads about their encoding.
	if _, err := io.CopyN(io.Discard, d, 100000); err != nil {
		t.Fatal(err)
	}
	if limit := int64(100010*4/3*38/36 + 2*decodeBufSize); cr.read > limit {
		t.Fatalf("read %d bytes of the source for 100010 decoded, want <= %d", cr.read, limit)
	}
}

type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		err = e.err
	}
	return n, err
}

func TestDecoderErrors(t *testing.T) {
	if _, err := NewDecoder("x-uuencode", strings.NewReader("begin")); !errors.Is(err, ErrUnknownEncoding) {
		t.Fatalf("unknown encoding: %v", err)
	}
	for _, enc := range []string{"7bit", "8BIT", "binary", ""} {
		src := strings.NewReader("x")
		if d, err := NewDecoder(enc, src); err != nil || d != io.Reader(src) {
			t.Fatalf("%q: not the source itself (%v)", enc, err)
		}
	}
	// A source error comes after what was decoded before it, and stays.
	boom := errors.New("boom")
	for _, tc := range []struct{ enc, in, want string }{
		{"base64", "aGVsbG8gd29y", "hello wor"},
		{"quoted-printable", "caf=C3=A9 x  ", "caf\xc3\xa9 x"},
	} {
		d, _ := NewDecoder(tc.enc, &errReader{strings.NewReader(tc.in), boom})
		got, err := io.ReadAll(d)
		if string(got) != tc.want || !errors.Is(err, boom) {
			t.Errorf("%s: %q, %v; want %q, boom", tc.enc, got, err, tc.want)
		}
		if n, err := d.Read(make([]byte, 10)); n != 0 || !errors.Is(err, boom) {
			t.Errorf("%s: then %d, %v", tc.enc, n, err)
		}
	}
	// A source that makes no progress.
	stuck, _ := NewDecoder("base64", zeroReader{})
	if _, err := stuck.Read(make([]byte, 1)); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("no progress: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// FuzzDecoder: the streaming decoder gives what AppendDecoded gives, read
// any way from any source.
func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, int64(0))
	}
	for _, s := range []string{"=41=\r\n=4=\r\n=ZZ \t\r\n", "QUJD=*\r\n", "a   \t \r\nb  =  \r\n= \rc", "=" + strings.Repeat(" ", 300) + "x"} {
		f.Add([]byte(s), int64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed int64) {
		defer watchdog(len(in)).Stop()
		rng := rand.New(rand.NewSource(seed))
		for _, enc := range []string{"base64", "quoted-printable"} {
			o := randomOpts(rng)
			if len(in) > 4096 {
				o.srcMax, o.readMax = max(o.srcMax, 64), max(o.readMax, 64)
			}
			checkStream(t, enc, in, rng, o)
		}
	})
}
