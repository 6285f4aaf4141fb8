package store

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Account is a mail account.
type Account struct {
	ID            uint64
	Name          string // as created; compared case-insensitively
	Hash          string // password hash: bcrypt ($2a$…) or argon2id ($argon2id$…)
	State         AccountState
	QuotaBytes    int64 // 0: no limit
	QuotaMessages int64 // 0: no limit
	UsedBytes     int64
	UsedMessages  int64
	Created       time.Time
}

// AccountState says whether an account may log in and receive mail.
type AccountState byte

const (
	Active   AccountState = 0
	Disabled AccountState = 1
)

func (s AccountState) String() string {
	if s == Disabled {
		return "disabled"
	}
	return "active"
}

const recordVersion = 1

func (a *Account) encode() []byte {
	var e enc
	e.u8(recordVersion)
	e.uv(a.ID)
	e.str(a.Name)
	e.str(a.Hash)
	e.u8(byte(a.State))
	e.iv(a.QuotaBytes)
	e.iv(a.QuotaMessages)
	e.iv(a.UsedBytes)
	e.iv(a.UsedMessages)
	e.iv(a.Created.Unix())
	return e.b
}

func decodeAccount(b []byte) (*Account, error) {
	d := dec{b: b}
	if v := d.u8(); v != recordVersion {
		return nil, fmt.Errorf("account record version %d: %w", v, errCorrupt)
	}
	a := &Account{ID: d.uv(), Name: d.str(), Hash: d.str(), State: AccountState(d.u8()),
		QuotaBytes: d.iv(), QuotaMessages: d.iv(), UsedBytes: d.iv(), UsedMessages: d.iv()}
	a.Created = time.Unix(d.iv(), 0)
	return a, d.done("account record")
}

// Mailbox is a mailbox of an account.
type Mailbox struct {
	ID            uint64
	Account       uint64
	Name          string // UTF-8, "/"-separated, INBOX in canonical case
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
	Unseen        uint32
	RecentFrom    uint32 // messages from this UID on are \Recent (RFC 3501)
	Bytes         int64
	SpecialUse    string // one of \Sent \Drafts \Trash \Junk \Archive, or ""
	NoSelect      bool   // deleted while it had children (RFC 3501 6.3.4)
	Created       time.Time
}

func (m *Mailbox) encode() []byte {
	var e enc
	e.u8(recordVersion)
	e.uv(m.ID)
	e.uv(m.Account)
	e.str(m.Name)
	e.uv(uint64(m.UIDValidity))
	e.uv(uint64(m.UIDNext))
	e.uv(m.HighestModSeq)
	e.uv(uint64(m.Messages))
	e.uv(uint64(m.Unseen))
	e.uv(uint64(m.RecentFrom))
	e.iv(m.Bytes)
	e.str(m.SpecialUse)
	e.boolean(m.NoSelect)
	e.iv(m.Created.Unix())
	return e.b
}

func decodeMailbox(b []byte) (*Mailbox, error) {
	d := dec{b: b}
	if v := d.u8(); v != recordVersion {
		return nil, fmt.Errorf("mailbox record version %d: %w", v, errCorrupt)
	}
	m := &Mailbox{ID: d.uv(), Account: d.uv(), Name: d.str(), UIDValidity: uint32(d.uv()), UIDNext: uint32(d.uv()),
		HighestModSeq: d.uv(), Messages: uint32(d.uv()), Unseen: uint32(d.uv()), RecentFrom: uint32(d.uv()),
		Bytes: d.iv(), SpecialUse: d.str(), NoSelect: d.boolean()}
	m.Created = time.Unix(d.iv(), 0)
	return m, d.done("mailbox record")
}

// System flags, as bits.
const (
	FlagSeen uint8 = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
	FlagRecent
)

