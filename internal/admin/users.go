package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// UserRequest is one `mstore user` command, as sent to the daemon.
type UserRequest struct {
	Op       string // add, passwd, del, list, quota, import
	Name     string
	Password string // add, passwd: the password (or a bcrypt hash)
	Quota    string // quota: a size (K/M/G) or 0
}

// StoreOptions turns the configuration into store options.
func StoreOptions(cfg *config.Config) store.Options {
	return store.Options{DefaultQuotaBytes: cfg.QuotaDefault, HashCost: cfg.PasswordHashCost, AuthCacheTTL: cfg.AuthCacheTTL}
}

// User runs a user command directly on a stopped store.
func User(ctx context.Context, cfg *config.Config, req UserRequest, in io.Reader, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		st, err := store.Open(ctx, env, nil, StoreOptions(cfg))
		if err != nil {
			return err
		}
		return UserStore(ctx, st, req, in, tio)
	})
}

// UserStore runs a user command on an open store (directly, or in the daemon).
func UserStore(ctx context.Context, st *store.Store, req UserRequest, in io.Reader, tio IO) error {
	hash := func() (string, error) {
		if h, ok := store.IsHash(req.Password); ok {
			return h, nil
		}
		return st.HashPassword(req.Password)
	}
	switch req.Op {
	case "add":
		h, err := hash()
		if err != nil {
			return err
		}
		if _, err := st.CreateAccount(ctx, req.Name, h); err != nil {
			return err
		}
		fmt.Fprintf(tio.Err, "account %s created\n", req.Name)
	case "passwd":
		h, err := hash()
		if err != nil {
			return err
		}
		if err := st.SetPassword(ctx, req.Name, h); err != nil {
			return err
		}
		fmt.Fprintf(tio.Err, "password of %s changed\n", req.Name)
	case "del":
		if err := st.DeleteAccount(ctx, req.Name); err != nil {
			return err
		}
		fmt.Fprintf(tio.Err, "account %s deleted with its mail\n", req.Name)
	case "quota":
		n, err := parseQuota(req.Quota)
		if err != nil {
			return err
		}
		return st.SetQuota(ctx, req.Name, n, 0)
	case "list":
		accts, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(tio.Out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tMESSAGES\tUSED\tQUOTA")
		for _, a := range accts {
			q := "-"
			if a.QuotaBytes > 0 {
				q = humanBytes(a.QuotaBytes)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", a.Name, a.State, a.UsedMessages, humanBytes(a.UsedBytes), q)
		}
		return tw.Flush()
	case "import":
		return importUsers(ctx, st, in, tio)
	default:
		return fmt.Errorf("unknown user command %q", req.Op)
	}
	return nil
}

func parseQuota(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	switch {
	case strings.HasSuffix(strings.ToUpper(s), "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(strings.ToUpper(s), "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(strings.ToUpper(s), "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad quota %q: want bytes with an optional K, M or G suffix, 0 for none", s)
	}
	return n * mult, nil
}

type importLine struct {
	line     int
	name     string
	password string
	hash     string
	err      error
}

// importBatch is how many accounts one transaction creates.
const importBatch = 500

// importUsers reads name:password lines and creates each account whole or
// not at all; a bad line is reported with its number and the rest go on.
func importUsers(ctx context.Context, st *store.Store, in io.Reader, tio IO) error {
	if in == nil {
		return errors.New("no input")
	}
	var lines []*importLine
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		l := &importLine{line: n}
		name, pw, ok := strings.Cut(text, ":")
		switch {
		case !ok:
			l.err = errors.New(`want "name:password"`)
		case pw == "":
			l.err = errors.New("empty password")
		default:
			l.name, l.password = strings.TrimSpace(name), pw
			if err := store.ValidAccountName(l.name); err != nil {
				l.err = err
			}
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read line %d: %w", n+1, err)
	}
	// Hash on every core.
	var wg sync.WaitGroup
	work := make(chan *importLine)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				if h, ok := store.IsHash(l.password); ok {
					l.hash = h
				} else if l.hash, l.err = st.HashPassword(l.password); l.err != nil {
					l.err = fmt.Errorf("hash password: %w", l.err)
				}
			}
		}()
	}
	for _, l := range lines {
		if l.err == nil {
			work <- l
		}
	}
	close(work)
	wg.Wait()

	bar := newProgressBar(tio.Err, tio.Terminal)
	bar.label = "import"
	bar.detail = func(p msdb.Progress, _ time.Duration) string {
		return fmt.Sprintf("%d of %d lines", p.Bytes, p.TotalBytes)
	}
	var created, failed int
	for i := 0; i < len(lines); i += importBatch {
		batch := lines[i:min(i+importBatch, len(lines))]
		var ok []*importLine
		for _, l := range batch {
			if l.err == nil {
				ok = append(ok, l)
			}
		}
		errs, err := st.CreateAccounts(ctx, names(ok), hashes(ok))
		if err != nil {
			bar.done()
			return fmt.Errorf("import stopped at line %d after %d accounts: %w", batch[0].line, created, err)
		}
		for j, e := range errs {
			ok[j].err = e
		}
		for _, l := range batch {
			if l.err != nil {
				failed++
				bar.interrupt(fmt.Sprintf("import: line %d: %v\n", l.line, l.err))
			} else {
				created++
			}
		}
		bar.update(msdb.Progress{Records: int64(i + len(batch)), Bytes: int64(i + len(batch)), TotalBytes: int64(len(lines))})
	}
	bar.done()
	fmt.Fprintf(tio.Err, "import: %d accounts created, %d lines refused, of %d\n", created, failed, len(lines))
	if failed > 0 {
		return fmt.Errorf("%d lines refused (see above)", failed)
	}
	return nil
}

func names(ls []*importLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.name
	}
	return out
}

func hashes(ls []*importLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.hash
	}
	return out
}
