package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/m-store/mstore/internal/auth"
	"github.com/m-store/mstore/internal/msdb/locks"
	"github.com/m-store/mstore/internal/store"
)

// Buffer sizes of a session. A command line is at most MaxLine octets and
// a SASL response at most maxSASLLine, so the reader's buffer holds any
// line we accept; longer lines are read through and discarded.
const (
	readBufSize  = 1024
	writeBufSize = 4096
	maxSASLLine  = readBufSize
)

// errLineTooLong is readLine's error for a line over its limit; the line
// has been read and discarded up to its LF.
var errLineTooLong = errors.New("line too long")

// maxDiscard bounds how much of an overlong line is read through looking
// for its end; past it the connection is closed (that is no client).
const maxDiscard = 1 << 20

type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

// session is one connection. It is served by one goroutine; only conn's
// Close is called from elsewhere (by Shutdown).
type session struct {
	srv    *Server
	ctx    context.Context
	id     uint64
	remote string
	log    *slog.Logger

	conn  net.Conn // the raw connection, or the TLS connection over it
	isTLS bool
	r     *bufio.Reader
	w     *bufio.Writer

	state state
	nbad  int
	user  string // the name given by USER, until PASS

	// In the TRANSACTION state:
	account string      // the account's name, as created
	owner   locks.Owner // holds the maildrop lock
	drop    *maildrop
	sent    int // messages sent whole by RETR, for the log
}

// deadlineWriter renews the connection's write deadline before each
// write, so that a client that stops reading is dropped after the idle
// timeout, while a long transfer that makes progress goes on.
type deadlineWriter struct {
	c net.Conn
	d time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.d))
	return w.c.Write(p)
}

// serveConn runs a session on c until it ends, then closes c and releases
// the maildrop lock, however the session ended.
func (s *Server) serveConn(c net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	ss := &session{srv: s, ctx: ctx, id: sessionSeq.Add(1), remote: c.RemoteAddr().String(), conn: c}
	ss.log = s.log.With("session", ss.id, "addr", ss.remote)
	ss.owner = locks.Owner{ID: fmt.Sprintf("pop3-session-%d", ss.id), PID: os.Getpid(), Desc: "pop3 session from " + ss.remote}
	defer func() {
		if v := recover(); v != nil {
			ss.log.Error("session panic", "panic", v, "stack", string(debug.Stack()))
		}
		cancel()
		s.st.Env().Locks.ReleaseAll(ss.owner) // whatever it holds, if anything
		if ss.drop != nil {
			ss.log.Info("logout", "account", ss.account, "retrieved", ss.sent)
		}
		ss.conn.Close()
	}()
	ss.r = bufio.NewReaderSize(c, readBufSize)
	ss.w = bufio.NewWriterSize(deadlineWriter{c, s.opts.IdleTimeout}, writeBufSize)
	if tc, ok := c.(*tls.Conn); ok {
		if err := ss.handshake(tc); err != nil {
			ss.log.Info("TLS handshake failed", "err", err)
			return
		}
	}
	ss.log.Debug("connected", "tls", ss.isTLS)
	ss.reply("+OK " + s.opts.Hostname + " M-Store POP3 server ready")
	if err := ss.run(); err != nil {
		ss.log.Debug("session ended", "err", err)
	}
}

// handshake completes a TLS handshake on tc within the idle timeout and
// makes tc the session's connection.
func (ss *session) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.opts.IdleTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	ss.conn, ss.isTLS = tc, true
	ss.r.Reset(tc)
	ss.w.Reset(deadlineWriter{tc, ss.srv.opts.IdleTimeout})
	return nil
}

// run reads and answers commands until the session ends. It returns the
// reason (nil after QUIT).
func (ss *session) run() error {
	for {
		line, err := ss.readLine(MaxLine)
		if err == errLineTooLong {
			if ss.badCommand(fmt.Sprintf("Command line too long (over %d octets)", MaxLine)) {
				return errors.Join(errTooManyBad, ss.w.Flush())
			}
			continue
		}
		if err != nil {
			return err
		}
		cmd, err := ParseCommand(line)
		if err != nil {
			if ss.badCommand(errorText(err)) {
				return errors.Join(errTooManyBad, ss.w.Flush())
			}
			continue
		}
		done, err := ss.dispatch(cmd)
		if err != nil || done {
			if ferr := ss.w.Flush(); err == nil {
				err = ferr
			}
			return err
		}
	}
}

