package imapserver

import (
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/internal"
	"github.com/m-store/mstore/internal/imap/internal/imapwire"
)

// defaultAppendLimit is the default maximum size of an APPEND payload.
const defaultAppendLimit = 100 * 1024 * 1024 // 100MiB

func (c *Conn) handleAppend(tag string, dec *imapwire.Decoder) error {
	var (
		mailbox string
		options imap.AppendOptions
	)
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) || !dec.ExpectSP() {
		return dec.Err()
	}

	hasFlagList, err := dec.List(func() error {
		flag, err := internal.ExpectFlag(dec)
		if err != nil {
			return err
		}
		options.Flags = append(options.Flags, flag)
		return nil
	})
	if err != nil {
		return err
	}
	if hasFlagList && !dec.ExpectSP() {
		return dec.Err()
	}

	t, err := internal.DecodeDateTime(dec)
	if err != nil {
		return err
	}
	if !t.IsZero() && !dec.ExpectSP() {
		return dec.Err()
	}
	options.Time = t

	var dataExt string
	if !dec.Special('~') && dec.Atom(&dataExt) { // ignore literal8 prefix if any for BINARY
		switch strings.ToUpper(dataExt) {
		case "UTF8":
			// '~' is the literal8 prefix
			if !dec.ExpectSP() || !dec.ExpectSpecial('(') || !dec.ExpectSpecial('~') {
				return dec.Err()
			}
		default:
			return newClientBugError("Unknown APPEND data extension")
		}
	}

	lit, nonSync, err := dec.ExpectLiteralReader()
	if err != nil {
		return err
	}

	// M-Store: the state is checked before the literal is accepted, so
	// that no "+ " asks for a message the command refuses; readCommand
	// skips a non-synchronizing one (upstream sent "+ " and read it).
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}

	appendLimit := int64(defaultAppendLimit)
	if appendLimitSession, ok := c.session.(SessionAppendLimit); ok {
		appendLimit = int64(appendLimitSession.AppendLimit())
	}

	if lit.Size() > appendLimit {
		return &imap.Error{
			Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeTooBig,
			Text: fmt.Sprintf("Literals are limited to %v bytes for this command", appendLimit),
		}
	}
	if err := c.acceptLiteral(lit.Size(), nonSync); err != nil {
		return err
	}
	lit.Accept() // M-Store: from here the octets come, whatever happens

	c.setReadTimeout(literalReadTimeout)
	defer c.setReadTimeout(cmdReadTimeout)

	// M-Store: a session that can (SessionAppendPreparer) stores the
	// message first and adds it to the mailbox only once the rest of the
	// command has parsed: upstream added it before, so an APPEND answered
	// BAD (a missing ")" or CRLF after the literal) had still stored it,
	// and a client retrying made duplicates.
	var (
		data      *imap.AppendData
		appendErr error
		commit    func() (*imap.AppendData, error)
	)
	if p, ok := c.session.(SessionAppendPreparer); ok {
		commit, appendErr = p.PrepareAppend(mailbox, lit, &options)
	} else {
		data, appendErr = c.session.Append(mailbox, lit, &options)
	}
	if _, discardErr := io.Copy(io.Discard, lit); discardErr != nil {
		return discardErr // M-Store: was "return err" (nil)
	}
	if dataExt != "" && !dec.ExpectSpecial(')') {
		return dec.Err()
	}
	if !dec.ExpectCRLF() {
		return dec.Err() // M-Store: was "return err" (nil)
	}
	if appendErr == nil && commit != nil {
		data, appendErr = commit()
	}
	if appendErr != nil {
		return appendErr
	}
	if err := c.poll("APPEND"); err != nil {
		return err
	}
	return c.writeAppendOK(tag, data)
}

// SessionAppendPreparer is a Session that takes an APPEND in two steps
// (M-Store): PrepareAppend reads and keeps the message without adding it
// to the mailbox, and the commit it returns adds it. The commit is called
// only when the whole command has parsed; a command refused after its
// literal never calls it, and what PrepareAppend kept is the session's to
// drop (or to leave to a sweep).
type SessionAppendPreparer interface {
	PrepareAppend(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (commit func() (*imap.AppendData, error), err error)
}

func (c *Conn) writeAppendOK(tag string, data *imap.AppendData) error {
	enc := newResponseEncoder(c)
	defer enc.end()

	enc.Atom(tag).SP().Atom("OK").SP()
	if data != nil {
		enc.Special('[')
		enc.Atom("APPENDUID").SP().Number(data.UIDValidity).SP().UID(data.UID)
		enc.Special(']').SP()
	}
	enc.Text("APPEND completed")
	return enc.CRLF()
}
