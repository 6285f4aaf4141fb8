#!/usr/bin/env python3
"""Model-based check of IMAP message sequence numbers under concurrency.

Several IMAP sessions select the same INBOX. Each keeps its own model of
the mailbox, a list indexed by message sequence number of [UID, flags],
built from SELECT and `UID FETCH 1:* (UID FLAGS)` and then updated ONLY
from the untagged responses it is sent, in stream order (EXISTS appends
unknown entries, EXPUNGE removes one, FETCH fills in UID and flags). Meanwhile
an LMTP client delivers to the mailbox and the sessions run random FETCH,
UID FETCH, STORE, UID STORE, SEARCH, UID SEARCH, COPY, MOVE (to another
mailbox and to INBOX itself), EXPUNGE, UID EXPUNGE, NOOP and IDLE.

What is checked (RFC 3501 / RFC 9051 section numbers):

  seq->UID mismatch        every FETCH response's sequence number maps to
                           the UID the model has for it, and lies within
                           the model (2.3.1.2; 2.3.1.1: a message's UID
                           does not change within a session)
  EXPUNGE during ...       no EXPUNGE while responding to FETCH, STORE or
                           SEARCH, nor when no command is in progress
                           (3501 7.4.1, 9051 7.5.1)
  EXPUNGE out of range     an EXPUNGE names a message of the view
  EXISTS decreased         only EXPUNGE may shrink the mailbox (3501 5.2)
  UIDs not ascending       UIDs ascend with sequence numbers, and a new
                           message's UID is above every UID the session has
                           seen (2.3.1.1: strictly ascending)
  UID reused               an expunged UID never comes back (2.3.1.1)
  UIDVALIDITY changed      SELECT, STATUS and COPYUID agree (2.3.1.1;
                           RFC 4315 for COPYUID)
  SEARCH ...               SEARCH results are sequence numbers of the view,
                           SEARCH UID <set> only names messages of the set,
                           UID SEARCH never returns an expunged UID (6.4.4)
  BAD response             the checker only sends valid commands
  quiesced: ...            with deliveries and sessions paused, after two
                           NOOPs, each model equals the server's
                           `UID FETCH 1:* (UID FLAGS)` exactly (every
                           message, UID and flag), STATUS MESSAGES equals
                           the model's length, and all sessions agree
                           (3501 5.2, 7.4.2: size and flag updates)

No timing is asserted: socket timeouts are only a guard against hangs.

usage: imapmodel.py --imap-port N --lmtp-port N --user U --password P
                    --recipient ADDR [--seconds 20] [--sessions 3] [--seed N]
       imapmodel.py --self-test
Exit status 1 with each violation and the session's recent trace if any
check failed, 0 otherwise. --self-test feeds wrong server responses into
the model and exits 0 when every injected violation was detected.
"""
import argparse
import collections
import email.utils
import random
import re
import select
import smtplib
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
OTHER = "Other"
IO_TIMEOUT = 30.0  # guard against a hung server, not a latency check
QUIESCE_EVERY = 5.0
FLAGS_POOL = ["\\Flagged", "\\Seen", "\\Answered", "$K1", "$K2", "$K3"]
# Commands during which the server must not send EXPUNGE (3501 7.4.1).
NO_EXPUNGE = ("FETCH", "STORE", "SEARCH")

lock = threading.Lock()
stats = collections.Counter()
violations = []  # (session name, kind, detail, trace)


def violation(sess, kind, detail):
    trace = list(sess.trace) if sess is not None else []
    with lock:
        violations.append((sess.name if sess else "-", kind, detail, trace))


def count(key, n=1):
    with lock:
        stats[key] += n


# ---- sets


def parse_set(text, star=None):
    """sequence set -> list of numbers; '*' is star"""
    out = []
    for part in text.split(","):
        if ":" in part:
            a, b = (star if x == "*" else int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        elif part:
            out.append(star if part == "*" else int(part))
    return out


def mkset(nums):
    nums = sorted(set(nums))
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else "%d:%d" % (nums[i], nums[j]))
        i = j + 1
    return ",".join(out)


