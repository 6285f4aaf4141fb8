// Command mstore is M-Store's multi-call binary: run as mstore it takes a
// subcommand; linked or copied under a tool's name (msdb_test,
// msdb_recover, …) it is that tool.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/m-store/mstore/internal/admin"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/control"
	"github.com/m-store/mstore/internal/msdb/wal"
	"github.com/m-store/mstore/internal/server"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run executes the program named by args[0] and returns its exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second interrupt kills at once
	}()

	tio := admin.IO{Out: stdout, Err: stderr, Terminal: isTerminal(stderr)}
	tools := toolCommands(tio, stdin)
	var cmd *cobra.Command
	if tool, ok := tools[name]; ok {
		cmd = tool
	} else {
		cmd = rootCommand(tools, tio, stdin)
		name = "mstore"
	}
	cmd.SetArgs(args[1:])
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	executed, err := cmd.ExecuteContextC(ctx)
	if err != nil {
		if executed != nil && executed != cmd && executed.Name() != "" {
			name = executed.Name()
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "usage: %s\n", executed.UseLine())
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func rootCommand(tools map[string]*cobra.Command, tio admin.IO, stdin io.Reader) *cobra.Command {
	root := &cobra.Command{
		Use:           "mstore",
		Short:         "M-Store, a mail message store",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, name := range toolNames {
		root.AddCommand(tools[name])
	}
	root.AddCommand(serveCommand(), userCommand(tio, stdin), pathsCommand(), pingCommand(tio), restoredCommand(tio), benchCommand(), profileCommand(tio))
	return root
}

// toolNames are the tools `make build` links to bin/mstore.
var toolNames = []string{"msdb_test", "msdb_recover", "msdb_checkpoint", "msdb_archive", "msdb_hotcopy", "msdb_printlog", "msdb_dump", "msdb_load"}

// tool wraps a tool's RunE: it finds the configuration, checks who runs
// the tool, and hands over.
func tool(use, short string, args cobra.PositionalArgs, body func(cmd *cobra.Command, cfg *config.Config, args []string) error) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:           use,
		Short:         short,
		Args:          args,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Find(cfgPath)
			if err != nil {
				return err
			}
			if err := cfg.CheckInvoker(cmd.Name()); err != nil {
				return err
			}
			return body(cmd, cfg, args)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "f", "", "configuration file (default $MS_CONF, else "+config.DefaultPath+")")
	c.Flags().SortFlags = false
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return c
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}

// live runs a tool through the running daemon, when it runs. handled is
// false when it does not run, and the tool works directly.
func live(cmd *cobra.Command, cfg *config.Config, tool string, opts any, stdin []byte, tio admin.IO) (handled bool, err error) {
	pid, ok := server.Running(cfg)
	if !ok {
		return false, nil
	}
	b, err := json.Marshal(opts)
	if err != nil {
		return true, err
	}
	err = control.Call(cmd.Context(), server.ControlSocket(cfg), control.Request{Tool: tool, Options: b, Stdin: stdin}, tio.Out, tio.Err)
	if err != nil && !isRemote(err) {
		err = fmt.Errorf("M-Store is running (pid %d) but does not answer: %w", pid, err)
	}
	return true, err
}

func isRemote(err error) bool {
	var re *control.RemoteError
	return errors.As(err, &re)
}

// refuseLive fails when the daemon runs: the tool needs the database alone.
func refuseLive(cfg *config.Config, what string) error {
	if pid, ok := server.Running(cfg); ok {
		return fmt.Errorf("M-Store is running (pid %d): %s needs the database alone; stop it first (rc.m-store stop)", pid, what)
	}
	return nil
}

