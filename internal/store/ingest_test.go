package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
)

func newBlobStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	env, err := msdb.Open(context.Background(), msdb.Options{Home: dir + "/db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	blobs, err := blob.Open(dir + "/mail")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), env, blobs, Options{HashCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestIngestCache: the cache Ingest computes from the bytes as they arrive
// is the one computed from the stored file, whatever the size (kept in
// memory or not) and however the reader hands the bytes out.
func TestIngestCache(t *testing.T) {
	s := newBlobStore(t)
	ctx := context.Background()
	mime := "From: a@example.org\r\nTo: b@example.org, c@example.org\r\nSubject: hello\r\n" +
		"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nbody one\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--XX--\r\n"
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", captureLimit/64+10)
	for _, tc := range []struct {
		name string
		msg  string
		r    func(io.Reader) io.Reader
	}{
		{"mime", mime, func(r io.Reader) io.Reader { return r }},
		{"mime one byte at a time", mime, iotest.OneByteReader},
		{"mime data with EOF", mime, iotest.DataErrReader},
		{"empty", "", func(r io.Reader) io.Reader { return r }},
		{"over the capture limit", big, func(r io.Reader) io.Reader { return r }},
		{"at the capture limit", big[:captureLimit], func(r io.Reader) io.Reader { return r }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := s.Ingest(ctx, tc.r(strings.NewReader(tc.msg)), 0)
			if err != nil {
				t.Fatal(err)
			}
			if in.Size != int64(len(tc.msg)) {
				t.Errorf("size %d, want %d", in.Size, len(tc.msg))
			}
			want, err := s.parseFile(blob.ID(in.Blob), in.Size)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in.Cache, want) {
				t.Errorf("cache differs from the stored file's:\n got %q\nwant %q", in.Cache, want)
			}
		})
	}
}

// TestIngestTooLarge: a message over the limit is refused and leaves no
// cache behind.
func TestIngestTooLarge(t *testing.T) {
	s := newBlobStore(t)
	_, err := s.Ingest(context.Background(), strings.NewReader(strings.Repeat("x", 1000)), 999)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Ingest = %v, want ErrTooLarge", err)
	}
	in, err := s.Ingest(context.Background(), strings.NewReader(strings.Repeat("x", 999)), 999)
	if err != nil || in.Size != 999 {
		t.Fatalf("Ingest at the limit = %+v, %v", in, err)
	}
}