// errorText is the -ERR text for a ParseCommand error.
func errorText(err error) string {
	switch {
	case errors.Is(err, ErrUnknown):
		return "Unknown command"
	case errors.Is(err, ErrEmpty):
		return "Empty command"
	}
	s := err.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

// readLine reads one line of at most limit octets, LF included. A longer
// line is read through to its end, and errLineTooLong returned as is; a
// line with no end within maxDiscard octets gives an error wrapping it,
// and the connection must close. Before it blocks, it flushes the
// responses written so far; while a whole command is already buffered (a
// pipelining client), responses stay buffered.
func (ss *session) readLine(limit int) ([]byte, error) {
	if !ss.lineBuffered() {
		if err := ss.w.Flush(); err != nil {
			return nil, fmt.Errorf("write: %w", err)
		}
	}
	ss.conn.SetReadDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	line, err := ss.r.ReadSlice('\n')
	switch {
	case err == nil && len(line) <= limit:
		return line, nil
	case err == nil:
		return nil, errLineTooLong
	case errors.Is(err, bufio.ErrBufferFull):
		for n := len(line); errors.Is(err, bufio.ErrBufferFull); n += len(line) {
			if n > maxDiscard {
				return nil, fmt.Errorf("read: a line of over %d octets: %w", maxDiscard, errLineTooLong)
			}
			ss.conn.SetReadDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
			line, err = ss.r.ReadSlice('\n')
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		return nil, errLineTooLong
	default:
		return nil, fmt.Errorf("read: %w", err)
	}
}

// lineBuffered reports whether a whole line is in the read buffer.
func (ss *session) lineBuffered() bool {
	n := ss.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := ss.r.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// reply writes one response line (CRLF added).
func (ss *session) reply(s string) {
	ss.w.WriteString(s)
	ss.w.WriteString("\r\n")
}

// badCommand answers -ERR text and counts a bad command; it reports
// whether that was one too many, and the connection must close.
func (ss *session) badCommand(text string) bool {
	ss.nbad++
	if ss.nbad >= maxBadCommands {
		ss.reply("-ERR " + text + " (too many bad commands, closing the connection)")
		ss.log.Info("too many bad commands; closing the connection", "bad", ss.nbad)
		return true
	}
	ss.reply("-ERR " + text)
	return false
}

// errTooManyBad ends a session whose last bad command was one too many.
var errTooManyBad = errors.New("too many bad commands")

// bad is badCommand for dispatch's handlers: it returns errTooManyBad
// when the connection must close.
func (ss *session) bad(text string) error {
	if ss.badCommand(text) {
		return errTooManyBad
	}
	return nil
}

// dispatch runs one command. done is true after QUIT; an error ends the
// session too.
func (ss *session) dispatch(cmd Command) (done bool, err error) {
	switch cmd.Name {
	case "CAPA":
		ss.capa()
		return false, nil
	case "QUIT":
		return true, ss.quit()
	}
	if ss.state == stateAuthorization {
		switch cmd.Name {
		case "USER":
			return false, ss.cmdUser(cmd.Args[0])
		case "PASS":
			return false, ss.cmdPass(cmd.Args[0])
		case "AUTH":
			return false, ss.cmdAuth(cmd.Args)
		case "STLS":
			return false, ss.cmdSTLS()
		case "APOP":
			return false, ss.bad("APOP is not supported; use USER and PASS or AUTH PLAIN")
		}
		return false, ss.bad("Log in first (USER and PASS, or AUTH PLAIN)")
	}
	switch cmd.Name {
	case "STAT":
		n, size := ss.drop.stat()
		ss.reply(fmt.Sprintf("+OK %d %d", n, size))
	case "LIST", "UIDL":
		ss.cmdList(cmd.Name, cmd.Args)
	case "RETR":
		return false, ss.cmdRetr(cmd.Args[0], "", -1)
	case "TOP":
		return false, ss.cmdRetr(cmd.Args[0], cmd.Args[1], 0)
	case "DELE":
		ss.cmdDele(cmd.Args[0])
	case "NOOP":
		ss.reply("+OK")
	case "RSET":
		ss.drop.reset()
		n, size := ss.drop.stat()
		ss.reply(fmt.Sprintf("+OK Maildrop has %d messages (%d octets)", n, size))
	default: // USER, PASS, AUTH, STLS, APOP
		return false, ss.bad("Already logged in")
	}
	return false, nil
}

// plaintextOK reports whether a password may be sent on this connection.
func (ss *session) plaintextOK() bool {
	return auth.PlaintextAllowed(ss.conn, ss.isTLS, ss.srv.opts.AllowPlaintext)
}

// canSTLS reports whether STLS is offered.
func (ss *session) canSTLS() bool { return ss.srv.opts.TLSConfig != nil && !ss.isTLS }

// capa answers CAPA (RFC 2449 section 5). The list is the same in both
// states (capabilities of the AUTHORIZATION state must be announced in
// both); USER and SASL PLAIN are left out where a password would be
// refused (a non-loopback connection without TLS), as RFC 2595 section 4
// suggests, so that a client knows to use STLS first.
func (ss *session) capa() {
	ss.reply("+OK Capability list follows")
	ss.reply("TOP")
	if ss.plaintextOK() {
		ss.reply("USER")
		ss.reply("SASL PLAIN")
	}
	ss.reply("RESP-CODES")
	ss.reply("AUTH-RESP-CODE")
	ss.reply("PIPELINING")
	ss.reply("UIDL")
	if ss.canSTLS() {
		ss.reply("STLS")
	}
	ss.reply("IMPLEMENTATION M-Store")
	ss.reply(".")
}

// refusePlaintext is the answer to a password on a connection that may
// not carry one.
func (ss *session) refusePlaintext() error {
	if ss.canSTLS() {
		return ss.bad("[AUTH] Plain-text passwords are not accepted on this connection; use STLS first")
	}
	return ss.bad("[AUTH] Plain-text passwords are not accepted on this connection; use TLS")
}

func (ss *session) cmdUser(name string) error {
	if !ss.plaintextOK() {
		return ss.refusePlaintext()
	}
	ss.user = name
	ss.reply("+OK Send PASS")
	return nil
}

func (ss *session) cmdPass(password string) error {
	if ss.user == "" {
		return ss.bad("Send USER first")
	}
	user := ss.user
	ss.user = ""
	if !ss.plaintextOK() {
		return ss.refusePlaintext()
	}
	return ss.login(user, password)
}

// cmdAuth runs AUTH (RFC 5034). Only PLAIN (RFC 4616) is offered; AUTH
// alone lists the mechanisms, as many clients expect.
func (ss *session) cmdAuth(args []string) error {
	if len(args) == 0 {
		ss.reply("+OK")
		if ss.plaintextOK() {
			ss.reply("PLAIN")
		}
		ss.reply(".")
		return nil
	}
	if !strings.EqualFold(args[0], "PLAIN") {
		return ss.bad("Unsupported SASL mechanism " + sanitize(args[0]))
	}
	if !ss.plaintextOK() {
		return ss.refusePlaintext()
	}
	var resp string
	if len(args) == 2 {
		resp = args[1]
		if resp == "=" {
			resp = ""
		}
	} else {
		ss.reply("+ ")
		line, err := ss.readLine(maxSASLLine)
		if err == errLineTooLong {
			return ss.bad("[AUTH] SASL response too long")
		}
		if err != nil {
			return err
		}
		resp = strings.TrimRight(string(line), "\r\n")
		if resp == "*" {
			ss.reply("-ERR Authentication cancelled")
			return nil
		}
	}
	authz, authc, password, err := decodePlain(resp)
	if err != nil {
		return ss.bad(err.Error())
	}
	if authz != "" && store.NormalizeAccount(authz) != store.NormalizeAccount(authc) {
		return ss.bad("[AUTH] Logging in as another user (an authorization identity) is not permitted")
	}
	return ss.login(authc, password)
}

// login checks a password and opens the maildrop.
func (ss *session) login(user, password string) error {
	a, err := ss.srv.opts.Limiter.Login(ss.ctx, ss.srv.st, "pop3", ss.remote, user, password)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrDisabled):
		return ss.bad("[AUTH] The account is disabled")
	case errors.Is(err, store.ErrAuth):
		return ss.bad("[AUTH] Authentication failed")
	case ss.ctx.Err() != nil:
		return fmt.Errorf("login: %w", err)
	default:
		ss.log.Error("login", "account", sanitize(user), "err", err)
		ss.reply("-ERR [SYS/TEMP] Cannot check the password now; try again later")
		return nil
	}
	name := a.Name
	err = ss.srv.st.Env().Locks.TryAcquire(lockName(name), ss.owner, locks.Exclusive)
	if errors.Is(err, locks.ErrWouldBlock) {
		ss.log.Info("maildrop in use", "account", name, "err", err)
		ss.reply("-ERR [IN-USE] The maildrop is in use by another POP3 session; try again later")
		return nil
	}
	if err != nil {
		ss.log.Error("lock maildrop", "account", name, "err", err)
		ss.reply("-ERR [SYS/TEMP] Cannot lock the maildrop; try again later")
		return nil
	}
	drop, err := openMaildrop(ss.ctx, ss.srv.st, name)
	if err != nil {
		ss.srv.st.Env().Locks.ReleaseAll(ss.owner)
		if ss.ctx.Err() != nil {
			return err
		}
		ss.log.Error("open maildrop", "account", name, "err", err)
		ss.reply("-ERR [SYS/TEMP] Cannot open the maildrop; try again later")
		return nil
	}
	ss.state, ss.account, ss.drop = stateTransaction, name, drop
	n, size := drop.stat()
	ss.log.Info("login", "account", name, "tls", ss.isTLS, "messages", n, "octets", size)
	ss.reply(fmt.Sprintf("+OK Logged in; maildrop has %d messages (%d octets)", n, size))
	return nil
}

// lockName is the lock table resource of an account's maildrop.
func lockName(account string) string { return "pop3:" + store.NormalizeAccount(account) }

// cmdSTLS starts TLS (RFC 2595 section 4). Commands pipelined after STLS
// would have been sent in the clear and must not be run as if they came
// over TLS, so STLS with more input already buffered is refused.
func (ss *session) cmdSTLS() error {
	switch {
	case ss.isTLS:
		return ss.bad("Already using TLS")
	case ss.srv.opts.TLSConfig == nil:
		return ss.bad("STLS is not available")
	case ss.r.Buffered() > 0:
		return ss.bad("STLS must be the last command of a pipeline")
	}
	ss.reply("+OK Begin TLS negotiation")
	if err := ss.w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	ss.conn.SetDeadline(time.Time{})
	if err := ss.handshake(tls.Server(ss.conn, ss.srv.opts.TLSConfig)); err != nil {
		ss.log.Info("STLS failed", "err", err)
		return err
	}
	ss.user = "" // RFC 2595: forget what was learnt before TLS
	return nil
}

// decodePlain decodes a SASL PLAIN response (RFC 4616):
// base64(authzid NUL authcid NUL passwd).
func decodePlain(resp string) (authz, authc, password string, err error) {
	b, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", "", "", errors.New("Invalid base64 in the SASL response")
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return "", "", "", errors.New("[AUTH] Malformed PLAIN response")
	}
	return parts[0], parts[1], parts[2], nil
}

