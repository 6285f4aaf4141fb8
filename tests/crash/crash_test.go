// Package crash holds the crash torture test of the database environment:
// a child process commits from 16 goroutines and prints every acknowledged
// commit; the test SIGKILLs it at random moments, runs the real
// msdb_recover, and checks that every acknowledged commit is there, that no
// transaction is partly visible, and that msdb_test exits 0.
package crash

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/m-store/mstore/internal/msdb"
)

const (
	childEnv   = "MSDB_CRASH_CHILD_HOME"
	committers = 16
)

var binDir string

func TestMain(m *testing.M) {
	if home := os.Getenv(childEnv); home != "" {
		os.Exit(child(home))
	}
	dir, err := os.MkdirTemp("", "mstore-crash-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "mstore"), "github.com/m-store/mstore/cmd/mstore")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mstore:", err)
		os.Exit(1)
	}
	for _, t := range []string{"msdb_test", "msdb_recover"} {
		if err := os.Symlink("mstore", filepath.Join(dir, t)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// value is the deterministic content of commit i of goroutine g.
func value(g, i int) []byte {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d/%d", g, i)))
	return bytes.Repeat(sum[:], 10) // 320 bytes
}

func key(g, i int) []byte { return []byte(fmt.Sprintf("g%02d-%08d", g, i)) }

func counterKey(g int) []byte { return []byte(fmt.Sprintf("g%02d", g)) }

// child is the committing process: each of 16 goroutines commits
// transactions that write one record to table "a", one to table "b", and
// advance its counter in table "c" (a read-modify-write that must see the
// previous value), printing "ack G I" once Update returns.
func child(home string) int {
	ctx := context.Background()
	env, err := msdb.Open(ctx, msdb.Options{Home: home, LogFileSize: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := env.EnsureTable(ctx, n, msdb.TableOptions{FillPercent: 0.9}); err != nil {
			fmt.Fprintln(os.Stderr, "child table:", err)
			return 2
		}
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	var wg sync.WaitGroup
	for g := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var i int
				err := env.Update(ctx, func(tx *msdb.Tx) error {
					a, _ := tx.Table("a")
					b, _ := tx.Table("b")
					c, _ := tx.Table("c")
					if v := c.Get(counterKey(g)); v != nil {
						i = int(binary.BigEndian.Uint64(v)) + 1
					}
					if a.Get(key(g, i)) != nil {
						return fmt.Errorf("commit %d/%d exists before it is made", g, i)
					}
					if err := a.Put(key(g, i), value(g, i)); err != nil {
						return err
					}
					if err := b.Put(key(g, i), []byte(strconv.Itoa(i))); err != nil {
						return err
					}
					return c.Put(counterKey(g), binary.BigEndian.AppendUint64(nil, uint64(i)))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child update:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d\n", g, i)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

func runTool(t *testing.T, conf, tool string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, tool), append([]string{"-f", conf}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", tool, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func TestCrashTorture(t *testing.T) {
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	home := filepath.Join(store, "database")
	conf := filepath.Join(dir, "ms.conf")
	user := "root"
	if os.Geteuid() != 0 {
		user = os.Getenv("USER")
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("ms-path = %s\nruntime-user = %s\nlog-file-size = 64K\n", store, user)), 0o644); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	acked := make([]int, committers) // highest acknowledged commit per goroutine, -1 none
	for g := range acked {
		acked[g] = -1
	}
	var tornCuts, totalAcks int
	for round := range rounds {
		acks, code := runChild(t, home, rng)
		totalAcks += len(acks)
		for _, a := range acks {
			acked[a[0]] = max(acked[a[0]], a[1])
		}
		out, rc := runTool(t, conf, "msdb_recover", "-v")
		if rc != 0 {
			t.Fatalf("round %d: msdb_recover exit %d (child exit %d):\n%s", round, rc, code, out)
		}
		if strings.Contains(out, "torn tail") {
			tornCuts++
		}
		check(t, home, acked, round)
		if out, rc := runTool(t, conf, "msdb_test"); rc != 0 {
			t.Fatalf("round %d: msdb_test exit %d:\n%s", round, rc, out)
		}
	}
	t.Logf("%d rounds, %d acknowledged commits, %d torn tails cut", rounds, totalAcks, tornCuts)
}

// runChild starts the committing child, lets it run for a random while
// (sometimes killing it while it is still opening the environment), kills
// it with SIGKILL and returns the acknowledged commits it printed.
func runChild(t *testing.T, home string, rng *rand.Rand) ([][2]int, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks [][2]int
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		seenReady := false
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" && !seenReady {
				seenReady = true
				close(ready)
				continue
			}
			var g, i int
			if n, _ := fmt.Sscanf(line, "ack %d %d", &g, &i); n == 2 {
				acks = append(acks, [2]int{g, i})
			}
		}
	}()
	switch rng.IntN(10) {
	case 0: // during Open (recovery)
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	default:
		select {
		case <-ready:
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("child never became ready: %s", stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("child exited by itself (%v): %s", err, stderr.String())
		}
		code = -1
	}
	return acks, code
}

// check opens the recovered environment and verifies it.
func check(t *testing.T, home string, acked []int, round int) {
	t.Helper()
	env, err := msdb.Open(context.Background(), msdb.Options{Home: home, LogFileSize: 64 << 10, MustExist: true})
	if err != nil {
		t.Fatalf("round %d: open after recovery: %v", round, err)
	}
	defer func() {
		if err := env.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
	}()
	if r := env.Recovery(); r.Records != 0 || r.TornTail != nil {
		t.Fatalf("round %d: msdb_recover left work for the next open: %+v", round, r)
	}
	if !env.HasTable("a") {
		if acked[0] >= 0 {
			t.Fatalf("round %d: tables missing after acknowledged commits", round)
		}
		return
	}
	err = env.View(context.Background(), func(tx *msdb.Tx) error {
		a, _ := tx.Table("a")
		b, _ := tx.Table("b")
		c, _ := tx.Table("c")
		if a.Len() != b.Len() {
			return fmt.Errorf("table a has %d records, b %d: a transaction is partly visible", a.Len(), b.Len())
		}
		for g := range committers {
			last := -1
			if v := c.Get(counterKey(g)); v != nil {
				last = int(binary.BigEndian.Uint64(v))
			}
			if last < acked[g] {
				return fmt.Errorf("goroutine %d: commit %d was acknowledged, the database has only up to %d", g, acked[g], last)
			}
			for i := 0; i <= last; i++ {
				if v := a.Get(key(g, i)); !bytes.Equal(v, value(g, i)) {
					return fmt.Errorf("goroutine %d commit %d: table a has %d bytes, want its 320-byte value", g, i, len(v))
				}
				if v := b.Get(key(g, i)); string(v) != strconv.Itoa(i) {
					return fmt.Errorf("goroutine %d commit %d: table b has %q", g, i, v)
				}
			}
			if a.Get(key(g, last+1)) != nil {
				return fmt.Errorf("goroutine %d: commit %d is in table a but not counted in c", g, last+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
}
