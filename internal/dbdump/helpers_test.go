package dbdump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

type record struct{ key, value []byte }

type section struct {
	hdr  Header
	recs []record
}

// readAllSections reads every section of a dump, with a reader buffer of
// the given size (0 for NewReader's).
func readAllSections(data io.Reader, bufSize int) ([]section, error) {
	var r *Reader
	var err error
	if bufSize == 0 {
		r, err = NewReader(data)
	} else {
		r, err = newReaderSize(data, bufSize)
	}
	if err != nil {
		return nil, err
	}
	secs := []section{{hdr: r.Header()}}
	for {
		k, v, err := r.Next()
		if err == io.EOF {
			return secs, nil
		}
		if errors.Is(err, ErrNewSection) {
			secs = append(secs, section{hdr: r.Header()})
			continue
		}
		if err != nil {
			return secs, err
		}
		if k == nil || v == nil {
			return secs, fmt.Errorf("nil key or value at line %d", r.Line())
		}
		cur := &secs[len(secs)-1]
		cur.recs = append(cur.recs, record{k, v})
	}
}

// writeSections writes sections with one Writer each.
func writeSections(w io.Writer, secs []section) error {
	for _, s := range secs {
		wr, err := NewWriterHeader(w, s.hdr)
		if err != nil {
			return err
		}
		for _, rec := range s.recs {
			if err := wr.Write(rec.key, rec.value); err != nil {
				return err
			}
		}
		if err := wr.Close(); err != nil {
			return err
		}
	}
	return nil
}

func encodeRecords(t testing.TB, h Header, recs []record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeSections(&buf, []section{{hdr: h, recs: recs}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func equalRecords(a, b []record) bool {
	return slices.EqualFunc(a, b, func(x, y record) bool {
		return bytes.Equal(x.key, y.key) && bytes.Equal(x.value, y.value)
	})
}

// normalized returns h as a Writer writes it: VERSION=3 and defaults.
func normalized(t testing.TB, h Header) Header {
	t.Helper()
	n, err := normalizeHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func equalHeaders(a, b Header) bool {
	return a.Version == b.Version && a.Format == b.Format && a.Type == b.Type &&
		a.Database == b.Database && a.HasDatabase == b.HasDatabase &&
		(a.PartitionKeys == nil) == (b.PartitionKeys == nil) &&
		slices.EqualFunc(a.PartitionKeys, b.PartitionKeys, bytes.Equal) &&
		len(a.Extra) == len(b.Extra) && func() bool {
		for k, v := range a.Extra {
			if w, ok := b.Extra[k]; !ok || w != v {
				return false
			}
		}
		return true
	}()
}

// randomRecords returns n records of random binary keys and values,
// biased towards the bytes the encodings treat specially.
func randomRecords(rng *rand.Rand, n, maxLen int) []record {
	special := []byte{0, '\\', ' ', '\n', '\r', '=', 0x7e, 0x7f, 0x80, 0xff, 'a', 'f', 'g', '0', '9'}
	gen := func() []byte {
		b := make([]byte, rng.IntN(maxLen+1))
		for i := range b {
			if rng.IntN(3) == 0 {
				b[i] = special[rng.IntN(len(special))]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		return b
	}
	recs := make([]record, n)
	for i := range recs {
		recs[i] = record{gen(), gen()}
	}
	return recs
}

// allBytes returns the 256 byte values in order.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
