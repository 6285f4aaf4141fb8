package daemon

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestIMAPSessionsWhileLMTPDelivers: two IMAP sessions (go-imap's client)
// on one INBOX of the running daemon while LMTP delivers into it and one
// of the sessions expunges: the observing session's message count, kept
// only from the EXISTS and EXPUNGE responses it is sent, ends equal to the
// mailbox's, and its sequence numbers map to the mailbox's UIDs in order.
func TestIMAPSessionsWhileLMTPDelivers(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.start()
	d.addUser("una", "pw-una")
	send := goSMTPSender(d.addr)
	deliver := func(i int) {
		if _, data := send(t, "sender@example.net", []string{"una@example.org"}, testMessage(fmt.Sprintf("live-%d", i))); len(data) != 1 || data[0].Code != 250 {
			t.Errorf("delivery %d: %+v", i, data)
		}
	}
	for i := range 5 {
		deliver(i)
	}

	var count atomic.Int64 // the observer's view, from unilateral data only
	observer, err := imapclient.DialInsecure(d.imap, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(m *imapclient.UnilateralDataMailbox) {
			if m.NumMessages != nil {
				count.Store(int64(*m.NumMessages))
			}
		},
		Expunge: func(uint32) { count.Add(-1) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	if err := observer.Login("una", "pw-una").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := observer.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	count.Store(int64(sel.NumMessages))

	var actorCount atomic.Int64 // the actor's own view
	actor, err := imapclient.DialInsecure(d.imap, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(m *imapclient.UnilateralDataMailbox) {
			if m.NumMessages != nil {
				actorCount.Store(int64(*m.NumMessages))
			}
		},
		Expunge: func(uint32) { actorCount.Add(-1) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer actor.Close()
	if err := actor.Login("una", "pw-una").Wait(); err != nil {
		t.Fatal(err)
	}
	asel, err := actor.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	actorCount.Store(int64(asel.NumMessages))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 5; i < 35; i++ {
			deliver(i)
		}
	}()
	expunged := 0
	for round := 0; round < 15; round++ {
		// The actor removes its first message, when it sees one; the
		// observer polls.
		if err := actor.Noop().Wait(); err != nil {
			t.Fatalf("round %d: actor NOOP: %v", round, err)
		}
		if actorCount.Load() == 0 {
			continue
		}
		expunged++
		if err := actor.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatalf("round %d: STORE: %v", round, err)
		}
		// Its own EXPUNGE's responses go to the command, not to the
		// unilateral handler.
		seqs, err := actor.Expunge().Collect()
		if err != nil {
			t.Fatalf("round %d: EXPUNGE: %v", round, err)
		}
		actorCount.Add(-int64(len(seqs)))
		if err := observer.Noop().Wait(); err != nil {
			t.Fatalf("round %d: NOOP: %v", round, err)
		}
	}
	wg.Wait()
	if expunged == 0 {
		t.Fatal("the actor never saw a message to expunge")
	}
	if err := observer.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := actor.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := count.Load(), int64(*st.NumMessages); got != want || want != int64(35-expunged) {
		t.Fatalf("observer counts %d messages, the mailbox has %d (want %d)", got, want, 35-expunged)
	}
	// The observer's sequence numbers 1..n are the mailbox's UIDs in order.
	var all1n imap.SeqSet
	all1n.AddRange(1, uint32(count.Load()))
	msgs, err := observer.Fetch(all1n, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	uids, err := actor.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	all := uids.AllUIDs()
	if len(msgs) != len(all) {
		t.Fatalf("observer fetched %d messages, SEARCH ALL has %d", len(msgs), len(all))
	}
	for i, m := range msgs {
		if m.SeqNum != uint32(i+1) || m.UID != all[i] {
			t.Fatalf("observer's message %d: seq %d UID %d, want UID %d", i+1, m.SeqNum, m.UID, all[i])
		}
	}
}
