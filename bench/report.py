#!/usr/bin/env python3
"""Print compare.sh's table from its results directory.

    report.py RESULTS_DIR [--format text|markdown] [--stat best|median]
              [--splice FILE]

RESULTS_DIR holds what compare.sh wrote (compare.sh --keep or --results
DIR keeps it), so the table can be printed again, in either format,
without running anything: e.g. `report.py DIR --format markdown` for
docs/PERFORMANCE.md. --splice FILE replaces the text between the lines
"<!-- compare.sh table start -->" and "<!-- compare.sh table end -->" in
FILE with the Markdown table instead of printing it.
"""

import argparse
import glob
import io
import json
import os
import re
import statistics
import sys

SERVERS = ("mstore", "dovecot")
LOADS = ("idle", "lmtp1", "lmtp16", "imap", "pop3")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def load_avg(uptime_line):
    m = re.search(r"load average:\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)", uptime_line)
    return tuple(float(x) for x in m.groups()) if m else None


class Runs:
    """Every timed run in the results directory, by (load, server)."""

    def __init__(self, d):
        self.d = d
        self.runs = {}  # (load, server) -> [run]
        for path in sorted(glob.glob(os.path.join(d, "r*-*-*.uptime"))):
            rid = os.path.basename(path)[: -len(".uptime")]
            m = re.match(r"r(\d+)-(\w+)-(mstore|dovecot)$", rid)
            if not m:
                continue
            rnd, load, server = int(m.group(1)), m.group(2), m.group(3)
            up = read_text(path).strip().split("\n")
            run = {
                "id": rid,
                "round": rnd,
                "load": load,
                "server": server,
                "bench": load_json(os.path.join(d, rid + ".bench.json")),
                "pre": (load_json(os.path.join(d, rid + ".pre.json")) or {}).get(server),
                "post": (load_json(os.path.join(d, rid + ".post.json")) or {}).get(server),
                "post2": (load_json(os.path.join(d, rid + ".post2.json")) or {}).get(server),
                "cpu": load_json(os.path.join(d, rid + ".cpu.json")),
                "err": read_text(os.path.join(d, rid + ".err")),
                "uptime": up,
                "load_before": load_avg(up[0]) if up else None,
                "load_after": load_avg(up[-1]) if up else None,
            }
            self.runs.setdefault((load, server), []).append(run)

    def get(self, load, server):
        return self.runs.get((load, server), [])


def op_rate(bench, command=None):
    if not bench:
        return None
    if command is None:
        return (bench.get("total") or {}).get("ops_per_sec")
    for o in bench.get("ops") or []:
        if o.get("command") == command:
            return o.get("ops_per_sec")
    return None


def bench_errors(bench):
    """Errors of every line (pop3's REFILL is not in the TOTAL)."""
    return sum((o.get("errors") or 0) for o in bench.get("ops") or [])


def pick(values, stat, higher_is_better=True):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if stat == "median":
        return statistics.median(vals)
    return max(vals) if higher_is_better else min(vals)


def idle_figures(run, sessions):
    pre, post, post2 = run["pre"], run["post"], run.get("post2")
    if not pre or not post or not post.get("procs"):
        return None
    marginal = {}
    if post2 and post2.get("procs"):
        marginal = {
            "pss2_kb": post2["pss_kb"],
            "pss_marginal_kb": (post2["pss_kb"] - post["pss_kb"]) / float(sessions),
            "anon_marginal_kb": (post2["rss_anon_kb"] - post["rss_anon_kb"]) / float(sessions),
        }
    return dict(marginal, **{
        "pss_base_kb": pre["pss_kb"],
        "pss_kb": post["pss_kb"],
        "pss_per_session_kb": (post["pss_kb"] - pre["pss_kb"]) / float(sessions),
        "anon_base_kb": pre["rss_anon_kb"],
        "anon_kb": post["rss_anon_kb"],
        "anon_per_session_kb": (post["rss_anon_kb"] - pre["rss_anon_kb"]) / float(sessions),
        "procs": post["procs"],
    })


