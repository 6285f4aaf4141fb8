package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand"
	"mime/quotedprintable"
	"testing"
)

func TestAppendDecoded(t *testing.T) {
	tests := []struct {
		enc, in, want string
		err           error
	}{
		{"7bit", "a\r\nb", "a\r\nb", nil},
		{"8BIT", "ä", "ä", nil},
		{"Binary", "\x00\xff", "\x00\xff", nil},
		{"base64", "aGVsbG8=", "hello", nil},
		{"BASE64", "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", "hello world", nil},
		{"base64", "aGVsbG8", "hello", nil},           // no padding
		{"base64", "aGVsbG8=aGk=", "hellohi", nil},    // concatenated
		{"base64", " a G V s\tbG8*! =", "hello", nil}, // junk skipped
		{"base64", "aGVsbA", "hell", nil},             // 2 chars: 1 octet
		{"base64", "aGVsb", "hel", nil},               // lone char dropped
		{"base64", "====", "", nil},                   // only padding
		{"quoted-printable", "caf=E9", "caf\xe9", nil},
		{"quoted-printable", "caf=e9", "caf\xe9", nil},
		{"quoted-printable", "soft=\r\nbreak", "softbreak", nil},
		{"quoted-printable", "soft=  \r\nbreak", "softbreak", nil},
		{"quoted-printable", "soft=\nbreak", "softbreak", nil},
		{"quoted-printable", "trailing   \r\nspace\t\r\n", "trailing\r\nspace\r\n", nil},
		{"quoted-printable", "bad =XY and =\r", "bad =XY and =\r", nil},
		{"quoted-printable", "end=", "end", nil},
		{"quoted-printable", "a=3D=3Db\nc", "a==b\nc", nil},
		{"x-uuencode", "begin", "", ErrUnknownEncoding},
	}
	for _, tc := range tests {
		got, err := AppendDecoded([]byte("pre:"), tc.enc, []byte(tc.in))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s %q: err %v, want %v", tc.enc, tc.in, err, tc.err)
			}
			if binarySize(tc.enc, []byte(tc.in)) != -1 {
				t.Errorf("%s: binarySize not -1", tc.enc)
			}
			continue
		}
		if err != nil || string(got) != "pre:"+tc.want {
			t.Errorf("%s %q: got %q, %v; want %q", tc.enc, tc.in, got, err, tc.want)
		}
		if n := binarySize(tc.enc, []byte(tc.in)); n != int64(len(tc.want)) {
			t.Errorf("%s %q: binarySize %d, want %d", tc.enc, tc.in, n, len(tc.want))
		}
	}
}

// TestDecodeMatchesStdlib checks well-formed encodings against the
// standard library's decoders.
func TestDecodeMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		data := make([]byte, rng.Intn(3000))
		rng.Read(data)
		if i%2 == 0 { // text-like for quoted-printable
			for j := range data {
				const alphabet = " abc\xe9=\t\r\nxyz"
				data[j] = alphabet[rng.Intn(len(alphabet))]
			}
		}
		var b64 bytes.Buffer
		enc := base64.StdEncoding.EncodeToString(data)
		for len(enc) > 76 {
			b64.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b64.WriteString(enc + "\r\n")
		got, err := AppendDecoded(nil, "base64", b64.Bytes())
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("base64 #%d: mismatch (%v)", i, err)
		}
		if n := binarySize("base64", b64.Bytes()); n != int64(len(data)) {
			t.Fatalf("base64 #%d: binarySize %d, want %d", i, n, len(data))
		}

		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Binary = i%4 == 1
		w.Write(data)
		w.Close()
		want, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(qp.Bytes())))
		if err != nil {
			t.Fatalf("stdlib qp: %v", err)
		}
		got, err = AppendDecoded(nil, "quoted-printable", qp.Bytes())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("qp #%d: mismatch\n got %q\nwant %q", i, got, want)
		}
		if n := binarySize("quoted-printable", qp.Bytes()); n != int64(len(want)) {
			t.Fatalf("qp #%d: binarySize %d, want %d", i, n, len(want))
		}
	}
}

// TestBinarySizeMatchesDecoding checks the counting paths against the
// decoders on junk made of the characters that matter.
func TestBinarySizeMatchesDecoding(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	const alphabet = "=A3f0 \t\r\nxZ+/"
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.Intn(40))
		for j := range b {
			b[j] = alphabet[rng.Intn(len(alphabet))]
		}
		for _, enc := range []string{"base64", "quoted-printable", "7bit"} {
			dec, err := AppendDecoded(nil, enc, b)
			if err != nil {
				t.Fatal(err)
			}
			if n := binarySize(enc, b); n != int64(len(dec)) {
				t.Fatalf("%s %q: binarySize %d, decoded %d octets", enc, b, n, len(dec))
			}
		}
	}
}
