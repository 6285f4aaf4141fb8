package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The imap mode's commands, in report order.
const (
	opLogin = iota
	opSelect
	opFetchEnv
	opFetchBody
	opStore
	opSearch
	opAppend
	opExpunge
	opLogout
)

// fetchEnvCount is how many of the last messages FETCH_ENV reads.
const fetchEnvCount = 10

// imapMsg is a message FETCH_ENV saw that the session may read and flag.
type imapMsg struct {
	uid  uint32
	size int64
}

// imapWorker is the imap mode: sessions one after another, each on a new
// connection as a user nobody else uses at the time (when there are at
// least as many users as connections).
func (r *runner) imapWorker(w *worker) {
	w.sessions(w.imapSession)
}

// imapSession runs one session; the error is the first one (already
// counted).
func (w *worker) imapSession(u int) (err error) {
	r := w.r
	user := r.cfg.user(u)
	// step runs one command: timed, counted, and its error counted.
	st := &steps{w: w, op: opLogin}
	step := st.run
	defer func() { st.end(err) }()

	c, err := dialIMAP(r.hard, r.cfg.addr(), r.cfg.Timeout, bigBuf)
	if err != nil {
		r.gate(false)
		return err
	}
	defer c.close()
	if err := step(opLogin, func() error { return c.login(user, r.cfg.Password) }); err != nil {
		r.gate(false)
		return err
	}
	r.gate(true)
	if err := step(opSelect, c.selectInbox); err != nil {
		return err
	}

	// FETCH_ENV: flags, sizes and envelopes of the last messages; those
	// the bench did not append itself may be read and flagged.
	cands := w.msgs[:0]
	if c.exists > 0 {
		if err := step(opFetchEnv, func() error {
			var err error
			cands, err = w.fetchEnv(c, cands)
			return err
		}); err != nil {
			return err
		}
	}
	w.msgs = cands

	if len(cands) > 0 {
		if err := step(opFetchBody, func() error { return w.fetchBodies(c, cands) }); err != nil {
			return err
		}
		if err := step(opStore, func() error { return w.storeFlags(c, cands) }); err != nil {
			return err
		}
	}
	if err := step(opSearch, func() error { return w.search(c) }); err != nil {
		return err
	}

	// APPEND, then the appended message goes again: the mailbox keeps
	// its size.
	var uid uint32
	if err := step(opAppend, func() error {
		var err error
		uid, err = w.appendMsg(c, user)
		return err
	}); err != nil {
		return err
	}
	if uid != 0 && uid < c.uidNxt && r.pool.exclusive() {
		err := fmt.Errorf("APPENDUID gives UID %d, below the UIDNEXT %d of SELECT", uid, c.uidNxt)
		st.op = opAppend
		return err
	}
	if uid == 0 {
		// No APPENDUID: find the message by its Message-ID.
		if err := step(opSearch, func() error {
			var err error
			uid, err = w.searchMessageID(c)
			return err
		}); err != nil {
			return err
		}
	}
	if err := step(opStore, func() error {
		b := c.start()
		b = append(b, "UID STORE "...)
		b = strconv.AppendUint(b, uint64(uid), 10)
		b = append(b, ` +FLAGS.SILENT (\Deleted)`...)
		_, err := c.exec(b, nil)
		return err
	}); err != nil {
		return err
	}
	if err := step(opExpunge, func() error {
		n := 0
		_, err := c.exec(append(c.start(), "EXPUNGE"...), func(resp []byte) error {
			if bytes.HasSuffix(resp, []byte(" EXPUNGE")) {
				n++
			}
			return nil
		})
		if err == nil && n == 0 && r.pool.exclusive() {
			// Nobody else uses the mailbox: the message flagged \Deleted
			// must go now.
			err = fmt.Errorf("no message expunged (UID %d was flagged \\Deleted)", uid)
		}
		return err
	}); err != nil {
		return err
	}
	return step(opLogout, c.logout)
}