UID_RE = re.compile(r"\bUID (\d+)")
FLAGS_RE = re.compile(r"\bFLAGS \(([^)]*)\)")


def normflags(text):
    return frozenset(f for f in text.split() if f.lower() != "\\recent")


# ---- one command's responses


class Ctx:
    """what one command received; kind None means no command in progress"""

    def __init__(self, kind=None, text=None, compare=False):
        self.kind, self.text, self.compare = kind, text, compare
        self.fetched = []  # (seq, uid) of each FETCH response
        self.search = None  # SEARCH/ESEARCH result
        self.search_model = None  # model UIDs when the result arrived
        self.exists_after_fetch = False
        self.lines = []
        self.tagged = None

    def status(self):
        return self.tagged.split(" ", 2)[1] if self.tagged else "?"


# ---- the model, fed only by server lines


class Model:
    """one session's view of the selected mailbox; entries are [uid, flags, floor]:
    floor is the highest UID the session had seen when the entry appeared."""

    def __init__(self, name):
        self.name = name
        self.trace = collections.deque(maxlen=40)
        self.model = []
        self.expunged = set()
        self.max_uid = 0
        self.uidvalidity = None
        self.other_uv = None

    def known(self):
        return [e[0] for e in self.model if e[0] is not None]

    def handle(self, line, ctx):
        ctx.lines.append(line)
        count("responses")
        if line.startswith("+"):
            return
        if not line.startswith("* "):
            violation(self, "unexpected line", line)
            return
        parts = line.split(" ")
        if len(parts) >= 3 and parts[1].isdigit():
            n, what = int(parts[1]), parts[2].upper()
            {"EXISTS": self.on_exists, "EXPUNGE": self.on_expunge, "FETCH": self.on_fetch}.get(
                what, lambda n, line, ctx: None)(n, line, ctx)
            return
        kw = parts[1].upper() if len(parts) > 1 else ""
        if kw in ("SEARCH", "ESEARCH"):
            self.on_search(kw, line, ctx)
        elif kw == "OK":
            m = re.search(r"\[UIDVALIDITY (\d+)\]", line)
            if m:
                self.check_uidvalidity(int(m.group(1)), "SELECT")
        elif kw == "BYE" and ctx.kind != "LOGOUT":
            violation(self, "unexpected BYE", line)

    def on_exists(self, n, line, ctx):
        if n < len(self.model):
            violation(self, "EXISTS decreased", "%s while the model has %d (during %s)" % (line, len(self.model), ctx.text))
            del self.model[n:]
            return
        if ctx.fetched:
            ctx.exists_after_fetch = True
        self.model.extend([None, None, self.max_uid] for _ in range(n - len(self.model)))

    def on_expunge(self, n, line, ctx):
        count("EXPUNGE")
        if ctx.kind is None:
            violation(self, "EXPUNGE with no command in progress", line)
        elif ctx.kind in NO_EXPUNGE:
            violation(self, "EXPUNGE during %s" % ctx.kind, '%s during "%s"' % (line, ctx.text))
        if not 1 <= n <= len(self.model):
            violation(self, "EXPUNGE out of range", "%s, model has %d" % (line, len(self.model)))
            return
        uid = self.model.pop(n - 1)[0]
        if uid is not None:
            self.expunged.add(uid)

    def on_fetch(self, n, line, ctx):
        count("FETCH")
        if not 1 <= n <= len(self.model):
            violation(self, "FETCH seq out of range", "%s, model has %d (during %s)" % (line, len(self.model), ctx.text))
            return
        e = self.model[n - 1]
        mu, mf = UID_RE.search(line), FLAGS_RE.search(line)
        if mu:
            uid = int(mu.group(1))
            if e[0] is None:
                self.learn_uid(n, e, uid, line)
            elif e[0] != uid:
                violation(self, "seq->UID mismatch", "%s: the model has seq %d = UID %d (during %s)" % (line, n, e[0], ctx.text))
        if mf:
            flags = normflags(mf.group(1))
            if ctx.compare and e[1] is not None and e[1] != flags:
                violation(self, "quiesced: flags differ", "seq %d UID %s: model %s, server %s" % (n, e[0], sorted(e[1]), sorted(flags)))
            e[1] = flags
        ctx.fetched.append((n, e[0]))

    def learn_uid(self, n, e, uid, line):
        if uid in self.expunged:
            violation(self, "UID reused", "%s: UID %d was expunged" % (line, uid))
        if uid <= e[2]:
            violation(self, "UIDs not ascending", "%s: a new message has UID %d, the session had seen UID %d" % (line, uid, e[2]))
        e[0] = uid
        self.max_uid = max(self.max_uid, uid)
        k = self.known()
        if any(a >= b for a, b in zip(k, k[1:])):
            violation(self, "UIDs not ascending", "%s: model UIDs %s" % (line, k[-20:]))

    def on_search(self, kw, line, ctx):
        if kw == "SEARCH":
            ctx.search = [int(x) for x in line.split()[2:] if x.isdigit()]
        else:
            m = re.search(r"\bALL (\S+)", line)
            ctx.search = parse_set(m.group(1)) if m else []
        ctx.search_model = [e[0] for e in self.model]

    def check_uidvalidity(self, uv, where):
        if self.uidvalidity is None:
            self.uidvalidity = uv
        elif uv != self.uidvalidity:
            violation(self, "UIDVALIDITY changed", "%s: %d, was %d" % (where, uv, self.uidvalidity))

    def on_tagged(self, ctx):
        if ctx.status() == "BAD":
            violation(self, "BAD response", "%s -> %s" % (ctx.text, ctx.tagged))
        m = re.search(r"\[COPYUID (\d+) ", ctx.tagged)
        if m:
            uv = int(m.group(1))
            if ctx.text.split()[-1] == "INBOX":
                self.check_uidvalidity(uv, "COPYUID")
            elif self.other_uv is None:
                self.other_uv = uv
            elif uv != self.other_uv:
                violation(self, "UIDVALIDITY changed", "COPYUID of %s: %d, was %d" % (OTHER, uv, self.other_uv))

    def check_search(self, ctx, uid_set=None):
        """SEARCH results are seqs of the view; SEARCH UID <set> stays in the set"""
        if ctx.search is None:
            if ctx.status() == "OK":
                violation(self, "SEARCH without result", ctx.text)
            return
        sm = ctx.search_model
        bad = [x for x in ctx.search if not 1 <= x <= len(sm)]
        if bad:
            violation(self, "SEARCH seq out of range", "%s -> %s, model had %d" % (ctx.text, bad[:5], len(sm)))
        if uid_set is not None:
            wrong = [(x, sm[x - 1]) for x in ctx.search if 1 <= x <= len(sm) and sm[x - 1] is not None and sm[x - 1] not in uid_set]
            if wrong:
                violation(self, "SEARCH seq->UID mismatch", "%s -> (seq, model UID) %s" % (ctx.text, wrong[:5]))

    def check_uid_search(self, ctx):
        if ctx.search is None:
            return
        back = [u for u in ctx.search if u in self.expunged and u not in ctx.search_model]
        if back:
            violation(self, "UID SEARCH returned an expunged UID", "%s -> %s" % (ctx.text, back[:5]))

    def check_full(self, ctx, where):
        """after a quiesced UID FETCH 1:*: every message was returned with its UID"""
        got = {n for n, u in ctx.fetched if u is not None}
        missing = [i + 1 for i in range(len(self.model)) if i + 1 not in got]
        if missing:
            violation(self, "%s: messages not returned by UID FETCH 1:*" % where, "seqs %s of %d" % (missing[:10], len(self.model)))


