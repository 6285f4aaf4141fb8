// Package daemon holds end-to-end tests of the M-Store daemon on the built
// binaries: rc.m-store start|status|stop|restart on a real ms.conf in a
// temporary directory, LMTP delivery with real clients (Python's
// smtplib.LMTP and go-smtp's client), account administration live and
// direct, the msdb_* tools through the control socket, a delivery racing a
// stop, a SIGKILL crash test, the privilege drop, and a delivery benchmark.
//
// Stored messages are checked in process: with the daemon stopped, the
// test opens the environment (msdb.Open), the message files (blob.Open) and
// the store (store.Open) and compares every message's bytes exactly.
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
	"github.com/m-store/mstore/internal/store"
)

// toolNames are the links `make build` makes to bin/mstore.
var toolNames = []string{"msdb_test", "msdb_recover", "msdb_checkpoint", "msdb_archive", "msdb_hotcopy", "msdb_printlog", "msdb_dump", "msdb_load"}

// binDir holds the built mstore, its tool links and rc.m-store.
var binDir string

// runGuard bounds every command: a guard against hangs, not a timing assertion.
const runGuard = 3 * time.Minute

// holderEnv makes the test binary a non-reaping parent (see
// TestRcStopZombie) instead of running the tests.
const holderEnv = "MSTORE_DAEMON_TEST_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(holderEnv) != "" {
		os.Exit(holder())
	}
	os.Exit(runMain(m))
}

// holder runs rc.m-store start (its arguments come from the environment)
// as a subreaper that never reaps, as a container's PID 1 that does not
// reap orphans; it prints the start's exit status and waits for its
// standard input to close.
func holder() int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Println("prctl:", err)
		return 1
	}
	cmd := exec.Command(os.Getenv(holderEnv), "start")
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	fmt.Printf("started %d\n", code)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

func runMain(m *testing.M) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "daemon tests:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "mstore-daemon-bin-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	// Readable by every user: the daemon runs as nobody in TestPrivilegeDrop.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	root, err := moduleRoot()
	if err != nil {
		return fail(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "mstore"), "./cmd/mstore")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("go build ./cmd/mstore: %v\n%s", err, out))
	}
	for _, name := range toolNames {
		if err := os.Symlink("mstore", filepath.Join(dir, name)); err != nil {
			return fail(err)
		}
	}
	for _, name := range []string{"rc.m-store", "msdb_backup", "msdb_restore"} {
		script, err := os.ReadFile(filepath.Join(root, "scripts", name))
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), script, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
			return fail(err)
		}
	}
	binDir = dir
	// rc.m-store starts the daemon in the background and exits, so the
	// daemon is re-parented. This machine's PID 1 does not reap orphans:
	// a daemon that exits would stay a zombie, which `kill -0` (and so
	// rc.m-store stop) takes for a live process. Make this process the
	// subreaper, as init would be, and reap the daemons it is told of.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go reapLoop(stop, done)
	code := m.Run()
	close(stop)
	<-done
	return code
}

// moduleRoot finds the directory holding go.mod, upwards from here.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

// The reaper: daemons re-parented to this process are waited for by pid,
// never with wait(-1), which would steal os/exec's children.
var reaper struct {
	mu   sync.Mutex
	pids map[int]bool
}

// watchPID has the reaper wait for a daemon's pid once it is our child.
func watchPID(pid int) {
	if pid <= 0 {
		return
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.pids == nil {
		reaper.pids = map[int]bool{}
	}
	reaper.pids[pid] = true
}

func reapLoop(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		reaper.mu.Lock()
		for pid := range reaper.pids {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			switch {
			case wpid == pid:
				delete(reaper.pids, pid)
			case errors.Is(err, syscall.ECHILD):
				// Not (yet) our child: gone for good, or still the
				// child of the rc.m-store that started it.
				if syscall.Kill(pid, 0) == syscall.ESRCH {
					delete(reaper.pids, pid)
				}
			}
		}
		reaper.mu.Unlock()
	}
}

