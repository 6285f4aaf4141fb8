// Package pop3 is M-Store's POP3 server (RFC 1939) over each account's
// INBOX, with CAPA and the extended response codes (RFC 2449, RFC 3206:
// IN-USE, SYS/TEMP, SYS/PERM, AUTH), STLS (RFC 2595), SASL PLAIN (RFC
// 5034, RFC 4616), UIDL, TOP, USER and PIPELINING.
//
// # Sessions
//
// A session starts in the AUTHORIZATION state: USER and PASS, or AUTH
// PLAIN (with an initial response or after a "+ " continuation), check
// the password through the failed-login limiter (package auth). A password
// is accepted only over TLS (STLS or implicit TLS), from a loopback peer,
// or when Options.AllowPlaintext says so; elsewhere USER, PASS and AUTH
// PLAIN get "-ERR [AUTH]" and CAPA leaves out USER and SASL PLAIN.
//
// After the password, the maildrop is locked exclusively in msdb's lock
// table (resource "pop3:" + the normalized account name): a second session
// gets "-ERR [IN-USE]" and stays in AUTHORIZATION. The lock is released
// when the session ends, however it ends (QUIT, a dropped connection, the
// idle timeout, too many bad commands, Shutdown, a panic).
//
// The maildrop is a snapshot of INBOX taken at login, numbered 1..n in UID
// order. It never changes during the session: new deliveries are not
// shown, and an IMAP session expunging meanwhile renumbers nothing. RETR
// and TOP of a message expunged meanwhile still work while its file exists
// (files outlive their last reference until the sweep's grace period has
// passed); once the file is gone the answer is "-ERR [SYS/TEMP]" (the next
// session will not list the message). DELE only marks; RSET unmarks; QUIT
// in the TRANSACTION state removes the marked messages with one store
// Expunge (one transaction), answers +OK only once it has committed, and
// "-ERR [SYS/TEMP]" with nothing removed if it failed. A session that ends
// any other way removes nothing. UIDL values are "UIDVALIDITY.UID".
//
// # Sizes and output
//
// LIST, STAT and RETR's +OK give the stored size of each message. For a
// message stored with CRLF line ends (every message received by LMTP) it
// is exactly the number of octets RETR sends before dot-stuffing; for one
// stored with bare LFs it is smaller by the number of lines. RFC 1939
// allows this (a server may estimate sizes); computing exact sizes would
// mean reading every message at login.
//
// Messages are sent as read from the message file, through a small buffer,
// never whole in memory: every line ends in CRLF (a bare LF becomes CRLF),
// a line beginning with "." gets another ".", and a last line without a
// line end gets one, before the terminating ".CRLF". TOP sends the header,
// the empty line after it, and the requested number of body lines.
//
// # Commands
//
// ParseCommand turns one line into a Command; it is small, separate and
// fuzzed. A line over 255 octets (CRLF included, RFC 2449) is read through
// and answered -ERR; unknown commands, syntax errors, commands in the
// wrong state and failed logins are bad commands, and the tenth closes the
// connection. A session idle for Options.IdleTimeout (10 minutes by
// default, RFC 1939's minimum) is closed, as is one whose client stops
// reading for as long. Commands are answered as they come; answers are
// buffered and flushed whenever no further whole command is waiting, which
// is what PIPELINING needs.
package pop3
