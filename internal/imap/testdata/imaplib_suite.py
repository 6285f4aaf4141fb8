"""Python imaplib against M-Store's IMAP server, one check per capability.

Usage: imaplib_suite.py HOST PORT USER PASSWORD
Exits non-zero with a message on the first failed check.
"""
import imaplib
import re
import socket
import sys
import time

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

# Commands imaplib does not know.
for name, states in {
    "MOVE": ("SELECTED",),
    "UNAUTHENTICATE": ("AUTH", "SELECTED"),
    "IDLE": ("AUTH", "SELECTED"),
}.items():
    imaplib.Commands.setdefault(name, states)


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)


def ok(res, what):
    typ, data = res
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def flat(data):
    out = []
    for d in data:
        if isinstance(d, tuple):
            out.append(d[0].decode("latin-1") + d[1].decode("latin-1"))
        elif d is not None:
            out.append(d.decode("latin-1"))
    return "\n".join(out)


M = imaplib.IMAP4(host, port)
caps = set(M.capabilities)
check("IMAP4REV1" in caps and "AUTH=PLAIN" in caps and "SASL-IR" in caps, "pre-login capabilities %r" % caps)

# AUTH=PLAIN / SASL-IR
typ, _ = M.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (user, password)).encode())
check(typ == "OK", "AUTHENTICATE PLAIN")
caps = set(flat(ok(M.capability(), "CAPABILITY")).upper().split())
for c in ["IMAP4REV1", "IMAP4REV2", "IDLE", "MOVE", "UIDPLUS", "UNSELECT", "NAMESPACE", "ENABLE",
          "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "CHILDREN", "ESEARCH",
          "SEARCHRES", "LITERAL+", "SASL-IR", "STATUS=SIZE", "BINARY", "UNAUTHENTICATE"]:
    check(c in caps, "capability " + c)
check(any(c.startswith("APPENDLIMIT=") for c in caps), "APPENDLIMIT")

# UNAUTHENTICATE, then LOGIN
ok(M._simple_command("UNAUTHENTICATE"), "UNAUTHENTICATE")
M.state = "NONAUTH"
ok(M.login(user, password), "LOGIN")

# NAMESPACE
ns = flat(ok(M.namespace(), "NAMESPACE"))
check('(("" "/"))' in ns, "NAMESPACE %r" % ns)

# CREATE (CREATE-SPECIAL-USE), LIST, LIST-EXTENDED, LIST-STATUS, CHILDREN, SPECIAL-USE
ok(M.create("py/sub"), "CREATE py/sub")
ok(M._simple_command("CREATE", "py-sent", "(USE (\\Sent))"), "CREATE (USE)")
ok(M.create('"Caf&AOk-"'), "CREATE modified UTF-7")
lst = flat(ok(M.list(), "LIST"))
check('(\\HasChildren) "/" "py"' in lst, "LIST py: %r" % lst)
check('"/" "Caf&AOk-"' in lst, "LIST UTF-7: %r" % lst)
check("\\Sent" in lst, "SPECIAL-USE in LIST: %r" % lst)
typ, data = M._simple_command("LIST", '(SPECIAL-USE)', '""', '"*"')
lst = flat(M._untagged_response(typ, data, "LIST")[1])
check("py-sent" in lst and "INBOX" not in lst, "LIST (SPECIAL-USE): %r" % lst)
typ, data = M._simple_command("LIST", '""', '"py*"', "RETURN", "(CHILDREN STATUS (MESSAGES UIDNEXT))")
check(typ == "OK", "LIST RETURN STATUS")
st = flat(M._untagged_response(typ, data, "STATUS")[1])
M._untagged_response(typ, data, "LIST")
check("MESSAGES 0" in st, "LIST-STATUS: %r" % st)

# SUBSCRIBE / LSUB / UNSUBSCRIBE
ok(M.subscribe("py/sub"), "SUBSCRIBE")
check("py/sub" in flat(ok(M.lsub(), "LSUB")), "LSUB")
ok(M.unsubscribe("py/sub"), "UNSUBSCRIBE")

# RENAME (children move too), DELETE
ok(M.rename("py", "py2"), "RENAME")
lst = flat(ok(M.list(), "LIST"))
check("py2/sub" in lst and '"py/sub"' not in lst, "RENAME carries children: %r" % lst)
ok(M.delete("py2/sub"), "DELETE")

# APPEND (flags, date), UIDPLUS APPENDUID, LITERAL+ is used by nothing here
msg = b"From: py@example.org\r\nTo: alice@example.org\r\nSubject: from python\r\nDate: Fri, 1 Jan 2021 00:00:00 +0000\r\n\r\nHello from imaplib.\r\n"
date = imaplib.Time2Internaldate(time.mktime((2021, 1, 2, 3, 4, 5, 0, 0, -1)))
typ, data = M.append("py2", "(\\Seen \\FLAGGED pykw)", date, msg)
check(typ == "OK" and b"APPENDUID" in data[0], "APPEND: %r" % data)
uid_new = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))

