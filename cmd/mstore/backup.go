package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/m-store/mstore/internal/admin"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/server"
)

// hotcopyCommand is msdb_hotcopy, the tool msdb_backup calls to copy the
// tables (-t) and then the log files msdb_archive --backup lists (-l), and
// msdb_restore calls to verify a backup (-V).
func hotcopyCommand(tio admin.IO) *cobra.Command {
	var o admin.HotcopyOptions
	var verify bool
	c := tool("msdb_hotcopy [-f config] [-v] -t DIR | -l DIR LOGFILE... | -V DIR",
		"Copy the tables or log files into a backup directory, or verify a backup", cobra.MinimumNArgs(1),
		func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			modes := 0
			for _, b := range []bool{o.Tables, o.Logs, verify} {
				if b {
					modes++
				}
			}
			if modes != 1 {
				return usageError{errors.New("give one of -t, -l and -V")}
			}
			if !o.Logs && len(args) != 1 {
				return usageError{fmt.Errorf("unexpected argument %q", args[1])}
			}
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if verify {
				return admin.VerifyBackup(cmd.Context(), dir, true, tio)
			}
			o.Dir, o.Names = dir, args[1:]
			if _, running := server.Running(cfg); running {
				if err := server.GiveToRuntimeUser(cfg, dir); err != nil {
					return err
				}
			}
			if ok, err := live(cmd, cfg, "msdb_hotcopy", o, nil, tio); ok {
				return err
			}
			return admin.Hotcopy(cmd.Context(), cfg, o, tio)
		})
	c.Flags().BoolVarP(&o.Tables, "tables", "t", false, "copy every table file, consistently, into DIR and start its manifest")
	c.Flags().BoolVarP(&o.Logs, "logs", "l", false, "copy the log files named (msdb_archive --backup DIR lists them) into DIR and complete its manifest; on a complete backup, an incremental backup")
	c.Flags().BoolVarP(&verify, "verify", "V", false, "check the backup in DIR against its manifest, naming every missing or damaged file")
	c.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "describe each file")
	return c
}

// restoredCommand is `mstore restored`, msdb_restore's last step.
func restoredCommand(tio admin.IO) *cobra.Command {
	var o admin.RestoredOptions
	c := tool("restored [-f config] [-v] [--previous-log DIR]",
		"After a restore: renew UIDVALIDITY if the restored database is behind the one it replaced, and check the message files", noArgs,
		func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			if err := refuseLive(cfg, "mstore restored"); err != nil {
				return err
			}
			return admin.Restored(cmd.Context(), cfg, o, tio)
		})
	c.Flags().StringVar(&o.PreviousLog, "previous-log", "", "the transaction_log directory the restore replaced (renamed …asof<date>)")
	c.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "say what was checked")
	c.Args = wrapArgs(c.Args)
	return c
}
