// Package server is the M-Store daemon: it binds the listeners, drops
// root's privileges to the runtime user, opens (and so recovers) the
// database, serves LMTP and the control socket, checkpoints and sweeps on
// a timer, and shuts down cleanly on SIGTERM or SIGINT.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/m-store/mstore/internal/admin"
	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/control"
	"github.com/m-store/mstore/internal/lmtp"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// File names under <ms-path>/run.
const (
	PIDFileName     = "mstore.pid"
	ControlSockName = "control.sock"
)

// PIDFile is the daemon's pid file for cfg.
func PIDFile(cfg *config.Config) string { return filepath.Join(cfg.RunDir(), PIDFileName) }

// ControlSocket is the daemon's control socket for cfg.
func ControlSocket(cfg *config.Config) string { return filepath.Join(cfg.RunDir(), ControlSockName) }

// Running reports whether the daemon for cfg runs, and its pid: the pid
// file names a live process.
func Running(cfg *config.Config) (int, bool) {
	b, err := os.ReadFile(PIDFile(cfg))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	return pid, true
}

// ShutdownGrace bounds how long sessions may take to finish at shutdown.
const ShutdownGrace = 10 * time.Second

// SweepInterval is how often unreferenced message files are swept.
const SweepInterval = time.Hour

// Daemon is a running store.
type Daemon struct {
	cfg   *config.Config
	log   *slog.Logger
	env   *msdb.Env
	blobs *blob.Store
	store *store.Store
	lmtp  *lmtp.Server
	ctl   *control.Server
	uid   int // the runtime user's uid (the process's after dropping)
}

// Run runs the daemon until ctx is cancelled, then shuts it down.
// ready, when not nil, is called once it accepts connections.
func Run(ctx context.Context, cfg *config.Config, lg *slog.Logger, ready func()) error {
	d := &Daemon{cfg: cfg, log: lg}
	if pid, ok := Running(cfg); ok && pid != os.Getpid() {
		return fmt.Errorf("M-Store is already running (pid %d)", pid)
	}
	for _, dir := range []string{cfg.MSPath, cfg.RunDir(), cfg.MailDir(), cfg.DatabaseHome()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("start: %w", err)
		}
	}
	certs, err := auth.LoadCerts(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	lmtpLn, err := listen(cfg.LMTPListen)
	if err != nil {
		return fmt.Errorf("start: LMTP: %w", err)
	}
	defer lmtpLn.Close()
	protoLns, err := bindListeners(cfg, certs)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer func() {
		for _, l := range protoLns {
			l.ln.Close()
		}
	}()
	if d.uid, err = dropPrivileges(cfg, lg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if d.env, err = admin.Open(ctx, cfg, admin.OpenOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	closeEnv := func() {
		if err := d.env.Close(); err != nil {
			lg.Error("close database", "err", err)
		}
	}
	if d.blobs, err = blob.Open(cfg.MailDir(), blob.WithLogger(lg)); err != nil {
		closeEnv()
		return fmt.Errorf("start: %w", err)
	}
	if d.store, err = store.Open(ctx, d.env, d.blobs, admin.StoreOptions(cfg)); err != nil {
		closeEnv()
		return fmt.Errorf("start: %w", err)
	}
	d.lmtp = lmtp.New(d.store, lmtp.Options{MaxMessageSize: cfg.MaxMessageSize, Logger: lg, Hostname: hostname()})
	attachServers(protoLns, cfg, d.store, certs, lg)
	d.ctl = &control.Server{Path: ControlSocket(cfg), Handle: d.handleControl, Logger: lg,
		Allowed: func(uid uint32) bool { return uid == 0 || int(uid) == d.uid }}
	if err := d.ctl.Listen(); err != nil {
		closeEnv()
		return fmt.Errorf("start: %w", err)
	}
	if err := writePIDFile(PIDFile(cfg)); err != nil {
		d.ctl.Close()
		closeEnv()
		return fmt.Errorf("start: %w", err)
	}
	defer os.Remove(PIDFile(cfg))

	var wg sync.WaitGroup
	srvCtx, stopServing := context.WithCancel(context.Background())
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := d.lmtp.Serve(lmtpLn); err != nil {
			lg.Error("LMTP listener failed", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.ctl.Serve(srvCtx); err != nil {
			lg.Error("control socket failed", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		d.housekeeping(srvCtx)
	}()
	for _, l := range protoLns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.srv.Serve(l.ln); err != nil {
				lg.Error("listener failed", "proto", l.name, "err", err)
			}
		}()
	}
	// SIGHUP reloads the TLS certificate.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if certs == nil {
					lg.Info("SIGHUP: no TLS certificate configured")
				} else if err := certs.Reload(); err != nil {
					lg.Error("SIGHUP: reload TLS certificate; keeping the old one", "err", err)
				} else {
					lg.Info("SIGHUP: TLS certificate reloaded")
				}
			case <-srvCtx.Done():
				return
			}
		}
	}()
	args := []any{"pid", os.Getpid(), "lmtp", cfg.LMTPListen, "ms-path", cfg.MSPath}
	for _, l := range protoLns {
		args = append(args, l.name, l.ln.Addr().String())
	}
	lg.Info("M-Store started", args...)
	if ready != nil {
		ready()
	}

	<-ctx.Done()
	lg.Info("M-Store stopping")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	servers := []protocolServer{d.lmtp}
	for _, l := range protoLns {
		if !slices.Contains(servers, l.srv) {
			servers = append(servers, l.srv)
		}
	}
	var swg sync.WaitGroup
	for _, srv := range servers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := srv.Shutdown(sctx); err != nil {
				lg.Warn("sessions did not end in time; closed", "err", err)
			}
		}()
	}
	swg.Wait()
	stopServing()
	d.ctl.Close()
	wg.Wait()
	if err := d.env.Close(); err != nil {
		return fmt.Errorf("stop: close database: %w", err)
	}
	lg.Info("M-Store stopped")
	return nil
}

