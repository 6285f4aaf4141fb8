package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
)

// spaceCount counts the records of a space.
func spaceCount(t *testing.T, s *Store, p byte) int {
	t.Helper()
	n := 0
	err := s.view(context.Background(), func(x *tx) error {
		return x.table(p).ForEach(nil, func(_, _ []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFileReferencesDropAndPrune(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	mkAccount(t, s, "a")
	mkAccount(t, s, "b")
	in := incomingOf("one", 100)
	res, err := s.Deliver(ctx, in, []Recipient{{Account: "a"}, {Account: "b"}, {Account: "a"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if n := spaceCount(t, s, tFiles); n != 1 {
		t.Fatalf("one delivery to three recipients made %d file records, want 1", n)
	}
	inbox := func(acct string) uint64 {
		m, err := s.MailboxStatus(ctx, acct, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	ma, mb := inbox("a"), inbox("b")
	msgs, err := s.GetMessages(ctx, ma, []uint32{1, 2})
	if err != nil || len(msgs) != 2 || msgs[0].Blob != in.Blob || msgs[1].Blob != in.Blob {
		t.Fatalf("GetMessages = %+v, %v; want two messages of file %s", msgs, err, in.Blob)
	}
	if f := fileOf(t, s, in.Blob); f == nil || !bytes.Equal(f.cache, in.Cache) || f.refs != 3 {
		t.Fatalf("file record = %+v, want 3 references and cache %q", f, in.Cache)
	}
	// COPY adds a reference to the same file.
	if _, err := s.CreateMailbox(ctx, "b", "Archive", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, mb, []uint32{1}, "Archive", false); err != nil {
		t.Fatal(err)
	}
	if f := fileOf(t, s, in.Blob); f.refs != 4 {
		t.Fatalf("references = %d, want 4", f.refs)
	}
	arch, err := s.MailboxStatus(ctx, "b", "Archive")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		mbox uint64
		uids []uint32
	}{{ma, []uint32{1, 2}}, {mb, []uint32{1}}} {
		if _, err := s.Expunge(ctx, e.mbox, e.uids); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.Referenced(ctx, in.Blob, 0); err != nil || !ok || fileOf(t, s, in.Blob).refs != 1 {
		t.Fatalf("after 3 of 4 expunges: referenced %v (%v), %d references; want true, 1", ok, err, fileOf(t, s, in.Blob).refs)
	}
	if _, err := s.Expunge(ctx, arch.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Referenced(ctx, in.Blob, time.Hour); !ok {
		t.Fatal("a file dropped just now is not kept for the grace period")
	}
	if ok, _ := s.Referenced(ctx, in.Blob, 0); ok {
		t.Fatal("an unreferenced file is kept with no grace period")
	}
	if f := fileOf(t, s, in.Blob); f.refs != 0 || f.cache != nil || f.dropped != now.Unix() {
		t.Fatalf("dropped file record = %+v, want no references, no cache, dropped at %d", f, now.Unix())
	}

	// Delivered again: a new record of the same file, which the sweep
	// keeps whatever the grace.
	now = now.Add(time.Minute)
	if _, err := s.Deliver(ctx, in, []Recipient{{Account: "a"}}, now); err != nil {
		t.Fatal(err)
	}
	if f, d := spaceCount(t, s, tFiles), spaceCount(t, s, tDropped); f != 2 || d != 1 {
		t.Fatalf("re-delivered: %d file records, %d dropped; want 2, 1", f, d)
	}
	other := incomingOf("two", 50)
	if _, err := s.Deliver(ctx, other, []Recipient{{Account: "b"}}, now); err != nil {
		t.Fatal(err)
	}
	keep, err := s.FilesToKeep(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	third := incomingOf("three", 1).Blob
	if !keep(in.Blob) || !keep(other.Blob) || keep(third) || !keep("not a message file") {
		t.Fatalf("FilesToKeep: %v %v %v %v, want true true false true", keep(in.Blob), keep(other.Blob), keep(third), keep("not a message file"))
	}
	now = now.Add(30 * time.Minute)
	if n, err := s.PruneDropped(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("PruneDropped within the grace period = %d, %v; want 0", n, err)
	}
	now = now.Add(31 * time.Minute)
	if n, err := s.PruneDropped(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("PruneDropped after the grace period = %d, %v; want 1", n, err)
	}
	if f, d := spaceCount(t, s, tFiles), spaceCount(t, s, tDropped); f != 2 || d != 0 {
		t.Fatalf("after pruning: %d file and %d dropped records; want 2, 0", f, d)
	}
	if ok, _ := s.Referenced(ctx, in.Blob, 0); !ok {
		t.Fatal("the file of the re-delivered message is not referenced")
	}
	msgs, err = s.GetMessages(ctx, ma, []uint32{3})
	if err != nil || len(msgs) != 1 || msgs[0].Blob != in.Blob || msgs[0].file != 2 {
		t.Fatalf("re-delivered message = %+v, %v; want file %s number 2", msgs, err, in.Blob)
	}
	// A message whose file record is missing is an error, not a message
	// without a file.
	if err := s.update(ctx, func(x *tx) error { return x.table(tFiles).Delete(fileKey(2)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessages(ctx, ma, []uint32{3}); err == nil || !strings.Contains(err.Error(), "no record") {
		t.Fatalf("GetMessages of a message without a file record = %v", err)
	}
}

// incomingOf is an incoming message whose file id is the SHA-256 of s.
func incomingOf(s string, size int64) *Incoming {
	return &Incoming{Blob: fmt.Sprintf("%x", sha256.Sum256([]byte(s))), Size: size, Cache: []byte("cache of " + s)}
}

// fileOf returns the last record of file id, or nil.
func fileOf(t *testing.T, s *Store, id string) *fileRec {
	t.Helper()
	h, err := hashOf(id)
	if err != nil {
		t.Fatal(err)
	}
	var out *fileRec
	err = s.view(context.Background(), func(x *tx) error {
		return x.forEachFile(context.Background(), func(_ uint64, f *fileRec) (bool, error) {
			if f.hash == h {
				f.cache = bytes.Clone(f.cache)
				out = f
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// putFormat1 writes a store of format 1 by hand: R and C keyed by the hex
// id, message records of version 1.
func putFormat1(t *testing.T, s *Store, mbox uint64, uids []uint32, ids []string, refs map[string][]byte, caches map[string][]byte) {
	t.Helper()
	err := s.update(context.Background(), func(x *tx) error {
		if err := x.table(tMeta).Delete([]byte(formatKey)); err != nil {
			return err
		}
		for i, uid := range uids {
			var e enc
			e.u8(1)
			e.str(ids[i])
			e.iv(10)
			e.iv(1_700_000_000)
			e.uv(uint64(i + 1))
			e.u8(FlagSeen)
			e.strs([]string{"$Label1"})
			e.iv(3600)
			if err := x.table(tMessages).Put(messageKey(mbox, uid), e.b); err != nil {
				return err
			}
		}
		for id, v := range refs {
			if err := x.table(tOldRefs).Put([]byte(id), v); err != nil {
				return err
			}
		}
		for id, v := range caches {
			if err := x.table(tOldCache).Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeFromFormat1(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	env, err := msdb.Open(ctx, msdb.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	s, err := Open(ctx, env, nil, Options{HashCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	mkAccount(t, s, "a")
	m, err := s.MailboxStatus(ctx, "a", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// More files than one upgrade transaction takes: 2 messages share
	// file 0; file 1 is referenced by none (dropped at 1,600,000,000); an
	// orphan cache of file 2.
	var uids []uint32
	var ids []string
	refs, caches := map[string][]byte{}, map[string][]byte{}
	id := func(i int) string { return fmt.Sprintf("%064x", i+1) }
	const n = migrateBatch + 10
	for i := range n {
		if i == 1 || i == 2 {
			continue
		}
		uids = append(uids, uint32(len(uids)+1))
		ids = append(ids, id(i))
		refs[id(i)] = binary.AppendUvarint(nil, 1)
		caches[id(i)] = []byte("not a cache record " + id(i))
	}
	uids = append(uids, uint32(len(uids)+1))
	ids = append(ids, id(0))
	refs[id(0)] = binary.AppendUvarint(nil, 2)
	refs[id(1)] = binary.AppendVarint(binary.AppendUvarint(nil, 0), 1_600_000_000)
	caches[id(2)] = []byte("orphan")
	putFormat1(t, s, m.ID, uids, ids, refs, caches)

	// A damaged record stops the upgrade with an error naming it; the
	// batches before it stay done, and once the record is dealt with the
	// upgrade goes on from there.
	bad := "zz-not-a-file-id"
	putFormat1(t, s, m.ID, nil, nil, map[string][]byte{bad: {1}}, nil)
	if _, err := Open(ctx, env, nil, Options{HashCost: 4}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Open with a damaged format 1 record = %v, want an error naming %q", err, bad)
	}
	if f, r := spaceCount(t, s, tFiles), spaceCount(t, s, tOldRefs); f != migrateBatch || r != n-migrateBatch {
		t.Fatalf("after the failed upgrade: %d file records, %d left to convert; want %d, %d", f, r, migrateBatch, n-migrateBatch)
	}
	if err := s.update(ctx, func(x *tx) error { return x.table(tOldRefs).Delete([]byte(bad)) }); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, env, nil, Options{HashCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []byte{tOldRefs, tOldCache, tUpgradeIndex} {
		if c := spaceCount(t, s2, p); c != 0 {
			t.Fatalf("space %c has %d records after the upgrade", p, c)
		}
	}
	if f, d := spaceCount(t, s2, tFiles), spaceCount(t, s2, tDropped); f != n-1 || d != 1 {
		t.Fatalf("after the upgrade: %d file and %d dropped records; want %d, 1", f, d, n-1)
	}
	msgs, err := s2.GetMessages(ctx, m.ID, uids)
	if err != nil || len(msgs) != len(uids) {
		t.Fatalf("GetMessages = %d messages, %v; want %d", len(msgs), err, len(uids))
	}
	for i, msg := range msgs {
		if msg.Blob != ids[i] || msg.Size != 10 || msg.ModSeq != uint64(i+1) || !msg.Flags.Has(`\Seen`) || !msg.Flags.Has("$Label1") {
			t.Fatalf("message %d after the upgrade = %+v, want file %s", msg.UID, msg, ids[i])
		}
		if _, off := msg.InternalDate.Zone(); off != 3600 || msg.InternalDate.Unix() != 1_700_000_000 {
			t.Fatalf("message %d: internal date %v", msg.UID, msg.InternalDate)
		}
	}
	if f := fileOf(t, s2, id(5)); string(f.cache) != "not a cache record "+id(5) {
		t.Fatalf("cache of file 5 after the upgrade = %q (kept as it was when it does not decode)", f.cache)
	}
	if f := fileOf(t, s2, id(0)); f.refs != 2 {
		t.Fatalf("file 0 has %d references, want 2", f.refs)
	}
	if f := fileOf(t, s2, id(1)); f.refs != 0 || f.dropped != 1_600_000_000 {
		t.Fatalf("file 1: %d references dropped at %d; want 0 at 1600000000", f.refs, f.dropped)
	}
	// Expunging a message of the upgraded store drops its reference.
	if _, err := s2.Expunge(ctx, m.ID, uids[1:2]); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s2.Referenced(ctx, ids[1], 0); ok {
		t.Fatalf("file %s of an expunged message is still referenced", ids[1])
	}

	// A format this build does not know is refused.
	if err := s2.update(ctx, func(x *tx) error {
		return x.table(tMeta).Put([]byte(formatKey), binary.AppendUvarint(nil, storeFormat+1))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, env, nil, Options{}); err == nil || !strings.Contains(err.Error(), "newer M-Store") {
		t.Fatalf("Open of a store of a newer format = %v", err)
	}
}

// benchLikeMessage is a message like `mstore bench` delivers: From, To,
// Subject, Date, Message-ID, MIME-Version, Content-Type and a text body.
func benchLikeMessage(rng *rand.Rand, n int, to string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: M-Store Bench <bench-sender@mstore-bench.example>\r\nTo: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: mstore-bench lmtp %d word%d word%d word%d\r\n", n, rng.IntN(100), rng.IntN(100), rng.IntN(100))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Unix(1_800_000_000+int64(n), 0).Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%d.%08x@mstore-bench.example>\r\n", n, rng.Uint32())
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for b.Len() < size-80 {
		fmt.Fprintf(&b, "Line %d of a message body, with some words to make it look like text.\r\n", rng.IntN(1000))
	}
	return b.Bytes()
}

// TestTableBytesPerMessage delivers messages like the load generator's to
// many mailboxes, expunges some, and checks what the table file costs per
// stored message (the number bench/compare.sh compares with Dovecot's
// index). It logs the bytes each space takes.
func TestTableBytesPerMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers 3,000 messages")
	}
	ctx := context.Background()
	dir := t.TempDir()
	env, err := msdb.Open(ctx, msdb.Options{Home: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	blobs, err := blob.Open(filepath.Join(dir, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, env, blobs, Options{HashCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	const accounts, total = 10, 3000
	for i := range accounts {
		mkAccount(t, s, fmt.Sprintf("user%d@mstore-bench.example", i))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				to := fmt.Sprintf("user%d@mstore-bench.example", i%accounts)
				in, err := s.Ingest(ctx, bytes.NewReader(benchLikeMessage(rng, i, to, 4096)), 0)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Deliver(ctx, in, []Recipient{{Account: to}}, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Expunge the first tenth of each mailbox (POP3 DELE).
	expunged := 0
	for i := range accounts {
		m, err := s.MailboxStatus(ctx, fmt.Sprintf("user%d@mstore-bench.example", i), "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		var uids []uint32
		for u := uint32(1); u <= m.Messages/10; u++ {
			uids = append(uids, u)
		}
		gone, err := s.Expunge(ctx, m.ID, uids)
		if err != nil {
			t.Fatal(err)
		}
		expunged += len(gone)
	}
	stored := total - expunged
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, "db", "data", mailTable+".db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var used int64
	perSpace := map[byte]int{}
	var st bolt.BucketStats
	err = db.View(func(btx *bolt.Tx) error {
		used = btx.Size()
		b := btx.Bucket([]byte("data"))
		st = b.Stats()
		return b.ForEach(func(k, v []byte) error {
			if len(k) > 0 {
				perSpace[k[0]] += len(k) + len(v) + 16
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var spaces []string
	for p, n := range perSpace {
		spaces = append(spaces, fmt.Sprintf("%c %.0f", p, float64(n)/float64(stored)))
	}
	sort.Strings(spaces)
	perMsg := float64(used) / float64(stored)
	t.Logf("%d messages stored (%d expunged): table file %d bytes (%d up to its last page in use), %.0f per message; leaves %d of %d bytes in use (%.0f%%), branches %d; per message by space: %s",
		stored, expunged, fi.Size(), used, perMsg, st.LeafInuse, st.LeafAlloc, 100*float64(st.LeafInuse)/float64(st.LeafAlloc), st.BranchAlloc, strings.Join(spaces, ", "))
	// The file itself also has up to msdb's growth step (1 MB) beyond
	// its last page, which counts at this size but not in a real store.
	// Dovecot's index took 548 bytes per message in bench/compare.sh's
	// run (docs/PERFORMANCE.md).
	if perMsg > 548 {
		t.Errorf("the table file takes %.0f bytes per stored message, more than Dovecot's index (548)", perMsg)
	}
}
