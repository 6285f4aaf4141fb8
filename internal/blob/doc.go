// Package blob keeps M-Store's message files: the bytes of every message,
// stored once per distinct content under <ms-path>/mail/, apart from the
// database, so that nothing the database does can damage physical mail.
//
// # Layout
//
// A Store lives in a root directory (<ms-path>/mail):
//
//	tmp/                      files being written; name "put-" + random digits
//	ab/                       first two hex digits of the ID (256 at most)
//	ab/cd/                    next two hex digits (256 at most per first level)
//	ab/cd/abcd…(64 hex)       one message file, named by its ID
//
// A message file's ID is the SHA-256 of its bytes, written as 64 lower-case
// hexadecimal digits; the file is at <root>/<id[0:2]>/<id[2:4]>/<id> and
// holds exactly those bytes, with no header or trailer. The same content
// delivered to many recipients is therefore stored once; the database
// (package store) holds the references. Directories are created with mode
// 0700 and files with mode 0600. Directories are never removed, so there
// are at most 65,792 of them. Anything else under the root (a name that is
// not two hex digits, a file not named by a 64-digit ID matching its
// directories, anything that is not a regular file) is foreign: it is never
// read, removed or reported as a message file.
//
// # Writing
//
// Put streams a message to a temporary file in tmp/ (the same file system
// as the final place), hashing it on the way, renames it to its final name
// (creating the directories on the way), then fsyncs, all at once, the
// file, its directory, and the parent of each directory it created. When
// Put returns, the file is durable; a reader never sees a partial file,
// because a file only appears under its final name once all its bytes are
// written. A message file is never changed after it is in place. Storing
// content that is already present writes nothing: Put re-hashes the
// existing file, removes its temporary file and returns the existing ID.
// The re-hash is what makes syncing after the rename safe: a power loss
// while a Put syncs can leave the final name with bytes that never made
// it to disk; no committed transaction references that file (Put had not
// returned), and a later Put of the same content finds it damaged and
// replaces it. Temporary files left by a crash are removed by Open once
// they are older than an hour.
//
// # Sweeping and the grace period
//
// A file that no committed transaction references (a crash between the file
// and the database commit, or every message using it expunged) is removed by
// Sweep, which asks the caller whether each candidate is referenced. A file
// whose modification time is within the grace period is never removed,
// whatever the caller says, because its reference may not be committed yet:
// the caller stores the file first and commits the transaction that
// references it a moment later.
//
// The modification time is when the file was stored or last re-stored.
// When Put finds its content already present it sets the file's times to
// now. That closes this race: an old file whose last reference was expunged
// is a sweep candidate; a new delivery of the same content calls Put, finds
// the file and returns without writing; Sweep asks the database, which does
// not yet have the new delivery's reference, and is told "unreferenced". If
// Put did not refresh the time, Sweep would remove the file and the new
// delivery would commit a reference to nothing. Because Put refreshes it,
// and Sweep looks at the time again after the database has answered and
// right before removing the file (under a per-ID lock that Put also takes,
// so the check and the removal are one step with respect to Put in this
// process), either Put comes first and Sweep sees a young file and keeps it,
// or Sweep comes first and Put finds no file and writes a new one. The
// reference is committed within seconds of Put, far inside any sensible
// grace period (hours), so by the time the file is old again, the database
// answers "referenced". The per-ID lock covers one process only: run Sweep
// in the process that delivers (the daemon), or when no process delivers;
// the database environment's exclusive lock gives exactly that.
//
// A time refreshed by Put is not fsynced: after a crash it may be the old
// one, but then the delivery either committed (and its reference protects
// the file) or did not (and the file is rightly a candidate).
//
// # Reading
//
// Open returns the file for reading, Section a reader for a byte range
// (IMAP partial fetches), Stat its size and time, and Check re-hashes a file
// and reports damage. A missing file is ErrNotFound, which wraps
// fs.ErrNotExist.
package blob
