package imap

import (
	"github.com/m-store/mstore/internal/imap/internal/imapwire"
	"github.com/m-store/mstore/internal/message"
)

// ENVELOPE and BODYSTRUCTURE are written straight from the parsed-message
// cache, every field as the message has it (raw values, parameters in
// message order, Content-MD5, the address route), in the grammar of RFC
// 3501 section 9 / RFC 9051 section 9. Strings go quoted when they can,
// as literals otherwise (8-bit text to an IMAP4rev1 client without
// UTF8=ACCEPT).

func writeNString(enc *imapwire.Encoder, n message.NString) {
	if !n.Valid {
		enc.NIL()
		return
	}
	enc.String(n.Value)
}

func writeAddresses(enc *imapwire.Encoder, l []message.Address) {
	if len(l) == 0 {
		enc.NIL()
		return
	}
	enc.Special('(')
	for i := range l {
		a := &l[i]
		enc.Special('(')
		writeNString(enc, a.Name)
		enc.SP()
		writeNString(enc, a.ADL)
		enc.SP()
		writeNString(enc, a.Mailbox)
		enc.SP()
		writeNString(enc, a.Host)
		enc.Special(')')
	}
	enc.Special(')')
}

func writeEnvelope(enc *imapwire.Encoder, e *message.Envelope) {
	enc.Special('(')
	writeNString(enc, e.Date)
	enc.SP()
	writeNString(enc, e.Subject)
	for _, l := range [][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		enc.SP()
		writeAddresses(enc, l)
	}
	enc.SP()
	writeNString(enc, e.InReplyTo)
	enc.SP()
	writeNString(enc, e.MessageID)
	enc.Special(')')
}

func writeParams(enc *imapwire.Encoder, ps []message.Param) {
	if len(ps) == 0 {
		enc.NIL()
		return
	}
	enc.Special('(')
	for i, p := range ps {
		if i > 0 {
			enc.SP()
		}
		enc.String(p.Name).SP().String(p.Value)
	}
	enc.Special(')')
}

func writeExtension(enc *imapwire.Encoder, p *message.Part) {
	// body-fld-dsp SP body-fld-lang SP body-fld-loc
	if !p.Disposition.Valid {
		enc.NIL()
	} else {
		enc.Special('(').String(p.Disposition.Value).SP()
		writeParams(enc, p.DispositionParams)
		enc.Special(')')
	}
	enc.SP()
	if len(p.Language) == 0 {
		enc.NIL()
	} else {
		enc.Special('(')
		for i, l := range p.Language {
			if i > 0 {
				enc.SP()
			}
			enc.String(l)
		}
		enc.Special(')')
	}
	enc.SP()
	writeNString(enc, p.Location)
}

// writeBody writes BODY (extended false) or BODYSTRUCTURE.
func writeBody(enc *imapwire.Encoder, p *message.Part, extended bool) {
	enc.Special('(')
	if p.IsMultipart() {
		for i := range p.Parts {
			writeBody(enc, &p.Parts[i], extended)
		}
		enc.SP().String(p.Subtype)
		if extended {
			enc.SP()
			writeParams(enc, p.Params)
			enc.SP()
			writeExtension(enc, p)
		}
		enc.Special(')')
		return
	}
	enc.String(p.Type).SP().String(p.Subtype).SP()
	writeParams(enc, p.Params)
	enc.SP()
	writeNString(enc, p.ID)
	enc.SP()
	writeNString(enc, p.Description)
	enc.SP()
	enc.String(p.Encoding).SP().Number64(p.Size())
	switch {
	case p.Message != nil:
		enc.SP()
		writeEnvelope(enc, &p.Message.Envelope)
		enc.SP()
		writeBody(enc, &p.Message.Body, extended)
		enc.SP().Number64(p.Lines)
	case p.IsText():
		enc.SP().Number64(p.Lines)
	}
	if extended {
		enc.SP()
		writeNString(enc, p.MD5)
		enc.SP()
		writeExtension(enc, p)
	}
	enc.Special(')')
}
