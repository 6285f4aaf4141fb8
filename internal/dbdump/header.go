package dbdump

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Formats of the data lines, the values of the header line format=.
const (
	FormatPrint     = "print"     // printable characters as themselves, others as \hh
	FormatBytevalue = "bytevalue" // every byte as two hex digits
)

// Database types this package reads and writes, the values of type=.
const (
	TypeBtree = "btree"
	TypeHash  = "hash"
)

// maxHeaderLine bounds the length of a header line (and of the DATA=END
// line), so that a file that is not a dump at all fails fast instead of
// being read into memory. Data lines have no limit.
const maxHeaderLine = 64 << 10

// Header is the header of one section of a dump.
type Header struct {
	// Version is the value of VERSION=: 3, or 2 for dumps written before
	// Berkeley DB 3.2. A Writer always writes VERSION=3 and
	// accepts 0 (meaning 3), 2 or 3 here.
	Version int
	// Format is FormatPrint or FormatBytevalue. A Writer takes "" as
	// FormatPrint.
	Format string
	// Type is TypeBtree or TypeHash. A Writer takes "" as TypeBtree.
	Type string
	// Database is the name of the database inside a file that holds
	// several (the line database=, or its alias subdatabase=), decoded.
	// HasDatabase tells whether the line was there: the empty name is a
	// valid name.
	Database    string
	HasDatabase bool
	// PartitionKeys holds the boundary keys of a range-partitioned
	// database: nparts=len(PartitionKeys)+1 and the keys, one line each,
	// in the header. Nil when the header has no nparts= line.
	PartitionKeys [][]byte
	// Extra holds the other header lines Berkeley DB knows, by name, with
	// their values as written, e.g. "db_pagesize": "4096". They carry
	// tuning settings and flags (such as duplicates=1) that this package
	// does not act on. A Writer writes them in the order db_dump does.
	Extra map[string]string
}

// Clone returns a deep copy of h.
func (h Header) Clone() Header {
	c := h
	if h.PartitionKeys != nil {
		c.PartitionKeys = make([][]byte, len(h.PartitionKeys))
		for i, k := range h.PartitionKeys {
			c.PartitionKeys[i] = bytes.Clone(k)
		}
	}
	c.Extra = maps.Clone(h.Extra)
	return c
}

type valueKind int

const (
	kindFlag   valueKind = iota // "0" or "1"
	kindNumber                  // decimal, fits in 32 bits
	kindString                  // anything non-empty
)

// extraKeys lists the header names, other than VERSION, format, type,
// database, subdatabase, nparts and HEADER, that Berkeley DB 5.3 writes or
// reads, in the order db_dump writes them (db_lorder is never written).
var extraKeys = []struct {
	name string
	kind valueKind
}{
	{"recnum", kindFlag},
	{"bt_minkey", kindNumber},
	{"h_ffactor", kindNumber},
	{"h_nelem", kindNumber},
	{"heap_gbytes", kindNumber},
	{"heap_bytes", kindNumber},
	{"heap_regionsize", kindNumber},
	{"renumber", kindFlag},
	{"re_len", kindNumber},
	{"re_pad", kindString},
	{"extentsize", kindNumber},
	{"chksum", kindFlag},
	{"duplicates", kindFlag},
	{"dupsort", kindFlag},
	{"compressed", kindFlag},
	{"db_pagesize", kindNumber},
	{"db_lorder", kindNumber},
	{"keys", kindFlag},
}

func extraKind(name string) (valueKind, bool) {
	for _, k := range extraKeys {
		if k.name == name {
			return k.kind, true
		}
	}
	return 0, false
}

