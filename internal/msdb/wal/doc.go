// Package wal is msdb's write-ahead transaction log: its files, its records,
// their positions (LSNs), appending with group commit, and reading back with
// verification.
//
// # Files
//
// The log is a directory of files named log.NNNNNNNNNN, ten decimal digits,
// numbered from 1 without gaps. Every file begins with a HeaderSize-byte
// header (all integers little-endian):
//
//	off size field
//	  0    8 magic "MSDBLOG\x01"
//	  8    4 format version (Version)
//	 12    4 file number (must equal the number in the file's name)
//	 16   16 environment id (must equal the environment's)
//	 32    8 start LSN: the LSN of the file's first record, {number, HeaderSize}
//	 40    8 previous end: the LSN just past the last record of file number-1,
//	         or 0 when the file starts a log (no earlier file belongs to it)
//	 48    8 creation time, Unix nanoseconds
//	 56    4 CRC-32C (Castagnoli) of bytes 0..55
//	 60    4 zero
//
// A file is created under a temporary name, its header written and synced,
// then renamed into place and its directory synced, so a log file is never
// seen without a whole header. The previous file is synced before the next
// one is created, so only the last file of a log can have a torn tail.
//
// # Records
//
// After the header come records, each starting at an offset that is a
// multiple of 8 (zero padding in between):
//
//	off size field
//	  0    4 body length n (1..MaxBody)
//	  4    4 CRC-32C of the body
//	  8    n body:
//	           8 LSN of this record {file, offset}: a record copied to the
//	             wrong place does not verify
//	           1 type (TypeTxn, TypeCheckpoint)
//	           8 transaction id
//	           8 commit time, Unix nanoseconds
//	           … payload, by type (see Record)
//
// A transaction record's payload is a uvarint count of operations, then for
// each: one byte of kind (OpPut, OpDelete, OpCreateTable), then the table
// name, the key and (for OpPut and OpCreateTable) the value, each as a uvarint
// length and its bytes. A checkpoint record's payload is the LSN up to which
// every table file was durable when it was written.
//
// A record is committed when it is whole on disk: its length, CRC and LSN
// verify. Reading stops cleanly at the end of a file or at a zero length
// word followed only by zeros. Anything else that does not verify is damage:
// at the tail of the last file it is a torn write (an uncommitted group,
// never applied, which recovery cuts off); before a valid record, or in any
// file but the last, it is corruption, which is reported and never skipped.
//
// # LSNs
//
// An LSN is a record's position: its file number and the byte offset of its
// length word. LSNs order records; Uint64 packs one into a comparable
// integer (file in the high 32 bits).
package wal
