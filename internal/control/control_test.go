package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func serve(t *testing.T, allowed func(uint32) bool, h Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	s := &Server{Path: path, Allowed: allowed, Handle: h}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

func TestCallRoundTrip(t *testing.T) {
	path := serve(t, func(uint32) bool { return true }, func(_ context.Context, req Request, out, errw io.Writer) error {
		if req.Tool == "fail" {
			fmt.Fprintln(errw, "about to fail")
			return errors.New("it failed")
		}
		fmt.Fprintf(out, "%s %s %s\n", req.Tool, req.Options, req.Stdin)
		fmt.Fprintln(errw, "note")
		return nil
	})
	var out, errb bytes.Buffer
	err := Call(context.Background(), path, Request{Tool: "echo", Options: []byte(`{"a":1}`), Stdin: []byte("in")}, &out, &errb)
	if err != nil || out.String() != "echo {\"a\":1} in\n" || errb.String() != "note\n" {
		t.Fatalf("Call = %v, out %q, err %q", err, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	err = Call(context.Background(), path, Request{Tool: "fail"}, &out, &errb)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "it failed" || errb.String() != "about to fail\n" {
		t.Fatalf("failing request: %v, stderr %q", err, errb.String())
	}
}

func TestPeerRefused(t *testing.T) {
	called := false
	path := serve(t, func(uint32) bool { return false }, func(context.Context, Request, io.Writer, io.Writer) error {
		called = true
		return nil
	})
	err := Call(context.Background(), path, Request{Tool: "x"}, io.Discard, io.Discard)
	var re *RemoteError
	if !errors.As(err, &re) || called {
		t.Fatalf("refused peer: %v, handler called %v", err, called)
	}
}
