package message

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// roundTrip marshals c, unmarshals the result and checks that it is equal.
func roundTrip(t testing.TB, c *Cache) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	var d Cache
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if !reflect.DeepEqual(c, &d) {
		t.Fatalf("decoded cache differs:\n got %s %s\nwant %s %s",
			imapString(envTree(&d.Envelope)), imapString(bsTree(&d.Body, true)),
			imapString(envTree(&c.Envelope)), imapString(bsTree(&c.Body, true)))
	}
	b2, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs (%v)", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, m := range corpus() {
		t.Run(m.name, func(t *testing.T) {
			raw := m.raw()
			c := Parse(raw)
			b := roundTrip(t, c)
			t.Logf("%d octets of message, %d of header, %d of cache", len(raw), len(c.RawHeader), len(b))
		})
	}
	g := &gen{r: rand.New(rand.NewSource(5)), damage: true}
	for i := 0; i < 500; i++ {
		roundTrip(t, Parse(g.message()))
	}
}

func TestUnmarshalRejects(t *testing.T) {
	c := Parse(corpusMsg("mixed-attachments").raw())
	good, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
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
	// A record that claims huge counts must fail fast, not allocate.
	for _, b := range [][]byte{
		{Version, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, // From with 2^32 addresses
		{Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{Version, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f},
	} {
		var d Cache
		if err := d.UnmarshalBinary(b); err == nil {
			t.Errorf("% x decoded", b)
		}
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
}