var systemFlags = []struct {
	bit  uint8
	name string
}{
	{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`}, {FlagRecent, `\Recent`},
}

// Flags are a message's flags: system flags as bits, keywords as given.
type Flags struct {
	System   uint8
	Keywords []string
}

// ParseFlags reads IMAP flag names: system flags case-insensitively,
// keywords kept as given (the first spelling wins among case variants).
// \Recent cannot be set by clients and is refused here; unknown backslash
// flags are errors.
func ParseFlags(names []string) (Flags, error) {
	var f Flags
	for _, n := range names {
		if strings.HasPrefix(n, `\`) {
			bit := systemBit(n)
			if bit == 0 || bit == FlagRecent {
				return f, fmt.Errorf("flag %s cannot be set", n)
			}
			f.System |= bit
			continue
		}
		if n == "" || strings.ContainsAny(n, "(){ %*\"\\]\x7f") || strings.IndexFunc(n, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return f, fmt.Errorf("bad keyword %q", n)
		}
		f.addKeyword(n)
	}
	return f, nil
}

func systemBit(name string) uint8 {
	for _, s := range systemFlags {
		if strings.EqualFold(s.name, name) {
			return s.bit
		}
	}
	return 0
}

func (f *Flags) hasKeyword(k string) int {
	for i, x := range f.Keywords {
		if strings.EqualFold(x, k) {
			return i
		}
	}
	return -1
}

func (f *Flags) addKeyword(k string) bool {
	if f.hasKeyword(k) >= 0 {
		return false
	}
	f.Keywords = append(f.Keywords, k)
	return true
}

// Names lists the flags in canonical form: system flags first.
func (f Flags) Names() []string {
	var out []string
	for _, s := range systemFlags {
		if f.System&s.bit != 0 {
			out = append(out, s.name)
		}
	}
	return append(out, f.Keywords...)
}

// Has reports whether the flag (system or keyword) is set.
func (f Flags) Has(name string) bool {
	if strings.HasPrefix(name, `\`) {
		return f.System&systemBit(name) != 0
	}
	return f.hasKeyword(name) >= 0
}

// FlagOp is how StoreFlags changes flags.
type FlagOp int

const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// apply changes f by op with g, reporting whether anything changed.
func (f Flags) apply(op FlagOp, g Flags) (Flags, bool) {
	out := Flags{System: f.System, Keywords: append([]string(nil), f.Keywords...)}
	recent := f.System & FlagRecent
	switch op {
	case FlagsSet:
		out.System = g.System | recent
		out.Keywords = append([]string(nil), g.Keywords...)
	case FlagsAdd:
		out.System |= g.System
		for _, k := range g.Keywords {
			out.addKeyword(k)
		}
	case FlagsRemove:
		out.System &^= g.System
		for _, k := range g.Keywords {
			if i := out.hasKeyword(k); i >= 0 {
				out.Keywords = append(out.Keywords[:i], out.Keywords[i+1:]...)
			}
		}
	}
	return out, !out.equal(f)
}

func (f Flags) equal(g Flags) bool {
	if f.System != g.System || len(f.Keywords) != len(g.Keywords) {
		return false
	}
	a := append([]string(nil), f.Keywords...)
	b := append([]string(nil), g.Keywords...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Message is a message in a mailbox.
type Message struct {
	UID          uint32
	Blob         string // the message file's id (hex SHA-256)
	Size         int64
	InternalDate time.Time
	ModSeq       uint64
	Flags        Flags
	// HeaderFields are the header fields cached with the message's file,
	// if any (set by ReadMessages with the cache only; valid during its
	// callback, like the cache).
	HeaderFields *HeaderFields

	file uint64 // the message file's number in the table (files.go)
}

// messageVersion is the message record's version. Version 1 named the
// file by its id (length-prefixed hex); version 2 by its number, and the
// id is in the file's record.
const messageVersion = 2

func (m *Message) encode() []byte {
	var e enc
	e.u8(messageVersion)
	e.uv(m.file)
	e.iv(m.Size)
	e.iv(m.InternalDate.Unix())
	e.uv(m.ModSeq)
	e.u8(m.Flags.System)
	e.strs(m.Flags.Keywords)
	_, offset := m.InternalDate.Zone()
	e.iv(int64(offset))
	return e.b
}

// decodeMessage decodes a message record without its file's id (resolve
// fills it in). A version 1 record gives the id and no number (migrate.go).
func decodeMessage(uid uint32, b []byte) (*Message, error) {
	d := dec{b: b}
	m := &Message{UID: uid}
	switch v := d.u8(); v {
	case messageVersion:
		if m.file = d.uv(); m.file == 0 {
			d.fail()
		}
	case 1:
		m.Blob = d.str()
	default:
		return nil, fmt.Errorf("message record version %d: %w", v, errCorrupt)
	}
	m.Size = d.iv()
	secs := d.iv()
	m.ModSeq = d.uv()
	m.Flags.System = d.u8()
	m.Flags.Keywords = d.strs()
	// The internal date keeps the zone it was given in (APPEND's date, or
	// the server's at delivery), as IMAP shows it. It comes last so that
	// peekMessage (imapsupport.go) reads the fields before it in place.
	m.InternalDate = time.Unix(secs, 0).In(time.FixedZone("", int(d.iv())))
	return m, d.done("message record")
}