func toolCommands(tio admin.IO, stdin io.Reader) map[string]*cobra.Command {
	m := map[string]*cobra.Command{}

	var test admin.TestOptions
	c := tool("msdb_test [-lrv] [-f config]", "Open and close the database, creating or recovering files as needed", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if test.Recover {
				if err := refuseLive(cfg, "msdb_test -r"); err != nil {
					return err
				}
			} else if ok, err := live(cmd, cfg, "msdb_test", test, nil, tio); ok {
				return err
			}
			return admin.Test(cmd.Context(), cfg, test, tio)
		})
	c.Flags().BoolVarP(&test.Locks, "locks", "l", false, "check for deadlocks after opening the database")
	c.Flags().BoolVarP(&test.Recover, "recover", "r", false, "recover the database first (as msdb_recover -v)")
	c.Flags().BoolVarP(&test.Verbose, "verbose", "v", false, "display the state of the database and verify it")
	m["msdb_test"] = c

	var rec admin.RecoverOptions
	var until string
	c = tool("msdb_recover [-cv] [-t [[CC]YY]MMDDhhmm[.SS]] [-f config]", "Bring the database to a consistent state after a failure", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if err := refuseLive(cfg, "msdb_recover"); err != nil {
				return err
			}
			if until != "" {
				t, err := admin.ParseRecoveryTime(until, time.Now())
				if err != nil {
					return usageError{fmt.Errorf("-t: %w", err)}
				}
				rec.Until = t
			}
			return admin.Recover(cmd.Context(), cfg, rec, tio)
		})
	c.Flags().BoolVarP(&rec.Catastrophic, "catastrophic", "c", false, "catastrophic recovery: tables restored from a backup, replayed through every log since")
	c.Flags().BoolVarP(&rec.Verbose, "verbose", "v", false, "show what recovery does, with progress")
	c.Flags().StringVarP(&until, "time", "t", "", "with -c: recover to this time (local), [[CC]YY]MMDDhhmm[.SS]")
	m["msdb_recover"] = c

	var ckptVerbose bool
	c = tool("msdb_checkpoint [-v] [-f config]", "Write a checkpoint: make every table durable up to the end of the log", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if ok, err := live(cmd, cfg, "msdb_checkpoint", ckptVerbose, nil, tio); ok {
				return err
			}
			return admin.Checkpoint(cmd.Context(), cfg, ckptVerbose, tio)
		})
	c.Flags().BoolVarP(&ckptVerbose, "verbose", "v", false, "say where the checkpoint was written")
	m["msdb_checkpoint"] = c

	var arch admin.ArchiveOptions
	c = tool("msdb_archive [-adlsv] [-f config]", "List log files that may be backed up and removed, or all log or table files", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if ok, err := live(cmd, cfg, "msdb_archive", arch, nil, tio); ok {
				return err
			}
			return admin.Archive(cmd.Context(), cfg, arch, tio)
		})
	c.Flags().BoolVarP(&arch.Absolute, "absolute", "a", false, "write absolute path names")
	c.Flags().BoolVarP(&arch.Delete, "delete", "d", false, "remove the log files that are no longer needed")
	c.Flags().BoolVarP(&arch.AllLogs, "logs", "l", false, "list all log files")
	c.Flags().BoolVarP(&arch.Tables, "tables", "s", false, "list the table files")
	c.Flags().BoolVarP(&arch.Verbose, "verbose", "v", false, "say what is done")
	c.Flags().StringVar(&arch.Backup, "backup", "", "list the log files the backup in `DIR` needs (its tables' log, or for an incremental backup the log since it)")
	c.PreRunE = func(*cobra.Command, []string) error {
		if arch.Backup != "" {
			abs, err := filepath.Abs(arch.Backup)
			arch.Backup = abs
			return err
		}
		return nil
	}
	m["msdb_archive"] = c

	m["msdb_hotcopy"] = hotcopyCommand(tio)

	var begin, end string
	c = tool("msdb_printlog [-f config] [-b LSN] [-e LSN]", "Print the transaction log, one line per record", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			var o admin.PrintLogOptions
			var err error
			if begin != "" {
				if o.Begin, err = wal.ParseLSN(begin); err != nil {
					return usageError{fmt.Errorf("-b: %w", err)}
				}
			}
			if end != "" {
				if o.End, err = wal.ParseLSN(end); err != nil {
					return usageError{fmt.Errorf("-e: %w", err)}
				}
			}
			return admin.PrintLog(cfg, o, tio)
		})
	c.Flags().StringVarP(&begin, "begin", "b", "", "first LSN to print (FILE/OFFSET)")
	c.Flags().StringVarP(&end, "end", "e", "", "last LSN to print (FILE/OFFSET)")
	m["msdb_printlog"] = c

	var list bool
	c = tool("msdb_dump [-f config] [-l] [table]", "Print a table in Berkeley DB's db_dump -p format, or list the tables", cobra.MaximumNArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			if list && len(args) > 0 {
				return usageError{errors.New("-l takes no table")}
			}
			if !list && len(args) != 1 {
				return usageError{errors.New("name a table, or -l to list them")}
			}
			req := server.DumpRequest{List: list}
			if !list {
				req.Table = args[0]
			}
			if ok, err := live(cmd, cfg, "msdb_dump", req, nil, tio); ok {
				return err
			}
			if list {
				return admin.ListTables(cmd.Context(), cfg, tio)
			}
			return admin.Dump(cmd.Context(), cfg, args[0], tio)
		})
	c.Flags().BoolVarP(&list, "list", "l", false, "list the tables")
	m["msdb_dump"] = c

	var every int
	c = tool("msdb_load [-f config] [-n N] table", "Load db_dump -p format from standard input into a table", cobra.ExactArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			if every < 1 {
				return usageError{fmt.Errorf("-n %d: must be at least 1", every)}
			}
			if err := refuseLive(cfg, "msdb_load"); err != nil {
				return err
			}
			return admin.Load(cmd.Context(), cfg, args[0], every, stdin, tio)
		})
	c.Flags().IntVarP(&every, "n", "n", 1000, "commit every N records as one transaction")
	m["msdb_load"] = c

	for _, c := range m {
		c.Args = wrapArgs(c.Args)
	}
	return m
}

// wrapArgs marks argument errors as usage errors.
func wrapArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return err
			}
			return usageError{err}
		}
		return nil
	}
}
