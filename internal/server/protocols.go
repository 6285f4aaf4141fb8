package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/imap"
	"github.com/m-store/mstore/internal/pop3"
	"github.com/m-store/mstore/internal/store"
)

// protocolServer is what the daemon needs of a protocol server.
type protocolServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// listener is one bound address and the server that serves it.
type listener struct {
	name string
	ln   net.Listener
	srv  protocolServer
}

// bindListeners binds every configured IMAP and POP3 address (before
// privileges are dropped); implicit-TLS ones need a certificate.
func bindListeners(cfg *config.Config, certs *auth.Certs) ([]*listener, error) {
	var out []*listener
	fail := func(err error) ([]*listener, error) {
		for _, l := range out {
			l.ln.Close()
		}
		return nil, err
	}
	for _, want := range []struct {
		name, addr string
		tls        bool
	}{
		{"imap", cfg.IMAPListen, false}, {"imaps", cfg.IMAPSListen, true},
		{"pop3", cfg.POP3Listen, false}, {"pop3s", cfg.POP3SListen, true},
	} {
		if want.addr == "" {
			continue
		}
		if want.tls && certs == nil {
			return fail(fmt.Errorf("%s-listen is set but tls-cert and tls-key are not", want.name))
		}
		ln, err := listen(want.addr)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", want.name, err))
		}
		if want.tls {
			ln = tls.NewListener(ln, certs.TLSConfig())
		}
		out = append(out, &listener{name: want.name, ln: ln})
	}
	return out, nil
}

// attachServers makes the protocol servers for the bound listeners.
func attachServers(ls []*listener, cfg *config.Config, st *store.Store, certs *auth.Certs, lg *slog.Logger) {
	limiter := auth.NewLimiter(lg)
	var tlsConf *tls.Config
	if certs != nil {
		tlsConf = certs.TLSConfig()
	}
	var im *imap.Server
	var pp *pop3.Server
	for _, l := range ls {
		switch l.name {
		case "imap", "imaps":
			if im == nil {
				im = imap.New(st, imap.Options{TLSConfig: tlsConf, AllowPlaintext: cfg.AllowPlaintextAuth, Limiter: limiter,
					MaxSessions: cfg.IMAPMaxSessions, AppendLimit: cfg.MaxMessageSize, Logger: lg})
			}
			l.srv = im
		case "pop3", "pop3s":
			if pp == nil {
				pp = pop3.New(st, pop3.Options{TLSConfig: tlsConf, AllowPlaintext: cfg.AllowPlaintextAuth, Limiter: limiter, Hostname: hostname(), Logger: lg})
			}
			l.srv = pp
		}
	}
}
