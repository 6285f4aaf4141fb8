package daemon

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/store"
)

// bigMessage is a message of about size bytes, unique to id, with CRLF
// line ends and some lines that start with a dot.
func bigMessage(id string, size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 200)
	b.Write(message([]string{
		"From: sender@example.net",
		"To: alice@example.org",
		"Subject: big " + id,
		"Message-ID: <" + id + "@test.example>",
	}))
	r := rand.New(rand.NewPCG(uint64(len(id)), uint64(size)))
	for n := 0; b.Len() < size; n++ {
		if n%37 == 0 {
			b.WriteString(".")
		}
		fmt.Fprintf(&b, "%s line %07d %016x %016x %016x\r\n", id, n, r.Uint64(), r.Uint64(), r.Uint64())
	}
	return b.Bytes()
}

// TestDeliveryRacingStop: a 5 MB delivery races rc.m-store stop; after the
// next start, the message is there if and only if it was acknowledged
// with 250.
func TestDeliveryRacingStop(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	d.addUser("alice", "pw")
	d.start()

	const rounds = 10
	const size = 5 << 20
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var acked [][]byte
	outcomes := map[string]int{}
	for i := range rounds {
		msg := bigMessage(fmt.Sprintf("race-%02d", i), size)
		// rc.m-store takes a moment to read the configuration and signal
		// the daemon; a client starting 0 to 250 ms after it catches the
		// daemon before, during and after the shutdown of its listener.
		clientDelay := time.Duration(i*25+rng.IntN(25)) * time.Millisecond
		stopDelay := time.Duration(rng.IntN(20)) * time.Millisecond

		var wg sync.WaitGroup
		var res sendResult
		var err error
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(clientDelay)
			res, err = lmtpSend(d.addr, "sender@example.net", []string{"alice@example.org"}, msg)
		}()
		time.Sleep(stopDelay)
		t0 := time.Now()
		d.stop()
		tStop := time.Since(t0)
		wg.Wait()

		ok := res.acked("alice@example.org")
		switch {
		case ok:
			outcomes["acknowledged"]++
			acked = append(acked, msg)
		case err != nil:
			outcomes["connection failed: "+shortErr(err)]++
		default:
			outcomes[fmt.Sprintf("refused: %v", res.data["alice@example.org"])]++
			if rep, had := res.data["alice@example.org"]; had && rep.Code/100 == 5 {
				t.Errorf("round %d: a delivery racing stop was refused permanently: %v (want 250 or a 4xx)", i, rep)
			}
		}
		t0 = time.Now()
		d.start()
		t.Logf("round %d: stop took %v, start %v", i, tStop, time.Since(t0))
		got := listed(t, d.ok(nil, "mstore", "user", "list"))
		if got["alice"] != strconv.Itoa(len(acked)) {
			t.Errorf("round %d (stop after %v, client after %v; acknowledged: %v, err %v): alice has %s messages after the restart, want %d (the acknowledged ones)",
				i, stopDelay, clientDelay, ok, err, got["alice"], len(acked))
		}
	}
	t.Logf("outcomes of %d deliveries racing stop: %v", rounds, outcomes)
	d.stop()
	d.withStore(func(ctx context.Context, st *store.Store) {
		sameMessages(t, "alice/INBOX", mailboxBytes(t, ctx, st, "alice", "INBOX"), acked)
	})
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
