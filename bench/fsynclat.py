#!/usr/bin/env python3
"""Measure the raw durable-write limit of a directory's file system.

    fsynclat.py DIR [--seconds S] [--json]

Four loops, each for S seconds (default 2), in a scratch directory under DIR
that is removed afterwards:

  overwrite   pwrite 512 bytes at offset 0 of a 4 KB file, fdatasync
              (a log or table page rewritten in place: no metadata change)
  append      append 512 bytes to a file, fdatasync
              (a log that grows: the size change must reach the journal)
  create      create a file, write 4 KB, fsync, close, rename it into
              place, fsync the directory (how both servers store a message)
  create x16  the same from 16 threads at once, each in its own directory
              (16 connections delivering at once without group commit)

For each: operations per second and the p50/p99 latency of one operation.
One thread's ops/s is the ceiling of anything that waits for one such
write per operation; --json prints the figures for compare.sh.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

BLOCK = b"x" * 4096
SMALL = b"y" * 512


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def summarize(lats, elapsed):
    lats.sort()
    return {
        "ops": len(lats),
        "ops_per_sec": len(lats) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(lats, 50) * 1000.0,
        "p99_ms": percentile(lats, 99) * 1000.0,
    }


def loop(seconds, op):
    lats = []
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        op()
        lats.append(time.perf_counter() - t0)
    return lats, time.perf_counter() - start


def overwrite(d, seconds):
    path = os.path.join(d, "overwrite.dat")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, BLOCK)
        os.fsync(fd)

        def op():
            os.pwrite(fd, SMALL, 0)
            os.fdatasync(fd)

        lats, el = loop(seconds, op)
    finally:
        os.close(fd)
    return summarize(lats, el)


def append(d, seconds):
    path = os.path.join(d, "append.dat")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        def op():
            os.write(fd, SMALL)
            os.fdatasync(fd)

        lats, el = loop(seconds, op)
    finally:
        os.close(fd)
    return summarize(lats, el)


def creator(d):
    """Returns an operation that stores one 4 KB file durably in d."""
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    os.makedirs(os.path.join(d, "cur"), exist_ok=True)
    dfd = os.open(os.path.join(d, "cur"), os.O_RDONLY | os.O_DIRECTORY)
    n = [0]

    def op():
        n[0] += 1
        tmp = os.path.join(d, "tmp", "m%d" % n[0])
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, BLOCK)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(d, "cur", "m%d" % n[0]))
        os.fsync(dfd)

    def close():
        os.close(dfd)

    return op, close


def create(d, seconds):
    op, close = creator(os.path.join(d, "create"))
    try:
        lats, el = loop(seconds, op)
    finally:
        close()
    return summarize(lats, el)


def create_parallel(d, seconds, threads):
    results = [None] * threads
    barrier = threading.Barrier(threads)

    def worker(i):
        op, close = creator(os.path.join(d, "par%d" % i))
        try:
            barrier.wait()
            results[i] = loop(seconds, op)
        finally:
            close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lats = [x for r in results for x in r[0]]
    el = max(r[1] for r in results)
    return summarize(lats, el)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="fsynclat.", dir=a.dir)
    try:
        res = {
            "overwrite_fdatasync": overwrite(d, a.seconds),
            "append_fdatasync": append(d, a.seconds),
            "create_fsync_rename": create(d, a.seconds),
            "create_fsync_rename_parallel": create_parallel(d, a.seconds, a.threads),
        }
        res["create_fsync_rename_parallel"]["threads"] = a.threads
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if a.json:
        json.dump(res, sys.stdout)
        sys.stdout.write("\n")
        return
    names = {
        "overwrite_fdatasync": "512 B overwrite in place + fdatasync",
        "append_fdatasync": "512 B append + fdatasync",
        "create_fsync_rename": "create 4 KB + fsync + rename + dir fsync",
        "create_fsync_rename_parallel": "the same, %d threads" % a.threads,
    }
    for k, label in names.items():
        r = res[k]
        print("%-44s %9.0f ops/s  p50 %.3f ms  p99 %.3f ms" % (label, r["ops_per_sec"], r["p50_ms"], r["p99_ms"]))


if __name__ == "__main__":
    main()
