#!/usr/bin/env python3
"""Disk bytes per stored message, for bench/compare.sh.

    disk.py mstore MSPATH MSTORE_BINARY CONF
    disk.py dovecot MAILROOT

Prints one JSON object. For each part: files and their apparent bytes
(st_size), allocated bytes (st_blocks * 512), and the directories' own
sizes apart ("dir_bytes"; `du -b` is bytes + dir_bytes). Dovecot's
directories (the Maildirs, their cur/ new/ tmp/) are counted with its
message files, none with its index files.

M-Store: "db" is <ms-path>/database/data (the table files), "log" is
<ms-path>/database/transaction_log, "files" is <ms-path>/mail (message
files, one per distinct content); messages are the keys of the "mail"
table's message space ('U' prefix), read with `mstore msdb_dump mail`
(with the daemon stopped, or through it when it runs).

Dovecot: every file in a Maildir's cur/ and new/ (and tmp/) is a message
file and cur/ + new/ are the messages; everything else under the mail root
(dovecot.index, dovecot.index.cache, dovecot.index.log[.2],
dovecot-uidlist, dovecot-keywords, dovecot.list.index*, dovecot-uidvalidity*,
subscriptions, maildirfolder) is index.
"""

import json
import os
import subprocess
import sys


def walk_sizes(root, want=lambda path: True, dirs=True):
    """Sizes of the files under root that want accepts; with dirs, also of
    the directories (root included), which `du -b` counts too."""
    n, size, alloc, nd, dsize, dalloc = 0, 0, 0, 0, 0, 0
    for dirpath, _dirs, files in os.walk(root):
        if dirs:
            try:
                st = os.lstat(dirpath)
                nd += 1
                dsize += st.st_size
                dalloc += st.st_blocks * 512
            except OSError:
                pass
        for f in files:
            p = os.path.join(dirpath, f)
            if not want(p):
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            n += 1
            size += st.st_size
            alloc += st.st_blocks * 512
    return {"files": n, "bytes": size, "alloc_bytes": alloc,
            "dirs": nd, "dir_bytes": dsize, "dir_alloc_bytes": dalloc}


def mstore_messages(binary, conf):
    """Counts the message records: keys of the mail table starting with U."""
    out = subprocess.run([binary, "msdb_dump", "-f", conf, "mail"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    lines = out.split(b"\n")
    try:
        i = lines.index(b"HEADER=END") + 1
    except ValueError:
        raise SystemExit("disk.py: msdb_dump output has no HEADER=END")
    n = 0
    key = True
    while i < len(lines) and lines[i] != b"DATA=END":
        if key and lines[i].startswith(b" U"):
            n += 1
        key = not key
        i += 1
    return n


def mstore(mspath, binary, conf):
    db = os.path.join(mspath, "database")
    return {
        "messages": mstore_messages(binary, conf),
        "db": walk_sizes(os.path.join(db, "data")),
        "log": walk_sizes(os.path.join(db, "transaction_log")),
        "files": walk_sizes(os.path.join(mspath, "mail")),
    }


def in_maildir_sub(path, subs):
    return os.path.basename(os.path.dirname(path)) in subs


def dovecot(mailroot):
    msgs = walk_sizes(mailroot, lambda p: in_maildir_sub(p, ("cur", "new")))
    files = walk_sizes(mailroot, lambda p: in_maildir_sub(p, ("cur", "new", "tmp")))
    index = walk_sizes(mailroot, lambda p: not in_maildir_sub(p, ("cur", "new", "tmp")), dirs=False)
    return {"messages": msgs["files"], "index": index, "files": files}


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "mstore":
        res = mstore(a[1], a[2], a[3])
    elif len(a) == 2 and a[0] == "dovecot":
        res = dovecot(a[1])
    else:
        sys.exit(__doc__)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
