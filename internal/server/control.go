package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/m-store/mstore/internal/admin"
	"github.com/m-store/mstore/internal/control"
)

// DumpRequest is msdb_dump's options over the control socket.
type DumpRequest struct {
	List  bool
	Table string
}

// handleControl runs a tool's request on the daemon's open database.
func (d *Daemon) handleControl(ctx context.Context, req control.Request, stdout, stderr io.Writer) error {
	tio := admin.IO{Out: stdout, Err: stderr}
	decode := func(v any) error {
		if len(req.Options) == 0 {
			return nil
		}
		if err := json.Unmarshal(req.Options, v); err != nil {
			return fmt.Errorf("bad options for %s: %w", req.Tool, err)
		}
		return nil
	}
	switch req.Tool {
	case "ping":
		fmt.Fprintln(stdout, "ok")
		return nil
	case "msdb_test":
		var o admin.TestOptions
		if err := decode(&o); err != nil {
			return err
		}
		if o.Recover {
			return fmt.Errorf("msdb_test -r needs the database alone: stop M-Store first")
		}
		return admin.TestEnv(ctx, d.env, o, tio)
	case "msdb_checkpoint":
		var verbose bool
		if err := decode(&verbose); err != nil {
			return err
		}
		return admin.CheckpointEnv(ctx, d.env, verbose, tio)
	case "msdb_archive":
		var o admin.ArchiveOptions
		if err := decode(&o); err != nil {
			return err
		}
		return admin.ArchiveEnv(ctx, d.env, o, tio)
	case "profile":
		var o ProfileRequest
		if err := decode(&o); err != nil {
			return err
		}
		return writeProfile(ctx, o, stdout)
	case "msdb_hotcopy":
		var o admin.HotcopyOptions
		if err := decode(&o); err != nil {
			return err
		}
		return admin.HotcopyEnv(ctx, d.env, o, tio)
	case "msdb_dump":
		var o DumpRequest
		if err := decode(&o); err != nil {
			return err
		}
		if o.List {
			admin.ListTablesEnv(d.env, tio)
			return nil
		}
		return admin.DumpEnv(ctx, d.env, o.Table, tio)
	case "user":
		var o admin.UserRequest
		if err := decode(&o); err != nil {
			return err
		}
		return admin.UserStore(ctx, d.store, o, bytes.NewReader(req.Stdin), tio)
	}
	return fmt.Errorf("%s cannot run through the daemon", req.Tool)
}
