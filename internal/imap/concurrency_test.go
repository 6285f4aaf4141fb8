package imap

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/m-store/mstore/internal/store"
)

// modelClient is a raw IMAP client that keeps the client's view of the
// selected mailbox from the server's responses and checks every rule a
// client relies on: EXISTS never shrinks the view, EXPUNGE and FETCH name
// existing sequence numbers, a UID once seen at a sequence number stays
// with it, UIDs ascend, and no EXPUNGE comes while FETCH, STORE or SEARCH
// is answered.
type modelClient struct {
	name string
	c    net.Conn
	r    *bufio.Reader
	tag  int
	view []uint32 // 0: UID not known yet
}

var (
	existsRE  = regexp.MustCompile(`^\* (\d+) EXISTS$`)
	expungeRE = regexp.MustCompile(`^\* (\d+) EXPUNGE$`)
	fetchRE   = regexp.MustCompile(`^\* (\d+) FETCH \(.*UID (\d+)`)
	fetchNRE  = regexp.MustCompile(`^\* (\d+) FETCH `)
)

func dialModel(addr, name string) (*modelClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &modelClient{name: name, c: c, r: bufio.NewReader(c)}
	if _, err := m.r.ReadString('\n'); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *modelClient) readLine() (string, error) {
	m.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var b strings.Builder
	for {
		l, err := m.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		mm := literalRE.FindStringSubmatch(l)
		if mm == nil {
			return b.String(), nil
		}
		n, _ := strconv.Atoi(mm[1])
		if _, err := io.CopyN(io.Discard, m.r, int64(n)); err != nil {
			return "", err
		}
	}
}

// do runs a command, applying and checking its untagged responses.
func (m *modelClient) do(cmd string) (string, error) {
	m.tag++
	tag := fmt.Sprintf("m%d", m.tag)
	if _, err := fmt.Fprintf(m.c, "%s %s\r\n", tag, cmd); err != nil {
		return "", err
	}
	verb := strings.ToUpper(strings.Fields(cmd)[0])
	noExpunge := verb == "FETCH" || verb == "STORE" || verb == "SEARCH"
	for {
		l, err := m.readLine()
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", m.name, cmd, err)
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if !slices.IsSortedFunc(m.known(), func(a, b uint32) int { return int(a) - int(b) }) {
				return "", fmt.Errorf("%s: UIDs out of order after %s: %v", m.name, cmd, m.view)
			}
			return rest, nil
		}
		if mm := existsRE.FindStringSubmatch(l); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			if n < len(m.view) {
				return "", fmt.Errorf("%s: %s shrinks the view of %d", m.name, l, len(m.view))
			}
			for len(m.view) < n {
				m.view = append(m.view, 0)
			}
			continue
		}
		if mm := expungeRE.FindStringSubmatch(l); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			if noExpunge {
				return "", fmt.Errorf("%s: %s during %s", m.name, l, cmd)
			}
			if n < 1 || n > len(m.view) {
				return "", fmt.Errorf("%s: %s with %d messages", m.name, l, len(m.view))
			}
			m.view = slices.Delete(m.view, n-1, n)
			continue
		}
		if mm := fetchRE.FindStringSubmatch(l); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			u, _ := strconv.ParseUint(mm[2], 10, 32)
			if n < 1 || n > len(m.view) {
				return "", fmt.Errorf("%s: %s with %d messages", m.name, l, len(m.view))
			}
			if m.view[n-1] != 0 && m.view[n-1] != uint32(u) {
				return "", fmt.Errorf("%s: %s but message %d had UID %d", m.name, l, n, m.view[n-1])
			}
			m.view[n-1] = uint32(u)
			continue
		}
		if mm := fetchNRE.FindStringSubmatch(l); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			if n < 1 || n > len(m.view) {
				return "", fmt.Errorf("%s: %s with %d messages", m.name, l, len(m.view))
			}
		}
	}
}

func (m *modelClient) known() []uint32 {
	var out []uint32
	for _, u := range m.view {
		if u != 0 {
			out = append(out, u)
		}
	}
	return out
}

func (m *modelClient) must(cmd string) error {
	st, err := m.do(cmd)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO [EXPUNGEISSUED]") {
		return fmt.Errorf("%s: %s: %s", m.name, cmd, st)
	}
	return nil
}

