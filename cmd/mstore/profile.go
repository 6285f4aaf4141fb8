package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/m-store/mstore/internal/admin"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/server"
)

// profileCommand is `mstore profile`: a runtime/pprof profile of the
// running daemon, over its control socket, for `go tool pprof`.
func profileCommand(tio admin.IO) *cobra.Command {
	var req server.ProfileRequest
	var out string
	c := tool("profile [-f config] [--kind cpu|heap|allocs|goroutine|block|mutex] [--seconds N] -o FILE",
		"Write a pprof profile of the running daemon (read it with go tool pprof)", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if out == "" {
				return usageError{errors.New("-o FILE is required")}
			}
			var b64, errb bytes.Buffer
			ok, err := live(cmd, cfg, "profile", req, nil, admin.IO{Out: &b64, Err: &errb})
			tio.Err.Write(errb.Bytes())
			if !ok {
				return errors.New("M-Store is not running")
			}
			if err != nil {
				return err
			}
			data, err := base64.StdEncoding.DecodeString(b64.String())
			if err != nil {
				return fmt.Errorf("profile from the daemon: %w", err)
			}
			if err := os.WriteFile(out, data, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(tio.Err, "profile: %s profile (%d bytes) written to %s\n", req.Kind, len(data), out)
			return nil
		})
	c.Flags().StringVar(&req.Kind, "kind", "cpu", "cpu, heap, allocs, goroutine, block or mutex")
	c.Flags().IntVar(&req.Seconds, "seconds", 30, "how long cpu, block and mutex profiles sample")
	c.Flags().StringVarP(&out, "output", "o", "", "the file to write")
	c.Args = wrapArgs(c.Args)
	return c
}
