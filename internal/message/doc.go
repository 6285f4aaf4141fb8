// Package message parses a stored RFC 5322 / MIME message once, at
// delivery, into a compact cache record, so that IMAP FETCH of ENVELOPE,
// BODY, BODYSTRUCTURE, RFC822.SIZE, BODY[HEADER], BODY[HEADER.FIELDS …],
// BINARY.SIZE and header SEARCH keys is answered without opening the
// message file, and every other BODY[section] or BINARY[section] is one read
// of a known byte range.
//
// # What is cached
//
// A Cache holds, for one message:
//
//   - Size: RFC822.SIZE, the octets as stored;
//   - RawHeader: the raw top-level header block (BODY[HEADER], and the
//     source of HeaderFields for HEADER.FIELDS[.NOT] and Header for SEARCH);
//   - Date: the Date: field parsed, for SEARCH SENTON and friends;
//   - Envelope: the ENVELOPE, with raw (not RFC 2047-decoded) values;
//   - Body: the tree of MIME parts, each with every BODYSTRUCTURE field
//     (type, subtype and parameters as sent, Content-ID, -Description,
//     -Transfer-Encoding, -MD5, -Disposition with parameters, -Language,
//     -Location, size, line count, and for message/rfc822 the encapsulated
//     message's envelope and structure), the size of its decoded body
//     (BINARY.SIZE) and its offsets in the raw message: header start, body
//     start, body end.
//
// Section maps an IMAP section (part number plus HEADER, TEXT, MIME, …) to
// the octet range to copy from the file, following RFC 3501 section 6.4.5:
// a non-multipart message has the single part 1 (its body), and the parts of
// a message/rfc822 part are those of the message it holds.
//
// # Line ends
//
// The store keeps CRLF line ends and the parser expects them, but it takes
// bare LF everywhere a CRLF may be (header ends, folding, boundaries).
// Offsets and sizes are always of the stored octets as they are: a message
// with LF line ends has a smaller RFC822.SIZE and every range stays
// consistent with it. Line counts count LF octets.
//
// # Malformed input
//
// Parse never fails and never rejects a message: real mail is messy, and a
// delivery must not bounce on a bad header. What broken input becomes:
//
//   - no empty line after the header: the whole message is header, the body
//     is empty;
//   - a header line without ':' stays in the header with no name (Dovecot);
//   - no Content-Type, or one without a usable type: text/plain;
//     charset=us-ascii (message/rfc822 inside multipart/digest); a type
//     without subtype gets "plain" for text, "mixed" for multipart
//     (RFC 2046), "unknown" otherwise; an explicit text/* without charset
//     keeps its parameters as sent; MIME-Version is not required;
//   - parameters are as sent (names' case kept, order kept, quotes removed);
//     malformed parameters are skipped up to the next ';'; an unquoted value
//     runs to the next ';' or white space; RFC 2231 continuations are joined
//     as Dovecot joins them;
//   - multipart without boundary: an opaque single part keeping its type
//     (Dovecot); a multipart with no part at all (no delimiter, or the header
//     cut short): one empty text/plain part stands for the missing ones, as
//     IMAP needs at least one; a missing close delimiter is closed by the
//     next outer boundary or the end of the message; boundaries match by
//     prefix, longest first (RFC 2046, Dovecot); a header cut short by a
//     boundary line ends there with an empty body;
//   - Content-Transfer-Encoding that is not a single token: 7bit;
//   - first occurrence wins for every field that the envelope or the body
//     structure reads;
//   - addresses: see address.go; in short Dovecot's MISSING_MAILBOX,
//     MISSING_DOMAIN, SYNTAX_ERROR and INVALID_ROUTE placeholders, groups
//     kept, empty elements skipped, parsing resumed after garbage;
//   - deeper than MaxDepth, or past MaxParts parts: the multipart or
//     message/rfc822 part is flattened into an opaque
//     application/octet-stream part (type relabelled, so that no client
//     expects children or an envelope); parts past MaxParts are not
//     recorded.
//
// # Encoding
//
// MarshalBinary writes a versioned, compact record; UnmarshalBinary reads
// it with one allocation for all strings and checks every count and offset,
// so a corrupt or hostile record is an error, never a panic. All integers
// are unsigned LEB128 varints (uv) unless said otherwise (sv: zig-zag
// signed); str is uv length then octets; nstr is uv 0 for NIL or
// length+1 then octets.
//
//	record   = version:1 octet (= Version) size:uv header:str date envelope part
//	date     = 0x00 (none) / 0x01 unix-seconds:sv utc-offset-seconds:sv
//	envelope = date:nstr subject:nstr from:addrs sender:addrs reply-to:addrs
//	           to:addrs cc:addrs bcc:addrs in-reply-to:nstr message-id:nstr
//	addrs    = uv 0 (NIL) / uv 1 (same as from; sender and reply-to only) /
//	           uv n+2 then n × (name:nstr adl:nstr mailbox:nstr host:nstr)
//	part     = header-start:uv (from the end of the previous sibling, or the
//	           parent's body start) header-len:uv body-len:uv
//	           kind:1 octet (0 leaf, 1 multipart, 2 message)
//	           type:str subtype:str params id:nstr description:nstr
//	           encoding:str md5:nstr disposition:nstr disposition-params
//	           languages location:nstr lines:uv binary-size+1:uv (0 unknown)
//	           [kind 1: count:uv part × count] [kind 2: envelope part]
//	params   = count:uv then count × (name:str value:str)
//	languages= count:uv then count × str
//
// A decoder accepts exactly this; parts must nest inside their parent's body
// in order, the tree may be at most MaxDepth deep and MaxParts large, and
// the top-level part must span the whole message with the header's length.
package message
