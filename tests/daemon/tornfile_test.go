package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/m-store/mstore/internal/store"
)

// TestRedeliveryOverTornFile: a message file is renamed into place before
// it is synced (blob.Store.Put syncs the file and its directory at once,
// after the rename), so a power loss during an unacknowledged delivery can
// leave the file's name with bytes that are not the message's: zeros of
// the right size, or a damaged block. The MTA delivers the message again
// after the restart; the store must not take that file as the message
// already stored. Simulated here by writing such files where the
// message's file goes (or, in a store written by an earlier version, went),
// then delivering the message for real.
func TestRedeliveryOverTornFile(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.addUser("u1", "pw")
	d.start()
	if res, err := lmtpSend(d.addr, "a@example.net", []string{"u1@example.org"}, message([]string{"Subject: first"}, "first")); err != nil || !res.acked("u1@example.org") {
		t.Fatalf("first delivery: %v %v", res.data, err)
	}
	d.stop()

	var want [][]byte
	var ids []string
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { return make([]byte, len(b)) },                                          // size written, data not
		func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-10] ^= 0x20; return c },                  // one block stale
		func(b []byte) []byte { return b[:len(b)/2] },                                                  // cut short
		func(b []byte) []byte { c := bytes.Clone(b); copy(c, bytes.Repeat([]byte{0}, 512)); return c }, // first sector lost
	} {
		msg := crashMessage(fmt.Sprintf("torn-%d", i), 3000+i*1000)
		sum := sha256.Sum256(msg)
		id := hex.EncodeToString(sum[:])
		// Where the message's file goes (mail/ab/<id>), or, for every
		// other one, where a store written by an earlier version has it
		// (mail/ab/cd/<id>, still read).
		p := filepath.Join(d.msPath, "mail", id[:2], id)
		if i%2 == 1 {
			p = filepath.Join(d.msPath, "mail", id[:2], id[2:4], id)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, damage(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		want = append(want, msg)
		ids = append(ids, id)
	}
	d.start()
	for i, msg := range want {
		res, err := lmtpSend(d.addr, "a@example.net", []string{"u1@example.org"}, msg)
		if err != nil || !res.acked("u1@example.org") {
			t.Fatalf("delivery %d over a torn file: %v %v", i, res.data, err)
		}
	}
	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		got := mailboxBytes(t, ctx, st, "u1", "INBOX")
		if len(got) != len(want)+1 {
			t.Fatalf("INBOX holds %d messages, want %d", len(got), len(want)+1)
		}
		sameMessages(t, "INBOX after deliveries over torn files", got[1:], want)
	})
	// Each good copy is where the message's file goes; no torn legacy file
	// is left.
	for i, id := range ids {
		if b, err := os.ReadFile(filepath.Join(d.msPath, "mail", id[:2], id)); err != nil || !bytes.Equal(b, want[i]) {
			t.Errorf("message %d: file holds %d bytes (%v), want the %d delivered", i, len(b), err, len(want[i]))
		}
		if _, err := os.Lstat(filepath.Join(d.msPath, "mail", id[:2], id[2:4], id)); !os.IsNotExist(err) {
			t.Errorf("message %d: torn legacy file left (%v)", i, err)
		}
	}
}
