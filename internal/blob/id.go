package blob

import (
	"encoding/hex"
	"fmt"
	"hash"
)

// IDLen is the length of an ID: the SHA-256 of a file's bytes in lower-case
// hexadecimal. Part of the on-disk format.
const IDLen = 64

// ID names a message file: the hex SHA-256 of its bytes (IDLen lower-case
// hexadecimal digits). The zero ID ("") is not valid.
type ID string

// ParseID returns s as an ID if it is one: exactly IDLen lower-case
// hexadecimal digits.
func ParseID(s string) (ID, error) {
	if !validID(s) {
		return "", fmt.Errorf("%w %q: want %d lower-case hex digits", ErrInvalidID, s, IDLen)
	}
	return ID(s), nil
}

// String returns the ID's hex digits.
func (id ID) String() string { return string(id) }

// Valid reports whether id is well formed.
func (id ID) Valid() bool { return validID(string(id)) }

func validID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func idOf(h hash.Hash) ID {
	var sum [32]byte
	return ID(hex.EncodeToString(h.Sum(sum[:0])))
}

// isHex2 reports whether name is a directory level name: two lower-case hex
// digits.
func isHex2(name string) bool {
	return len(name) == 2 && validHexByte(name[0]) && validHexByte(name[1])
}

func validHexByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
}
