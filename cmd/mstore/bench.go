package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/m-store/mstore/internal/bench"
)

// benchCommand is `mstore bench`: a load generator for any LMTP, IMAP or
// POP3 server. Its command line is a contract with the scripts that
// compare servers: keep it.
func benchCommand() *cobra.Command {
	cfg := bench.Defaults
	var asJSON bool
	c := &cobra.Command{
		Use:   "bench lmtp|imap|pop3|idle --port N [flags]",
		Short: "Load generator for an LMTP, IMAP or POP3 server (M-Store or any other)",
		Long: `Load generator for any LMTP, IMAP or POP3 server.

  lmtp  each connection delivers messages in a loop (MAIL, RCPT to a random
        user, DATA); one acknowledged delivery is a DELIVER op.
  imap  each connection loops sessions: LOGIN, SELECT INBOX, FETCH of the
        last envelopes, FETCH of bodies, STORE of flags, SEARCH, APPEND,
        STORE \Deleted of the appended message and EXPUNGE, LOGOUT.
  pop3  each connection loops sessions: USER, PASS, STAT, UIDL, LIST, RETR,
        DELE, QUIT; with --lmtp-port every deleted message is replaced by
        a delivery (REFILL).
  idle  opens --sessions IMAP sessions in IDLE, prints "ready N sessions",
        holds them for --duration or until SIGINT/SIGTERM, logs them out.

With --lmtp-port, the imap, pop3 and idle modes first fill each user's INBOX
up to --prefill messages. Every reply is checked; a wrong one is an error
of its command, not an op. The exit status is 0 when the run completed
(even with errors), 1 when it could not run at all.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("name one mode: %s", strings.Join(bench.Modes, ", "))}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Mode = args[0]
			cfg.Ready = cmd.OutOrStdout()
			res, err := bench.Run(cmd.Context(), cfg)
			if errors.Is(err, bench.ErrConfig) {
				return usageError{err}
			}
			if res != nil {
				var werr error
				if asJSON {
					werr = res.WriteJSON(cmd.OutOrStdout())
				} else {
					werr = res.WriteTable(cmd.OutOrStdout())
				}
				if err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.SortFlags = false
	f.StringVar(&cfg.Host, "host", cfg.Host, "host of the server under test")
	f.IntVar(&cfg.Port, "port", 0, "port of the protocol under test (required)")
	f.IntVar(&cfg.LMTPPort, "lmtp-port", 0, "imap, pop3, idle: LMTP port to prefill the mailboxes and, in pop3 mode, replace deleted messages (0: none)")
	f.IntVar(&cfg.Prefill, "prefill", cfg.Prefill, "with --lmtp-port: messages each user's INBOX is filled up to before the run")
	f.IntVar(&cfg.Users, "users", cfg.Users, "users 1..N")
	f.StringVar(&cfg.UserPattern, "user-pattern", cfg.UserPattern, "user name (LMTP recipient, IMAP/POP3 login) from the user number")
	f.StringVar(&cfg.Password, "password", cfg.Password, "every user's password")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "connections working at once")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the measured run lasts (after prefill); idle: how long the sessions are held")
	f.IntVar(&cfg.Size, "size", cfg.Size, "message size in bytes (LMTP, APPEND)")
	f.IntVar(&cfg.Sessions, "sessions", cfg.Sessions, "idle: sessions to hold")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return c
}
