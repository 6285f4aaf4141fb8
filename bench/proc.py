#!/usr/bin/env python3
"""Memory and CPU of a server's process tree, from /proc.

    proc.py snap NAME=PIDFILE...
    proc.py sample [--interval 0.2] --out FILE NAME=PIDFILE...
    proc.py settle [--max S] NAME=PIDFILE...
    proc.py run OUT COMMAND [ARG...]

A server is the process whose pid is in PIDFILE plus all its descendants
(Dovecot: master, anvil, log, config, stats, auth, the login, imap, pop3
and lmtp processes; M-Store: the one daemon process). The pid file is
read again at every sample, so a restarted server is followed.

snap prints one JSON object: for each NAME, the number of processes and
the sums over them of VmRSS, RssAnon (/proc/PID/status) and Pss
(/proc/PID/smaps_rollup), in KiB, and the CPU seconds the tree has used
(utime+stime of every live process, plus cutime+cstime of the root: the
processes it has already reaped).

sample does that every --interval seconds (PSS every fifth time) until
SIGTERM or SIGINT and writes the peaks (and the number of samples) to FILE as JSON, rewriting
the file every few seconds so that it is never far behind.

settle is snap once the memory has stopped moving: it measures every
second until two consecutive changes of every tree's PSS and RssAnon are
under 64 KiB, or --max seconds (default 20) have passed (a Go heap gives
back the garbage of start-up or of logins only gradually).

run runs COMMAND (standard input, output and error inherited), writes
the CPU seconds it used (user, system) and its wall time to OUT as JSON,
and exits with its status: the load generator's own cost, on a machine
where it shares the cores with the server it measures.
"""

import json
import os
import signal
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if os.path.exists("/proc/%d" % pid) else None


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(stat_fields(int(name))[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(root, kids):
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def status_kb(pid, keys):
    vals = dict.fromkeys(keys, 0)
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in vals:
                vals[k] = int(v.split()[0])
    return vals


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(pidfile, kids=None, with_pss=True):
    root = read_pid(pidfile)
    res = {"procs": 0, "rss_kb": 0, "rss_anon_kb": 0, "pss_kb": 0, "cpu_s": 0.0}
    if root is None:
        return res
    if kids is None:
        kids = children_map()
    ticks = 0
    for pid in tree(root, kids):
        try:
            st = status_kb(pid, ("VmRSS", "RssAnon"))
            f = stat_fields(pid)
            ticks += int(f[11]) + int(f[12])  # utime, stime
            if pid == root:
                ticks += int(f[13]) + int(f[14])  # cutime, cstime
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
        res["procs"] += 1
        res["rss_kb"] += st["VmRSS"]
        res["rss_anon_kb"] += st["RssAnon"]
        if with_pss:
            res["pss_kb"] += pss_kb(pid)
    res["cpu_s"] = ticks / float(CLK)
    return res


def parse_targets(args):
    targets = []
    for a in args:
        name, sep, path = a.partition("=")
        if not sep or not name or not path:
            sys.exit("proc.py: want NAME=PIDFILE, got %r" % a)
        targets.append((name, path))
    return targets


def snap(args):
    kids = children_map()
    json.dump({n: measure(p, kids) for n, p in parse_targets(args)}, sys.stdout)
    sys.stdout.write("\n")


def settle(args):
    limit = 20.0
    if len(args) >= 2 and args[0] == "--max":
        limit = float(args[1])
        args = args[2:]
    targets = parse_targets(args)
    deadline = time.monotonic() + limit
    prev, calm = None, 0
    while True:
        kids = children_map()
        cur = {n: measure(p, kids) for n, p in targets}
        if prev is not None:
            moved = any(abs(cur[n]["pss_kb"] - prev[n]["pss_kb"]) >= 64 or
                        abs(cur[n]["rss_anon_kb"] - prev[n]["rss_anon_kb"]) >= 64 for n in cur)
            calm = 0 if moved else calm + 1
        if calm >= 2 or time.monotonic() >= deadline:
            break
        prev = cur
        time.sleep(1.0)
    json.dump(cur, sys.stdout)
    sys.stdout.write("\n")


def sample(args):
    interval, out, rest = 0.2, None, []
    i = 0
    while i < len(args):
        if args[i] == "--interval":
            interval = float(args[i + 1])
            i += 2
        elif args[i] == "--out":
            out = args[i + 1]
            i += 2
        else:
            rest.append(args[i])
            i += 1
    if out is None:
        sys.exit("proc.py sample: --out FILE is required")
    targets = parse_targets(rest)
    peaks = {n: {"peak_rss_kb": 0, "peak_rss_anon_kb": 0, "peak_pss_kb": 0, "peak_procs": 0, "samples": 0}
             for n, _ in targets}
    stop = [False]

    def on_signal(_sig, _frm):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def write():
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(peaks, f)
        os.replace(tmp, out)

    last_write = 0.0
    tick = 0
    while not stop[0]:
        t0 = time.monotonic()
        kids = children_map()
        # PSS (smaps_rollup walks the page tables) every fifth sample only:
        # with a hundred Dovecot processes it is what costs the sampler CPU.
        with_pss = tick % 5 == 0
        tick += 1
        for n, p in targets:
            m = measure(p, kids, with_pss)
            if m["procs"] == 0:
                continue
            pk = peaks[n]
            pk["samples"] += 1
            pk["peak_rss_kb"] = max(pk["peak_rss_kb"], m["rss_kb"])
            pk["peak_rss_anon_kb"] = max(pk["peak_rss_anon_kb"], m["rss_anon_kb"])
            if with_pss:
                pk["peak_pss_kb"] = max(pk["peak_pss_kb"], m["pss_kb"])
            pk["peak_procs"] = max(pk["peak_procs"], m["procs"])
        if t0 - last_write > 5:
            write()
            last_write = t0
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    write()


def run(args):
    if len(args) < 2:
        sys.exit("proc.py run: want OUT COMMAND [ARG...]")
    out, cmd = args[0], args[1:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    signal.signal(signal.SIGTERM, lambda s, f: os.kill(pid, s))
    signal.signal(signal.SIGINT, lambda s, f: os.kill(pid, s))
    while True:
        try:
            _, status, ru = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    with open(out, "w") as f:
        json.dump({"user_s": ru.ru_utime, "sys_s": ru.ru_stime, "wall_s": time.monotonic() - t0,
                   "maxrss_kb": ru.ru_maxrss}, f)
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main():
    cmds = {"snap": snap, "sample": sample, "settle": settle, "run": run}
    if len(sys.argv) < 3 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
