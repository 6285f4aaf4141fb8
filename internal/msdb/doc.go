// Package msdb is M-Store's transactional database environment: table files
// kept consistent by a write-ahead transaction log, with the administration
// operations of the msdb_* tools (recovery, checkpoint, archive, hot copy,
// verify, stats).
//
// # Layout
//
// An environment lives in a home directory (<ms-path>/database):
//
//	msdb.lock                  held with flock(2) by the process that has it open
//	data/catalog.db            the catalogue: the environment id and its tables
//	data/<table>.db            one bbolt file per table
//	transaction_log/log.NNNNNNNNNN   the log (package wal)
//
// Everything recovery needs is in the table files and the log files, so a
// home holding only copies of data/*.db and transaction_log/log.* recovers
// (catastrophic recovery, Options.Catastrophic).
//
// Every table file (the catalogue too) has a bucket "msdb" with the
// environment id, the table's name and the LSN of the last log record
// applied to it, written in the same bbolt transaction as the data, and a
// bucket "data" with the table's keys and values.
//
// # Transactions
//
// Update runs a function that reads and writes tables. Functions run one
// after another on the committer goroutine, each seeing every transaction
// committed before it, those earlier in its own group included (so a
// read-modify-write such as allocating a UID needs no further locking). The
// committer takes every waiting transaction as a group: it runs their
// functions inside one bbolt write transaction per table touched, appends
// one log record per transaction, writes and syncs the group's records with
// one write and one fdatasync (group commit), then commits the table
// transactions (bbolt syncs them) and only then acknowledges the group. A
// function that fails has its writes undone and no record.
//
// View reads a consistent snapshot of every table: committed and durable
// state only.
//
// # Recovery
//
// Open recovers: it replays every log record past each table's LSN. A torn
// tail of the last log file (a group whose write was cut short, never
// acknowledged) is cut off and reported. Damage anywhere else, a missing log
// file, a missing table file, or tables at an LSN the log does not reach is
// refused before anything is changed. Recovery stops at a record boundary
// when its context is cancelled and resumes on the next Open.
package msdb