# ---- a live session


class Session(Model):
    def __init__(self, name, port, user, password, rng, rev2=False):
        super().__init__(name)
        self.rng = rng
        self.buf = b""
        self.tagn = 0
        self.dead = False
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.readline()  # greeting
        self.cmd("LOGIN %s %s" % (quote(user), quote(password)), "LOGIN")
        if rev2:
            self.cmd("ENABLE IMAP4rev2", "ENABLE")

    # transport: one line at a time, literals replaced by ""
    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def readline(self):
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            i = self.buf.index(b"\r\n")
            part, self.buf = self.buf[:i], self.buf[i + 2:]
            m = re.search(rb"~?\{(\d+)\+?\}$", part)
            if not m:
                line = (out + part).decode("utf-8", "replace")
                self.trace.append("S: " + line[:300])
                return line
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += part[:m.start()] + b'""'
            self.buf = self.buf[n:]

    def pending(self):
        return b"\r\n" in self.buf or select.select([self.sock], [], [], 0)[0]

    def send(self, text):
        self.trace.append("C: " + text)
        self.sock.sendall(text.encode() + b"\r\n")

    def drain(self):
        """lines that arrived with no command in progress"""
        while self.pending():
            self.handle(self.readline(), Ctx())

    def cmd(self, text, kind, compare=False):
        self.drain()
        self.tagn += 1
        tag = "%s.%d" % (self.name, self.tagn)
        ctx = Ctx(kind, text, compare)
        self.send("%s %s" % (tag, text))
        self.read_until(tag, ctx)
        count("commands")
        return ctx

    def read_until(self, tag, ctx):
        while True:
            line = self.readline()
            if line.startswith(tag + " "):
                ctx.tagged = line
                self.on_tagged(ctx)
                return
            self.handle(line, ctx)

    def select(self):
        self.model = []
        self.cmd("SELECT INBOX", "SELECT")
        self.cmd("UID FETCH 1:* (UID FLAGS)", "UID FETCH")

    def logout(self):
        try:
            if not self.dead:
                self.cmd("LOGOUT", "LOGOUT")
        except (OSError, EOFError):
            pass
        self.sock.close()

    # random workload
    def seqset(self):
        n, r = len(self.model), self.rng.random()
        a = self.rng.randint(1, n)
        if r < 0.4:
            return str(a)
        if r < 0.7:
            return "%d:%d" % (a, min(n, a + self.rng.randint(0, 5)))
        if r < 0.85:
            return "%d:*" % a
        return mkset(self.rng.sample(range(1, n + 1), min(n, self.rng.randint(1, 4))))

    def uidset(self):
        k = self.known()
        if not k:
            return None
        sel = self.rng.sample(k, min(len(k), self.rng.randint(1, 4)))
        if self.rng.random() < 0.2:
            sel.append(max(k) + self.rng.randint(1, 3))  # maybe not (yet) there
        return mkset(sel)

    def step(self):
        n = len(self.model)
        big, small = n > 40, n < 15
        ops = {"fetch": 10, "uidfetch": 6, "store": 8, "uidstore": 6, "search": 5, "uidsearch": 4,
               "copy": 2, "copyself": 0.3 if big else 1, "move": 4 if big else (0.2 if small else 1),
               "delete": 8 if big else (0.3 if small else 2), "expunge": 5 if big else 2,
               "uidexpunge": 5 if big else 2, "noop": 4, "idle": 2}
        op = self.rng.choices(list(ops), list(ops.values()))[0]
        if n == 0 and op not in ("noop", "idle", "expunge", "uidsearch", "search"):
            op = "noop"
        getattr(self, "op_" + op)()

    def op_fetch(self):
        c = self.cmd("FETCH %s (UID FLAGS)" % self.seqset(), "FETCH")
        for n, u in c.fetched:
            if u is None:
                violation(self, "FETCH without UID", "seq %d in %s" % (n, c.text))

    def op_uidfetch(self):
        us = self.uidset() or "1:*"
        if self.rng.random() < 0.3:
            us = "%d:*" % self.rng.randint(1, max(self.known() or [1]))
        self.cmd("UID FETCH %s (UID FLAGS)" % us, "UID FETCH")

    def flagop(self):
        silent = ".SILENT" if self.rng.random() < 0.25 else ""
        return self.rng.choice(FLAGS_POOL), self.rng.choice("+-"), silent

    def forget_flags(self, entries, silent):
        # .SILENT: the session is not told its own change; flags become unknown
        if silent:
            for e in entries:
                e[1] = None

    def op_store(self, flag=None, sign="+", silent=""):
        if flag is None:
            flag, sign, silent = self.flagop()
        ss, n = self.seqset(), len(self.model)
        targets = [self.model[i - 1] for i in parse_set(ss, n) if 1 <= i <= n]
        self.cmd("STORE %s %sFLAGS%s (%s)" % (ss, sign, silent, flag), "STORE")
        self.forget_flags(targets, silent)

    def op_uidstore(self, flag=None, sign="+", silent=""):
        if flag is None:
            flag, sign, silent = self.flagop()
        us = self.uidset()
        if not us:
            return self.op_noop()
        want = set(parse_set(us))
        targets = [e for e in self.model if e[0] in want]
        self.cmd("UID STORE %s %sFLAGS%s (%s)" % (us, sign, silent, flag), "UID STORE")
        self.forget_flags(targets, silent)

    def op_delete(self):
        (self.op_store if self.rng.random() < 0.5 else self.op_uidstore)("\\Deleted")

    def op_search(self):
        crit = self.rng.choice(["ALL", "FLAGGED", "UNSEEN", "DELETED", "KEYWORD $K1", "UID"])
        uid_set = None
        if crit == "UID":
            us = self.uidset()
            if not us:
                return self.op_noop()
            crit, uid_set = "UID " + us, set(parse_set(us))
        self.check_search(self.cmd("SEARCH " + crit, "SEARCH"), uid_set)

    def op_uidsearch(self):
        crit = self.rng.choice(["ALL", "FLAGGED", "UNDELETED", "KEYWORD $K2", "UID 1:*"])
        self.check_uid_search(self.cmd("UID SEARCH " + crit, "UID SEARCH"))

    def op_copy(self):
        if self.rng.random() < 0.5:
            self.cmd("COPY %s %s" % (self.seqset(), OTHER), "COPY")
        elif self.known():
            self.cmd("UID COPY %s %s" % (self.uidset(), OTHER), "UID COPY")

    def op_copyself(self):
        r = self.rng.random()
        if r < 0.5:
            self.cmd("COPY %s INBOX" % self.seqset(), "COPY")
        elif r < 0.8 and self.known():
            self.cmd("UID MOVE %d INBOX" % self.rng.choice(self.known()), "UID MOVE")
        else:
            self.cmd("MOVE %d INBOX" % self.rng.randint(1, len(self.model)), "MOVE")

    def op_move(self):
        if self.rng.random() < 0.5:
            self.cmd("MOVE %s %s" % (self.seqset(), OTHER), "MOVE")
        elif self.known():
            self.cmd("UID MOVE %s %s" % (self.uidset(), OTHER), "UID MOVE")

    def op_expunge(self):
        self.cmd("EXPUNGE", "EXPUNGE")

    def op_uidexpunge(self):
        k = [e[0] for e in self.model if e[0] is not None and e[1] and "\\Deleted" in e[1]]
        if not k and len(self.model) > 25:
            k = self.known()
        if not k:
            return self.op_noop()
        self.cmd("UID EXPUNGE %s" % mkset(self.rng.sample(k, min(len(k), self.rng.randint(1, 5)))), "UID EXPUNGE")

    def op_noop(self):
        self.cmd("NOOP", "NOOP")

    def op_idle(self):
        self.drain()
        self.tagn += 1
        tag = "%s.%d" % (self.name, self.tagn)
        ctx = Ctx("IDLE", "IDLE")
        self.send(tag + " IDLE")
        while True:
            line = self.readline()
            if line.startswith("+"):
                break
            if line.startswith(tag + " "):
                ctx.tagged = line
                violation(self, "IDLE refused", line)
                return
            self.handle(line, ctx)
        end = time.time() + self.rng.uniform(0.3, 1.0)
        while time.time() < end:
            if b"\r\n" in self.buf or select.select([self.sock], [], [], max(0, end - time.time()))[0]:
                self.handle(self.readline(), ctx)
        self.send("DONE")
        self.read_until(tag, ctx)
        count("commands")


def quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


# ---- the run


class Pauser:
    """workers park between steps while the main thread checks a quiet mailbox"""

    def __init__(self, names):
        self.cond = threading.Condition()
        self.paused = False
        self.waiting = set(names)  # workers that must park
        self.parked = set()

    def checkpoint(self, name):
        with self.cond:
            if not self.paused:
                return
            self.parked.add(name)
            self.cond.notify_all()
            self.cond.wait_for(lambda: not self.paused)
            self.parked.discard(name)

    def finished(self, name):
        with self.cond:
            self.waiting.discard(name)
            self.cond.notify_all()

    def requested(self):
        with self.cond:
            return self.paused

    def pause(self):
        with self.cond:
            self.paused = True
            if not self.cond.wait_for(lambda: self.waiting <= self.parked, 2 * IO_TIMEOUT + 5):
                raise RuntimeError("workers %s did not pause" % sorted(self.waiting - self.parked))

    def go(self):
        with self.cond:
            self.paused = False
            self.cond.notify_all()


def session_loop(s, stop, pauser):
    try:
        while not stop.is_set():
            pauser.checkpoint(s.name)
            s.step()
    except Exception as e:  # a dead connection or a timeout: report, stop this session
        s.dead = True
        violation(s, "session error", repr(e))
    pauser.finished(s.name)


