#!/usr/bin/env python3
"""One LMTP transaction with Python's smtplib.LMTP, for the daemon tests.

Reads a JSON request on standard input:
    {"host": ..., "port": ..., "from": ..., "rcpts": [...], "message": base64}
and writes a JSON answer on standard output:
    {"lhlo": code, "mail": [code, text],
     "rcpt": [[rcpt, code, text], ...],
     "data": [[rcpt, code, text], ...]}     one per accepted recipient

smtplib's data() returns only the first of LMTP's per-recipient replies;
the others are read with getreply(), one per accepted recipient, in RCPT
order.
"""
import base64
import json
import smtplib
import sys


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def main():
    req = json.load(sys.stdin)
    out = {"lhlo": None, "mail": None, "rcpt": [], "data": []}
    s = smtplib.LMTP(req["host"], req["port"], timeout=120)
    code, _ = s.ehlo()  # LMTP sends LHLO
    out["lhlo"] = code
    code, msg = s.mail(req["from"])
    out["mail"] = [code, text(msg)]
    accepted = []
    for r in req["rcpts"]:
        code, msg = s.rcpt(r)
        out["rcpt"].append([r, code, text(msg)])
        if code == 250:
            accepted.append(r)
    if accepted:
        data = base64.b64decode(req["message"])
        replies = [s.data(data)]  # the first recipient's reply
        for _ in accepted[1:]:
            replies.append(s.getreply())
        out["data"] = [[r, c, text(m)] for r, (c, m) in zip(accepted, replies)]
    else:
        s.rset()
    s.quit()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
