package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/msdb"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	env, err := msdb.Open(context.Background(), msdb.Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	s, err := Open(context.Background(), env, nil, Options{HashCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mkAccount(t *testing.T, s *Store, name string) *Account {
	t.Helper()
	h, err := s.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(context.Background(), name, h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func incoming(n int, size int64) *Incoming {
	return &Incoming{Blob: fmt.Sprintf("%064x", n), Size: size, Cache: []byte(fmt.Sprintf("cache-%d", n))}
}

func TestAccounts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mkAccount(t, s, "Alice@Example.org")
	if _, err := s.CreateAccount(ctx, "alice@example.org", "x"); !errors.Is(err, ErrAccountExists) {
		t.Fatalf("duplicate account (case-insensitive) = %v", err)
	}
	if _, err := s.Authenticate(ctx, "ALICE@example.org", "secret"); err != nil {
		t.Fatalf("Authenticate = %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "wrong"); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password = %v", err)
	}
	if _, err := s.Authenticate(ctx, "nobody", "secret"); !errors.Is(err, ErrAuth) {
		t.Fatalf("unknown account = %v", err)
	}
	if err := s.SetState(ctx, "alice@example.org", Disabled); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "secret"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled account = %v", err)
	}
	for _, bad := range []string{"", "a b", "a:b", "@x", "a@b@c"} {
		if _, err := s.CreateAccount(ctx, bad, "x"); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateAccount(%q) = %v", bad, err)
		}
	}
	mbs, err := s.Mailboxes(ctx, "alice@example.org")
	if err != nil || len(mbs) != 1 || mbs[0].Name != "INBOX" || !mbs[0].Subscribed {
		t.Fatalf("mailboxes of a new account = %+v, %v", mbs, err)
	}
	if err := s.DeleteAccount(ctx, "Alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, "alice@example.org"); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("deleted account = %v", err)
	}
}

func TestMailboxHierarchy(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mkAccount(t, s, "bob")
	if _, err := s.CreateMailbox(ctx, "bob", "a/b/c", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, "bob", "inbox", ""); !errors.Is(err, ErrMailboxExists) {
		t.Fatalf("CREATE inbox = %v", err)
	}
	if _, err := s.CreateMailbox(ctx, "bob", "Sent", `\Sent`); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		mbs, err := s.Mailboxes(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range mbs {
			n := m.Name
			if m.NoSelect {
				n += "(noselect)"
			}
			if m.HasChildren {
				n += "+"
			}
			out = append(out, n)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"INBOX", "Sent", "a+", "a/b+", "a/b/c"}) {
		t.Fatalf("mailboxes %v", got)
	}
	if err := s.RenameMailbox(ctx, "bob", "a", "x/y"); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{"INBOX", "Sent", "x+", "x/y+", "x/y/b+", "x/y/b/c"}) {
		t.Fatalf("after rename %v", got)
	}
	if err := s.DeleteMailbox(ctx, "bob", "x/y"); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{"INBOX", "Sent", "x+", "x/y(noselect)+", "x/y/b+", "x/y/b/c"}) {
		t.Fatalf("after delete with children %v", got)
	}
	if err := s.DeleteMailbox(ctx, "bob", "x/y"); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("delete of a \\Noselect mailbox with children = %v", err)
	}
	if err := s.DeleteMailbox(ctx, "bob", "INBOX"); err == nil {
		t.Fatal("INBOX deleted")
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "a*", "a%b"} {
		if _, err := s.CreateMailbox(ctx, "bob", bad, ""); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateMailbox(%q) = %v", bad, err)
		}
	}
}