def lmtp_loop(args, stop, pauser, rng):
    c, i = None, 0
    try:
        while not stop.is_set():
            if pauser.requested():
                if c:
                    c.quit()
                    c = None
                pauser.checkpoint("lmtp")
                continue
            if c is None:
                c = smtplib.LMTP(HOST, args.lmtp_port, timeout=IO_TIMEOUT)
            for _ in range(rng.choice([1, 1, 1, 1, 3])):
                i += 1
                msg = ("From: Sender <s@example.com>\r\nTo: %s\r\nSubject: load %d\r\nDate: %s\r\n"
                       "Message-ID: <model.%d.%d@example.com>\r\n\r\nbody %d\r\n"
                       % (args.recipient, i, email.utils.formatdate(), args.seed, i, i))
                c.sendmail("s@example.com", [args.recipient], msg)
                count("deliveries")
            time.sleep(rng.uniform(0.05, 0.4))
        if c:
            c.quit()
    except Exception as e:
        violation(None, "LMTP error", repr(e))
    pauser.finished("lmtp")


def quiesced_check(sessions):
    live = [s for s in sessions if not s.dead]
    for _ in range(2):
        for s in live:
            s.cmd("NOOP", "NOOP")
    views = {}
    for s in live:
        c = s.cmd("UID FETCH 1:* (UID FLAGS)", "UID FETCH", compare=True)
        s.check_full(c, "quiesced")
        views[s.name] = [(e[0], e[1]) for e in s.model]
        st = s.cmd("STATUS INBOX (UIDVALIDITY MESSAGES)", "STATUS")
        for line in st.lines:
            m = re.search(r"UIDVALIDITY (\d+)", line)
            if m:
                s.check_uidvalidity(int(m.group(1)), "STATUS")
            m = re.search(r"MESSAGES (\d+)", line)
            if m and int(m.group(1)) != len(s.model):
                violation(s, "quiesced: STATUS MESSAGES differs", "%s, the model has %d" % (m.group(1), len(s.model)))
    names = list(views)
    for name in names[1:]:
        if views[name] != views[names[0]]:
            violation(None, "quiesced: sessions disagree", "%s and %s" % (names[0], name))
    count("quiesced checks")