def fmt_num(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return "{:,}".format(v) + unit
    if abs(v) >= 100:
        s = "{:,.0f}".format(v)
    elif abs(v) >= 10:
        s = "{:.1f}".format(v)
    else:
        s = "{:.2f}".format(v)
    return s + unit


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--format", choices=("text", "markdown"), default="text")
    ap.add_argument("--stat", choices=("best", "median"), default=None)
    ap.add_argument("--sessions", type=int, default=None, help="idle sessions (default: from the results)")
    ap.add_argument("--splice", metavar="FILE")
    a = ap.parse_args()
    if a.splice:
        a.format = "markdown"
        buf = io.StringIO()
        render(a, buf)
        splice(a.splice, buf.getvalue())
        return
    render(a, sys.stdout)


START = "<!-- compare.sh table start -->"
END = "<!-- compare.sh table end -->"


def splice(path, text):
    with open(path) as f:
        doc = f.read()
    i, j = doc.find(START), doc.find(END)
    if i < 0 or j < i:
        sys.exit("report.py: %s has no %s ... %s lines" % (path, START, END))
    doc = doc[: i + len(START)] + "\n" + text + doc[j:]
    with open(path + ".tmp", "w") as f:
        f.write(doc)
    os.replace(path + ".tmp", path)


def render(a, out):

    machine = {}
    for line in read_text(os.path.join(a.dir, "machine.txt")).splitlines():
        k, _, v = line.partition("=")
        machine[k] = v
    stat = a.stat or machine.get("stat", "best")
    if a.sessions is None:
        a.sessions = int(machine.get("sessions", "100"))
    runs = Runs(a.dir)
    fs = load_json(os.path.join(a.dir, "fsync.json")) or {}
    peak = load_json(os.path.join(a.dir, "peak.json")) or {}
    disk = {s: load_json(os.path.join(a.dir, "disk-%s.json" % s)) for s in SERVERS}

    rows = []  # (figure, mstore, dovecot, ratio, target, verdict)

    def add(figure, vals, unit, target=None, higher=True, show_ratio=True):
        m, d = vals
        r = ratio(m, d) if show_ratio else None
        verdict = ""
        if target is not None and r is not None:
            ok = r >= target if higher else r <= target
            verdict = "yes" if ok else "NO"
        tgt = ""
        if target is not None:
            tgt = (">= " if higher else "<= ") + ("%g" % target)
        rows.append((figure, fmt_num(m, unit), fmt_num(d, unit), "n/a" if r is None and show_ratio else ("" if r is None else "%.2f" % r), tgt, verdict))

    def throughput(load, command=None):
        return tuple(pick([op_rate(r["bench"], command) for r in runs.get(load, s)], stat) for s in SERVERS)

    add("LMTP deliveries/s, 1 connection", throughput("lmtp1", "DELIVER"), "", 1.5)
    add("LMTP deliveries/s, 16 connections", throughput("lmtp16", "DELIVER"), "", 2)
    add("IMAP mixed ops/s, 16 connections", throughput("imap"), "", 2)
    add("POP3 RETR messages/s, 16 connections", throughput("pop3", "RETR"), "", 1.5)

    idle = {s: [idle_figures(r, a.sessions) for r in runs.get("idle", s)] for s in SERVERS}
    idle = {s: [x for x in v if x] for s, v in idle.items()}

    def idle_pick(key, higher=False):
        return tuple(pick([x[key] for x in idle[s] if key in x], stat, higher_is_better=higher) for s in SERVERS)

    kib_to_mib = lambda t: tuple(None if v is None else v / 1024.0 for v in t)
    n = a.sessions
    has2 = any("pss_marginal_kb" in x for v in idle.values() for x in v)
    add("idle IMAP: PSS per session, first %d (KiB)" % n, idle_pick("pss_per_session_kb"), "",
        None if has2 else 0.1, higher=False)
    add("idle IMAP: RssAnon per session, first %d (KiB)" % n, idle_pick("anon_per_session_kb"), "")
    if has2:
        add("idle IMAP: PSS per session, next %d (KiB)" % n, idle_pick("pss_marginal_kb"), "", 0.1, higher=False)
        add("idle IMAP: RssAnon per session, next %d (KiB)" % n, idle_pick("anon_marginal_kb"), "")
    add("idle IMAP: PSS, no session (MiB)", kib_to_mib(idle_pick("pss_base_kb")), "")
    add("idle IMAP: PSS, %d sessions (MiB)" % n, kib_to_mib(idle_pick("pss_kb")), "")
    if has2:
        add("idle IMAP: PSS, %d sessions (MiB)" % (2 * n), kib_to_mib(idle_pick("pss2_kb")), "")
    add("peak RSS during the run (MiB)", kib_to_mib(tuple((peak.get(s) or {}).get("peak_rss_kb") for s in SERVERS)), "")
    add("peak RssAnon during the run (MiB)", kib_to_mib(tuple((peak.get(s) or {}).get("peak_rss_anon_kb") for s in SERVERS)), "")
    add("peak PSS during the run (MiB)", kib_to_mib(tuple((peak.get(s) or {}).get("peak_pss_kb") for s in SERVERS)), "")

    def per_msg(s, part, with_dirs=False, alloc=False):
        dd = disk.get(s)
        if not dd or not dd.get("messages") or part not in dd:
            return None
        x = dd[part]
        if alloc:
            b = x["alloc_bytes"] + (x.get("dir_alloc_bytes", 0) if with_dirs else 0)
        else:
            b = x["bytes"] + (x.get("dir_bytes", 0) if with_dirs else 0)
        return b / float(dd["messages"])

    add("db bytes/message (M-Store tables; Dovecot index)", (per_msg("mstore", "db"), per_msg("dovecot", "index")), "", 1, higher=False)
    add("transaction log bytes/message (M-Store only)", (per_msg("mstore", "log"), None), "", show_ratio=False)
    add("message-file bytes/message (files only)", (per_msg("mstore", "files"), per_msg("dovecot", "files")), "")
    add("message storage bytes/message (du -b: files + directories)",
        (per_msg("mstore", "files", True), per_msg("dovecot", "files", True)), "")
    add("message storage allocated bytes/message (du: blocks)",
        (per_msg("mstore", "files", True, True), per_msg("dovecot", "files", True, True)), "")
    add("messages stored at the end", tuple((disk.get(s) or {}).get("messages") for s in SERVERS), "")

    errs = []
    for s in SERVERS:
        n = 0
        for (load, server), rs in runs.runs.items():
            if server != s:
                continue
            for r in rs:
                b = r["bench"]
                if b:
                    n += bench_errors(b)
        errs.append(n)
    add("bench errors, all runs", tuple(errs), "", show_ratio=False)
    logerrs = []
    for s in SERVERS:
        path = os.path.join(a.dir, "%s-errors.log" % s)
        logerrs.append(len(read_text(path).splitlines()) if os.path.exists(path) else None)
    add("server log lines with errors/warnings", tuple(logerrs), "", show_ratio=False)

    # Header.
    loads = [r["load_before"] for rs in runs.runs.values() for r in rs if r["load_before"]]
    loads += [r["load_after"] for rs in runs.runs.values() for r in rs if r["load_after"]]
    l1 = [x[0] for x in loads]
    header = [
        "machine: %s CPUs (%s), %s, kernel %s, Debian %s, %s"
        % (machine.get("nproc", "?"), machine.get("cpu", "?"), machine.get("mem", "?"), machine.get("kernel", "?"),
           machine.get("debian", "?"), machine.get("fs", "?")),
        "versions: %s, Dovecot %s" % (machine.get("go", "?"), machine.get("dovecot", "?")),
        "runs: %s each, %s rounds (M-Store then Dovecot for each load), %s users per load, bcrypt cost %s, %s-byte messages; figure = %s of the rounds"
        % (machine.get("duration", "?"), machine.get("rounds", "?"), machine.get("users", "?"), machine.get("cost", "?"),
           machine.get("size", "?"), "best" if stat == "best" else "median"),
        "uptime at start: %s" % machine.get("uptime_start", "?").strip(),
        "uptime at end:   %s" % machine.get("uptime_end", "?").strip(),
    ]
    if l1:
        header.append("1-minute load average around the runs: %.2f to %.2f" % (min(l1), max(l1)))
    if fs:
        def f(k):
            x = fs.get(k) or {}
            return "%s/s (p50 %.3f ms)" % (fmt_num(x.get("ops_per_sec")), x.get("p50_ms", 0))
        header.append(
            "disk limit (fsynclat.py): 512 B overwrite+fdatasync %s; 512 B append+fdatasync %s; "
            "4 KB create+fsync+rename+dir fsync %s, %d threads %s"
            % (f("overwrite_fdatasync"), f("append_fdatasync"), f("create_fsync_rename"),
               (fs.get("create_fsync_rename_parallel") or {}).get("threads", 16), f("create_fsync_rename_parallel")))

    cols = ("figure", "M-Store", "Dovecot", "M-Store/Dovecot", "target", "met")

    # Per-run details: throughput, errors, CPU of server and load generator.
    detail = []
    order = {l: i for i, l in enumerate(LOADS)}
    allruns = [r for rs in runs.runs.values() for r in rs]
    allruns.sort(key=lambda r: (order.get(r["load"], 99), r["round"], SERVERS.index(r["server"])))
    for r in allruns:
        load = r["load"]
        if True:
            b = r["bench"]
            if load == "idle":
                fi = idle_figures(r, a.sessions)
                val = "n/a"
                if fi:
                    val = "PSS %s -> %s" % (fmt_num(fi["pss_base_kb"]), fmt_num(fi["pss_kb"]))
                    if "pss2_kb" in fi:
                        val += " -> %s" % fmt_num(fi["pss2_kb"])
                    val += " KiB"
                detail.append((r["id"], val, "", "", "", "%.2f" % r["load_before"][0] if r["load_before"] else "?"))
                continue
            ops = op_rate(b)
            errors = bench_errors(b) if b else None
            # The snapshots bracket the whole bench process (prefill and
            # grace included), so CPU is per wall second of that process.
            wall = (r["cpu"] or {}).get("wall_s") or (b or {}).get("duration_s")
            srv_cpu = None
            if r["pre"] and r["post"] and wall:
                srv_cpu = (r["post"]["cpu_s"] - r["pre"]["cpu_s"]) / wall * 100
            cli_cpu = None
            if r["cpu"] and r["cpu"].get("wall_s"):
                cli_cpu = (r["cpu"]["user_s"] + r["cpu"]["sys_s"]) / r["cpu"]["wall_s"] * 100
            detail.append((r["id"], fmt_num(ops, " ops/s") if ops is not None else "no result",
                           "" if errors is None else str(errors),
                           "" if srv_cpu is None else "%.0f%%" % srv_cpu,
                           "" if cli_cpu is None else "%.0f%%" % cli_cpu,
                           "%.2f" % r["load_before"][0] if r["load_before"] else "?"))
    dcols = ("run", "result", "errors", "server CPU", "bench CPU", "load1 before")

    samples = []
    for s in SERVERS:
        for (load, server), rs in runs.runs.items():
            if server != s:
                continue
            for r in rs:
                b = r["bench"] or {}
                for e in (b.get("error_samples") or [])[:3]:
                    samples.append("%s: %s" % (r["id"], e))

    if a.format == "markdown":
        for h in header:
            out.write("- %s\n" % h)
        out.write("\n| %s |\n|%s\n" % (" | ".join(cols), "---|" * len(cols)))
        for row in rows:
            out.write("| %s |\n" % " | ".join(row))
        out.write("\n<details><summary>every run</summary>\n\n| %s |\n|%s\n" % (" | ".join(dcols), "---|" * len(dcols)))
        for row in detail:
            out.write("| %s |\n" % " | ".join(row))
        out.write("\n</details>\n")
        if samples:
            out.write("\nError samples:\n\n")
            for e in samples[:20]:
                out.write("- `%s`\n" % e.replace("`", "'"))
        return

    for h in header:
        out.write(h + "\n")
    out.write("\n")

    def table(cols, rows):
        w = [max(len(str(x)) for x in col) for col in zip(cols, *rows)]
        line = lambda r: "  ".join(str(x).ljust(w[i]) if i == 0 else str(x).rjust(w[i]) for i, x in enumerate(r))
        out.write(line(cols).rstrip() + "\n")
        out.write("  ".join("-" * x for x in w) + "\n")
        for r in rows:
            out.write(line(r).rstrip() + "\n")

    table(dcols, detail)
    out.write("\n")
    table(cols, rows)
    if samples:
        out.write("\nerror samples:\n")
        for e in samples[:20]:
            out.write("  " + e + "\n")


if __name__ == "__main__":
    main()
