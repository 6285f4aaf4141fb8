package imap

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/m-store/mstore/internal/store"
)

// The go-imap client parses what the server writes from the cache:
// ENVELOPE, BODYSTRUCTURE, sections, BINARY; and drives SEARCH with
// ESEARCH, NAMESPACE, ENABLE, LIST-STATUS, UNAUTHENTICATE.
func TestClientFetchSearch(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	e.deliver("alice", "", msg(1, "plain"))
	e.deliver("alice", "", mimeMsg)
	c := e.client("alice", "secret", nil)
	if _, err := c.Enable(goimap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Fatalf("NAMESPACE %+v %v", ns, err)
	}
	ld, err := c.List("", "*", &goimap.ListOptions{ReturnStatus: &goimap.StatusOptions{NumMessages: true, Size: true}}).Collect()
	if err != nil || len(ld) != 1 || ld[0].Status == nil || *ld[0].Status.NumMessages != 2 {
		t.Fatalf("LIST-STATUS %+v %v", ld, err)
	}
	if _, err := c.Select("INBOX", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	hdr := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	part1 := &goimap.FetchItemBodySection{Part: []int{1}, Peek: true}
	bin := &goimap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{
		Envelope: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}, UID: true, RFC822Size: true,
		BodySection: []*goimap.FetchItemBodySection{hdr, part1}, BinarySection: []*goimap.FetchItemBinarySection{bin},
		BinarySectionSize: []*goimap.FetchItemBinarySectionSize{{Part: []int{1}}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v", err)
	}
	m := msgs[0]
	env := m.Envelope
	if env.Subject != "Grüße from the test" || env.MessageID != "mime1@example.org" || len(env.InReplyTo) != 1 || env.InReplyTo[0] != "parent@example.org" {
		t.Errorf("envelope %+v", env)
	}
	if len(env.From) != 5 || env.From[0].Name != "Jörg" || env.From[0].Addr() != "jorg@example.org" || !env.From[1].IsGroupStart() || !env.From[4].IsGroupEnd() {
		t.Errorf("envelope From %+v", env.From)
	}
	if env.Date.IsZero() || env.Date.Year() != 2003 {
		t.Errorf("envelope Date %v", env.Date)
	}
	bs, ok := m.BodyStructure.(*goimap.BodyStructureMultiPart)
	if !ok || bs.Subtype != "mixed" || len(bs.Children) != 3 || bs.Extended == nil || bs.Extended.Params["boundary"] != "XX" {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	att := bs.Children[1].(*goimap.BodyStructureSinglePart)
	if att.Filename() != "data.bin" || att.Encoding != "base64" || att.Extended == nil || len(att.Extended.Language) != 2 {
		t.Errorf("attachment %#v", att)
	}
	inner := bs.Children[2].(*goimap.BodyStructureSinglePart)
	if inner.MessageRFC822 == nil || inner.MessageRFC822.Envelope.Subject != "inner subject" {
		t.Errorf("message/rfc822 part %#v", inner)
	}
	if got := string(m.FindBodySection(hdr)); got != "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from the test\r\n\r\n" {
		t.Errorf("HEADER.FIELDS %q", got)
	}
	if got := string(m.FindBodySection(part1)); !strings.HasPrefix(got, "Caf=C3=A9") {
		t.Errorf("BODY[1] %q", got)
	}
	if got := string(m.FindBinarySection(bin)); got != "binary\x00payload\xff" {
		t.Errorf("BINARY[2] %q", got)
	}
	if n, ok := m.FindBinarySectionSize([]int{1}); !ok || n != 31 {
		t.Errorf("BINARY.SIZE[1] %d %v", n, ok)
	}

	sd, err := c.UIDSearch(&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "grüße"}}}, nil).Wait()
	if err != nil || fmt.Sprint(sd.AllUIDs()) != "[2]" {
		t.Fatalf("UID SEARCH SUBJECT: %v %v", sd, err)
	}
	// (imapclient does not send SAVE: SEARCHRES is tested with the raw
	// client and imaplib.)
	sd, err = c.Search(&goimap.SearchCriteria{Body: []string{"crème"}}, &goimap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil || sd.Min != 2 || sd.Max != 2 || sd.Count != 1 {
		t.Fatalf("SEARCH RETURN (MIN MAX COUNT): %+v %v", sd, err)
	}
	if err := c.Unauthenticate().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
}

// Two go-imap clients on one mailbox while deliveries arrive and one of
// them expunges: the other's message count, kept from EXISTS and EXPUNGE,
// ends equal to the store's.
func TestClientTwoSessionsDeliveries(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := range 10 {
		e.deliver("alice", "", msg(i, "seed"))
	}
	var mu sync.Mutex
	var n uint32
	h := &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { mu.Lock(); n--; mu.Unlock() },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				n = *d.NumMessages
				mu.Unlock()
			}
		},
	}
	reader := e.client("alice", "secret", h)
	sd, err := reader.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n = sd.NumMessages
	mu.Unlock()
	expunger := e.client("alice", "secret", nil)
	if _, err := expunger.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := context.Background()
		for i := range 60 {
			in, err := e.st.Ingest(ctx, strings.NewReader(msg(100+i, "live")), 0)
			if err == nil {
				_, err = e.st.Deliver(ctx, in, []store.Recipient{{Account: "alice"}}, time.Now())
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
		stop.Store(true)
	}()
	for !stop.Load() {
		if err := expunger.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := expunger.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := reader.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Flags: true, UID: true}).Collect(); err != nil {
			var ie *goimap.Error
			if !(errorsAs(err, &ie) && ie.Code == codeExpungeIssued) {
				t.Fatal(err)
			}
		}
		if err := reader.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := reader.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := e.st.MailboxStatus(t.Context(), "alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != st.Messages {
		t.Fatalf("client counts %d messages, the store has %d", n, st.Messages)
	}
}