// fetchEnv runs FETCH_ENV and returns the messages that may be read.
func (w *worker) fetchEnv(c *imapConn, cands []imapMsg) ([]imapMsg, error) {
	first := uint32(1)
	if c.exists > fetchEnvCount {
		first = c.exists - fetchEnvCount + 1
	}
	want := int(c.exists - first + 1)
	b := c.start()
	b = append(b, "FETCH "...)
	b = strconv.AppendUint(b, uint64(first), 10)
	b = append(b, ":* (UID FLAGS RFC822.SIZE ENVELOPE)"...)
	got := 0
	var f fetchData
	_, err := c.exec(b, func(resp []byte) error {
		ok, err := parseFetch(resp, &f)
		if !ok || err != nil {
			return err
		}
		if !f.hasEnv {
			return nil // a flag change seen by the session, or the like
		}
		if f.uid == 0 || f.size < 0 || !f.hasFlags {
			return fmt.Errorf("FETCH without UID, FLAGS or RFC822.SIZE: %q", clip(resp))
		}
		if f.seq < first {
			return fmt.Errorf("message %d returned for FETCH %d:*", f.seq, first)
		}
		got++
		if !bytes.Contains(f.subject, []byte(subjectMark+kindAppend)) {
			cands = append(cands, imapMsg{uid: f.uid, size: f.size})
		}
		return nil
	})
	if err != nil {
		return cands, err
	}
	if got < want {
		return cands, fmt.Errorf("FETCH %d:* returned %d messages of %d", first, got, want)
	}
	return cands, nil
}

// fetchBodies runs FETCH_BODY of 1 to 3 random messages and checks that
// each comes whole, of its RFC822.SIZE.
func (w *worker) fetchBodies(c *imapConn, cands []imapMsg) error {
	want := 1 + w.rng.IntN(3)
	var pick [3]imapMsg
	var done [3]bool
	k := 0
	for tries := 0; k < want && tries < 12; tries++ {
		m := cands[w.rng.IntN(len(cands))]
		dup := false
		for _, p := range pick[:k] {
			dup = dup || p.uid == m.uid
		}
		if !dup {
			pick[k] = m
			k++
		}
	}
	b := c.start()
	b = append(b, "UID FETCH "...)
	for i := range k {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(pick[i].uid), 10)
	}
	b = append(b, " (BODY.PEEK[])"...)
	var f fetchData
	_, err := c.exec(b, func(resp []byte) error {
		ok, err := parseFetch(resp, &f)
		if !ok || err != nil {
			return err
		}
		if !f.hasBody {
			return nil
		}
		for i := range k {
			if pick[i].uid != f.uid {
				continue
			}
			if int64(len(f.body)) != pick[i].size {
				return fmt.Errorf("UID %d: BODY[] of %d bytes, RFC822.SIZE %d", f.uid, len(f.body), pick[i].size)
			}
			if err := looksLikeMessage(f.body); err != nil {
				return fmt.Errorf("UID %d: BODY[] %w", f.uid, err)
			}
			done[i] = true
			return nil
		}
		return fmt.Errorf("BODY[] of UID %d, which was not asked for", f.uid)
	})
	if err != nil {
		return err
	}
	for i := range k {
		if !done[i] {
			return fmt.Errorf("no BODY[] for UID %d", pick[i].uid)
		}
	}
	return nil
}

// storeFlags sets or clears \Seen and \Flagged on a random message; a
// FETCH of its flags in the reply must show the change.
func (w *worker) storeFlags(c *imapConn, cands []imapMsg) error {
	m := cands[w.rng.IntN(len(cands))]
	var change string
	var set bool
	switch x := w.rng.IntN(10); {
	case x < 4:
		change, set = `+FLAGS (\Seen)`, true
	case x < 6:
		change, set = `+FLAGS (\Flagged)`, true
	default:
		change = `-FLAGS (\Seen \Flagged)`
	}
	b := c.start()
	b = append(b, "UID STORE "...)
	b = strconv.AppendUint(b, uint64(m.uid), 10)
	b = append(b, ' ')
	b = append(b, change...)
	var f fetchData
	_, err := c.exec(b, func(resp []byte) error {
		ok, err := parseFetch(resp, &f)
		if !ok || err != nil || f.uid != m.uid || !f.hasFlags || !w.r.pool.exclusive() {
			return err
		}
		switch {
		case set && change == `+FLAGS (\Seen)` && !hasFlag(f.flags, `\Seen`),
			set && change == `+FLAGS (\Flagged)` && !hasFlag(f.flags, `\Flagged`):
			return fmt.Errorf("UID %d: FLAGS (%s) after %s", m.uid, f.flags, change)
		case !set && (hasFlag(f.flags, `\Seen`) || hasFlag(f.flags, `\Flagged`)):
			return fmt.Errorf("UID %d: FLAGS (%s) after %s", m.uid, f.flags, change)
		}
		return nil
	})
	return err
}

