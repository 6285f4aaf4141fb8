package daemon

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRcScript: rc.m-store start|status|stop|restart on a real ms.conf.
func TestRcScript(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})

	// Not running yet.
	r := d.rcNoFail("status")
	if r.code != 3 || !strings.Contains(r.stdout, "not running") {
		t.Errorf("status before start: want exit 3 saying it is not running:\n%v", r)
	}
	if err := canConnect(d.addr); err == nil {
		t.Fatalf("something already listens on %s", d.addr)
	}

	// start returns only once LMTP accepts connections.
	pid := d.start()
	if err := canConnect(d.addr); err != nil {
		t.Errorf("LMTP does not accept connections right after rc.m-store start returned: %v", err)
	}
	raw := dialRaw(t, d.addr)
	if rep := raw.cmd(t, "LHLO client.test"); rep.Code != 250 {
		t.Errorf("LHLO: %v", rep)
	}
	raw.cmd(t, "QUIT")
	raw.close()

	r = d.rcNoFail("status")
	if r.code != 0 || !strings.Contains(r.stdout, "running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("status while running: want exit 0 naming pid %d:\n%v", pid, r)
	}
	if _, err := procStatus(pid, "State"); err != nil {
		t.Errorf("the pid file names pid %d, which is not a process: %v", pid, err)
	}

	// A second start says it runs already and changes nothing.
	r = d.rcNoFail("start")
	if r.code != 0 || !strings.Contains(r.stderr, "already running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("start while running: want exit 0 saying it runs already:\n%v", r)
	}
	if got := d.pidFromFile(); got != pid {
		t.Errorf("start while running changed the pid file: %d, was %d", got, pid)
	}

	// stop waits for the process to be gone.
	r = d.rcNoFail("stop")
	if r.code != 0 {
		t.Fatalf("stop:\n%v\n--- log:\n%s", r, d.logTail())
	}
	if !exited(pid) {
		t.Errorf("rc.m-store stop returned while pid %d is still there", pid)
	}
	if _, err := os.Stat(d.pidFile()); !os.IsNotExist(err) {
		t.Errorf("pid file still there after stop: %v", err)
	}
	if err := canConnect(d.addr); err == nil {
		t.Errorf("LMTP still accepts connections after stop")
	}
	r = d.rcNoFail("status")
	if r.code != 3 || !strings.Contains(r.stdout, "not running") {
		t.Errorf("status after stop: want exit 3:\n%v", r)
	}
	r = d.rcNoFail("stop")
	if r.code != 0 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("stop when stopped: want exit 0 saying it is not running:\n%v", r)
	}
	if !strings.Contains(d.logTail(), "M-Store stopped") {
		t.Errorf("the log does not say the daemon stopped cleanly:\n%s", d.logTail())
	}

	// restart from stopped, then from running.
	r = d.rcNoFail("restart")
	if r.code != 0 {
		t.Fatalf("restart from stopped:\n%v\n--- log:\n%s", r, d.logTail())
	}
	pid2 := d.pidFromFile()
	watchPID(pid2)
	if pid2 <= 0 || pid2 == pid {
		t.Errorf("restart: pid %d (before: %d)", pid2, pid)
	}
	if err := canConnect(d.addr); err != nil {
		t.Errorf("LMTP after restart: %v", err)
	}
	r = d.rcNoFail("restart")
	if r.code != 0 {
		t.Fatalf("restart from running:\n%v\n--- log:\n%s", r, d.logTail())
	}
	pid3 := d.pidFromFile()
	watchPID(pid3)
	if pid3 <= 0 || pid3 == pid2 {
		t.Errorf("restart while running: pid %d (before: %d)", pid3, pid2)
	}
	if !exited(pid2) {
		t.Errorf("restart left the old daemon (pid %d) running", pid2)
	}
	if err := canConnect(d.addr); err != nil {
		t.Errorf("LMTP after the second restart: %v", err)
	}
	r = d.rcNoFail("status")
	if r.code != 0 || !strings.Contains(r.stdout, "(pid "+strconv.Itoa(pid3)+")") {
		t.Errorf("status after restart: want exit 0 naming pid %d:\n%v", pid3, r)
	}
	d.stop()

	// A bad argument.
	r = d.rcNoFail("bogus")
	if r.code == 0 || !strings.Contains(r.stderr, "usage: rc.m-store start|stop|restart|status") {
		t.Errorf("rc.m-store bogus: want a usage error:\n%v", r)
	}
}

// TestRcStartPortTaken: start fails, saying why, when another listener
// holds the LMTP port.
func TestRcStartPortTaken(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		t.Fatalf("take the port: %v", err)
	}
	defer ln.Close()
	r := d.rcNoFail("start")
	if r.code == 0 {
		t.Fatalf("start with the LMTP port taken exited 0:\n%v", r)
	}
	for _, want := range []string{"exited during start-up", d.addr, "address already in use"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("start with the port taken does not say %q:\n%v", want, r)
		}
	}
	if pid := d.pidFromFile(); pid > 0 && syscall.Kill(pid, 0) == nil {
		t.Errorf("a daemon (pid %d) runs after the failed start", pid)
	}
	if r := d.rcNoFail("status"); r.code != 3 {
		t.Errorf("status after the failed start: want exit 3:\n%v", r)
	}
	// Once the port is free, start works.
	ln.Close()
	d.start()
	if err := canConnect(d.addr); err != nil {
		t.Errorf("LMTP after start: %v", err)
	}
	d.stop()
}

// TestRcStartNoSuchUser: start fails naming a runtime user that does not exist.
func TestRcStartNoSuchUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the tools refuse to run as anyone but root or the runtime user")
	}
	d := newDaemon(t, daemonOptions{user: "nosuchuser"})
	r := d.rcNoFail("start")
	if r.code == 0 {
		t.Fatalf("start with runtime-user = nosuchuser exited 0:\n%v", r)
	}
	if !strings.Contains(r.stderr, `"nosuchuser"`) || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("start with runtime-user = nosuchuser does not name the user:\n%v", r)
	}
	if pid := d.pidFromFile(); pid > 0 && syscall.Kill(pid, 0) == nil {
		t.Errorf("a daemon (pid %d) runs after the failed start", pid)
	}
	if err := canConnect(d.addr); err == nil {
		t.Errorf("something accepts LMTP connections after the failed start")
	}
}

// TestRcStopZombie: rc.m-store stop when the daemon's parent does not reap
// it (a container whose PID 1 does not reap orphans, as on the machine
// these tests were written on): the daemon exits and removes its pid file,
// but stays a zombie until reaped; kill -0 still succeeds on a zombie, so
// stop must not take it for a live process.
func TestRcStopZombie(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonOptions{})
	h := exec.Command(os.Args[0])
	h.Env = append(d.environ(), holderEnv+"="+filepath.Join(binDir, "rc.m-store"))
	stdin, err := h.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := h.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the holder exits; the zombie goes to us, and the reaper
		h.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "started 0" {
		t.Fatalf("rc.m-store start under a non-reaping parent: %q %v\n--- log:\n%s", line, err, d.logTail())
	}
	pid := d.pidFromFile()
	watchPID(pid)

	cmd := exec.Command(filepath.Join(binDir, "rc.m-store"), "stop")
	cmd.Env = append(d.environ(), "STOP_WAIT=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		state, _ := procStatus(pid, "State")
		t.Errorf("rc.m-store stop with the daemon's parent not reaping: %v\n%s\n(daemon pid %d state: %q; its log ends:\n%s)", err, out, pid, state, d.logTail())
	}
}