func TestDeliverFlagsExpungeCopy(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mkAccount(t, s, "carol")
	mkAccount(t, s, "dave")
	if err := s.SetQuota(ctx, "dave", 150, 0); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.MailboxStatus(ctx, "carol", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	w := s.Hub().Watch(inbox.ID)
	defer w.Stop()
	var uids []uint32
	for i := range 3 {
		res, err := s.Deliver(ctx, incoming(i, 100), []Recipient{{Account: "carol"}, {Account: "dave"}, {Account: "nobody"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[0].UID != uint32(i+1) {
			t.Fatalf("delivery %d to carol: %+v", i, res[0])
		}
		if i == 0 && res[1].Err != nil || i > 0 && !errors.Is(res[1].Err, ErrOverQuota) {
			t.Fatalf("delivery %d to dave: %+v", i, res[1])
		}
		if !errors.Is(res[2].Err, ErrNoAccount) {
			t.Fatalf("delivery to nobody: %+v", res[2])
		}
		uids = append(uids, res[0].UID)
	}
	evs, _ := w.Take()
	if len(evs) != 3 || evs[0].Kind != EventAppend || evs[2].UIDs[0] != 3 {
		t.Fatalf("events %+v", evs)
	}
	st, _ := s.MailboxStatus(ctx, "carol", "INBOX")
	if st.Messages != 3 || st.Unseen != 3 || st.Bytes != 300 || st.UIDNext != 4 {
		t.Fatalf("status %+v", st)
	}
	f, err := ParseFlags([]string{`\seen`, `\FLAGGED`, "$Label1"})
	if err != nil {
		t.Fatal(err)
	}
	changed, err := s.StoreFlags(ctx, inbox.ID, []uint32{1, 2}, FlagsAdd, f)
	if err != nil || len(changed) != 2 {
		t.Fatalf("StoreFlags = %v, %v", changed, err)
	}
	if got := changed[0].Flags.Names(); !slices.Equal(got, []string{`\Seen`, `\Flagged`, "$Label1"}) {
		t.Fatalf("flags %v", got)
	}
	f2, _ := ParseFlags([]string{"$label1"})
	if changed, _ := s.StoreFlags(ctx, inbox.ID, []uint32{1}, FlagsAdd, f2); len(changed) != 0 {
		t.Fatal("adding a keyword in another case changed flags")
	}
	st, _ = s.MailboxStatus(ctx, "carol", "INBOX")
	if st.Unseen != 1 {
		t.Fatalf("unseen %d", st.Unseen)
	}
	if _, err := s.CreateMailbox(ctx, "carol", "Archive", `\Archive`); err != nil {
		t.Fatal(err)
	}
	res, err := s.Copy(ctx, inbox.ID, []uint32{1, 3}, "Archive", true)
	if err != nil || !slices.Equal(res.Source, []uint32{1, 3}) || !slices.Equal(res.Dest, []uint32{1, 2}) {
		t.Fatalf("Move = %+v, %v", res, err)
	}
	arch, _ := s.MailboxStatus(ctx, "carol", "Archive")
	snap, _ := s.Messages(ctx, arch.ID)
	if len(snap.Messages) != 2 || !snap.Messages[0].Flags.Has(`\Seen`) || snap.Messages[1].Flags.Has(`\Seen`) {
		t.Fatalf("moved messages %+v", snap.Messages)
	}
	gone, err := s.Expunge(ctx, inbox.ID, []uint32{1, 2, 3})
	if err != nil || !slices.Equal(gone, []uint32{2}) {
		t.Fatalf("Expunge = %v, %v", gone, err)
	}
	a, _ := s.Account(ctx, "carol")
	if a.UsedMessages != 2 || a.UsedBytes != 200 {
		t.Fatalf("usage %d messages %d bytes", a.UsedMessages, a.UsedBytes)
	}
	// The file of message 2 (blob 1) is no longer referenced, but was a
	// moment ago: the sweep keeps it for its grace period. Blob 0 is (moved).
	b1 := fmt.Sprintf("%064x", 1)
	if ok, _ := s.Referenced(ctx, b1, 0); ok {
		t.Fatal("expunged message's file referenced with no grace")
	}
	if ok, _ := s.Referenced(ctx, b1, time.Hour); !ok {
		t.Fatal("expunged message's file not kept for the grace period after its expunge")
	}
	if ok, _ := s.Referenced(ctx, fmt.Sprintf("%064x", 0), 0); !ok {
		t.Fatal("moved message's file not referenced")
	}
	if n, err := s.PruneDropped(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("PruneDropped(1h) = %d, %v", n, err)
	}
	if n, err := s.PruneDropped(ctx, 0); err != nil || n != 1 {
		t.Fatalf("PruneDropped(0) = %d, %v", n, err)
	}
}

func TestRenameInboxAndRecent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mkAccount(t, s, "erin")
	for i := range 2 {
		if _, err := s.Deliver(ctx, incoming(i, 10), []Recipient{{Account: "erin"}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := s.MailboxStatus(ctx, "erin", "INBOX")
	from, err := s.TakeRecent(ctx, inbox.ID)
	if err != nil || from != 1 {
		t.Fatalf("TakeRecent = %d, %v", from, err)
	}
	if from, _ := s.TakeRecent(ctx, inbox.ID); from != 3 {
		t.Fatalf("second TakeRecent = %d, want 3 (nothing recent)", from)
	}
	if err := s.RenameMailbox(ctx, "erin", "INBOX", "INBOX/Old"); err != nil {
		t.Fatal(err)
	}
	old, _ := s.MailboxStatus(ctx, "erin", "INBOX/Old")
	nin, _ := s.MailboxStatus(ctx, "erin", "INBOX")
	if old.Messages != 2 || nin.Messages != 0 || nin.UIDValidity == old.UIDValidity || old.ID != inbox.ID {
		t.Fatalf("after RENAME INBOX: old %+v, inbox %+v", old, nin)
	}
}

func TestInternalDateKeepsZone(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mkAccount(t, s, "zoe")
	when := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", -7*3600))
	if _, _, err := s.Append(ctx, "zoe", "INBOX", incoming(1, 10), Flags{}, when); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.MailboxStatus(ctx, "zoe", "INBOX")
	snap, err := s.Messages(ctx, inbox.ID)
	if err != nil || len(snap.Messages) != 1 {
		t.Fatal(err)
	}
	got := snap.Messages[0].InternalDate
	if _, off := got.Zone(); !got.Equal(when) || off != -7*3600 {
		t.Fatalf("internal date %v, want %v in its zone", got, when)
	}
}
