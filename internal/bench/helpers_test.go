package bench

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// pipeConn is a conn whose peer only collects what is written; sent gets
// it all once the conn is closed.
func pipeConn(t *testing.T) (*conn, <-chan string) {
	t.Helper()
	a, b := net.Pipe()
	sent := make(chan string, 1)
	go func() {
		data, _ := io.ReadAll(b)
		sent <- string(data)
	}()
	c := &conn{nc: a, r: bufio.NewReader(a), w: bufio.NewWriter(a), ctx: context.Background(), timeout: 5 * time.Second, unwatch: func() bool { return true }}
	return c, sent
}

func newLineReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func newWorkerRand() *rand.Rand { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }
