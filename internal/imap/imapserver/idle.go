package imapserver

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/internal/imapwire"
)

func (c *Conn) handleIdle(dec *imapwire.Decoder) error {
	if !dec.ExpectCRLF() {
		return dec.Err()
	}

	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}

	if err := c.writeContReq("idling"); err != nil {
		return err
	}

	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				c.server.logger().Printf("panic idling: %v\n%s", v, debug.Stack())
				done <- fmt.Errorf("imapserver: panic idling")
			}
		}()
		w := &UpdateWriter{conn: c, allowExpunge: true}
		done <- c.session.Idle(w, stop)
	}()

	c.setReadTimeout(idleReadTimeout)
	// M-Store: "DONE" in any case, as every string in the ABNF (RFC 9051
	// 9); upstream took only "DONE". Another line is read to its end like
	// a refused command, its literals included (upstream read one line:
	// what followed was run as commands).
	lineDec := imapwire.NewDecoder(c.br, imapwire.ConnSideServer)
	lineDec.MaxSize = maxCommandSize
	var word string
	isDone := lineDec.Atom(&word) && strings.EqualFold(word, "DONE") && lineDec.CRLF()
	close(stop)
	if isDone {
		return <-done
	}
	if err := lineDec.Err(); err != nil && !isSyntaxErr(err) {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil // the client went away while idling
		}
		return fmt.Errorf("reading DONE: %w", err)
	}
	if err := c.discardCommand(lineDec); err != nil {
		if !isSyntaxErr(err) {
			return fmt.Errorf("after IDLE: %w", err)
		}
		c.server.logger().Printf("ending connection: %v", err)
		c.state = imap.ConnStateLogout
		if err := c.writeStatusResp("", &imap.StatusResponse{
			Type: imap.StatusResponseTypeBye,
			Text: "Cannot find the end of the command",
		}); err != nil {
			return fmt.Errorf("ending connection: %w", err)
		}
	}
	return newClientBugError("Syntax error: expected DONE to end IDLE command")
}
