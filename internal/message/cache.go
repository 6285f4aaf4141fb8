package message

import (
	"errors"
	"strings"
	"time"
)

// Limits that bound the work and memory a hostile message can cost. They are
// part of the format: UnmarshalBinary rejects a record that exceeds them.
const (
	// MaxDepth is the deepest nesting of parts (each multipart child and
	// each encapsulated message is one level below its parent; the top
	// level is depth 0). A multipart or message/rfc822 part at this depth
	// is not descended into: it is flattened into one opaque part.
	MaxDepth = 64

	// MaxParts is the most parts one message records, the top-level part
	// included. Parts past it are not recorded (their bytes stay inside
	// their parent's body).
	MaxParts = 10000

	// MaxAddresses is the most entries (addresses and group markers) one
	// address header contributes to an envelope, and the most
	// Content-Language tags one part records; the rest are dropped.
	MaxAddresses = 10000

	// MaxParams is the most parameters one Content-Type or
	// Content-Disposition records; the rest are dropped.
	MaxParams = 1000
)

// Errors returned by Section and Part. They are wrapped with the section
// that was asked for; test with errors.Is.
var (
	// ErrNoSection: the part number does not exist in this message. IMAP
	// servers answer such a FETCH with an empty string (or NIL).
	ErrNoSection = errors.New("no such section")
	// ErrNotMessage: HEADER, HEADER.FIELDS[.NOT] or TEXT was asked of a
	// part that is not message/rfc822 (or message/global).
	ErrNotMessage = errors.New("section is not an encapsulated message")
	// ErrBadSpec: the section text is not one IMAP allows here (MIME with
	// no part number, or an unknown specifier).
	ErrBadSpec = errors.New("bad section specifier")
	// ErrUnknownEncoding: the part's Content-Transfer-Encoding is not one
	// this package can decode (IMAP BINARY answers NO [UNKNOWN-CTE]).
	ErrUnknownEncoding = errors.New("unknown content-transfer-encoding")
)

// NString is an IMAP nstring: a string, or NIL when Valid is false.
type NString struct {
	Value string
	Valid bool
}

func nstr(s string) NString { return NString{Value: s, Valid: true} }

// String returns the value, or "NIL" when the NString is NIL (for
// debugging; IMAP quoting is the protocol layer's job).
func (n NString) String() string {
	if !n.Valid {
		return "NIL"
	}
	return n.Value
}

// Cache is the parsed form of one stored message: everything an IMAP FETCH
// of ENVELOPE, BODY, BODYSTRUCTURE, RFC822.SIZE, BINARY.SIZE and the
// position of every BODY[section] needs, so the message file is opened only
// to copy the bytes of a section (BODY[HEADER] included: the header is not
// part of the encoded record, see RawHeader). A Cache is immutable once
// built and shared; it is safe for concurrent readers. (Its owner may fill
// RawHeader from the message file before sharing it.)
type Cache struct {
	// Size is RFC822.SIZE: the number of octets of the message as stored
	// (the store keeps CRLF line ends; a message with bare LF line ends is
	// measured as it is, and every offset below is into the same bytes).
	Size int64

	// RawHeader is the top-level header block exactly as stored, including
	// the empty line that ends it (when there is one): bytes
	// [0, Body.BodyStart) of the message file. It is what HeaderFields and
	// Header read. Nil when the message has no header at all.
	//
	// It is not stored as such: Parse fills it, but MarshalBinary keeps
	// its length (Body.BodyStart) and some or all of its fields
	// (KeptHeader), so it is nil after UnmarshalBinary of a record (except
	// a version 2 record, which held it). A caller that needs it takes it
	// from KeptHeader when that is KeptAll, else reads bytes
	// [0, HeaderLen()) of the message file into it.
	RawHeader []byte

	// Date is the Date: header field parsed for SEARCH SENTON/SENTBEFORE/
	// SENTSINCE; nil when the field is absent or cannot be parsed. Its
	// location is a fixed zone with the offset the message gave.
	Date *time.Time

	// Envelope is the top-level ENVELOPE.
	Envelope Envelope

	// Body is the top-level entity: its header is the message header
	// (Body.HeaderStart is 0, Body.BodyStart is the header's length, that
	// of RawHeader when it is loaded) and its body the message text. Its
	// MIME fields make the top-level BODYSTRUCTURE.
	Body Part

	// kept is the header fields a version 4 record holds (KeptHeader).
	kept keptRef
}

// HeaderLen is the length of the top-level header block, including the
// empty line that ends it: the header is bytes [0, HeaderLen()) of the
// message file, what BODY[HEADER] returns and what RawHeader holds when
// loaded.
func (c *Cache) HeaderLen() int64 { return c.Body.BodyStart }

