package store

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Separator is the mailbox hierarchy separator.
const Separator = "/"

// SpecialUses are the special-use attributes a mailbox may carry (RFC 6154).
var SpecialUses = []string{`\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`}

// NormalizeMailbox checks a mailbox name and returns it with INBOX (as the
// first component) in canonical case.
func NormalizeMailbox(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty mailbox name", ErrBadName)
	}
	if len(name) > 1000 {
		return "", fmt.Errorf("%w: mailbox name longer than 1000 bytes", ErrBadName)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: mailbox name is not UTF-8", ErrBadName)
	}
	if strings.HasPrefix(name, Separator) || strings.HasSuffix(name, Separator) || strings.Contains(name, Separator+Separator) {
		return "", fmt.Errorf("%w: mailbox name %q has an empty level", ErrBadName, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", fmt.Errorf("%w: mailbox name %q has a character %q that is not allowed", ErrBadName, name, r)
		}
	}
	first, rest, hasRest := strings.Cut(name, Separator)
	if strings.EqualFold(first, "INBOX") {
		if hasRest {
			return "INBOX" + Separator + rest, nil
		}
		return "INBOX", nil
	}
	return name, nil
}

func mailboxKey(acct uint64, name string) []byte { return append(u64key(nil, acct), name...) }

func subKey(acct uint64, name string) []byte { return mailboxKey(acct, name) }

// createMailbox makes a mailbox (name already normalized).
func (x *tx) createMailbox(acct uint64, name, specialUse string) (*Mailbox, error) {
	mboxes := x.table(tMailboxes)
	key := mailboxKey(acct, name)
	var old *Mailbox
	if b := mboxes.Get(key); b != nil {
		m, err := decodeMailbox(b)
		if err != nil {
			return nil, err
		}
		if !m.NoSelect {
			return nil, fmt.Errorf("mailbox %s: %w", name, ErrMailboxExists)
		}
		old = m // a \Noselect placeholder left by DELETE becomes a mailbox again
	}
	if specialUse != "" && !validSpecialUse(specialUse) {
		return nil, fmt.Errorf("%w: special use %s is not one of %s", ErrBadName, specialUse, strings.Join(SpecialUses, " "))
	}
	id, err := x.nextCounter("next-mailbox-id")
	if err != nil {
		return nil, err
	}
	uv, err := x.newUIDValidity()
	if err != nil {
		return nil, err
	}
	m := &Mailbox{ID: id, Account: acct, Name: name, UIDValidity: uv, UIDNext: 1, RecentFrom: 1, HighestModSeq: 1, SpecialUse: specialUse, Created: x.s.now()}
	if old != nil {
		if err := x.table(tMailboxIDs).Delete(u64key(nil, old.ID)); err != nil {
			return nil, err
		}
	}
	if err := mboxes.Put(key, m.encode()); err != nil {
		return nil, err
	}
	return m, x.table(tMailboxIDs).Put(u64key(nil, id), key)
}

func validSpecialUse(s string) bool {
	for _, u := range SpecialUses {
		if u == s {
			return true
		}
	}
	return false
}

func (x *tx) mailbox(acct uint64, name string) (*Mailbox, error) {
	n, err := NormalizeMailbox(name)
	if err != nil {
		return nil, err
	}
	b := x.table(tMailboxes).Get(mailboxKey(acct, n))
	if b == nil {
		return nil, fmt.Errorf("mailbox %s: %w", name, ErrNoMailbox)
	}
	return decodeMailbox(b)
}

func (x *tx) mailboxByID(id uint64) (*Mailbox, error) {
	key := x.table(tMailboxIDs).Get(u64key(nil, id))
	if key == nil {
		return nil, fmt.Errorf("mailbox id %d: %w", id, ErrNoMailbox)
	}
	b := x.table(tMailboxes).Get(key)
	if b == nil {
		return nil, fmt.Errorf("mailbox id %d: %w", id, ErrNoMailbox)
	}
	return decodeMailbox(b)
}

func (x *tx) putMailbox(m *Mailbox) error {
	return x.table(tMailboxes).Put(mailboxKey(m.Account, m.Name), m.encode())
}

// children lists the names below name (all levels).
func (x *tx) children(acct uint64, name string) ([]string, error) {
	prefix := mailboxKey(acct, name+Separator)
	var out []string
	err := x.table(tMailboxes).ForEach(prefix, func(k, _ []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		out = append(out, string(k[8:]))
		return true, nil
	})
	return out, err
}

