// Package blob keeps M-Store's message files: the bytes of every message,
// stored once per distinct content under <ms-path>/mail/, apart from the
// database, so that nothing the database does can damage physical mail.
//
// # Layout
//
// A Store lives in a root directory (<ms-path>/mail):
//
//	tmp/                      files being written; name "put-" + random digits
//	ab/                       first two hex digits of the ID (all 256 exist)
//	ab/abcd…(64 hex)          one message file, named by its ID
//	ab/cd/abcd…(64 hex)       legacy: a message file written by an earlier version
//
// A message file's ID is the SHA-256 of its bytes, written as 64 lower-case
// hexadecimal digits; the file is at <root>/<id[0:2]>/<id> and holds
// exactly those bytes, with no header or trailer. The same content
// delivered to many recipients is therefore stored once; the database
// (package store) holds the references. Directories are created with mode
// 0700 and files with mode 0600. Open creates the 256 first-level
// directories that are missing, so there are 257 directories (with tmp/),
// whatever the number of messages: a file system with hashed directories
// (ext4's dir_index, XFS, btrfs) handles hundreds of thousands of entries
// in one directory well, and one level costs a Put neither a mkdir nor a
// sync of a parent, nor the store the blocks of up to 65,536 small
// directories.
//
// Earlier versions kept files two levels down, at the legacy path
// <root>/<id[0:2]>/<id[2:4]>/<id>, in second-level directories created as
// needed. Such a store keeps working as it is, with no migration: its files
// stay where they are and new ones go to their paths. Open notes which
// first-level directories hold legacy directories (named by two hex
// digits; a Sweep or Walk that finds one later notes it too); only
// for an ID in one of those does a lookup (reading, Stat, Check, Put
// finding the content already stored, the sweep's removal) that finds
// nothing at the ID's path look at its legacy path too, so a store without
// legacy directories pays no second lookup. Sweep and Walk see files at
// both paths. Legacy directories are never removed, even once empty; no
// directory is.
//
// Anything else under the root (a name that is not two hex digits, a file
// not named by a 64-digit ID matching its directories, anything that is not
// a regular file, a directory in a legacy directory) is foreign: it is
// never read, removed or reported as a message file. Open fails if a
// first-level name is taken by something that is not a directory.
//
// # Writing
//
// Put streams a message to a temporary file in tmp/ (the same file system
// as the final place), hashing it on the way, renames it to its final name,
// then fsyncs, at the same time, the file and its directory. When Put
// returns, the file is durable; a reader never sees a partial file,
// because a file only appears under its final name once all its bytes are
// written. A message file is never changed after it is in place.
//
// That one round of two syncs is all, because the directory is already
// durable: Open, after creating the missing first-level directories,
// fsyncs the root once (also when it created none, since a process may
// have died between creating some and syncing the root). That makes their
// entries in the root durable. The directory's own inode and its "." and
// ".." are written either with that (a journalling file system commits
// the mkdir as one operation) or, at the latest, by the fsync of the
// directory that the first Put into it does with its first file: a file
// is not trusted before its Put returns, so an empty directory needs
// nothing earlier. If a first-level directory is missing at
// Put time all the same (removed while the store is open), Put makes it
// again and fsyncs the root before renaming the file into it.
//
// Storing content that is already present writes nothing: Put re-hashes
// the existing file (at its path or its legacy path), removes its
// temporary file and returns the existing ID. The re-hash is what makes
// syncing after the rename safe: a power loss while a Put syncs can leave
// the final name with bytes that never made it to disk; no committed
// transaction references that file (Put had not returned), and a later Put
// of the same content finds it damaged and replaces it (a damaged file at
// a legacy path is removed and the good copy written at the path).
// Temporary files left by a crash are removed by Open once they are older
// than an hour.
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
// and reports damage. Each looks at the file's path, then at its legacy
// path (see Layout). A missing file is ErrNotFound, which wraps
// fs.ErrNotExist, and names the file's path; Path names where a file is,
// or the path where it should be.
package blob
