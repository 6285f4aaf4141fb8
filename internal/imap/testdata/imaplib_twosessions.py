"""Two imaplib sessions on one mailbox while the Go test delivers mail:
A marks and expunges, B fetches and searches. Both must keep a view
consistent with what the server tells them; at the end both agree with
UID SEARCH ALL.

Usage: imaplib_twosessions.py HOST PORT USER PASSWORD ROUNDS
"""
import imaplib
import re
import sys

host, port, user, password, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)


class Session:
    def __init__(self, name):
        self.name = name
        self.m = imaplib.IMAP4(host, port)
        self.m.login(user, password)
        typ, data = self.m.select("INBOX")
        self.n = int(data[0])

    def apply(self, during):
        """Applies EXISTS and EXPUNGE responses in the order they came."""
        for line in self.raw:
            m = re.match(rb"\* (\d+) (EXISTS|EXPUNGE)", line)
            if not m:
                continue
            k = int(m.group(1))
            if m.group(2) == b"EXISTS":
                check(k >= self.n, "%s: EXISTS %d shrinks %d" % (self.name, k, self.n))
                self.n = k
            else:
                check(during not in ("FETCH", "STORE", "SEARCH"), "%s: EXPUNGE during %s" % (self.name, during))
                check(1 <= k <= self.n, "%s: EXPUNGE %d of %d" % (self.name, k, self.n))
                self.n -= 1
        self.raw = []

    def cmd(self, name, *args):
        self.raw = []
        # imaplib keeps untagged responses across commands: drop those of
        # earlier ones, whose sequence numbers may have changed since.
        self.m.untagged_responses.clear()
        orig = self.m._get_line

        def spy():
            line = orig()
            self.raw.append(line)
            return line

        self.m._get_line = spy
        try:
            typ, data = getattr(self.m, name)(*args)
        finally:
            self.m._get_line = orig
        self.apply(name.upper() if name != "uid" else "UID")
        return typ, data


a, b = Session("A"), Session("B")
for i in range(rounds):
    typ, data = a.cmd("uid", "SEARCH", "ALL")
    uids = data[0].split()
    if len(uids) > 3:
        a.cmd("uid", "STORE", uids[i % len(uids)], "+FLAGS.SILENT", "(\\Deleted)")
    a.cmd("expunge")
    typ, data = b.cmd("fetch", "1:*", "(UID FLAGS)") if b.n else ("OK", [])
    check(typ in ("OK", "NO"), "B FETCH: %s %r" % (typ, data))
    for d in data:
        if d is None:
            continue
        m = re.match(rb"(\d+) \(", d if isinstance(d, bytes) else d[0])
        if m:
            check(int(m.group(1)) <= b.n, "B: FETCH %s beyond %d" % (m.group(1), b.n))
    b.cmd("search", None, "UNDELETED")
    b.cmd("noop")

print("ROUNDS DONE", flush=True)
sys.stdin.readline()  # the Go test has stopped delivering
for s in (a, b):
    s.cmd("noop")
    typ, data = s.cmd("uid", "SEARCH", "ALL")
    check(len(data[0].split()) == s.n, "%s: %d messages in view, %d in the mailbox" % (s.name, s.n, len(data[0].split())))
    s.m.logout()
print("PASS")
