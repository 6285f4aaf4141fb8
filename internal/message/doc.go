// Package message parses a stored RFC 5322 / MIME message once, at
// delivery, into a compact cache record, so that IMAP FETCH of ENVELOPE,
// BODY, BODYSTRUCTURE, RFC822.SIZE and BINARY.SIZE, of the header fields
// mail clients fetch for their message lists, and SEARCH SENTON/
// SENTBEFORE/SENTSINCE, are answered without opening the message file, and
// every other BODY[section] or BINARY[section] costs one read of a known
// octet range of it.
//
// # What is cached
//
// A Cache holds, for one message:
//
//   - Size: RFC822.SIZE, the octets as stored;
//   - the length of the top-level header block (Body.BodyStart, HeaderLen),
//     and of its octets only the fields of KeptFields (From, To, Cc,
//     Subject, Date, Message-ID, References, Content-Type, the
//     priorities, …) or, when it is small, the whole block (KeptHeader,
//     kept.go): real headers (Received, DKIM-Signature, …) are often
//     several kilobytes, more than all the rest of the record, and the
//     message file has them. Most kept fields cost one octet each: they
//     are what a line template makes of the envelope or the Content-Type.
//     Whatever the record does not keep, BODY[HEADER], other
//     BODY[HEADER.FIELDS[.NOT] …] and the SEARCH keys HEADER and TEXT
//     read from octets [0, HeaderLen()) of the message file, one read of a
//     known range; loaded into RawHeader, they are what HeaderFields and
//     Header read;
//   - Date: the Date: field parsed, for SEARCH SENTON/SENTBEFORE/SENTSINCE;
//   - Envelope: the ENVELOPE (RFC 3501 7.4.2, RFC 9051 7.5.2);
//   - Body: the tree of MIME parts, each with every BODYSTRUCTURE field
//     (type, subtype and parameters as sent, Content-ID, -Description,
//     -Transfer-Encoding, -MD5, -Disposition with its parameters, -Language,
//     -Location, body size, line count, and for message/rfc822 and
//     message/global the encapsulated message's envelope and structure),
//     the size of its decoded body (BINARY.SIZE) and its offsets in the raw
//     message: header start, body start, body end.
//
// Section maps an IMAP section (part number, then HEADER, TEXT, MIME, …) to
// the octet range to copy from the file, with RFC 3501 section 6.4.5's
// numbering: a non-multipart message has the single part 1 (its body), and
// the parts of a message/rfc822 part are those of the message it holds.
//
// # Whose answers
//
// Where the RFCs leave a choice, the cache gives the answers Dovecot 2.3
// gives, so clients see what they already see from the most common IMAP
// server: dovecot_test.go compares every FETCH item for the test corpus and
// thousands of generated, partly damaged messages with a real Dovecot, and
// lists the few deliberate differences (see "Malformed input" below).
// In short: values are raw (RFC 2047 encoded-words are left for the client
// to decode); Subject and display names are cleaned as Dovecot cleans them
// (line ends and tabs become spaces, runs of spaces one space, no space at
// the ends); other strings are unfolded, with the white space at their
// start removed and at their end kept; NUL becomes U+FFFD; a text/* part
// without charset gets charset=us-ascii (RFC 2046's default) added to its
// parameters; Content-Transfer-Encoding defaults to "7bit" in lower case.
//
// # Line ends
//
// The store keeps CRLF line ends and the parser expects them, but it takes
// a bare LF everywhere a CRLF may be (the end of the header, folding,
// boundaries). Offsets and sizes are always of the stored octets as they
// are: a message stored with LF line ends has a smaller RFC822.SIZE than
// Dovecot would report (it counts CRs it would add), and every range stays
// consistent with the file. Line counts count LF octets.
//
// # Malformed input
//
// Parse never fails and never rejects a message: real mail is messy, and a
// delivery must not bounce on a bad header. What broken input becomes:
//
//   - no empty line after the header: the whole message is header and the
//     body is empty; a header line without ':' stays in the header with no
//     field name (Dovecot): HEADER.FIELDS never matches it, HEADER.FIELDS.NOT
//     always returns it;
//   - repeated fields: the first Subject, Date, Message-ID, In-Reply-To and
//     Content-* field counts (Dovecot takes the last Subject, Date, …);
//     repeated address fields are joined into one list (Dovecot);
//   - addresses (see address.go): Dovecot's MISSING_MAILBOX, MISSING_DOMAIN,
//     SYNTAX_ERROR and INVALID_ROUTE placeholders; but where Dovecot drops
//     the rest of a list after a malformed element, parsing resumes at the
//     next comma, and empty elements are skipped (Dovecot reports each as
//     MISSING_MAILBOX);
//   - no Content-Type, or one without a type: text/plain;
//     charset=us-ascii (message/rfc822 inside multipart/digest; Dovecot
//     sends ("" "") for an empty or typeless field); a type without subtype
//     gets "plain" for text, "mixed" for multipart (RFC 2046 5.1.3), and
//     "unknown" otherwise (Dovecot sends ""); MIME-Version is not required;
//   - parameters: names as sent, values unquoted, in order, except that
//     RFC 2231 parameters come last, their continuations joined, as Dovecot
//     does; a parameter with an unterminated quoted value is dropped; junk
//     is skipped up to the next ';' (Dovecot drops every later parameter);
//     an unquoted value runs to the next ';' or white space, so the invalid
//     but common boundary=----=_Part_1 keeps its whole value (Dovecot stops
//     at the first '=', '/' or '?');
//   - a Content-Transfer-Encoding that is not a single token: 7bit;
//   - multipart: a boundary matches a line by prefix, the longest open one
//     winning (RFC 2046, Dovecot); a part whose close delimiter is missing
//     is closed by the next outer delimiter or the end of the message; a
//     multipart without boundary, or without any part, gets one empty
//     text/plain part (IMAP needs one; Dovecot does the same); a header cut
//     short by a delimiter line ends there, with an empty body;
//   - the line end before a delimiter belongs to the delimiter (RFC 2046),
//     except one already taken: a close delimiter keeps its own line end in
//     its multipart even when the next delimiter follows at once, and the
//     empty line ending a header goes to a delimiter right after it (the
//     header then has no empty line); both are Dovecot's rules;
//   - deeper than MaxDepth, or past MaxParts parts, a multipart or
//     message/rfc822 part is not descended into: it becomes an opaque part
//     relabelled application/octet-stream (its parameters kept), so that no
//     client expects children or an envelope, and parts past MaxParts are
//     not recorded; past MaxAddresses and MaxParams, addresses and
//     parameters are dropped;
//   - BINARY decoding is lenient (see decode.go): broken base64 and
//     quoted-printable decode as well as they can (Dovecot refuses them, and
//     8-bit data in a part said to be 7bit).
//
// # Encoding
//
// MarshalBinary writes a versioned, compact record; UnmarshalBinary reads
// it with one copy of the record for all its strings and checks every
// count and offset, so a corrupt or hostile record is an error, never a
// panic or a large allocation. Integers are unsigned LEB128 varints (uv)
// unless said otherwise (sv: zig-zag signed varint). An offset is a
// position in the record, counted in octets from its first (the version
// octet, offset 0).
//
//	record   = version:1 octet (= Version, 4) size:uv header-len:uv
//	           date envelope top-part kept
//	date     = 0x00 (none) / 0x01 unix-seconds:sv utc-offset-seconds:sv /
//	           (0x02+k) unix-seconds:sv utc-offset-seconds:sv, for k < 4:
//	           as 0x01, and the top-level envelope's Date is that date
//	           formatted with layout k (below), its date field left out
//	str      = uv (len<<1) then len octets (inline) /
//	           uv (len<<1 | 1) then offset:uv (reference): the len octets
//	           at offset, which must end at or before the first octet of
//	           this tag (offset+len ≤ the tag's offset)
//	nstr     = uv 0 (NIL) / a str whose first uv is one more
//	envelope = date:nstr subject:nstr from:addrs sender:addrs reply-to:addrs
//	           to:addrs cc:addrs bcc:addrs in-reply-to:nstr message-id:nstr
//	           (date absent in the top-level envelope when date ≥ 0x02)
//	addrs    = uv 0 (NIL) / uv 1 (same as from; sender and reply-to only) /
//	           uv n+2 then n × (name:nstr adl:nstr mailbox:nstr host:nstr)
//	top-part = a part without its three offsets (they are 0, header-len
//	           and size − header-len)
//	part     = header-start:uv (from the end of the previous sibling, or the
//	           parent's body start) header-len:uv body-len:uv
//	           flags:1 octet
//	           [type:str subtype:str params]          (unless P)
//	           [id:nstr description:nstr]             (unless X)
//	           [encoding:str]                         (unless E)
//	           [md5:nstr disposition:nstr disposition-params languages
//	            location:nstr]                        (unless X)
//	           lines:uv
//	           [binary-size+1:uv (0 unknown)]         (unless B)
//	           [kind 1: count:uv (≥ 1) part × count] [kind 2: envelope part]
//	flags    = kind (bits 0–1: 0 leaf, 1 multipart, 2 message) plus
//	           P 0x04: type "text", subtype "plain", params the one
//	                   charset=us-ascii (RFC 2045's default)
//	           E 0x08: encoding "7bit"
//	           X 0x10: id, description, md5, disposition and location NIL,
//	                   no disposition-params, no languages
//	           B 0x20: binary-size is body-len
//	params   = count:uv then count × (name:str value:str)
//	languages= count:uv then count × str
//	kept     = the header fields kept (kept.go): 0x00 none /
//	           state:1 octet count:uv count × line
//
// Date layouts (Go time layouts; "-0000" is literal, so layouts 2 and 3
// only give a zero offset, as RFC 5322's "-0000" and Python's formatdate
// write it):
//
//	0 "Mon, 02 Jan 2006 15:04:05 -0700"
//	1 "Mon, 2 Jan 2006 15:04:05 -0700"
//	2 "Mon, 02 Jan 2006 15:04:05 -0000"
//	3 "Mon, 2 Jan 2006 15:04:05 -0000"
//
// What the encoder chooses, and a decoder does not depend on (it accepts
// a field written although a flag or a layout could have left it out, and
// an inline string that could have been a reference):
//
//   - date 0x02+k for the first k whose layout, applied to the parsed
//     date, gives the top-level envelope's Date octet for octet (day of
//     week, zero padding and zone included: with a comment such as
//     "(UTC)", a zone name such as "GMT", other spacing or a wrong day of
//     week it is a plain string). An encapsulated message's envelope
//     always holds its date field: the record has no parsed date for it;
//   - each flag whose condition holds (exact, case-sensitive values);
//   - a reference for a str of at least 4 octets whose octets occur in the
//     record before its tag, entirely within the record's first 16 KiB,
//     to the first such occurrence, when the reference is shorter than the
//     inline form. The octets referred to may be any equal octets of the
//     record (a string, part of one, or anything else). To keep encoding
//     linear, each search scans at most 16 KiB, and a search that would
//     bring the octets scanned for one record past 1 MiB is not made (the
//     string is written inline).
//
// A decoder accepts exactly this and nothing after it: parts must nest in
// order inside their parent's body, the tree may be at most MaxDepth deep
// and MaxParts large, lists at most MaxAddresses and MaxParams long, and
// the header no longer than the message; a kind of 3, flag bits 0x40 and
// 0x80, and date octets past 0x05 are corrupt.
//
// Version 3 records are version 4 records without kept: they decode with
// no header fields kept (KeptNone), and re-encode as version 4 with 0x00.
// Version 2 records, which older databases hold, are still read (never
// written). They differ from version 3 in this: header-len is followed by
// the header octets; date is 0x00 or 0x01 only, and the top-level
// envelope always holds its date field; the top-level part is a part with
// its three offsets; flags is the kind only; a str reference's offset is
// into that header (the len octets at offset in the header), not into the
// record; and there is no kept. UnmarshalBinary fills RawHeader from a
// version 2 record (KeptHeader is then the whole header) and leaves it nil
// for the later versions. A record of any other version is
// refused with ErrVersion: re-parse the message file.
package message