// msgArg reads a message-number argument: the message, or "" and an
// answer to give. A marked message is no message.
func (ss *session) msgArg(arg string) (int, string) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(ss.drop.msgs) {
		return 0, fmt.Sprintf("-ERR No such message; the maildrop has messages 1 to %d", len(ss.drop.msgs))
	}
	if ss.drop.msgs[n-1].deleted {
		return 0, fmt.Sprintf("-ERR Message %d is deleted", n)
	}
	return n, ""
}

// cmdList answers LIST and UIDL, for one message or all.
func (ss *session) cmdList(name string, args []string) {
	val := func(m *entry) string {
		if name == "UIDL" {
			return ss.drop.uidl(m)
		}
		return strconv.FormatInt(m.size, 10)
	}
	if len(args) == 1 {
		n, errText := ss.msgArg(args[0])
		if errText != "" {
			ss.reply(errText)
			return
		}
		ss.reply(fmt.Sprintf("+OK %d %s", n, val(&ss.drop.msgs[n-1])))
		return
	}
	if name == "LIST" {
		n, size := ss.drop.stat()
		ss.reply(fmt.Sprintf("+OK %d messages (%d octets)", n, size))
	} else {
		ss.reply("+OK Unique-id listing follows")
	}
	for i := range ss.drop.msgs {
		if m := &ss.drop.msgs[i]; !m.deleted {
			ss.reply(strconv.Itoa(i+1) + " " + val(m))
		}
	}
	ss.reply(".")
}

