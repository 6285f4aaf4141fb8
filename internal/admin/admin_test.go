package admin

import (
	"testing"
	"time"
)

func TestParseRecoveryTime(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.Local)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"11281405", time.Date(2026, 11, 28, 14, 5, 0, 0, time.Local)},
		{"2611281405.30", time.Date(2026, 11, 28, 14, 5, 30, 0, time.Local)},
		{"202501020304", time.Date(2025, 1, 2, 3, 4, 0, 0, time.Local)},
		{"202501020304.59", time.Date(2025, 1, 2, 3, 4, 59, 0, time.Local)},
	} {
		got, err := ParseRecoveryTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseRecoveryTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "1128", "112814051", "11281405.3", "13011200", "02301200", "11282460", "1128140a", "11281405.61"} {
		if _, err := ParseRecoveryTime(bad, now); err == nil {
			t.Errorf("ParseRecoveryTime(%q) accepted", bad)
		}
	}
}