// Two sessions on one mailbox while deliveries arrive and one session
// expunges: both views stay consistent, and end equal to the store.
func TestTwoSessionsDeliveriesExpunge(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := range 20 {
		e.deliver("alice", "", msg(i, "seed"))
	}
	a, err := dialModel(e.addr, "A")
	if err != nil {
		t.Fatal(err)
	}
	defer a.c.Close()
	b, err := dialModel(e.addr, "B")
	if err != nil {
		t.Fatal(err)
	}
	defer b.c.Close()
	for _, m := range []*modelClient{a, b} {
		for _, cmd := range []string{"LOGIN alice secret", "SELECT INBOX", "FETCH 1:* UID"} {
			if err := m.must(cmd); err != nil {
				t.Fatal(err)
			}
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	const deliveries = 150
	wg.Add(3)
	go func() { // LMTP-like deliveries
		defer wg.Done()
		ctx := context.Background()
		for i := range deliveries {
			in, err := e.st.Ingest(ctx, strings.NewReader(msg(100+i, "live")), 0)
			if err == nil {
				_, err = e.st.Deliver(ctx, in, []store.Recipient{{Account: "alice"}}, time.Now())
			}
			if err != nil {
				errs <- err
				return
			}
		}
		stop.Store(true)
	}()
	go func() { // A deletes and expunges
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for !stop.Load() {
			k := a.known()
			if len(k) > 3 {
				u := k[rng.IntN(len(k))]
				if err := a.must(fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, u)); err != nil {
					errs <- err
					return
				}
			}
			for _, cmd := range []string{"EXPUNGE", "UID FETCH 1:* (UID FLAGS)", "NOOP"} {
				if err := a.must(cmd); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	go func() { // B reads
		defer wg.Done()
		for !stop.Load() {
			for _, cmd := range []string{"FETCH 1:* (UID FLAGS)", "SEARCH UNDELETED", `STORE 1 +FLAGS (\Seen)`, "FETCH 1:* (UID ENVELOPE)", "NOOP"} {
				if err := b.must(cmd); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Both settle to the store's state.
	snap, err := e.st.MailboxStatus(t.Context(), "alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.st.Messages(t.Context(), snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want []uint32
	for _, m := range msgs.Messages {
		want = append(want, m.UID)
	}
	for _, m := range []*modelClient{a, b} {
		if err := m.must("NOOP"); err != nil {
			t.Fatal(err)
		}
		if err := m.must("FETCH 1:* UID"); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.view, want) {
			t.Fatalf("%s's view %v, store %v", m.name, m.view, want)
		}
	}
	if len(want) < 20+deliveries-100 {
		t.Logf("%d messages left", len(want))
	}
}

// IDLE: a delivery, another session's expunge and flag change reach an
// idling client at once.
func TestIdle(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	type ev struct {
		kind string
		n    uint32
		at   time.Time
	}
	evs := make(chan ev, 100)
	h := &imapclient.UnilateralDataHandler{
		Expunge: func(n uint32) { evs <- ev{"expunge", n, time.Now()} },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				evs <- ev{"exists", *d.NumMessages, time.Now()}
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			evs <- ev{"fetch", m.SeqNum, time.Now()}
			for m.Next() != nil {
			}
		},
	}
	c := e.client("alice", "secret", h)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	wait := func(kind string, n uint32, since time.Time) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case x := <-evs:
				if x.kind == kind && x.n == n {
					t.Logf("%s %d reached the idling client after %v", kind, n, x.at.Sub(since))
					return
				}
			case <-timeout:
				t.Fatalf("no %s %d during IDLE", kind, n)
			}
		}
	}
	e.deliver("alice", "", msg(4, "x"))
	start := time.Now() // the delivery is committed
	wait("exists", 4, start)
	o := e.rawLogin("alice", "secret")
	o.ok("SELECT INBOX")
	start = time.Now()
	o.ok(`STORE 2 +FLAGS.SILENT (\Flagged)`)
	wait("fetch", 2, start)
	start = time.Now()
	o.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	wait("fetch", 1, start)
	o.ok("EXPUNGE")
	wait("expunge", 1, start)
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	// IDLE without a selected mailbox, and its end.
	c2 := e.client("alice", "secret", nil)
	idle2, err := c2.Idle()
	if err != nil {
		t.Fatal(err)
	}
	idle2.Close()
	if err := idle2.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

// A mailbox deleted while another session has it selected: that session is
// told every message is gone, and its commands in the mailbox fail
// cleanly until it selects another.
func TestDeletedWhileSelected(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	r := e.rawLogin("alice", "secret")
	r.ok("CREATE doomed")
	r.ok("CREATE parent/child")
	for i := 1; i <= 3; i++ {
		e.deliver("alice", "doomed", msg(i, "x"))
		e.deliver("alice", "parent", msg(i, "x"))
	}
	b := e.rawLogin("alice", "secret")
	b.ok("SELECT doomed")
	c := e.rawLogin("alice", "secret")
	c.ok("SELECT parent")
	r.ok("DELETE doomed")
	r.ok("DELETE parent") // has children: becomes \Noselect, messages go
	for _, s := range []*raw{b, c} {
		u, st := s.cmd("FETCH 1 UID")
		if !strings.HasPrefix(st, "NO [NONEXISTENT]") || has(u, "EXPUNGE") {
			t.Fatalf("FETCH in a deleted mailbox: %q %s", u, st)
		}
		u = s.ok("NOOP")
		if strings.Join(u, " ") != "* 3 EXPUNGE * 2 EXPUNGE * 1 EXPUNGE" {
			t.Fatalf("NOOP in a deleted mailbox: %q", u)
		}
		s.expect("NO [NONEXISTENT]", `STORE 1 +FLAGS (\Seen)`)
		s.expect("NO [NONEXISTENT]", "SEARCH ALL")
		s.expect("NO [NONEXISTENT]", "EXPUNGE")
		s.ok("CLOSE")
		s.ok("SELECT INBOX")
	}
	// The same session deleting its own selected mailbox.
	r.ok("CREATE mine")
	e.deliver("alice", "mine", msg(1, "x"))
	r.ok("SELECT mine")
	u := r.ok("DELETE mine")
	mustHave(t, u, "* 1 EXPUNGE")
	r.expect("NO [NONEXISTENT]", "FETCH 1:* FLAGS")
	r.ok("UNSELECT")
}

// RENAME INBOX while another session has INBOX selected: INBOX goes on
// existing, new and empty, and takes new mail, so that session is told its
// messages are gone and then ended (BYE), idling or not; it logs in again
// and finds the new INBOX. The session that renamed INBOX itself gets its
// RENAME answered, and is ended at its next command unless that selects a
// mailbox.
func TestInboxRenamedWhileSelected(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 2; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	idler := e.rawLogin("alice", "secret")
	idler.ok("SELECT INBOX")
	busy := e.rawLogin("alice", "secret")
	busy.ok("EXAMINE INBOX")
	own := e.rawLogin("alice", "secret")
	own.ok("SELECT INBOX")
	idler.send("IDLE")
	if l := idler.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	renamed := own.ok("RENAME INBOX Old")
	e.deliver("alice", "", msg(3, "new"))
	var got []string
	for {
		l := idler.line()
		got = append(got, l)
		if strings.HasPrefix(l, "* BYE") {
			break
		}
	}
	if strings.Join(got[:2], " ") != "* 2 EXPUNGE * 1 EXPUNGE" {
		t.Errorf("idling session got %q", got)
	}
	// A session between commands learns it at its next command, which gets
	// no tagged answer: the connection is closed after the BYE.
	busy.send("NOOP")
	got = nil
	for {
		l, err := busy.r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimSuffix(l, "\r\n"))
	}
	if len(got) != 3 || got[0] != "* 2 EXPUNGE" || !strings.HasPrefix(got[2], "* BYE") {
		t.Errorf("session that had INBOX examined got %q", got)
	}
	mustHave(t, renamed, "* 2 EXPUNGE", "* 1 EXPUNGE")
	mustNotHave(t, renamed, "BYE")
	mustHave(t, own.ok("SELECT INBOX"), "* 1 EXISTS")
	again := e.rawLogin("alice", "secret")
	mustHave(t, again.ok("SELECT INBOX"), "* 1 EXISTS")

	// Renaming its own selected INBOX, then another command: BYE.
	mustHave(t, again.ok("RENAME INBOX Older"), "* 1 EXPUNGE")
	again.send("NOOP")
	l := again.line()
	if !strings.HasPrefix(l, "* BYE") {
		t.Errorf("NOOP after renaming the selected INBOX: %q", l)
	}
}

// The go-imap client follows EXISTS and EXPUNGE from another session.
func TestClientSeesOthers(t *testing.T) {
	e := newEnv(t, Options{})
	e.user("alice", "secret")
	for i := 1; i <= 5; i++ {
		e.deliver("alice", "", msg(i, "x"))
	}
	var mu sync.Mutex
	n := uint32(0)
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
	c := e.client("alice", "secret", h)
	sd, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n = sd.NumMessages
	mu.Unlock()
	o := e.client("alice", "secret", nil)
	if _, err := o.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := o.Store(goimap.SeqSetNum(2, 4), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	e.deliver("alice", "", msg(6, "x"))
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3, 4), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var uids []goimap.UID
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 4 || fmt.Sprint(uids) != "[1 3 5 6]" {
		t.Fatalf("client sees %d messages, UIDs %v", n, uids)
	}
}