// cmdRetr answers RETR (lines < 0) and TOP (linesArg).
func (ss *session) cmdRetr(arg, linesArg string, lines int) error {
	n, errText := ss.msgArg(arg)
	if errText != "" {
		ss.reply(errText)
		return nil
	}
	if linesArg != "" {
		v, err := strconv.ParseUint(linesArg, 10, 63)
		if err != nil {
			ss.reply("-ERR The number of lines must be a decimal number")
			return nil
		}
		lines = int(min(v, uint64(maxInt)))
	}
	m := &ss.drop.msgs[n-1]
	f, errText := ss.drop.open(ss.ctx, ss.srv.st, m, n, ss.log)
	if errText != "" {
		ss.reply(errText)
		return nil
	}
	defer f.Close()
	if lines < 0 {
		ss.reply(fmt.Sprintf("+OK %d octets", m.size))
	} else {
		ss.reply("+OK Top of message follows")
	}
	if err := writeMessage(ss.w, f, lines); err != nil {
		if errors.Is(err, errReadMessage) {
			ss.log.Error("message file failed while sending it; closing the connection", "account", ss.account, "uid", m.uid, "blob", m.blob, "err", err)
		}
		return err
	}
	if lines < 0 {
		ss.sent++
	}
	return nil
}

const maxInt = int(^uint(0) >> 1)

