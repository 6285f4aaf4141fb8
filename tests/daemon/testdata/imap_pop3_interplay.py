"""An IMAP session expunges from INBOX while a POP3 session holds it.

argv: pop3_host pop3_port imap_host imap_port user password
Prints one JSON object: what each side saw.
"""
import base64
import imaplib
import json
import poplib
import sys

ph, pp, ih, ip, user, pw = sys.argv[1:7]
out = {}
p = poplib.POP3(ph, int(pp))
p.user(user)
p.pass_(pw)
out["pop_stat_before"] = list(p.stat())
out["pop_uidl_before"] = [l.decode() for l in p.uidl()[1]]

m = imaplib.IMAP4(ih, int(ip))
m.login(user, pw)
m.select("INBOX")
m.store("1", "+FLAGS", "(\\Deleted)")
out["imap_expunge"] = [x.decode() for x in m.expunge()[1] if x]

# The POP3 session's view is unchanged: same numbers, message 1 still served.
out["pop_stat_during"] = list(p.stat())
out["pop_retr1"] = base64.b64encode(b"\r\n".join(p.retr(1)[1])).decode()
out["pop_retr2"] = base64.b64encode(b"\r\n".join(p.retr(2)[1])).decode()
p.dele(1)  # already expunged by IMAP: must not fail
p.dele(2)
out["pop_quit"] = p.quit().decode()

m.select("INBOX")
typ, data = m.search(None, "ALL")
out["imap_after"] = data[0].decode()
m.logout()

p = poplib.POP3(ph, int(pp))
p.user(user)
p.pass_(pw)
out["pop_stat_after"] = list(p.stat())
out["pop_uidl_after"] = [l.decode() for l in p.uidl()[1]]
p.quit()
print(json.dumps(out))
