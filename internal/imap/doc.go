// Package imap is M-Store's IMAP server: IMAP4rev1 (RFC 3501) and
// IMAP4rev2 (RFC 9051) over the store. Commands are parsed and responses
// framed by go-imap v2's imapserver, in a patched copy (imapserver/, see
// its README for every change and why); this package is the backend.
//
// # Connections
//
// Serve routes each accepted connection to one of two imapserver
// instances: connections on which a password may travel (TLS, loopback,
// or allow-plaintext-auth) to one that allows LOGIN and AUTHENTICATE PLAIN
// at once, the others to one that advertises LOGINDISABLED and STARTTLS
// until the client has started TLS. Logins go through auth.Limiter; an
// account has at most MaxSessions logged-in sessions; a session with no
// command for IdleTimeout is told BYE and closed (RFC 9051 allows 30
// minutes; a client must renew IDLE within that time).
//
// # Sessions and sequence numbers
//
// A session that selects a mailbox keeps its own view of it (selected.go):
// the UIDs the client knows, in order. Changes made by other sessions and
// by deliveries come from the store's Hub and are applied to the view only
// when the client may be told: EXISTS and FETCH FLAGS after any command,
// EXPUNGE after any command but FETCH, STORE and SEARCH, and at once during
// IDLE. A message expunged elsewhere keeps its sequence number until then;
// FETCH leaves it out and answers NO [EXPUNGEISSUED], COPY and MOVE refuse
// to copy part of a set; their UID forms ignore it (a UID that no longer
// exists, RFC 3501 6.4.8), act on the rest and are followed by the
// EXPUNGE. A mailbox deleted under a session loses all its messages (one
// EXPUNGE each), after which commands in it answer NO [NONEXISTENT] until
// another SELECT. INBOX renamed does the same, then ends the session
// (BYE): the new INBOX takes new mail, and a client left without a
// selection would never hear of it (the session that renamed it gets its
// RENAME answered first, and is ended at its next command unless that
// leaves the mailbox: SELECT, EXAMINE, CLOSE, UNSELECT). A session's own
// changes are not echoed back: the MODSEQ of each of its flag changes is
// noted, and the notification carrying it is dropped.
//
// \Recent follows RFC 3501: a read-write SELECT takes the recent messages
// (store.TakeRecentRange), and so does a read-write session that is told
// of new messages; EXAMINE shows them without taking them. IMAP4rev2
// clients never see \Recent.
//
// # FETCH and SEARCH
//
// ENVELOPE, BODYSTRUCTURE, BODY, FLAGS, UID, INTERNALDATE, RFC822.SIZE
// and BINARY.SIZE come from the message records and the parsed-message
// cache (package message), read in batches of up to 10,000 messages per
// read transaction, and are written exactly as the cache has them
// (convert.go); no message file is opened for them. The top-level header
// fields mail clients fetch for their message lists (message.KeptFields:
// From, To, Cc, Subject, Date, Message-ID, References, Content-Type, the
// priorities, …) are kept in the cache record too, and a header that fits
// in it is kept whole (message.Cache.KeptHeader): BODY[HEADER.FIELDS (…)]
// of those fields, and BODY[HEADER] and any HEADER.FIELDS[.NOT] of a
// header kept whole, open no file. Other sections are byte ranges of the
// file: only those bytes are read, and streamed; BINARY decodes base64 and
// quoted-printable. A BODY[HEADER.FIELDS (…)] the record cannot answer
// reads the header from the file the first time, and the fields asked for
// are then kept with the file (store.HeaderFields, as Dovecot caches fields
// clients ask for): asked again, for those fields or fewer, no file is
// opened. SEARCH reads a message's file only when a cheaper key has not
// ruled it out and the record does not hold what the key needs: its
// header for the header keys (decoding RFC 2047 words), its text parts for
// BODY and TEXT.
package imap