// housekeeping checkpoints every checkpoint-interval and sweeps message
// files hourly.
func (d *Daemon) housekeeping(ctx context.Context) {
	ckpt := time.NewTicker(d.cfg.CheckpointInterval)
	defer ckpt.Stop()
	sweep := time.NewTicker(SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ckpt.C:
			if _, err := d.env.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("checkpoint", "err", err)
			}
		case <-sweep.C:
			grace, err := d.sweepGrace()
			if err != nil {
				d.log.Error("sweep message files: not swept", "err", err)
				continue
			}
			keep, err := d.store.FilesToKeep(ctx, grace)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Error("sweep message files: not swept", "err", err)
				}
				continue
			}
			st, err := d.blobs.Sweep(ctx, grace, func(id blob.ID) (bool, error) {
				return keep(string(id)), nil
			})
			if err != nil && ctx.Err() == nil {
				d.log.Error("sweep message files", "err", err)
				continue
			} else if st.Removed > 0 {
				d.log.Info("swept unreferenced message files", "removed", st.Removed, "bytes", st.RemovedBytes)
			}
			if _, err := d.store.PruneDropped(ctx, grace); err != nil && ctx.Err() == nil {
				d.log.Error("prune dropped message references", "err", err)
			}
		}
	}
}

// sweepGrace is how long a message file no message references is kept:
// mail-sweep-grace, or longer when the latest backup is older, since a
// restore of it references every file that stopped being referenced after
// its tables were copied.
func (d *Daemon) sweepGrace() (time.Duration, error) {
	mark, ok, err := d.env.BackupMark()
	if err != nil {
		return 0, err
	}
	return graceWithBackup(d.cfg.MailSweepGrace, mark, ok, time.Now()), nil
}

// graceWithBackup extends grace to cover every file dropped since the
// latest backup's tables were copied (with a minute's margin for clocks).
func graceWithBackup(grace time.Duration, mark msdb.BackupMark, ok bool, now time.Time) time.Duration {
	if !ok {
		return grace
	}
	return max(grace, now.Sub(mark.Started)+time.Minute)
}

func listen(addr string) (net.Listener, error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		os.Remove(p)
		ln, err := net.Listen("unix", p)
		if err != nil {
			return nil, err
		}
		os.Chmod(p, 0o660)
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

func writePIDFile(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
