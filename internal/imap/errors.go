package imap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/m-store/mstore/internal/store"
)

// Response codes go-imap does not name.
const (
	codeUseAttr        goimap.ResponseCode = "USEATTR"         // RFC 6154
	codeExpungeIssued  goimap.ResponseCode = "EXPUNGEISSUED"   // RFC 5530
	codeReadOnly       goimap.ResponseCode = "READ-ONLY"       // RFC 3501
	codeServerShutdown goimap.ResponseCode = "UNAVAILABLE"     // RFC 5530
	codeClosed         goimap.ResponseCode = "CLOSED"          // RFC 7162
	codeNonExistent    goimap.ResponseCode = "NONEXISTENT"     // RFC 5530
	codeCannot         goimap.ResponseCode = "CANNOT"          // RFC 5530
	codeUnknownCTE     goimap.ResponseCode = "UNKNOWN-CTE"     // RFC 3516
	codeTooBig         goimap.ResponseCode = "TOOBIG"          // RFC 7889
	codeOverQuota      goimap.ResponseCode = "OVERQUOTA"       // RFC 5530
	codeTryCreate      goimap.ResponseCode = "TRYCREATE"       // RFC 3501
	codeAlreadyExists  goimap.ResponseCode = "ALREADYEXISTS"   // RFC 5530
	codeHasChildren    goimap.ResponseCode = "HASCHILDREN"     // RFC 9051
	codeLimit          goimap.ResponseCode = "LIMIT"           // RFC 5530
	codePrivacy        goimap.ResponseCode = "PRIVACYREQUIRED" // RFC 5530
)

func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func no(code goimap.ResponseCode, format string, args ...any) error {
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: code, Text: clean(fmt.Sprintf(format, args...))}
}

func bad(format string, args ...any) error {
	return &goimap.Error{Type: goimap.StatusResponseTypeBad, Code: goimap.ResponseCodeClientBug, Text: clean(fmt.Sprintf(format, args...))}
}

// storeErr turns a store error into the IMAP answer. missing is the code
// for a mailbox that does not exist (NONEXISTENT, or TRYCREATE for APPEND,
// COPY and MOVE). Unexpected errors are logged and answered NO [SERVERBUG]
// without detail.
func (ss *session) storeErr(op string, err error, missing goimap.ResponseCode) error {
	var ie *goimap.Error
	switch {
	case errors.As(err, &ie):
		return err
	case errors.Is(err, store.ErrNoMailbox):
		return no(missing, "Mailbox does not exist")
	case errors.Is(err, store.ErrMailboxExists):
		return no(codeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrBadName):
		return no(codeCannot, "%s", errText(err))
	case errors.Is(err, store.ErrNoSelect):
		return no(codeCannot, "Mailbox cannot be selected (\\Noselect)")
	case errors.Is(err, store.ErrHasChildren):
		return no(codeHasChildren, "Mailbox has children and is already \\Noselect")
	case errors.Is(err, store.ErrOverQuota):
		return no(codeOverQuota, "Over quota")
	case errors.Is(err, store.ErrTooLarge):
		return no(codeTooBig, "Message too large")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return no(codeServerShutdown, "%s interrupted", op)
	}
	ss.log.Error(op, "err", err)
	return no(goimap.ResponseCodeServerBug, "Internal error during %s; the administrator has the details in the log", op)
}

// errText is a store error's message without the package prefix, for a
// client to read.
func errText(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "bad name: ")
}
