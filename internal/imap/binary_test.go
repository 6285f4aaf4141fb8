package imap

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand"
	"mime/quotedprintable"
	"runtime"
	"strings"
	"testing"
)

// BINARY[…] of a large encoded part streams it from the file through the
// decoder: a partial reads about the encoded bytes up to its end, not the
// whole part, and returns the same octets as decoding the whole part.
func TestFetchBinaryStreams(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	bin := make([]byte, 2<<20) // 2 MiB attachment
	rng.Read(bin)
	b64 := base64.StdEncoding.EncodeToString(bin)
	var enc strings.Builder
	for len(b64) > 76 {
		enc.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	enc.WriteString(b64 + "\r\n")

	// Text with escapes, soft breaks, trailing white space, hard breaks.
	var text bytes.Buffer
	const alphabet = "abcdefghij KLMNOP=\t\xe9\xc3\x80.,"
	for text.Len() < 1<<20 {
		for range rng.Intn(200) {
			text.WriteByte(alphabet[rng.Intn(len(alphabet))])
		}
		text.WriteString("\r\n")
	}
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write(text.Bytes())
	w.Close()

	raw := "From: a@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		enc.String() +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		qp.String() + "\r\n" +
		"--b--\r\n"

	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", raw)
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")

	fetch := func(item string) ([]string, int64) {
		t.Helper()
		read := e.srv.fileBytes.Load()
		u := r.ok("FETCH 1 (%s)", item)
		return u, e.srv.fileBytes.Load() - read
	}
	literal := func(name string, b []byte) string {
		return fmt.Sprintf("%s ~{%d}\r\n%s", name, len(b), b)
	}

	for _, tc := range []struct {
		part    string
		dec     []byte
		encSize int
		far     int // an offset well inside the part
	}{
		{"2", bin, enc.Len(), 1000000},
		{"3", text.Bytes(), qp.Len(), 500000},
	} {
		n := len(tc.dec)
		u, _ := fetch("BINARY.SIZE[" + tc.part + "]")
		mustHave(t, u, fmt.Sprintf("BINARY.SIZE[%s] %d", tc.part, n))

		u, read := fetch("BINARY.PEEK[" + tc.part + "]<0.10>")
		mustHave(t, u, literal("BINARY["+tc.part+"]<0>", tc.dec[:10]))
		t.Logf("part %s (%d octets encoded): <0.10> read %d bytes", tc.part, tc.encSize, read)
		if read > 64<<10 || read < 10 {
			t.Errorf("part %s: <0.10> read %d bytes of the file", tc.part, read)
		}

		u, read = fetch(fmt.Sprintf("BINARY.PEEK[%s]<%d.100>", tc.part, tc.far))
		mustHave(t, u, literal(fmt.Sprintf("BINARY[%s]<%d>", tc.part, tc.far), tc.dec[tc.far:tc.far+100]))
		t.Logf("part %s: <%d.100> read %d bytes", tc.part, tc.far, read)
		// About the encoded bytes up to the end of the range, plus a buffer.
		if limit := int64(float64(tc.far+100)/float64(n)*float64(tc.encSize)) + 64<<10; read > limit {
			t.Errorf("part %s: <%d.100> read %d bytes, want <= %d", tc.part, tc.far, read, limit)
		}

		// Across the end, and past it (nothing to read).
		u, _ = fetch(fmt.Sprintf("BINARY.PEEK[%s]<%d.100>", tc.part, n-7))
		mustHave(t, u, literal(fmt.Sprintf("BINARY[%s]<%d>", tc.part, n-7), tc.dec[n-7:]))
		u, _ = fetch(fmt.Sprintf("BINARY.PEEK[%s]<%d.100>", tc.part, 3*tc.encSize))
		mustHave(t, u, fmt.Sprintf("BINARY[%s]<%d> ~{0}\r\n", tc.part, 3*tc.encSize))

		u, read = fetch("BINARY.PEEK[" + tc.part + "]")
		mustHave(t, u, literal("BINARY["+tc.part+"]", tc.dec))
		if read > int64(tc.encSize) || read < int64(tc.encSize)-4 {
			t.Errorf("part %s: whole part read %d bytes, encoded %d", tc.part, read, tc.encSize)
		}

		// Both forms in one FETCH, and BINARY.SIZE with them.
		u, _ = fetch(fmt.Sprintf("BINARY.PEEK[%s]<5.5> BINARY.SIZE[%s] BINARY.PEEK[%s]<0.3>", tc.part, tc.part, tc.part))
		mustHave(t, u, literal("BINARY["+tc.part+"]<5>", tc.dec[5:10]), literal("BINARY["+tc.part+"]<0>", tc.dec[:3]),
			fmt.Sprintf("BINARY.SIZE[%s] %d", tc.part, n))
	}
}

// A small base64 part: partials and the whole part in one FETCH.
func TestFetchBinarySmall(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b--\r\n")
	r := e.rawLogin("alice", "secret")
	r.ok("EXAMINE INBOX")
	u := r.ok("FETCH 1 (BINARY.PEEK[1]<6.5> BINARY.PEEK[1] BINARY.SIZE[1])")
	mustHave(t, u, "BINARY[1]<6> ~{5}\r\nworld", "BINARY[1] ~{11}\r\nhello world", "BINARY.SIZE[1] 11")
}

// TestFetchBinaryWholePartBounded: BINARY[2] of a whole 3 MiB base64
// part is decoded as it is written to the client, so the server does not
// hold the decoded part (nor the encoded one) in memory.
func TestFetchBinaryWholePartBounded(t *testing.T) {
	bin := make([]byte, 3<<20)
	rand.New(rand.NewSource(2)).Read(bin)
	b64 := base64.StdEncoding.EncodeToString(bin)
	var enc strings.Builder
	for len(b64) > 76 {
		enc.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	enc.WriteString(b64 + "\r\n")
	raw := "From: a@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		enc.String() + "--b--\r\n"
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", raw)
	c := e.benchConn(t, "alice") // reads literals into io.Discard
	c.do(t, "EXAMINE INBOX")
	c.do(t, "FETCH 1 (BINARY.PEEK[2])") // warm up buffers and caches
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	n := c.do(t, "FETCH 1 (BINARY.PEEK[2])")
	runtime.ReadMemStats(&m1)
	if n < int64(len(bin)) {
		t.Fatalf("BINARY[2]: %d bytes of response, want at least %d", n, len(bin))
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 1<<20 {
		t.Errorf("BINARY[2] of a %d-octet part allocated %d bytes", len(bin), alloc)
	}
}