def run(args):
    rng = random.Random(args.seed)
    setup = Session("setup", args.imap_port, args.user, args.password, rng)
    setup.cmd("CREATE " + OTHER, "CREATE")  # NO if it exists: fine
    setup.logout()
    sessions = [Session("s%d" % i, args.imap_port, args.user, args.password,
                        random.Random(args.seed * 100 + i), rev2=(i == 1)) for i in range(args.sessions)]
    for s in sessions:
        s.select()
    stop = threading.Event()
    pauser = Pauser([s.name for s in sessions] + ["lmtp"])
    threads = [threading.Thread(target=session_loop, args=(s, stop, pauser), daemon=True) for s in sessions]
    threads.append(threading.Thread(target=lmtp_loop, args=(args, stop, pauser, random.Random(args.seed + 1)), daemon=True))
    for t in threads:
        t.start()
    end = time.time() + args.seconds
    try:
        while time.time() < end:
            time.sleep(min(QUIESCE_EVERY, max(0, end - time.time())))
            pauser.pause()
            if time.time() < end:
                quiesced_check(sessions)
                pauser.go()
        stop.set()
        pauser.go()
        for t in threads:
            t.join(2 * IO_TIMEOUT + 5)
        quiesced_check(sessions)
    except Exception as e:
        violation(None, "checker error", repr(e))
    stop.set()
    pauser.go()
    for s in sessions:
        s.logout()


