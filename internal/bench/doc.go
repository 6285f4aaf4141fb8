// Package bench is a load generator for any LMTP, IMAP or POP3 server
// (`mstore bench`). It speaks the protocols itself, with small raw clients
// (bufio, tagged commands, literals), so that its own CPU stays low next to
// the server under test, and it sends only standard commands (RFC 2033,
// RFC 3501 with IDLE for the idle mode, RFC 1939) so that M-Store and other
// servers get the same traffic.
//
// Modes:
//
//   - lmtp: each connection keeps one LMTP session and loops MAIL, RCPT
//     (one random user), DATA; one acknowledged delivery is a DELIVER op.
//   - imap: each connection loops sessions of LOGIN, SELECT INBOX, FETCH of
//     the last messages' envelopes (FETCH_ENV), FETCH of 1-3 bodies
//     (FETCH_BODY), flag STOREs, a SEARCH, an APPEND, a STORE \Deleted of
//     the appended message and EXPUNGE, LOGOUT: the mailbox keeps its size.
//   - pop3: each connection loops sessions of USER, PASS, STAT, UIDL, LIST,
//     RETR of 1-3 messages, DELE of one, QUIT; with an LMTP port, one
//     replacement message is delivered after each session (REFILL).
//   - idle: --sessions IMAP sessions are opened, selected and left in IDLE;
//     "ready N sessions" is printed once they all are, and they are held
//     for the duration, then logged out.
//
// Every reply is checked: a NO, BAD, -ERR or wrong status code, a size that
// does not match, an unexpected line, a timeout or a closed connection is
// an error for the command, never an op, and the connection is opened
// again. Latencies go to fixed-bucket log histograms (Histogram), one per
// command and worker, merged at the end.
//
// A run has a measured part that ends after Config.Duration or when its
// context is cancelled (SIGINT): workers then finish the session they are
// in (so that an appended message is expunged again and a POP3 deletion is
// refilled) and stop; what is still running after a grace period is cut
// off and not counted.
package bench
