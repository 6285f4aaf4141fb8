package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/message"
)

// captureLimit bounds the messages Ingest keeps in memory while it stores
// them, to parse them from there while the file is being made durable;
// a larger message is parsed from its file afterwards. Parsing holds the
// whole message in memory either way.
const captureLimit = 4 << 20

// Ingest stores a message's bytes as a message file (durably, once for
// any number of recipients) and parses it into the cache that FETCH and
// SEARCH use. maxSize bounds the message (0: no limit; ErrTooLarge past
// it, leaving nothing behind). Nothing references the file until Deliver
// or Append commits; an unreferenced file is removed by the sweep after
// its grace period.
func (s *Store) Ingest(ctx context.Context, r io.Reader, maxSize int64) (*Incoming, error) {
	if s.blobs == nil {
		return nil, errors.New("store has no message files")
	}
	c := &capture{r: r}
	id, size, err := s.blobs.Put(ctx, c, maxSize)
	if err != nil {
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxSize)
		}
		return nil, err
	}
	// Put read r to its end: c.parsed, if set, is the parse of exactly
	// the bytes stored (set by Put's reading goroutine before it passed
	// on the last bytes).
	if c.parsed != nil && c.n == size {
		p := <-c.parsed
		if p.err != nil {
			return nil, fmt.Errorf("encode parsed message %s: %w", id, p.err)
		}
		return &Incoming{Blob: string(id), Size: size, Cache: p.cache}, nil
	}
	cache, err := s.parseFile(id, size)
	if err != nil {
		return nil, err
	}
	return &Incoming{Blob: string(id), Size: size, Cache: cache}, nil
}

// parseFile parses a stored message file and encodes its cache.
func (s *Store) parseFile(id blob.ID, size int64) ([]byte, error) {
	f, err := s.blobs.Open(id)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := message.ParseReaderAt(f, size)
	if err != nil {
		return nil, fmt.Errorf("parse message %s: %w", id, err)
	}
	cache, err := c.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode parsed message %s: %w", id, err)
	}
	return cache, nil
}

// capture is the reader Ingest gives Put: it keeps what it reads, up to
// captureLimit, and at the end of the message starts parsing it, so that
// the parse runs while Put makes the file durable.
type capture struct {
	r      io.Reader
	buf    []byte
	n      int64 // bytes read
	over   bool  // more than captureLimit: not kept
	parsed chan parsedCache
}

type parsedCache struct {
	cache []byte
	err   error
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if !c.over {
		if c.n > captureLimit {
			c.over, c.buf = true, nil
		} else {
			c.buf = append(c.buf, p[:n]...)
		}
	}
	if err == io.EOF && !c.over && c.parsed == nil {
		c.parsed = make(chan parsedCache, 1)
		go func(raw []byte, out chan<- parsedCache) {
			cache, err := message.Parse(raw).MarshalBinary()
			out <- parsedCache{cache, err}
		}(c.buf, c.parsed)
		c.buf = nil
	}
	return n, err
}

// OpenMessage opens a message file for reading.
func (s *Store) OpenMessage(id string) (*blob.Section, error) {
	return s.blobs.Section(blob.ID(id), 0, -1)
}
