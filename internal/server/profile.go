package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"time"
)

// ProfileRequest asks the daemon for a runtime/pprof profile over the
// control socket (`mstore profile`).
type ProfileRequest struct {
	Kind    string // cpu, heap, allocs, goroutine, block, mutex
	Seconds int    // cpu, block, mutex: how long to sample
}

// maxProfileSeconds bounds a sampling profile.
const maxProfileSeconds = 600

// writeProfile takes the profile asked for and writes it to w in base64
// (the control socket's frames carry text).
func writeProfile(ctx context.Context, req ProfileRequest, w io.Writer) error {
	if req.Seconds <= 0 || req.Seconds > maxProfileSeconds {
		return fmt.Errorf("--seconds %d: want 1 to %d", req.Seconds, maxProfileSeconds)
	}
	wait := func() error {
		t := time.NewTimer(time.Duration(req.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var buf bytes.Buffer
	switch req.Kind {
	case "cpu":
		if err := pprof.StartCPUProfile(&buf); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		err := wait()
		pprof.StopCPUProfile()
		if err != nil {
			return err
		}
	case "block", "mutex":
		// Sampled only while asked: both cost on every contended lock.
		if req.Kind == "block" {
			runtime.SetBlockProfileRate(10000) // one sample per 10 µs blocked
			defer runtime.SetBlockProfileRate(0)
		} else {
			runtime.SetMutexProfileFraction(10)
			defer runtime.SetMutexProfileFraction(0)
		}
		if err := wait(); err != nil {
			return err
		}
		if err := pprof.Lookup(req.Kind).WriteTo(&buf, 0); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	case "heap", "allocs", "goroutine":
		if err := pprof.Lookup(req.Kind).WriteTo(&buf, 0); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	default:
		return fmt.Errorf("unknown kind %q: want cpu, heap, allocs, goroutine, block or mutex", req.Kind)
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := enc.Write(buf.Bytes()); err != nil {
		return err
	}
	return enc.Close()
}
