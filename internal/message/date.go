package message

import "time"

// parseDate parses a Date: field value leniently: RFC 5322 and its
// obsolete forms (no day of week, two- or three-digit years, named and
// military zones, missing seconds, comments), and the asctime/ctime order
// "Mon Jan 2 15:04:05 2006". An unknown zone is taken as UTC (-0000); a
// missing time as midnight. It returns nil when no valid calendar date can
// be found.
func parseDate(v []byte) *time.Time {
	var (
		day, month, year  = -1, -1, -1
		hour, minute, sec = 0, 0, 0
		zone              = 0
		haveTime          bool
		haveZone          bool
		yearDigits        int
	)
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c == '(':
			// Comment, possibly nested.
			level := 0
			for i < len(v) {
				switch v[i] {
				case '(':
					level++
				case ')':
					level--
				case '\\':
					i++
				}
				i++
				if level == 0 {
					break
				}
			}
		case isDigit(c):
			start := i
			for i < len(v) && isDigit(v[i]) {
				i++
			}
			num := v[start:i]
			if i < len(v) && v[i] == ':' && !haveTime {
				// hh:mm[:ss]
				h, ok1 := atoiN(num)
				m, n, ok2 := digitsAt(v, i+1)
				if !ok1 || !ok2 {
					return nil
				}
				i = n
				s := 0
				if i < len(v) && v[i] == ':' {
					var ok3 bool
					s, n, ok3 = digitsAt(v, i+1)
					if !ok3 {
						return nil
					}
					i = n
				}
				// Fractions of a second are not RFC 5322 but appear.
				if i < len(v) && v[i] == '.' {
					i++
					for i < len(v) && isDigit(v[i]) {
						i++
					}
				}
				hour, minute, sec, haveTime = h, m, s, true
				continue
			}
			n, ok := atoiN(num)
			if !ok {
				return nil
			}
			switch {
			case len(num) <= 2 && day < 0 && year < 0 && !haveTime:
				day = n
			case year < 0:
				year, yearDigits = n, len(num)
			case day < 0 && len(num) <= 2:
				day = n
			}
		case c == '+' || c == '-':
			i++
			start := i
			for i < len(v) && isDigit(v[i]) {
				i++
			}
			if haveTime && !haveZone && i-start == 4 {
				hh := int(v[start]-'0')*10 + int(v[start+1]-'0')
				mm := int(v[start+2]-'0')*10 + int(v[start+3]-'0')
				if mm < 60 {
					zone = (hh*60 + mm) * 60
					if c == '-' {
						zone = -zone
					}
					haveZone = true
				}
			}
		case isAlpha(c):
			start := i
			for i < len(v) && isAlpha(v[i]) {
				i++
			}
			word := v[start:i]
			if m := monthOf(word); m > 0 && month < 0 {
				month = m
			} else if haveTime && !haveZone {
				if off, ok := zoneOf(word); ok {
					zone, haveZone = off, true
				}
			}
		default:
			i++
		}
	}
	if day < 1 || day > 31 || month < 1 || year < 0 {
		return nil
	}
	switch {
	case yearDigits <= 2 && year < 50:
		year += 2000
	case yearDigits <= 3 && year < 1000:
		year += 1900
	}
	if year < 1 || year > 9999 || hour > 23 || minute > 59 || sec > 60 {
		return nil
	}
	if sec == 60 {
		sec = 59 // leap second
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day {
		return nil // 31 Feb
	}
	t = t.Add(-time.Duration(zone) * time.Second)
	return mkDate(t.Unix(), zone)
}

// mkDate builds the time a Cache holds for Date; the same function is used
// when decoding so the two compare equal.
func mkDate(unix int64, offset int) *time.Time {
	t := time.Unix(unix, 0).In(time.FixedZone("", offset))
	return &t
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func atoiN(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n, true
}

// digitsAt reads one or two digits at v[i:].
func digitsAt(v []byte, i int) (n, next int, ok bool) {
	start := i
	for i < len(v) && isDigit(v[i]) && i-start < 2 {
		n = n*10 + int(v[i]-'0')
		i++
	}
	return n, i, i > start
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func monthOf(w []byte) int {
	if len(w) < 3 {
		return 0
	}
	for i, m := range months {
		if lowerASCII(w[0]) == m[0] && lowerASCII(w[1]) == m[1] && lowerASCII(w[2]) == m[2] {
			return i + 1
		}
	}
	return 0
}

// zoneOf knows RFC 5322's obsolete zone names; military letters and other
// names are -0000 (unknown), which is UTC.
func zoneOf(w []byte) (int, bool) {
	var z [4]byte
	if len(w) > len(z) {
		return 0, false
	}
	for i, c := range w {
		z[i] = lowerASCII(c)
	}
	h := 0
	switch string(z[:len(w)]) {
	case "ut", "utc", "gmt", "z":
		h = 0
	case "edt":
		h = -4
	case "est", "cdt":
		h = -5
	case "cst", "mdt":
		h = -6
	case "mst", "pdt":
		h = -7
	case "pst":
		h = -8
	default:
		if len(w) == 1 {
			return 0, true
		}
		return 0, false
	}
	return h * 3600, true
}