func (ss *session) cmdDele(arg string) {
	n, errText := ss.msgArg(arg)
	if errText != "" {
		ss.reply(errText)
		return
	}
	ss.drop.msgs[n-1].deleted = true
	ss.reply(fmt.Sprintf("+OK Message %d deleted", n))
}

// quit answers QUIT. In the TRANSACTION state it removes the marked
// messages in one transaction (the UPDATE state, RFC 1939 section 6) and
// says +OK only once that has committed; if it fails, nothing is removed.
// Messages already expunged by another session meanwhile are simply no
// longer there.
func (ss *session) quit() error {
	if ss.state != stateTransaction {
		ss.reply("+OK " + ss.srv.opts.Hostname + " M-Store POP3 server signing off")
		return nil
	}
	// The maildrop is free before the client reads +OK: a client that
	// reconnects at once must not find it in use (RFC 1939 6: the server
	// releases its resources, then replies).
	release := func() { ss.srv.st.Env().Locks.ReleaseAll(ss.owner) }
	uids := ss.drop.marked()
	if len(uids) == 0 {
		release()
		ss.reply("+OK " + ss.srv.opts.Hostname + " M-Store POP3 server signing off")
		return nil
	}
	gone, err := ss.srv.st.Expunge(ss.ctx, ss.drop.mailbox, uids)
	if err != nil {
		ss.log.Error("remove deleted messages", "account", ss.account, "messages", len(uids), "err", err)
		ss.reply("-ERR [SYS/TEMP] Could not remove the deleted messages; none was removed")
		return fmt.Errorf("expunge: %w", err)
	}
	ss.log.Info("removed deleted messages", "account", ss.account, "marked", len(uids), "removed", len(gone))
	release()
	ss.reply(fmt.Sprintf("+OK %s M-Store POP3 server signing off (%d messages deleted)", ss.srv.opts.Hostname, len(uids)))
	return nil
}

// sanitize keeps client text printable and short in a reply.
func sanitize(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