// checkExtra checks one name=value pair destined for Header.Extra and
// returns a message (without line number) describing what is wrong, or "".
func checkExtra(name, value string) string {
	kind, ok := extraKind(name)
	if !ok {
		return fmt.Sprintf("unknown header name %q", name)
	}
	if value == "" {
		return fmt.Sprintf("header %s= has an empty value", name)
	}
	if strings.Contains(value, "\n") {
		return fmt.Sprintf("header %s= value contains a newline", name)
	}
	switch kind {
	case kindFlag:
		if value != "0" && value != "1" {
			return fmt.Sprintf("header %s=%q: want 0 or 1", name, value)
		}
	case kindNumber:
		if !isDecimal(value) {
			return fmt.Sprintf("header %s=%q: want a decimal number", name, value)
		}
		if _, err := strconv.ParseUint(value, 10, 32); err != nil {
			return fmt.Sprintf("header %s=%q: number out of range", name, value)
		}
	}
	return ""
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkType returns a message for an unusable type= value, or "".
func checkType(t string) string {
	switch t {
	case TypeBtree, TypeHash:
		return ""
	case "recno", "queue":
		return fmt.Sprintf("type=%s is not supported: its keys are record numbers; only btree and hash databases can be read", t)
	case "heap":
		return "type=heap is not supported: its keys are record IDs; only btree and hash databases can be read"
	}
	return fmt.Sprintf("unknown type %q (want btree or hash)", t)
}

// appendHeader appends the encoded header h (already validated and
// normalized) to dst, up to and including HEADER=END.
func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, "VERSION=3\nformat="...)
	dst = append(dst, h.Format...)
	dst = append(dst, '\n')
	if h.HasDatabase {
		dst = append(dst, "database="...)
		dst = appendPrint(dst, []byte(h.Database))
		dst = append(dst, '\n')
	}
	dst = append(dst, "type="...)
	dst = append(dst, h.Type...)
	dst = append(dst, '\n')
	for _, k := range extraKeys {
		if k.name == "keys" {
			// db_dump writes the partition keys before keys=.
			dst = appendPartitions(dst, h)
		}
		if v, ok := h.Extra[k.name]; ok {
			dst = append(dst, k.name...)
			dst = append(dst, '=')
			dst = append(dst, v...)
			dst = append(dst, '\n')
		}
	}
	return append(dst, "HEADER=END\n"...)
}

func appendPartitions(dst []byte, h *Header) []byte {
	if h.PartitionKeys == nil {
		return dst
	}
	dst = append(dst, "nparts="...)
	dst = strconv.AppendInt(dst, int64(len(h.PartitionKeys)+1), 10)
	dst = append(dst, '\n')
	for _, k := range h.PartitionKeys {
		dst = append(dst, ' ')
		if h.Format == FormatBytevalue {
			dst = appendHex(dst, k)
		} else {
			dst = appendPrint(dst, k)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// normalizeHeader validates h for writing and returns it with defaults
// filled in.
func normalizeHeader(h Header) (Header, error) {
	h = h.Clone()
	switch h.Version {
	case 0, 2, 3:
		h.Version = 3
	default:
		return h, fmt.Errorf("dbdump: header: unsupported VERSION %d (want 3)", h.Version)
	}
	switch h.Format {
	case "":
		h.Format = FormatPrint
	case FormatPrint, FormatBytevalue:
	default:
		return h, fmt.Errorf("dbdump: header: unknown format %q (want print or bytevalue)", h.Format)
	}
	if h.Type == "" {
		h.Type = TypeBtree
	}
	if msg := checkType(h.Type); msg != "" {
		return h, fmt.Errorf("dbdump: header: %s", msg)
	}
	if !h.HasDatabase && h.Database != "" {
		return h, fmt.Errorf("dbdump: header: Database %q given without HasDatabase", h.Database)
	}
	if h.HasDatabase && len("database=")+len(appendPrint(nil, []byte(h.Database))) > maxHeaderLine {
		return h, fmt.Errorf("dbdump: header: database name too long (%d bytes)", len(h.Database))
	}
	for _, name := range slices.Sorted(maps.Keys(h.Extra)) {
		switch name {
		case "VERSION", "format", "type", "database", "subdatabase", "nparts", "HEADER", "DATA":
			return h, fmt.Errorf("dbdump: header: Extra must not hold %q: it has a field of its own or is not a setting", name)
		}
		if msg := checkExtra(name, h.Extra[name]); msg != "" {
			return h, fmt.Errorf("dbdump: header: %s", msg)
		}
	}
	if h.PartitionKeys != nil && len(h.PartitionKeys) == 0 {
		return h, fmt.Errorf("dbdump: header: PartitionKeys is empty: a partitioned database has at least one boundary key")
	}
	return h, nil
}