// removeMailbox deletes a mailbox record and all its messages.
func (x *tx) removeMailbox(a *Account, name string) error {
	m, err := x.mailbox(a.ID, name)
	if err != nil {
		return err
	}
	if err := x.expungeAll(a, m); err != nil {
		return err
	}
	if err := x.table(tMailboxIDs).Delete(u64key(nil, m.ID)); err != nil {
		return err
	}
	x.emit(Event{Mailbox: m.ID, Kind: EventDeleted})
	return x.table(tMailboxes).Delete(mailboxKey(a.ID, m.Name))
}

// expungeAll removes every message of m, keeping the mailbox.
func (x *tx) expungeAll(a *Account, m *Mailbox) error {
	var uids []uint32
	prefix := u64key(nil, m.ID)
	err := x.table(tMessages).ForEach(prefix, func(k, _ []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		uids = append(uids, beU32(k[8:]))
		return true, nil
	})
	if err != nil {
		return err
	}
	_, err = x.expunge(a, m, uids)
	return err
}

// createParents creates the missing parent levels of name (RFC 3501 6.3.3).
func (x *tx) createParents(acct uint64, name string) error {
	parts := strings.Split(name, Separator)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], Separator)
		if x.table(tMailboxes).Get(mailboxKey(acct, parent)) == nil {
			if _, err := x.createMailbox(acct, parent, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// accountMailbox reads an account and one of its mailboxes.
func (x *tx) accountMailbox(account, name string) (*Account, *Mailbox, error) {
	a, err := x.account(account)
	if err != nil {
		return nil, nil, err
	}
	m, err := x.mailbox(a.ID, name)
	if err != nil {
		return nil, nil, err
	}
	return a, m, nil
}

// CreateMailbox creates a mailbox, and any missing parent levels (RFC 3501
// 6.3.3). specialUse may be "" or one of SpecialUses.
func (s *Store) CreateMailbox(ctx context.Context, account, name, specialUse string) (*Mailbox, error) {
	n, err := NormalizeMailbox(name)
	if err != nil {
		return nil, err
	}
	var m *Mailbox
	err = s.update(ctx, func(x *tx) error {
		a, err := x.account(account)
		if err != nil {
			return err
		}
		if err := x.createParents(a.ID, n); err != nil {
			return err
		}
		m, err = x.createMailbox(a.ID, n, specialUse)
		return err
	})
	return m, err
}

// DeleteMailbox deletes a mailbox as RFC 3501 6.3.4 says: INBOX cannot be
// deleted; a mailbox with children has its messages removed and becomes
// \Noselect; deleting a \Noselect mailbox with children is an error.
func (s *Store) DeleteMailbox(ctx context.Context, account, name string) error {
	return s.update(ctx, func(x *tx) error {
		a, m, err := x.accountMailbox(account, name)
		if err != nil {
			return err
		}
		if m.Name == "INBOX" {
			return fmt.Errorf("%w: INBOX cannot be deleted", ErrBadName)
		}
		kids, err := x.children(a.ID, m.Name)
		if err != nil {
			return err
		}
		if len(kids) == 0 {
			return x.removeMailbox(a, m.Name)
		}
		if m.NoSelect {
			return fmt.Errorf("mailbox %s: %w and is already \\Noselect", m.Name, ErrHasChildren)
		}
		if err := x.expungeAll(a, m); err != nil {
			return err
		}
		if m, err = x.mailbox(a.ID, m.Name); err != nil {
			return err
		}
		m.NoSelect = true
		x.emit(Event{Mailbox: m.ID, Kind: EventDeleted})
		return x.putMailbox(m)
	})
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves
// its messages to a new mailbox of that name and leaves INBOX empty.
func (s *Store) RenameMailbox(ctx context.Context, account, from, to string) error {
	nt, err := NormalizeMailbox(to)
	if err != nil {
		return err
	}
	return s.update(ctx, func(x *tx) error {
		a, m, err := x.accountMailbox(account, from)
		if err != nil {
			return err
		}
		if x.table(tMailboxes).Get(mailboxKey(a.ID, nt)) != nil {
			return fmt.Errorf("mailbox %s: %w", nt, ErrMailboxExists)
		}
		// A mailbox cannot move below itself; INBOX can (RFC 3501 6.3.5:
		// its messages move, INBOX stays).
		if nt == m.Name || (m.Name != "INBOX" && strings.HasPrefix(nt, m.Name+Separator)) {
			return fmt.Errorf("%w: cannot rename %s into itself", ErrBadName, m.Name)
		}
		if err := x.createParents(a.ID, nt); err != nil {
			return err
		}
		if m.Name == "INBOX" {
			// The mailbox (id, messages, UIDs) moves to the new name; a new,
			// empty INBOX takes its place. INBOX's children stay.
			if err := x.moveRecord(m, nt); err != nil {
				return err
			}
			_, err := x.createMailbox(a.ID, "INBOX", "")
			return err
		}
		kids, err := x.children(a.ID, m.Name)
		if err != nil {
			return err
		}
		old := m.Name
		if err := x.moveRecord(m, nt); err != nil {
			return err
		}
		for _, k := range kids {
			c, err := x.mailbox(a.ID, k)
			if err != nil {
				return err
			}
			if err := x.moveRecord(c, nt+strings.TrimPrefix(k, old)); err != nil {
				return err
			}
		}
		return nil
	})
}

// moveRecord re-keys a mailbox record under a new name, keeping its id.
func (x *tx) moveRecord(m *Mailbox, to string) error {
	if err := x.table(tMailboxes).Delete(mailboxKey(m.Account, m.Name)); err != nil {
		return err
	}
	m.Name = to
	key := mailboxKey(m.Account, to)
	if err := x.table(tMailboxes).Put(key, m.encode()); err != nil {
		return err
	}
	x.emit(Event{Mailbox: m.ID, Kind: EventRenamed, Name: to})
	return x.table(tMailboxIDs).Put(u64key(nil, m.ID), key)
}

// MailboxInfo is a mailbox as LIST shows it.
type MailboxInfo struct {
	Mailbox
	Subscribed  bool
	HasChildren bool
}

// Mailboxes lists an account's mailboxes in name order, with their
// subscription and whether they have children.
func (s *Store) Mailboxes(ctx context.Context, account string) ([]MailboxInfo, error) {
	var out []MailboxInfo
	err := s.view(ctx, func(x *tx) error {
		a, err := x.account(account)
		if err != nil {
			return err
		}
		prefix := u64key(nil, a.ID)
		subs := x.table(tSubscriptions)
		err = x.table(tMailboxes).ForEach(prefix, func(k, v []byte) (bool, error) {
			if !bytes.HasPrefix(k, prefix) {
				return false, nil
			}
			m, err := decodeMailbox(v)
			if err != nil {
				return false, err
			}
			out = append(out, MailboxInfo{Mailbox: *m, Subscribed: subs.Get(k) != nil})
			return true, nil
		})
		return err
	})
	for i := range out {
		// Names are in byte order, so any child X/… sorts at or after the
		// first name >= "X/".
		p := out[i].Name + Separator
		j := sort.Search(len(out), func(j int) bool { return out[j].Name >= p })
		out[i].HasChildren = j < len(out) && strings.HasPrefix(out[j].Name, p)
	}
	return out, err
}

// Subscriptions lists an account's subscribed names (which need not exist).
func (s *Store) Subscriptions(ctx context.Context, account string) ([]string, error) {
	var out []string
	err := s.view(ctx, func(x *tx) error {
		a, err := x.account(account)
		if err != nil {
			return err
		}
		prefix := u64key(nil, a.ID)
		return x.table(tSubscriptions).ForEach(prefix, func(k, _ []byte) (bool, error) {
			if !bytes.HasPrefix(k, prefix) {
				return false, nil
			}
			out = append(out, string(k[8:]))
			return true, nil
		})
	})
	return out, err
}

// Subscribe adds (on) or removes a subscription.
func (s *Store) Subscribe(ctx context.Context, account, name string, on bool) error {
	n, err := NormalizeMailbox(name)
	if err != nil {
		return err
	}
	return s.update(ctx, func(x *tx) error {
		a, err := x.account(account)
		if err != nil {
			return err
		}
		if on {
			if _, err := x.mailbox(a.ID, n); err != nil {
				return err
			}
			return x.table(tSubscriptions).Put(subKey(a.ID, n), []byte{})
		}
		return x.table(tSubscriptions).Delete(subKey(a.ID, n))
	})
}

// MailboxStatus returns a mailbox's record (counts, UIDNEXT, …).
func (s *Store) MailboxStatus(ctx context.Context, account, name string) (*Mailbox, error) {
	var m *Mailbox
	err := s.view(ctx, func(x *tx) error {
		var err error
		_, m, err = x.accountMailbox(account, name)
		return err
	})
	return m, err
}

// MailboxByID returns a mailbox's current record.
func (s *Store) MailboxByID(ctx context.Context, id uint64) (*Mailbox, error) {
	var m *Mailbox
	err := s.view(ctx, func(x *tx) error {
		var err error
		m, err = x.mailboxByID(id)
		return err
	})
	return m, err
}
