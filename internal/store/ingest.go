package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/message"
)

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
	id, size, err := s.blobs.Put(ctx, r, maxSize)
	if err != nil {
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxSize)
		}
		return nil, err
	}
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
	return &Incoming{Blob: string(id), Size: size, Cache: cache}, nil
}

// OpenMessage opens a message file for reading.
func (s *Store) OpenMessage(id string) (*blob.Section, error) {
	return s.blobs.Section(blob.ID(id), 0, -1)
}
