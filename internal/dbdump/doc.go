// Package dbdump reads and writes the text format of Berkeley DB's db_dump
// and db_load utilities, so that msdb_dump writes what Berkeley DB's own
// db_load reads and msdb_load reads what Berkeley DB's db_dump writes.
// Both directions stream: only one record (key and value) is held in memory
// at a time, whatever the size of the dump.
//
// # Format
//
// A dump is a sequence of lines, each ended by a newline (0x0a). It holds one
// or more sections; each section is one database and consists of a header, a
// data part and a trailer:
//
//	VERSION=3
//	format=print
//	type=btree
//	HEADER=END
//	 key 1
//	 value 1
//	 key 2
//	 value 2
//	DATA=END
//
// Header. One name=value line per setting, split at the first '=', up to
// the line HEADER=END. Names are case-sensitive. The Reader requires
//
//   - VERSION=3 (VERSION=2, written before Berkeley DB 3.2, is read too:
//     for btree and hash databases its data lines are identical);
//   - format=print or format=bytevalue (how data lines are encoded, below);
//   - type=btree or type=hash. The types recno, queue and heap are refused
//     with an error: their keys are record numbers (or record IDs), not byte
//     strings.
//
// It also accepts, at most once each, the other lines db_dump writes or
// db_load reads: database= and its alias subdatabase= (the name of a database
// inside a file that holds several; the value is escaped as in the print
// format, whatever the section's format, and may be empty), the boolean flags
// chksum, compressed, duplicates, dupsort, keys, recnum and renumber (value 0
// or 1), the decimal numbers bt_minkey, db_lorder, db_pagesize, extentsize,
// h_ffactor, h_nelem, heap_bytes, heap_gbytes, heap_regionsize and re_len,
// and re_pad (any non-empty value; db_dump writes it as "0x20"). These are
// returned in [Header.Extra] and otherwise ignored. Any other name is an
// error, as it is for db_load. The line nparts=N (a range-partitioned
// database, N >= 2) is followed, still inside the header, by N-1 lines
// holding the partition boundary keys, encoded like data lines; format= must
// come before it. They are returned in [Header.PartitionKeys].
//
// Data. After HEADER=END come lines that each start with one space (0x20),
// alternately a key and its value, then the trailer line DATA=END. What
// follows the space is the byte string encoded per the header's format:
//
//   - format=bytevalue: two lowercase hexadecimal digits per byte
//     ("0123456789abcdef"), so the line has an even number of digits.
//   - format=print: the bytes 0x20 to 0x7e, except the backslash 0x5c, stand
//     for themselves; a backslash is written as two backslashes "\\"; every
//     other byte (0x00-0x1f, 0x7f-0xff) is written as a backslash and two
//     lowercase hexadecimal digits, e.g. "\0a" for a newline and "\ff" for
//     0xff. This is db_dump -p's rule: isprint() in the C locale, checked
//     byte for byte against Berkeley DB 5.3's db_dump.
//
// A line holding just the space is the empty byte string. There is no
// length limit on a line.
//
// Trailer. The line DATA=END ends the section. Either the input ends there,
// or the next section's header starts on the following line (db_dump writes
// one section per database when a file holds several named databases).
//
// # Reader leniency and strictness
//
// The Reader accepts what db_load accepts with the following exceptions, in
// which it is stricter: VERSION, format and type must be present; a header
// name may not repeat; hexadecimal digits must be lowercase (db_load reads
// "A" to "F" as 15, silently corrupting the data); a backslash in print
// format must be followed by another backslash or two lowercase hex digits;
// a data line must start with a space (db_load reads an empty line as an
// empty string); and DATA=END must end every section. Like db_load, in print
// format it takes any other byte, including bytes db_dump would escape, as
// itself. Unlike db_load it also takes a last line that lacks its newline.
//
// Every error the Reader returns for malformed input is a [*SyntaxError]
// whose message starts with the 1-based line number, e.g.
//
//	line 7: bad escape "\\zz" at column 5 (want \\ or \ and two lowercase hex digits)
//
// # Several sections
//
// [Reader.Next] returns the records of the current section. When DATA=END is
// followed by another section, Next reads and checks that section's header
// and returns an error wrapping [ErrNewSection]; [Reader.Header] then
// returns the new header and the following calls to Next return its
// records. A caller that handles a single database just treats that error
// like any other, so a second database is never silently dropped. When the
// input ends after DATA=END, Next returns [io.EOF].
//
// A [Writer] writes one section; to write several, write them one after the
// other on the same [io.Writer] with one Writer each, giving each a
// Header.Database name (db_load needs names to put several databases into
// one file).
package dbdump
