#!/usr/bin/env python3
"""Drives M-Store's POP3 server with Python's poplib, for pop3's tests.

Usage: poplib_client.py SPEC.json SCENARIO

SPEC.json: {"host", "port", "tls_port", "user", "password", "cafile",
"messages": [base64 of each message as it must arrive, CRLF line ends],
"sizes": [each message's size as LIST gives it (as stored)],
"uidls": ["uidl of message 1", ...],
"top": {"msg": n, "lines": m, "want": base64}}

Scenarios: basic, stls, pop3s, authplain. Exits 0 on success; on failure
prints what went wrong and exits 1.
"""

import base64
import json
import poplib
import ssl
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def body(lines):
    """The octets of a retrieved message: poplib gives the lines without
    their CRLF and with the dot-stuffing undone."""
    return b"".join(line + b"\r\n" for line in lines)


def retrieve_all(p, spec):
    msgs = [base64.b64decode(m) for m in spec["messages"]]
    count, size = p.stat()
    check(count == len(msgs), "STAT count %d, want %d" % (count, len(msgs)))
    check(size == sum(spec["sizes"]), "STAT size %d, want %d" % (size, sum(spec["sizes"])))
    resp, listing, _ = p.list()
    check(resp.startswith(b"+OK"), "LIST: %r" % resp)
    want = [b"%d %d" % (i + 1, n) for i, n in enumerate(spec["sizes"])]
    check(listing == want, "LIST %r, want %r" % (listing, want))
    resp, uidls, _ = p.uidl()
    want = [b"%d %s" % (i + 1, u.encode()) for i, u in enumerate(spec["uidls"])]
    check(uidls == want, "UIDL %r, want %r" % (uidls, want))
    check(p.uidl(2) == b"+OK " + want[1], "UIDL 2: %r" % p.uidl(2))
    for i, m in enumerate(msgs):
        resp, lines, octets = p.retr(i + 1)
        check(resp.startswith(b"+OK"), "RETR %d: %r" % (i + 1, resp))
        got = body(lines)
        check(got == m, "RETR %d:\n got %r\nwant %r" % (i + 1, got, m))


def basic(spec):
    p = poplib.POP3(spec["host"], spec["port"], timeout=30)
    check(p.getwelcome().startswith(b"+OK"), "greeting %r" % p.getwelcome())
    caps = p.capa()
    for c in ["TOP", "USER", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "SASL", "IMPLEMENTATION"]:
        check(c in caps, "CAPA lacks %s: %r" % (c, caps))
    check(caps["SASL"] == ["PLAIN"], "SASL %r" % caps["SASL"])
    check("STLS" in caps, "STLS not offered: %r" % caps)
    p.user(spec["user"])
    try:
        p.pass_("wrong password")
        fail("wrong password accepted")
    except poplib.error_proto as e:
        check(str(e).startswith("b'-ERR [AUTH]"), "wrong password: %s" % e)
    p.user(spec["user"])
    p.pass_(spec["password"])
    retrieve_all(p, spec)
    top = spec["top"]
    resp, lines, _ = p.top(top["msg"], top["lines"])
    check(body(lines) == base64.b64decode(top["want"]), "TOP: %r" % body(lines))
    p.dele(1)
    try:
        p.retr(1)
        fail("RETR of a deleted message worked")
    except poplib.error_proto:
        pass
    count, _ = p.stat()
    check(count == len(spec["messages"]) - 1, "STAT after DELE: %d" % count)
    p.rset()
    count, _ = p.stat()
    check(count == len(spec["messages"]), "STAT after RSET: %d" % count)
    p.dele(2)
    p.noop()
    resp = p.quit()
    check(resp.startswith(b"+OK"), "QUIT: %r" % resp)


def stls(spec):
    p = poplib.POP3(spec["host"], spec["port"], timeout=30)
    caps = p.capa()
    check("STLS" in caps, "CAPA lacks STLS: %r" % caps)
    ctx = ssl.create_default_context(cafile=spec["cafile"])
    p.stls(context=ctx)
    caps = p.capa()
    check("STLS" not in caps, "STLS offered over TLS: %r" % caps)
    p.user(spec["user"])
    p.pass_(spec["password"])
    retrieve_all(p, spec)
    p.quit()


def pop3s(spec):
    ctx = ssl.create_default_context(cafile=spec["cafile"])
    p = poplib.POP3_SSL(spec["host"], spec["tls_port"], context=ctx, timeout=30)
    caps = p.capa()
    check("STLS" not in caps, "STLS offered over TLS: %r" % caps)
    p.user(spec["user"])
    p.pass_(spec["password"])
    retrieve_all(p, spec)
    p.quit()


def authplain(spec):
    cred = base64.b64encode(b"\0" + spec["user"].encode() + b"\0" + spec["password"].encode()).decode()
    # With an initial response.
    p = poplib.POP3(spec["host"], spec["port"], timeout=30)
    resp = p._shortcmd("AUTH PLAIN " + cred)
    check(resp.startswith(b"+OK"), "AUTH PLAIN with initial response: %r" % resp)
    count, _ = p.stat()
    check(count == len(spec["messages"]), "STAT %d" % count)
    p.quit()
    # With a continuation.
    p = poplib.POP3(spec["host"], spec["port"], timeout=30)
    p._putcmd("AUTH PLAIN")
    line, _ = p._getline()
    check(line == b"+ ", "continuation %r" % line)
    resp = p._shortcmd(cred)
    check(resp.startswith(b"+OK"), "AUTH PLAIN after continuation: %r" % resp)
    retrieve_all(p, spec)
    p.quit()
    # A wrong password gets the AUTH response code.
    p = poplib.POP3(spec["host"], spec["port"], timeout=30)
    bad = base64.b64encode(b"\0" + spec["user"].encode() + b"\0nope").decode()
    try:
        p._shortcmd("AUTH PLAIN " + bad)
        fail("wrong password accepted")
    except poplib.error_proto as e:
        check(str(e).startswith("b'-ERR [AUTH]"), "wrong password: %s" % e)
    p.quit()


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    {"basic": basic, "stls": stls, "pop3s": pop3s, "authplain": authplain}[sys.argv[2]](spec)
    print("OK")


if __name__ == "__main__":
    main()
