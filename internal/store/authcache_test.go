package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAuthCache(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.creds = newCredCache(time.Hour)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	hash, err := s.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, "alice", hash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", "secret"); err != nil {
		t.Fatalf("first login: %v", err)
	}
	if !s.creds.ok("alice", hash, "secret", now) {
		t.Fatal("a successful check is not remembered")
	}
	// Remembered: wrong passwords still fail, the right one passes.
	if _, err := s.Authenticate(ctx, "Alice", "secreT"); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password with a cached entry: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ALICE", "secret"); err != nil {
		t.Fatalf("cached login: %v", err)
	}
	// A password change ends the entry: the old password fails at once.
	newHash, _ := s.HashPassword("other")
	if err := s.SetPassword(ctx, "alice", newHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", "secret"); !errors.Is(err, ErrAuth) {
		t.Fatalf("old password after a change: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", "other"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	// Entries expire.
	if s.creds.ok("alice", newHash, "other", now.Add(2*time.Hour)) {
		t.Fatal("an entry outlived its ttl")
	}
	// No cache at ttl 0; the entry never holds the password.
	off := newCredCache(0)
	off.add("bob", hash, "pw", now)
	if off.ok("bob", hash, "pw", now) {
		t.Fatal("a disabled cache remembered a login")
	}
	s.creds.mu.Lock()
	e := s.creds.m["alice"]
	s.creds.mu.Unlock()
	if string(e.mac[:]) == "other" || e.hash != newHash {
		t.Fatalf("entry %+v", e)
	}
	// A cancelled login waits for no bcrypt slot.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	hashSlots <- struct{}{}
	for len(hashSlots) < cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	_, err = s.Authenticate(cctx, "alice", "wrong")
	for len(hashSlots) > 0 {
		<-hashSlots
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled login with every slot taken: %v", err)
	}
}
