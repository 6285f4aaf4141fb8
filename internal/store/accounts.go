package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword hashes a password with bcrypt at the store's cost.
func (s *Store) HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > 72 {
		return "", errors.New("password longer than 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.HashCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// IsHash reports whether s is a password hash the store can check, so
// that imports may carry hashes instead of passwords ({BLF-CRYPT} prefix
// or a bare bcrypt hash).
func IsHash(s string) (string, bool) {
	s = strings.TrimPrefix(s, "{BLF-CRYPT}")
	if _, err := bcrypt.Cost([]byte(s)); err == nil {
		return s, true
	}
	return "", false
}

// CreateAccount adds an account with a password hash (see HashPassword).
func (s *Store) CreateAccount(ctx context.Context, name, hash string) (*Account, error) {
	if err := ValidAccountName(name); err != nil {
		return nil, err
	}
	var acct *Account
	err := s.update(ctx, func(x *tx) error {
		var err error
		acct, err = x.createAccount(name, hash)
		return err
	})
	return acct, err
}

func (x *tx) createAccount(name, hash string) (*Account, error) {
	key := []byte(NormalizeAccount(name))
	accts := x.table(tAccounts)
	if accts.Get(key) != nil {
		return nil, fmt.Errorf("account %s: %w", name, ErrAccountExists)
	}
	id, err := x.nextCounter("next-account-id")
	if err != nil {
		return nil, err
	}
	a := &Account{ID: id, Name: name, Hash: hash, QuotaBytes: x.s.opts.DefaultQuotaBytes, Created: x.s.now()}
	if err := accts.Put(key, a.encode()); err != nil {
		return nil, err
	}
	if err := x.table(tAccountIDs).Put(u64key(nil, id), key); err != nil {
		return nil, err
	}
	if _, err := x.createMailbox(a.ID, "INBOX", ""); err != nil {
		return nil, err
	}
	if err := x.table(tSubscriptions).Put(subKey(a.ID, "INBOX"), []byte{}); err != nil {
		return nil, err
	}
	return a, nil
}

// account reads an account by name.
func (x *tx) account(name string) (*Account, error) {
	b := x.table(tAccounts).Get([]byte(NormalizeAccount(name)))
	if b == nil {
		return nil, fmt.Errorf("account %s: %w", name, ErrNoAccount)
	}
	return decodeAccount(b)
}

func (x *tx) putAccount(a *Account) error {
	return x.table(tAccounts).Put([]byte(NormalizeAccount(a.Name)), a.encode())
}

// accountByID reads an account by id.
func (x *tx) accountByID(id uint64) (*Account, error) {
	key := x.table(tAccountIDs).Get(u64key(nil, id))
	if key == nil {
		return nil, fmt.Errorf("account id %d: %w", id, ErrNoAccount)
	}
	return x.account(string(key))
}

// Account returns the named account.
func (s *Store) Account(ctx context.Context, name string) (*Account, error) {
	var a *Account
	err := s.view(ctx, func(x *tx) error {
		var err error
		a, err = x.account(name)
		return err
	})
	return a, err
}

// Accounts lists every account in name order.
func (s *Store) Accounts(ctx context.Context) ([]*Account, error) {
	var out []*Account
	err := s.view(ctx, func(x *tx) error {
		return x.table(tAccounts).ForEach(nil, func(_, v []byte) (bool, error) {
			a, err := decodeAccount(v)
			if err != nil {
				return false, err
			}
			out = append(out, a)
			return true, nil
		})
	})
	return out, err
}

// Authenticate checks a password and returns the account. It spends the
// time of a hash check even for an unknown account.
func (s *Store) Authenticate(ctx context.Context, name, password string) (*Account, error) {
	a, err := s.Account(ctx, name)
	if err != nil {
		if errors.Is(err, ErrNoAccount) {
			if err := compareHash(ctx, dummyHash, []byte(password)); err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, ErrAuth
		}
		return nil, err
	}
	key := NormalizeAccount(a.Name)
	if !s.creds.ok(key, a.Hash, password, s.now()) {
		if err := compareHash(ctx, []byte(a.Hash), []byte(password)); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, ErrAuth
		}
		s.creds.add(key, a.Hash, password, s.now())
	}
	if a.State == Disabled {
		return nil, fmt.Errorf("account %s: %w", a.Name, ErrDisabled)
	}
	return a, nil
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), 10)

// SetPassword replaces an account's password hash.
func (s *Store) SetPassword(ctx context.Context, name, hash string) error {
	return s.update(ctx, func(x *tx) error {
		a, err := x.account(name)
		if err != nil {
			return err
		}
		a.Hash = hash
		return x.putAccount(a)
	})
}

// SetQuota sets an account's quota (0: no limit).
func (s *Store) SetQuota(ctx context.Context, name string, bytes, messages int64) error {
	if bytes < 0 || messages < 0 {
		return errors.New("quota must not be negative")
	}
	return s.update(ctx, func(x *tx) error {
		a, err := x.account(name)
		if err != nil {
			return err
		}
		a.QuotaBytes, a.QuotaMessages = bytes, messages
		return x.putAccount(a)
	})
}

// SetState enables or disables an account.
func (s *Store) SetState(ctx context.Context, name string, st AccountState) error {
	return s.update(ctx, func(x *tx) error {
		a, err := x.account(name)
		if err != nil {
			return err
		}
		a.State = st
		return x.putAccount(a)
	})
}

// DeleteAccount removes an account with all its mailboxes and messages.
// Its message files are left to the sweep.
func (s *Store) DeleteAccount(ctx context.Context, name string) error {
	return s.update(ctx, func(x *tx) error {
		a, err := x.account(name)
		if err != nil {
			return err
		}
		prefix := u64key(nil, a.ID)
		var names []string
		err = x.table(tMailboxes).ForEach(prefix, func(k, _ []byte) (bool, error) {
			if !bytes.HasPrefix(k, prefix) {
				return false, nil
			}
			names = append(names, string(k[8:]))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := x.removeMailbox(a, n); err != nil {
				return err
			}
		}
		var subs [][]byte
		x.table(tSubscriptions).ForEach(prefix, func(k, _ []byte) (bool, error) {
			if !bytes.HasPrefix(k, prefix) {
				return false, nil
			}
			subs = append(subs, bytes.Clone(k))
			return true, nil
		})
		for _, k := range subs {
			if err := x.table(tSubscriptions).Delete(k); err != nil {
				return err
			}
		}
		if err := x.table(tAccountIDs).Delete(prefix); err != nil {
			return err
		}
		return x.table(tAccounts).Delete([]byte(NormalizeAccount(a.Name)))
	})
}

// CreateAccounts creates many accounts in one transaction, each whole or
// not at all: errs[i] says why account i was not created (it exists, a bad
// name); err is a failure of the transaction itself.
func (s *Store) CreateAccounts(ctx context.Context, names, hashes []string) (errs []error, err error) {
	errs = make([]error, len(names))
	err = s.update(ctx, func(x *tx) error {
		clear(errs)
		for i, n := range names {
			if e := ValidAccountName(n); e != nil {
				errs[i] = e
				continue
			}
			if x.table(tAccounts).Get([]byte(NormalizeAccount(n))) != nil {
				errs[i] = fmt.Errorf("account %s: %w", n, ErrAccountExists)
				continue
			}
			if _, e := x.createAccount(n, hashes[i]); e != nil {
				return e
			}
		}
		return nil
	})
	return errs, err
}
