package daemon

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// crashSent is one message a crash-test client tried to deliver.
type crashSent struct {
	id     string
	client int
	seq    int
	rcpts  []string // addresses; the account is the local part
	body   []byte
	start  time.Time       // before MAIL
	end    time.Time       // after the last reply
	acked  map[string]bool // rcpt → acknowledged with 250
	failed bool            // the transaction did not finish (the daemon died)
}

func accountOf(rcpt string) string { local, _, _ := strings.Cut(rcpt, "@"); return local }

// crashMessage is a message unique to id, of about size bytes.
func crashMessage(id string, size int) []byte {
	var b bytes.Buffer
	b.Write(message([]string{
		"From: crash@example.net",
		"Subject: crash " + id,
		"Message-ID: <" + id + "@crash.test>",
	}))
	for n := 0; b.Len() < size; n++ {
		if n%5 == 0 {
			b.WriteString("..")
		}
		fmt.Fprintf(&b, "%s body line %d\r\n", id, n)
	}
	return b.Bytes()
}

// messageID extracts the id of a crash-test message.
func messageID(b []byte) string {
	const h = "\r\nMessage-ID: <"
	i := bytes.Index(b, []byte(h))
	if i < 0 {
		return ""
	}
	rest := b[i+len(h):]
	j := bytes.Index(rest, []byte("@crash.test>"))
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// TestCrashDeliveries: 8 concurrent LMTP clients deliver to 3 accounts;
// the daemon is SIGKILLed at a random moment; rc.m-store start recovers;
// five rounds. Every message acknowledged with 250 is present exactly once
// with its exact bytes; a message is in all of its recipients' mailboxes
// or in none; no UID is ever reused; UIDs follow the order of
// acknowledgements.
func TestCrashDeliveries(t *testing.T) {
	t.Parallel()
	const (
		clients = 8
		rounds  = 5
	)
	accounts := []string{"u1", "u2", "u3"}
	d := newDaemon(t, daemonOptions{})
	for _, a := range accounts {
		d.addUser(a, "pw-"+a)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	var mu sync.Mutex
	all := map[string]*crashSent{}
	var order []*crashSent
	uids := map[string]map[uint32]string{} // account → UID → message id, as seen so far
	maxUID := map[string]uint32{}          // account → highest UID seen at the end of the last round
	for _, a := range accounts {
		uids[a] = map[uint32]string{}
	}

	for round := range rounds {
		d.start()
		var killed atomic.Bool
		var wg sync.WaitGroup
		for c := range clients {
			crng := rand.New(rand.NewPCG(seed, uint64(round*100+c+10)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := dialLMTP(d.addr)
				if err != nil {
					if !killed.Load() {
						t.Errorf("round %d client %d: connect: %v", round, c, err)
					}
					return
				}
				defer l.c.Close()
				for seq := 0; ; seq++ {
					s := &crashSent{id: fmt.Sprintf("r%d-c%d-%05d", round, c, seq), client: c, seq: seq, acked: map[string]bool{}}
					perm := crng.Perm(len(accounts))
					for _, k := range perm[:1+crng.IntN(len(accounts))] {
						s.rcpts = append(s.rcpts, accounts[k]+"@example.org")
					}
					s.body = crashMessage(s.id, 300+crng.IntN(6000))
					mu.Lock()
					all[s.id] = s
					order = append(order, s)
					mu.Unlock()
					s.start = time.Now()
					res, err := l.send("crash@example.net", s.rcpts, s.body)
					mu.Lock()
					s.end = time.Now()
					for _, r := range s.rcpts {
						s.acked[r] = res.acked(r)
						if !s.acked[r] && err == nil && !killed.Load() {
							t.Errorf("%s to %s: %v (rcpt %v), want 250", s.id, r, res.data[r], res.rcpt[r])
						}
					}
					s.failed = err != nil
					mu.Unlock()
					if err != nil {
						if !killed.Load() {
							t.Errorf("%s: %v before the daemon was killed", s.id, err)
						}
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		killed.Store(true)
		d.kill()
		wg.Wait()
		// The pid file is stale now: status says it does not run.
		if r := d.rcNoFail("status"); r.code != 3 {
			t.Errorf("round %d: rc.m-store status after SIGKILL: want exit 3:\n%v", round, r)
		}

		// rc.m-store start recovers (msdb_test -r); then stop cleanly and look.
		r := d.rcNoFail("start")
		if r.code != 0 {
			t.Fatalf("round %d: rc.m-store start after SIGKILL:\n%v\n--- log:\n%s", round, r, d.logTail())
		}
		watchPID(d.pidFromFile())
		if !strings.Contains(r.stderr, "recover") {
			t.Errorf("round %d: rc.m-store start does not say it recovers:\n%v", round, r)
		}
		d.ok(nil, "msdb_test", "-v")
		d.stop()

		var nAcked, nFailed, nPresentUnacked int
		d.withStore(func(ctx context.Context, st *store.Store) {
			present := map[string]map[string][]uint32{} // message id → account → UIDs
			seen := map[string]map[uint32]bool{}
			for _, a := range accounts {
				seen[a] = map[uint32]bool{}
				m, msgs := readMailbox(t, ctx, st, a, "INBOX")
				var last uint32
				for _, msg := range msgs {
					seen[a][msg.UID] = true
					if msg.UID <= last {
						t.Errorf("round %d: %s: UID %d after %d", round, a, msg.UID, last)
					}
					last = msg.UID
					id := messageID(msg.Bytes)
					s := all[id]
					if s == nil {
						t.Errorf("round %d: %s UID %d: a message that was never sent (id %q)", round, a, msg.UID, id)
						continue
					}
					if !bytes.Equal(msg.Bytes, s.body) {
						t.Errorf("round %d: %s UID %d (%s): stored bytes differ from those sent:\n got %q\nwant %q", round, a, msg.UID, id, clip(string(msg.Bytes)), clip(string(s.body)))
					}
					if present[id] == nil {
						present[id] = map[string][]uint32{}
					}
					present[id][a] = append(present[id][a], msg.UID)
					if prev, ok := uids[a][msg.UID]; ok && prev != id {
						t.Errorf("round %d: %s UID %d was %s, now %s: a UID reused", round, a, msg.UID, prev, id)
					} else if !ok && msg.UID <= maxUID[a] {
						t.Errorf("round %d: %s: new message %s has UID %d, not above %d, the highest UID seen before", round, a, id, msg.UID, maxUID[a])
					}
					uids[a][msg.UID] = id
				}
				if m.UIDNext <= last {
					t.Errorf("round %d: %s: UIDNEXT %d, not above the last UID %d", round, a, m.UIDNext, last)
				}
				// Nothing seen in an earlier round went away.
				for uid, id := range uids[a] {
					if !seen[a][uid] {
						t.Errorf("round %d: %s: UID %d (%s), present before, is gone", round, a, uid, id)
					}
				}
				maxUID[a] = max(maxUID[a], last)
			}

			for _, s := range order {
				var in, acked []string
				for _, r := range s.rcpts {
					a := accountOf(r)
					n := len(present[s.id][a])
					if n > 1 {
						t.Errorf("round %d: %s is in %s %d times (UIDs %v)", round, s.id, a, n, present[s.id][a])
					}
					if n > 0 {
						in = append(in, a)
					}
					if s.acked[r] {
						acked = append(acked, a)
						if n == 0 {
							t.Errorf("round %d: %s was acknowledged with 250 for %s but is not there", round, s.id, r)
						}
					}
				}
				if len(in) != 0 && len(in) != len(s.rcpts) {
					t.Errorf("round %d: %s (to %v) is in %v only: one delivery, partly stored", round, s.id, s.rcpts, in)
				}
				if len(acked) > 0 {
					nAcked++
				} else if len(in) > 0 {
					nPresentUnacked++
				}
				if s.failed {
					nFailed++
				}
			}

			// UIDs follow acknowledgements: a message whose delivery began
			// after another's was acknowledged has a higher UID in every
			// mailbox they share.
			for _, a := range accounts {
				checkAckOrder(t, round, a, order, present)
			}
		})
		t.Logf("after round %d, in all: %d messages sent, %d acknowledged, %d unfinished when killed, %d stored without an acknowledgement",
			round, len(order), nAcked, nFailed, nPresentUnacked)
		if t.Failed() {
			break
		}
	}
}

// checkAckOrder checks, for account a, that every message whose delivery
// began after another acknowledged message's last reply has a higher UID.
func checkAckOrder(t *testing.T, round int, a string, order []*crashSent, present map[string]map[string][]uint32) {
	t.Helper()
	type ev struct {
		s   *crashSent
		uid uint32
	}
	var acked, stored []ev
	for _, s := range order {
		u := present[s.id][a]
		if len(u) != 1 {
			continue
		}
		e := ev{s, u[0]}
		stored = append(stored, e)
		for _, r := range s.rcpts {
			if accountOf(r) == a && s.acked[r] {
				acked = append(acked, e)
			}
		}
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].s.end.Before(acked[j].s.end) })
	prefixMax := make([]ev, len(acked))
	for i, e := range acked {
		prefixMax[i] = e
		if i > 0 && prefixMax[i-1].uid > e.uid {
			prefixMax[i] = prefixMax[i-1]
		}
	}
	for _, b := range stored {
		// The acknowledged messages whose last reply came before b began.
		k := sort.Search(len(acked), func(i int) bool { return !acked[i].s.end.Before(b.s.start) })
		if k == 0 {
			continue
		}
		if p := prefixMax[k-1]; p.uid >= b.uid {
			t.Errorf("round %d: %s: %s (UID %d) was acknowledged before %s began, which has UID %d", round, a, p.s.id, p.uid, b.s.id, b.uid)
		}
	}
}