def report(args):
    kinds = collections.Counter(v[1] for v in violations)
    print("imapmodel: seed %d, %d sessions, %gs: %d commands, %d deliveries, %d responses checked "
          "(%d FETCH, %d EXPUNGE), %d quiesced checks, %d violations%s"
          % (args.seed, args.sessions, args.seconds, stats["commands"], stats["deliveries"], stats["responses"],
             stats["FETCH"], stats["EXPUNGE"], stats["quiesced checks"], len(violations), " " + str(dict(kinds)) if kinds else ""))
    shown = collections.Counter()
    for name, kind, detail, trace in violations:
        shown[kind] += 1
        if shown[kind] > 3:
            continue
        print("\nVIOLATION %s in session %s: %s" % (kind, name, detail))
        for line in trace[-25:]:
            print("    " + line)
    return 1 if violations else 0


# ---- self-test: wrong server lines must be caught


def self_test():
    """feed wrong lines to a model; every injected violation must be reported"""
    def fresh():
        m = Model("F")
        m.model = [[10, frozenset(), 0], [11, frozenset(), 0], [12, frozenset(), 0]]
        m.max_uid, m.uidvalidity = 12, 5
        return m

    def cases():
        yield "EXPUNGE during FETCH", lambda m: m.handle("* 1 EXPUNGE", Ctx("FETCH", "FETCH 1:*"))
        yield "EXPUNGE during STORE", lambda m: m.handle("* 2 EXPUNGE", Ctx("STORE", "STORE 1 +FLAGS (\\Seen)"))
        yield "EXPUNGE during SEARCH", lambda m: m.handle("* 3 EXPUNGE", Ctx("SEARCH", "SEARCH ALL"))
        yield "EXPUNGE with no command in progress", lambda m: m.handle("* 1 EXPUNGE", Ctx())
        yield "EXPUNGE out of range", lambda m: m.handle("* 4 EXPUNGE", Ctx("NOOP", "NOOP"))
        yield "seq->UID mismatch", lambda m: m.handle("* 2 FETCH (UID 10 FLAGS ())", Ctx("FETCH", "FETCH 2"))
        yield "FETCH seq out of range", lambda m: m.handle("* 4 FETCH (UID 13)", Ctx("FETCH", "FETCH 1:*"))
        yield "EXISTS decreased", lambda m: m.handle("* 2 EXISTS", Ctx("NOOP", "NOOP"))

        def reused(m):
            m.handle("* 3 EXPUNGE", Ctx("EXPUNGE", "EXPUNGE"))
            m.handle("* 3 EXISTS", Ctx("NOOP", "NOOP"))
            m.handle("* 3 FETCH (UID 12)", Ctx("FETCH", "FETCH 3"))
        yield "UID reused", reused

        def below(m):
            m.handle("* 4 EXISTS", Ctx("NOOP", "NOOP"))
            m.handle("* 4 FETCH (UID 7)", Ctx("FETCH", "FETCH 4"))
        yield "UIDs not ascending", below
        yield "UIDVALIDITY changed", lambda m: m.handle("* OK [UIDVALIDITY 6] x", Ctx("SELECT", "SELECT INBOX"))

        def flags(m):
            m.handle("* 1 FETCH (UID 10 FLAGS (\\Seen))", Ctx("UID FETCH", "UID FETCH 1:*", compare=True))
        yield "quiesced: flags differ", flags

        def missing(m):
            c = Ctx("UID FETCH", "UID FETCH 1:*", compare=True)
            m.handle("* 1 FETCH (UID 10 FLAGS ())", c)
            m.check_full(c, "quiesced")
        yield "quiesced: messages not returned by UID FETCH 1:*", missing

        def search(m):
            c = Ctx("SEARCH", "SEARCH UID 11")
            m.handle("* SEARCH 1", c)
            m.check_search(c, {11})
        yield "SEARCH seq->UID mismatch", search

        def search_range(m):
            c = Ctx("SEARCH", "SEARCH ALL")
            m.handle("* SEARCH 1 2 3 4", c)
            m.check_search(c)
        yield "SEARCH seq out of range", search_range

        def uid_search(m):
            m.handle("* 1 EXPUNGE", Ctx("EXPUNGE", "EXPUNGE"))
            c = Ctx("UID SEARCH", "UID SEARCH ALL")
            m.handle("* SEARCH 10 11 12", c)
            m.check_uid_search(c)
        yield "UID SEARCH returned an expunged UID", uid_search

        def bad(m):
            c = Ctx("NOOP", "NOOP")
            c.tagged = "t1 BAD no"
            m.on_tagged(c)
        yield "BAD response", bad

    failed = 0
    for want, inject in cases():
        del violations[:]
        inject(fresh())
        got = {v[1] for v in violations}
        ok = want in got
        failed += not ok
        print("%s %-50s -> %s" % ("ok  " if ok else "MISS", want, sorted(got)))

    # and a correct stream reports nothing
    del violations[:]
    m = fresh()
    for kind, line in [("NOOP", "* 4 EXISTS"), ("UID FETCH", "* 4 FETCH (UID 20 FLAGS (\\Seen))"),
                       ("UID EXPUNGE", "* 2 EXPUNGE"), ("FETCH", "* 2 FETCH (UID 12 FLAGS ())"),
                       ("IDLE", "* 1 EXPUNGE"), ("MOVE", "* 3 EXISTS"), ("UID FETCH", "* 3 FETCH (UID 21)")]:
        m.handle(line, Ctx(kind, kind))
    c = Ctx("UID FETCH", "UID FETCH 1:*", compare=True)
    for line in ["* 1 FETCH (UID 12 FLAGS ())", "* 2 FETCH (UID 20 FLAGS (\\Seen \\Recent))", "* 3 FETCH (UID 21 FLAGS ())"]:
        m.handle(line, c)
    m.check_full(c, "quiesced")
    clean = not violations and [e[0] for e in m.model] == [12, 20, 21]
    failed += not clean
    print("%s %-50s -> %s" % ("ok  " if clean else "FAIL", "valid stream: no violation", [v[1] for v in violations]))
    print("imapmodel self-test: %d injected violation kinds, %s" % (sum(1 for _ in cases()), "all detected" if not failed else "%d missed" % failed))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--imap-port", type=int)
    p.add_argument("--lmtp-port", type=int)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--recipient")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--sessions", type=int, default=3)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    if args.self_test:
        return self_test()
    for need in ("imap_port", "lmtp_port", "user", "password", "recipient"):
        if getattr(args, need) is None:
            p.error("--%s is required" % need.replace("_", "-"))
    if args.seed is None:
        args.seed = int(time.time())
    run(args)
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