# STATUS, STATUS=SIZE
st = flat(ok(M.status("py2", "(MESSAGES UIDNEXT UNSEEN SIZE DELETED)"), "STATUS"))
check("MESSAGES 1" in st and "UIDNEXT %d" % (uid_new + 1) in st and "UNSEEN 0" in st and "SIZE %d" % len(msg) in st, "STATUS %r" % st)

# SELECT, FETCH: cached items, sections, BINARY
typ, data = M.select("py2")
check(typ == "OK" and data[0] == b"1", "SELECT py2: %r" % data)
f = flat(ok(M.fetch("1", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE INTERNALDATE)"), "FETCH"))
check("\\Flagged" in f and "\\Seen" in f and "pykw" in f, "FLAGS canonical, keyword kept: %r" % f)
check('"from python"' in f and "RFC822.SIZE %d" % len(msg) in f, "ENVELOPE/SIZE: %r" % f)
check('"02-Jan-2021' in f or '" 2-Jan-2021' in f, "INTERNALDATE from APPEND: %r" % f)
f = flat(ok(M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<0.5> BINARY.PEEK[1] BINARY.SIZE[1])"), "FETCH sections"))
check("Subject: from python" in f and "Hello" in f and "BINARY.SIZE[1] 21" in f, "sections: %r" % f)
full = ok(M.fetch("1", "(BODY.PEEK[])"), "FETCH BODY[]")
check(full[0][1] == msg, "BODY[] round trip")

# STORE, system flags case-insensitive
f = flat(ok(M.store("1", "-FLAGS", "(\\seen PYKW)"), "STORE"))
check("\\Seen" not in f and "pykw" not in f and "\\Flagged" in f, "STORE -FLAGS: %r" % f)
ok(M.store("1", "+FLAGS", "(\\Deleted)"), "STORE +FLAGS")

# SEARCH, UID SEARCH, ESEARCH, SEARCHRES
s = flat(ok(M.search(None, "DELETED", "FROM", "py@"), "SEARCH"))
check(s.strip() == "1", "SEARCH: %r" % s)
s = flat(ok(M.uid("SEARCH", "BODY", "imaplib"), "UID SEARCH"))
check(s.strip() == str(uid_new), "UID SEARCH BODY: %r" % s)
typ, data = M._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
check(typ == "OK", "ESEARCH")
es = flat(M._untagged_response(typ, data, "ESEARCH")[1])
check("COUNT 1" in es, "ESEARCH: %r" % es)
typ, data = M._simple_command("SEARCH", "RETURN", "(SAVE)", "FLAGGED")
check(typ == "OK", "SEARCH RETURN (SAVE)")
f = flat(ok(M.fetch("$", "(UID)"), "FETCH $"))
check("UID %d" % uid_new in f, "SEARCHRES: %r" % f)

# COPY (COPYUID), MOVE, UID EXPUNGE, EXPUNGE, UNSELECT, CLOSE
ok(M.create("py-copy"), "CREATE py-copy")
typ, data = M.copy("1", "py-copy")
check(typ == "OK" and b"COPYUID" in data[0], "COPY: %r" % data)
typ, data = M.uid("MOVE", str(uid_new), "py-copy")
check(typ == "OK", "UID MOVE: %r" % data)
check(b"1" in M.untagged_responses.pop("EXPUNGE", []), "MOVE sends EXPUNGE")
st = flat(ok(M.status("py-copy", "(MESSAGES)"), "STATUS"))
check("MESSAGES 2" in st, "COPY+MOVE: %r" % st)
ok(M.select("py-copy"), "SELECT py-copy")
ok(M.store("1:*", "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
typ, data = M.uid("EXPUNGE", "1")
check(typ == "OK", "UID EXPUNGE")
typ, data = M.expunge()
check(typ == "OK", "EXPUNGE")
ok(M.unselect(), "UNSELECT")

# EXAMINE is read-only
typ, data = M.select("INBOX", readonly=True)
check(typ == "OK", "EXAMINE")
typ, data = M.store("1", "+FLAGS", "(\\Seen)") if int(data[0]) > 0 else ("NO", None)
check(typ == "NO", "STORE after EXAMINE: %r" % typ)
ok(M.close(), "CLOSE")

# ENABLE UTF8=ACCEPT: names in UTF-8
ok(M.enable("UTF8=ACCEPT"), "ENABLE")
lst = ok(M.list(), "LIST")
check(any("Café".encode() in d for d in lst if d), "UTF8=ACCEPT LIST: %r" % lst)

# IDLE (imaplib 3.11 has no idle(): by hand)
ok(M.select("INBOX"), "SELECT INBOX")
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
check(M.readline().startswith(b"+"), "IDLE continuation")
print("IDLING", flush=True)  # the Go test delivers a message now
M.sock.settimeout(30)
line = M.readline()
check(line.endswith(b"EXISTS\r\n"), "IDLE update: %r" % line)
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    if line.startswith(tag):
        check(b"OK" in line, "IDLE end: %r" % line)
        break

typ, _ = M.logout()
check(typ == "BYE", "LOGOUT: %s" % typ)
print("PASS")
