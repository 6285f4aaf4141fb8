// Package store is M-Store's mail store: accounts, mailboxes, messages,
// flags, UIDs and MODSEQs, quota, the parsed-message cache, and change
// notifications, kept in msdb tables, with the message bytes in files
// (package blob). It does not know which protocol calls it.
//
// # Records
//
// Everything is in one msdb table, "mail", under one-byte key prefixes:
//
//	A lower(name)               → Account
//	a account id                → lower(name)
//	M account id ‖ name         → Mailbox
//	m mailbox id                → account id ‖ name
//	U mailbox id ‖ UID          → Message (its file by number)
//	F file number               → SHA-256, references, parsed-message cache
//	D drop time ‖ file number   → "" (files no message references)
//	h file number               → header fields clients asked for
//	S account id ‖ name         → "" (a subscription)
//	X counter name              → value ("format": the store's format)
//
// One table means one table file to commit per transaction (a delivery,
// a flag change), whatever it touches. Ids and UIDs are big-endian in
// keys, so a mailbox's messages are in UID order and an account's
// mailboxes in name order. Every change and the counts it affects (a
// mailbox's messages, unseen, bytes; an account's usage) are written in
// one transaction.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/m-store/mstore/internal/blob"
	"github.com/m-store/mstore/internal/msdb"
)

// The store keeps its records in one msdb table, "mail", each kind of
// record under a one-byte key prefix (a "space"): a delivery or a flag
// change then commits one table file, which is what a transaction's
// latency is made of (two fsyncs a table file touched).
const mailTable = "mail"

// Spaces inside the mail table.
const (
	tAccounts      = 'A'
	tAccountIDs    = 'a'
	tMailboxes     = 'M'
	tMailboxIDs    = 'm'
	tMessages      = 'U'
	tFiles         = 'F'
	tDropped       = 'D'
	tHeaderFields  = 'h'
	tSubscriptions = 'S'
	tMeta          = 'X'
)

// Errors callers tell apart.
var (
	ErrNoAccount     = errors.New("no such account")
	ErrAccountExists = errors.New("account exists")
	ErrNoMailbox     = errors.New("no such mailbox")
	ErrMailboxExists = errors.New("mailbox exists")
	ErrOverQuota     = errors.New("over quota")
	ErrBadName       = errors.New("bad name")
	ErrDisabled      = errors.New("account disabled")
	ErrAuth          = errors.New("authentication failed")
	ErrNoSelect      = errors.New("mailbox cannot be selected")
	ErrHasChildren   = errors.New("mailbox has children")
	ErrTooLarge      = errors.New("message too large")
)

// Options configure a Store.
type Options struct {
	// DefaultQuota applies to accounts created without one (0: none).
	DefaultQuotaBytes int64
	// HashCost is the bcrypt cost of new password hashes (0: 10).
	HashCost int
	// AuthCacheTTL is how long a successful password check is remembered
	// (0: not at all; see credCache).
	AuthCacheTTL time.Duration
	Logger       *slog.Logger
}

// Store is the mail store.
type Store struct {
	env   *msdb.Env
	blobs *blob.Store
	opts  Options
	log   *slog.Logger
	hub   *Hub
	now   func() time.Time
	creds *credCache
}

// Open makes sure the store's tables exist and returns the store.
func Open(ctx context.Context, env *msdb.Env, blobs *blob.Store, opts Options) (*Store, error) {
	// Most keys grow at the end of their space (ids, UIDs): fill pages well.
	if err := env.EnsureTable(ctx, mailTable, msdb.TableOptions{FillPercent: 0.9}); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	if opts.HashCost == 0 {
		opts.HashCost = 10
	}
	s := &Store{env: env, blobs: blobs, opts: opts, log: lg, hub: newHub(), now: time.Now, creds: newCredCache(opts.AuthCacheTTL)}
	if err := s.upgrade(ctx); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// Env is the store's database environment.
func (s *Store) Env() *msdb.Env { return s.env }

// Hub is the store's change notification hub.
func (s *Store) Hub() *Hub { return s.hub }

// tx bundles the store's tables inside one msdb transaction.
type tx struct {
	*msdb.Tx
	s      *Store
	mail   *msdb.Table
	events *[]Event // published after commit
	// newFiles are the file numbers given in this transaction, by the
	// Incoming they were given for (files.go).
	newFiles map[*Incoming]uint64
}

// emit queues an event for after the commit.
func (x *tx) emit(ev Event) {
	if x.events != nil {
		*x.events = append(*x.events, ev)
	}
}

func (s *Store) wrap(mt *msdb.Tx) *tx { return &tx{Tx: mt, s: s} }

// table returns one space of the mail table.
func (x *tx) table(prefix byte) space {
	if x.mail == nil {
		t, err := x.Tx.Table(mailTable)
		if err != nil {
			panic(fmt.Errorf("store table %s: %w", mailTable, err)) // made by Open
		}
		x.mail = t
	}
	return space{t: x.mail, p: prefix}
}

// update runs fn in a write transaction; events it queues are published
// in commit order once the transaction has committed.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	return s.updateWith(s.env.Update, ctx, fn)
}

// updateLogged is update returning once the transaction is durable in the
// log, before it is applied to the tables (msdb's UpdateLogged): for a
// writer that does not read its own write back at once.
func (s *Store) updateLogged(ctx context.Context, fn func(*tx) error) error {
	return s.updateWith(s.env.UpdateLogged, ctx, fn)
}

func (s *Store) updateWith(commit func(context.Context, func(*msdb.Tx) error) error, ctx context.Context, fn func(*tx) error) error {
	return commit(ctx, func(mt *msdb.Tx) error {
		var events []Event
		x := s.wrap(mt)
		x.events = &events
		mt.OnCommit(func() {
			for _, ev := range events {
				s.hub.publish(ev)
			}
		})
		return fn(x)
	})
}

func (s *Store) view(ctx context.Context, fn func(*tx) error) error {
	return s.env.View(ctx, func(mt *msdb.Tx) error { return fn(s.wrap(mt)) })
}

// nextCounter returns the next value of a named counter (1, 2, …).
func (x *tx) nextCounter(name string) (uint64, error) {
	t := x.table(tMeta)
	var v uint64
	if b := t.Get([]byte(name)); len(b) == 8 {
		v = binary.BigEndian.Uint64(b)
	}
	v++
	return v, t.Put([]byte(name), binary.BigEndian.AppendUint64(nil, v))
}

// newUIDValidity returns a UIDVALIDITY never handed out before in this
// store: the current time in seconds, or one more than the last one.
func (x *tx) newUIDValidity() (uint32, error) {
	t := x.table(tMeta)
	key := []byte("last-uidvalidity")
	var last uint32
	if b := t.Get(key); len(b) == 4 {
		last = binary.BigEndian.Uint32(b)
	}
	v := max(uint32(x.s.now().Unix()), last+1)
	return v, t.Put(key, binary.BigEndian.AppendUint32(nil, v))
}

// NormalizeAccount is the key under which an account name is stored.
func NormalizeAccount(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// ValidAccountName checks an account name: a bare name or an address.
func ValidAccountName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w: account name must be 1 to 255 bytes", ErrBadName)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"\:/()<>,;[]`, r) {
			return fmt.Errorf("%w: account name %q has a character %q that is not allowed", ErrBadName, name, r)
		}
	}
	if strings.Count(name, "@") > 1 || strings.HasPrefix(name, "@") || strings.HasSuffix(name, "@") {
		return fmt.Errorf("%w: account name %q is not a name or an address", ErrBadName, name)
	}
	return nil
}
