package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/m-store/mstore/internal/admin"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/control"
	"github.com/m-store/mstore/internal/server"
)

// serveCommand is `mstore serve`: the daemon in the foreground.
func serveCommand() *cobra.Command {
	var level string
	c := tool("serve [-f config]", "Run the M-Store daemon in the foreground (rc.m-store starts it in the background)", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			lg := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lv}))
			slog.SetDefault(lg)
			setMaxProcs()
			return server.Run(cmd.Context(), cfg, lg, nil)
		})
	c.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return c
}

// minProcs is the least GOMAXPROCS the daemon runs with. A delivery spends
// most of its time in file system calls that block (fsync, fdatasync,
// creating and renaming files) and each holds one of the GOMAXPROCS Ps
// until the runtime takes it back; with as many Ps as cores (2 on a small
// machine) the sessions that are ready wait for it. LMTP at 16 connections
// on 2 cores: about 20% more deliveries per second with 4 Ps.
const minProcs = 4

// setMaxProcs raises GOMAXPROCS to minProcs, unless the environment sets it.
func setMaxProcs() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
}

// pathsCommand prints the store's paths as shell assignments, for rc.m-store.
func pathsCommand() *cobra.Command {
	return tool("paths [-f config]", "Print the store's paths as shell variable assignments", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "MS_PATH=%s\n", q(cfg.MSPath))
			fmt.Fprintf(w, "MS_RUN=%s\n", q(cfg.RunDir()))
			fmt.Fprintf(w, "MS_PIDFILE=%s\n", q(server.PIDFile(cfg)))
			fmt.Fprintf(w, "MS_LOGDIR=%s\n", q(filepath.Join(cfg.MSPath, "log")))
			fmt.Fprintf(w, "MS_DBHOME=%s\n", q(cfg.DatabaseHome()))
			fmt.Fprintf(w, "MS_DATA=%s\n", q(cfg.DataDir()))
			fmt.Fprintf(w, "MS_TXLOG=%s\n", q(cfg.LogDir()))
			fmt.Fprintf(w, "MS_BACKUP=%s\n", q(cfg.BackupDir()))
			fmt.Fprintf(w, "MS_RUNTIME_USER=%s\n", q(cfg.RuntimeUser))
			fmt.Fprintf(w, "MS_CONFIG=%s\n", q(cfg.Source))
			return nil
		})
}

// pingCommand checks that the daemon answers on its control socket.
func pingCommand(tio admin.IO) *cobra.Command {
	return tool("ping [-f config]", "Check that the running daemon answers (exit 0) or not (exit 1)", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if _, ok := server.Running(cfg); !ok {
				return errors.New("M-Store is not running")
			}
			return control.Call(cmd.Context(), server.ControlSocket(cfg), control.Request{Tool: "ping"}, io.Discard, tio.Err)
		})
}

// userCommand is `mstore user …`: account administration, through the
// daemon when it runs, directly otherwise.
func userCommand(tio admin.IO, stdin io.Reader) *cobra.Command {
	u := &cobra.Command{Use: "user", Short: "Account administration", SilenceUsage: true, SilenceErrors: true}
	run := func(cmd *cobra.Command, cfg *config.Config, req admin.UserRequest, input []byte) error {
		if ok, err := live(cmd, cfg, "user", req, input, tio); ok {
			return err
		}
		var in io.Reader
		if input != nil {
			in = strings.NewReader(string(input))
		}
		return admin.User(cmd.Context(), cfg, req, in, tio)
	}
	readPassword := func(flag string) (string, error) {
		if flag != "" {
			return flag, nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("no password: give --password or one line on standard input")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	var password string
	add := tool("add NAME [--password P]", "Create an account (password on standard input unless --password)", cobra.ExactArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			pw, err := readPassword(password)
			if err != nil {
				return err
			}
			return run(cmd, cfg, admin.UserRequest{Op: "add", Name: args[0], Password: pw}, nil)
		})
	add.Flags().StringVar(&password, "password", "", "the password, or a bcrypt hash")
	var password2 string
	passwd := tool("passwd NAME [--password P]", "Change an account's password", cobra.ExactArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			pw, err := readPassword(password2)
			if err != nil {
				return err
			}
			return run(cmd, cfg, admin.UserRequest{Op: "passwd", Name: args[0], Password: pw}, nil)
		})
	passwd.Flags().StringVar(&password2, "password", "", "the password, or a bcrypt hash")
	del := tool("del NAME", "Delete an account and all its mail", cobra.ExactArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			return run(cmd, cfg, admin.UserRequest{Op: "del", Name: args[0]}, nil)
		})
	list := tool("list", "List the accounts", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			return run(cmd, cfg, admin.UserRequest{Op: "list"}, nil)
		})
	quota := tool("quota NAME BYTES", "Set an account's quota (K/M/G suffixes; 0 for none)", cobra.ExactArgs(2),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			return run(cmd, cfg, admin.UserRequest{Op: "quota", Name: args[0], Quota: args[1]}, nil)
		})
	imp := tool("import FILE", "Create accounts from name:password lines (FILE, or - for standard input)", cobra.ExactArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			return run(cmd, cfg, admin.UserRequest{Op: "import"}, data)
		})
	for _, c := range []*cobra.Command{add, passwd, del, list, quota, imp} {
		c.Args = wrapArgs(c.Args)
		u.AddCommand(c)
	}
	return u
}