// Envelope is an IMAP ENVELOPE (RFC 3501 section 7.4.2, RFC 9051 section
// 7.5.2). String fields are the raw header values, unfolded but not
// RFC 2047-decoded; NIL when the field is absent. Sender and ReplyTo are
// already filled in from From when their fields are absent or empty, as the
// RFC asks of the server.
type Envelope struct {
	Date      NString
	Subject   NString
	From      []Address
	Sender    []Address
	ReplyTo   []Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo NString
	MessageID NString
}

// Address is one element of an IMAP address list: (name adl mailbox host).
//
// A group is represented as IMAP does: a start marker with Host NIL and
// Mailbox the group's name, then its members, then an end marker with both
// Mailbox and Host NIL. Name keeps RFC 2047 encoded-words as sent (the
// client decodes them); quoted-string quoting is removed. ADL is the
// obsolete source route ("@a,@b"), normally NIL.
type Address struct {
	Name    NString
	ADL     NString
	Mailbox NString
	Host    NString
}

// IsGroupStart reports whether a is a start-of-group marker.
func (a *Address) IsGroupStart() bool { return !a.Host.Valid && a.Mailbox.Valid }

// IsGroupEnd reports whether a is an end-of-group marker.
func (a *Address) IsGroupEnd() bool { return !a.Host.Valid && !a.Mailbox.Valid }

// Param is one MIME parameter (Content-Type or Content-Disposition), name
// as sent, value with its quoting removed.
type Param struct {
	Name  string
	Value string
}

// Part is one MIME entity with its position in the raw message.
//
// Offsets: the entity's header is raw[HeaderStart:BodyStart] (its MIME
// header, or the RFC 5322 header for a top-level or encapsulated message,
// including the empty line that ends it) and its body raw[BodyStart:BodyEnd].
// The CRLF before a multipart boundary belongs to the boundary, not to the
// part before it (RFC 2046 section 5.1.1).
type Part struct {
	HeaderStart int64
	BodyStart   int64
	BodyEnd     int64

	// Type and Subtype are the media type as the message wrote it (case
	// kept); compare with MediaType or strings.EqualFold. An entity with
	// no usable Content-Type is text/plain with charset=us-ascii (message/
	// rfc822 inside multipart/digest).
	Type    string
	Subtype string
	// Params are the Content-Type parameters in message order, names as
	// sent; nil when there are none.
	Params []Param

	ID          NString // Content-ID
	Description NString // Content-Description (raw, not RFC 2047-decoded)
	// Encoding is the Content-Transfer-Encoding as sent, "7bit" when
	// absent (lower case, as Dovecot sends it: some clients choke on
	// upper case).
	Encoding string
	MD5      NString // Content-MD5

	// Disposition is the Content-Disposition value (NIL when absent) and
	// DispositionParams its parameters.
	Disposition       NString
	DispositionParams []Param
	Language          []string // Content-Language tags; nil when absent
	Location          NString  // Content-Location

	// Lines is the body's line count (number of LF octets) for text/* and
	// message/rfc822 parts; 0 for others.
	Lines int64

	// BinarySize is the size of the body once its Content-Transfer-Encoding
	// is removed (IMAP BINARY.SIZE), computed with AppendDecoded's rules;
	// -1 when the encoding is unknown. For a multipart or message/rfc822
	// part (whose encoding should be an identity) it is the body size, or
	// -1 when the encoding is not an identity.
	BinarySize int64

	// Parts are the children of a multipart part (never empty for one).
	// Nil for any other part.
	Parts []Part

	// Message is the encapsulated message of a message/rfc822 or
	// message/global part; nil for any other part.
	Message *Message
}

// Message is an encapsulated message (the body of a message/rfc822 part).
type Message struct {
	Envelope Envelope
	// Body is the encapsulated message as an entity: its header is the
	// message's RFC 5322 header, starting at the enclosing part's
	// BodyStart.
	Body Part
}

// Size is the body size in octets as stored (BODYSTRUCTURE body-fld-octets).
func (p *Part) Size() int64 { return p.BodyEnd - p.BodyStart }

// MediaType is "type/subtype" in lower case.
func (p *Part) MediaType() string {
	return strings.ToLower(p.Type) + "/" + strings.ToLower(p.Subtype)
}

// IsMultipart reports whether the part has children (it is written as a
// body-type-mpart in BODYSTRUCTURE).
func (p *Part) IsMultipart() bool { return len(p.Parts) > 0 }

// IsText reports whether the part is text/* (its BODYSTRUCTURE carries a
// line count).
func (p *Part) IsText() bool { return strings.EqualFold(p.Type, "text") }