// result is what one run of a command did.
type result struct {
	cmd            string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("%s: exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.cmd, r.code, clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	const limit = 4000
	if len(s) > limit {
		return s[:limit] + fmt.Sprintf("\n…(%d bytes in all)", len(s))
	}
	return s
}

// runUser is the runtime-user the test configurations name: root when the
// tests run as root, else the current user.
func runUser(t testing.TB) string {
	t.Helper()
	if os.Geteuid() == 0 {
		return "root"
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	return u.Username
}

// freePort finds a free TCP port on 127.0.0.1 by listening on :0.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// daemon is one store in a temporary directory with its own ms.conf.
type daemon struct {
	t      testing.TB
	dir    string
	conf   string
	msPath string
	addr   string // LMTP, 127.0.0.1:port
	pop3   string // POP3, 127.0.0.1:port
	imap   string // IMAP, 127.0.0.1:port
	user   string // runtime-user
}

// daemonOptions change a test store's ms.conf.
type daemonOptions struct {
	user  string   // runtime-user (default: runUser)
	extra []string // more "key = value" lines
	dir   string   // the directory (default: t.TempDir())
}

// newDaemon makes a directory with an ms.conf; nothing runs yet. The
// daemon is stopped when the test ends.
func newDaemon(t testing.TB, o daemonOptions) *daemon {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	d := &daemon{t: t, dir: dir, conf: filepath.Join(dir, "ms.conf"), msPath: filepath.Join(dir, "store"), user: o.user}
	if d.user == "" {
		d.user = runUser(t)
	}
	d.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.pop3 = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.imap = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := fmt.Sprintf("# test configuration\nms-path = %s\nruntime-user = %s\nlmtp-listen = %s\npop3-listen = %s\nimap-listen = %s\npassword-hash-cost = 4\nlog-file-size = 1M\n",
		d.msPath, d.user, d.addr, d.pop3, d.imap)
	for _, l := range o.extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cleanup)
	return d
}

// cleanup stops the daemon: rc.m-store stop, then SIGKILL by the pid file
// as a last resort.
func (d *daemon) cleanup() {
	r := d.rcNoFail("stop")
	if r.code != 0 {
		d.t.Logf("cleanup: %v", r)
	}
	if pid := d.pidFromFile(); pid > 0 && syscall.Kill(pid, 0) == nil {
		d.t.Logf("cleanup: daemon pid %d still there after rc.m-store stop; SIGKILL", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// environ is the environment for the tools: MS_CONF names this store.
func (d *daemon) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MS_CONF=") {
			out = append(out, kv)
		}
	}
	return append(out, "MS_CONF="+d.conf)
}

// run runs binDir/name with args and MS_CONF set, stdin as standard input.
func (d *daemon) run(stdin []byte, name string, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Env = d.environ()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{cmd: name + " " + strings.Join(args, " "), stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ctx.Err() != nil {
			d.t.Errorf("%s: still running after %v, killed\n%v", r.cmd, runGuard, r)
		}
	default:
		r.code = -1
		r.stderr += "\n(test: " + err.Error() + ")"
	}
	return r
}

// ok runs a command and fails the test unless it exits 0.
func (d *daemon) ok(stdin []byte, name string, args ...string) result {
	d.t.Helper()
	r := d.run(stdin, name, args...)
	if r.code != 0 {
		d.t.Fatalf("want exit 0:\n%v", r)
	}
	return r
}

// rcNoFail runs rc.m-store with one argument.
func (d *daemon) rcNoFail(arg string) result {
	return d.run(nil, "rc.m-store", arg)
}

// start runs rc.m-store start, which must succeed, and returns the pid.
func (d *daemon) start() int {
	d.t.Helper()
	r := d.rcNoFail("start")
	if r.code != 0 {
		d.t.Fatalf("rc.m-store start failed:\n%v\n--- log:\n%s", r, d.logTail())
	}
	pid := d.pidFromFile()
	if pid <= 0 {
		d.t.Fatalf("rc.m-store start exited 0 but there is no pid file:\n%v", r)
	}
	watchPID(pid)
	return pid
}

// stop runs rc.m-store stop, which must succeed.
func (d *daemon) stop() {
	d.t.Helper()
	pid := d.pidFromFile()
	r := d.rcNoFail("stop")
	if r.code != 0 {
		d.t.Fatalf("rc.m-store stop failed:\n%v\n--- log:\n%s", r, d.logTail())
	}
	if pid > 0 && !exited(pid) {
		d.t.Fatalf("rc.m-store stop returned but pid %d is still there", pid)
	}
}

func (d *daemon) pidFile() string { return filepath.Join(d.msPath, "run", "mstore.pid") }

func (d *daemon) logFile() string { return filepath.Join(d.msPath, "log", "mstore.log") }

// pidFromFile is the pid in the pid file, or 0.
func (d *daemon) pidFromFile() int {
	b, err := os.ReadFile(d.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// logTail is the end of the daemon's log.
func (d *daemon) logTail() string {
	b, err := os.ReadFile(d.logFile())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// kill SIGKILLs the daemon by its pid file and waits until it is gone.
func (d *daemon) kill() {
	d.t.Helper()
	pid := d.pidFromFile()
	if pid <= 0 {
		d.t.Fatal("kill: no pid file")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		d.t.Fatalf("kill %d: %v", pid, err)
	}
	waitGone(d.t, pid)
}

// exited reports whether pid has exited: it is gone, or a zombie not yet
// reaped (the reaper may not have got to it yet).
func exited(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

// waitGone waits (with a generous guard) until pid has exited and been reaped.
func waitGone(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(runGuard)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still there after %v", pid, runGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addUser creates an account through mstore user add.
func (d *daemon) addUser(name, password string) {
	d.t.Helper()
	d.ok(nil, "mstore", "user", "add", name, "--password", password)
}

// withStore opens the stopped store in process and runs fn on it.
func (d *daemon) withStore(fn func(ctx context.Context, st *store.Store)) {
	d.t.Helper()
	if pid := d.pidFromFile(); pid > 0 && syscall.Kill(pid, 0) == nil {
		d.t.Fatalf("withStore: the daemon (pid %d) is running", pid)
	}
	ctx := context.Background()
	env, err := msdb.Open(ctx, msdb.Options{Home: filepath.Join(d.msPath, "database"), LogFileSize: 1 << 20})
	if err != nil {
		d.t.Fatalf("open the database: %v", err)
	}
	defer func() {
		if err := env.Close(); err != nil {
			d.t.Errorf("close the database: %v", err)
		}
	}()
	blobs, err := blob.Open(filepath.Join(d.msPath, "mail"))
	if err != nil {
		d.t.Fatalf("open the message files: %v", err)
	}
	st, err := store.Open(ctx, env, blobs, store.Options{})
	if err != nil {
		d.t.Fatalf("open the store: %v", err)
	}
	fn(ctx, st)
}

// storedMsg is one message of a mailbox with its file's bytes.
type storedMsg struct {
	store.Message
	Bytes []byte
}

// readMailbox returns a mailbox's record and its messages in UID order,
// each with its file's bytes; it fails the test when the mailbox is missing.
func readMailbox(t testing.TB, ctx context.Context, st *store.Store, account, mailbox string) (*store.Mailbox, []storedMsg) {
	t.Helper()
	m, err := st.MailboxStatus(ctx, account, mailbox)
	if err != nil {
		t.Fatalf("mailbox %s of %s: %v", mailbox, account, err)
	}
	snap, err := st.Messages(ctx, m.ID)
	if err != nil {
		t.Fatalf("messages of %s/%s: %v", account, mailbox, err)
	}
	out := make([]storedMsg, 0, len(snap.Messages))
	for _, msg := range snap.Messages {
		f, err := st.OpenMessage(msg.Blob)
		if err != nil {
			t.Fatalf("%s/%s UID %d: open file %s: %v", account, mailbox, msg.UID, msg.Blob, err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s/%s UID %d: read file %s: %v", account, mailbox, msg.UID, msg.Blob, err)
		}
		if int64(len(b)) != msg.Size {
			t.Errorf("%s/%s UID %d: file has %d bytes, the message record says %d", account, mailbox, msg.UID, len(b), msg.Size)
		}
		out = append(out, storedMsg{Message: msg, Bytes: b})
	}
	if int(snap.Mailbox.Messages) != len(out) {
		t.Errorf("%s/%s: the mailbox counts %d messages, the messages table holds %d", account, mailbox, snap.Mailbox.Messages, len(out))
	}
	return snap.Mailbox, out
}

// mailboxBytes is the list of message contents of a mailbox, in UID order.
func mailboxBytes(t testing.TB, ctx context.Context, st *store.Store, account, mailbox string) [][]byte {
	t.Helper()
	_, msgs := readMailbox(t, ctx, st, account, mailbox)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Bytes
	}
	return out
}

// sameMessages fails unless got holds exactly want, in order.
func sameMessages(t testing.TB, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: message %d differs:\n got %q\nwant %q", what, i+1, clip(string(got[i])), clip(string(want[i])))
		}
	}
}

// reply is one LMTP reply line: code, enhanced code and text.
type reply struct {
	Code int
	Enh  string // "2.0.0"; "" when there is none
	Text string
}

func (r reply) String() string { return fmt.Sprintf("%d %s %s", r.Code, r.Enh, r.Text) }

// is reports whether r has the code and enhanced code.
func (r reply) is(code int, enh string) bool { return r.Code == code && r.Enh == enh }

func smtpReply(err error) reply {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := reply{Code: se.Code, Text: se.Message}
		if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != smtp.EnhancedCodeNotSet {
			r.Enh = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		return r
	}
	return reply{Code: -1, Text: err.Error()}
}

// sendResult is what one LMTP transaction with go-smtp's client got.
type sendResult struct {
	rcpt map[string]reply // RCPT replies
	data map[string]reply // after DATA, one per accepted recipient
}

// acked reports whether rcpt's copy was acknowledged with 250 after DATA.
func (r sendResult) acked(rcpt string) bool {
	rep, ok := r.data[rcpt]
	return ok && rep.Code == 250
}

// lmtpClient is a go-smtp LMTP client on one connection.
type lmtpClient struct {
	c *smtp.Client
}

// dialLMTP connects and greets (LHLO).
func dialLMTP(addr string) (*lmtpClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout = runGuard
	c.SubmissionTimeout = runGuard
	if err := c.Hello("client.test"); err != nil {
		c.Close()
		return nil, err
	}
	return &lmtpClient{c: c}, nil
}

// send runs one transaction: MAIL, RCPT for each recipient, DATA with msg
// (which go-smtp dot-stuffs) when a recipient was accepted. err is a
// failure of the connection or of the protocol, not a recipient's reply.
func (l *lmtpClient) send(from string, rcpts []string, msg []byte) (sendResult, error) {
	res := sendResult{rcpt: map[string]reply{}, data: map[string]reply{}}
	if err := l.c.Mail(from, nil); err != nil {
		return res, fmt.Errorf("MAIL: %w", err)
	}
	var accepted []string
	for _, r := range rcpts {
		if err := l.c.Rcpt(r, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return res, fmt.Errorf("RCPT %s: %w", r, err)
			}
			res.rcpt[r] = smtpReply(err)
			continue
		}
		res.rcpt[r] = reply{Code: 250}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return res, l.c.Reset()
	}
	w, err := l.c.Data()
	if err != nil {
		return res, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return res, fmt.Errorf("DATA: write: %w", err)
	}
	resp, err := w.CloseWithLMTPResponse()
	// The replies read, even when the connection failed before the last.
	for r, dr := range resp {
		enh, text, _ := strings.Cut(dr.StatusText, " ")
		res.data[r] = reply{Code: 250, Enh: enh, Text: text}
	}
	var lerr smtp.LMTPDataError
	if errors.As(err, &lerr) {
		for r, se := range lerr {
			res.data[r] = smtpReply(se)
		}
	}
	if _, onlyReplies := err.(smtp.LMTPDataError); err != nil && !onlyReplies {
		return res, fmt.Errorf("end of DATA: %w", err)
	}
	return res, nil
}

func (l *lmtpClient) close() {
	l.c.Quit()
	l.c.Close()
}

// lmtpSend delivers one message on a connection of its own.
func lmtpSend(addr, from string, rcpts []string, msg []byte) (sendResult, error) {
	l, err := dialLMTP(addr)
	if err != nil {
		return sendResult{}, err
	}
	defer l.close()
	return l.send(from, rcpts, msg)
}

// rawLMTP is a line-level LMTP client, for exact control of the wire.
type rawLMTP struct {
	conn net.Conn
	tp   *textproto.Conn
}

func dialRaw(t testing.TB, addr string) *rawLMTP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(runGuard))
	r := &rawLMTP{conn: conn, tp: textproto.NewConn(conn)}
	r.expect(t, 220)
	return r
}

// cmd sends a line and reads one (possibly multi-line) reply.
func (r *rawLMTP) cmd(t testing.TB, line string) reply {
	t.Helper()
	if err := r.tp.PrintfLine("%s", line); err != nil {
		t.Fatalf("send %q: %v", line, err)
	}
	return r.read(t)
}

func (r *rawLMTP) read(t testing.TB) reply {
	t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			t.Fatalf("read reply: %v", err)
		}
	}
	enh, text, _ := strings.Cut(msg, " ")
	if strings.Count(enh, ".") != 2 {
		enh, text = "", msg
	}
	return reply{Code: code, Enh: enh, Text: text}
}

func (r *rawLMTP) expect(t testing.TB, code int) reply {
	t.Helper()
	rep := r.read(t)
	if rep.Code != code {
		t.Fatalf("want a %d reply, got %v", code, rep)
	}
	return rep
}

func (r *rawLMTP) close() { r.conn.Close() }

// canConnect reports whether a TCP connection to addr succeeds now.
func canConnect(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// procStatus returns a field of /proc/<pid>/status ("Uid", "RssAnon").
func procStatus(pid int, field string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// message builds a message with CRLF line ends from header lines and body
// lines.
func message(headers []string, body ...string) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	for _, l := range body {
		b.WriteString(l + "\r\n")
	}
	return b.Bytes()
}
