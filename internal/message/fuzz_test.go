package message

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// watchdog crashes the fuzzing worker when one input takes longer than a
// generous bound, so that a hang or a quadratic input is recorded under
// testdata/fuzz like any crasher instead of silently stalling the fuzzer.
func watchdog(n int) *time.Timer {
	return time.AfterFunc(10*time.Second, func() {
		panic(fmt.Sprintf("input of %d octets still running after 10s", n))
	})
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, m := range corpus() {
		seeds = append(seeds, m.raw())
	}
	g := &gen{r: rand.New(rand.NewSource(8)), damage: true}
	for i := 0; i < 20; i++ {
		seeds = append(seeds, g.message())
	}
	return seeds
}

// FuzzParse: any input parses without panicking into a cache whose offsets
// nest inside the message, whose sections all resolve inside it, and which
// survives MarshalBinary and UnmarshalBinary unchanged but for RawHeader
// (not stored), whose kept header is exact (checkKept), and unchanged from
// its plain version 2, 3 and 4 forms (see plainRecord).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		defer watchdog(len(raw)).Stop()
		c := Parse(raw)
		checkInvariants(t, c, raw)
		rec := roundTrip(t, c)
		checkKept(t, c, rec)
		v2RoundTrip(t, c, rec)
		c.HeaderFields([]string{"subject", "from"}, false)
		c.HeaderFields([]string{"received"}, true)
		c.Header("to")
	})
}

// FuzzUnmarshal: arbitrary records, of either version, never panic the
// decoder, and whatever decodes is a cache every accessor can use safely
// and that re-encodes to an equal value (but for RawHeader, which a
// version 2 record holds and a version 3 one does not).
func FuzzUnmarshal(f *testing.F) {
	for _, s := range fuzzSeeds() {
		c := Parse(s)
		b, err := c.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(plainRecord(c, version2))
		f.Add(plainRecord(c, version3))
		f.Add(plainRecord(c, Version))
	}
	v2, err := filepath.Glob("testdata/v2/*.rec")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range v2 {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add([]byte{version2})
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog(len(data)).Stop()
		var c Cache
		if err := c.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		var d Cache
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d.RawHeader != nil || data[0] == Version && c.RawHeader != nil {
			t.Fatalf("version %d record decodes with a header", data[0])
		}
		if !sameDecoded(&c, &d) {
			t.Fatalf("re-encoded record decodes differently")
		}
		if c.RawHeader != nil && int64(len(c.RawHeader)) != d.HeaderLen() {
			t.Fatalf("header of %d octets, %d after re-encoding", len(c.RawHeader), d.HeaderLen())
		}
		for _, s := range sections(&c) {
			path, spec := splitSection(s)
			off, n, err := c.Section(path, spec)
			if err != nil {
				t.Fatalf("Section(%v, %q): %v", path, spec, err)
			}
			if off < 0 || n < 0 || off+n > c.Size {
				t.Fatalf("Section(%v, %q) = %d+%d outside %d octets", path, spec, off, n, c.Size)
			}
		}
		c.HeaderFields([]string{"subject"}, false)
		c.Header("from")
		// A kept whole header is kept whole again, with the same octets.
		if b1, st := c.KeptHeader(); st == KeptAll {
			if b2, st2 := d.KeptHeader(); st2 == KeptAll && !bytes.Equal(b1, b2) {
				t.Fatalf("kept header %q re-encodes as %q", b1, b2)
			}
		}
	})
}