// search runs UID SEARCH UNSEEN or SEARCH SUBJECT word, which must give
// one SEARCH response of numbers.
func (w *worker) search(c *imapConn) error {
	b := c.start()
	if w.rng.IntN(2) == 0 {
		b = append(b, "UID SEARCH UNSEEN"...)
	} else {
		b = append(b, "SEARCH SUBJECT "...)
		b = appendQuoted(b, words[w.rng.IntN(len(words))])
	}
	n := 0
	_, err := c.exec(b, func(resp []byte) error {
		if !bytes.HasPrefix(resp, []byte("* SEARCH")) {
			return nil
		}
		n++
		_, err := searchResults(resp)
		return err
	})
	if err == nil && n != 1 {
		err = fmt.Errorf("%d SEARCH responses", n)
	}
	return err
}

// searchResults checks "* SEARCH n n n" and returns how many numbers it has.
func searchResults(resp []byte) (int, error) {
	rest := resp[len("* SEARCH"):]
	n := 0
	for len(rest) > 0 {
		if rest[0] != ' ' {
			return 0, fmt.Errorf("bad SEARCH response %q", clip(resp))
		}
		v, k := leadingNumber(rest[1:])
		if k == 0 || v == 0 {
			return 0, fmt.Errorf("bad SEARCH response %q", clip(resp))
		}
		rest = rest[1+k:]
		n++
	}
	return n, nil
}

// appendMsg APPENDs a new message to INBOX with a synchronizing literal
// and returns its UID from APPENDUID (0 when the server gives none).
func (w *worker) appendMsg(c *imapConn, user string) (uint32, error) {
	msg, id := w.gen.message(kindAppend, user, w.r.cfg.Size)
	w.lastID = append(w.lastID[:0], id...)
	b := c.start()
	b = append(b, "APPEND INBOX {"...)
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, '}')
	if err := c.send(b); err != nil {
		return 0, err
	}
	if err := c.continuation(); err != nil {
		return 0, err
	}
	if err := c.write(msg, []byte("\r\n")); err != nil {
		return 0, err
	}
	text, err := c.wait(nil)
	if err != nil {
		return 0, err
	}
	// [APPENDUID uidvalidity uid] (UIDPLUS), when the server has it.
	if rest, ok := bytes.CutPrefix(text, []byte("[APPENDUID ")); ok {
		_, k := leadingNumber(rest)
		if k == 0 || len(rest) <= k || rest[k] != ' ' {
			return 0, fmt.Errorf("bad APPENDUID in %q", clip(text))
		}
		uid, k2 := leadingNumber(rest[k+1:])
		if k2 == 0 || uid == 0 {
			return 0, fmt.Errorf("bad APPENDUID in %q", clip(text))
		}
		return uint32(uid), nil
	}
	return 0, nil
}

// searchMessageID finds the message appended last by its Message-ID.
func (w *worker) searchMessageID(c *imapConn) (uint32, error) {
	b := c.start()
	b = append(b, "UID SEARCH HEADER Message-ID "...)
	b = appendQuoted(b, string(w.lastID))
	var uid uint64
	n := 0
	_, err := c.exec(b, func(resp []byte) error {
		if !bytes.HasPrefix(resp, []byte("* SEARCH")) {
			return nil
		}
		k, err := searchResults(resp)
		if err != nil {
			return err
		}
		n += k
		if k > 0 {
			uid, _ = leadingNumber(resp[len("* SEARCH "):])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n != 1 {
		return 0, fmt.Errorf("SEARCH HEADER Message-ID %s found %d messages", w.lastID, n)
	}
	if uid == 0 {
		return 0, errors.New("no UID for the appended message")
	}
	return uint32(uid), nil
}
