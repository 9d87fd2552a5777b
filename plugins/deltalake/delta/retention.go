package delta

import (
	"fmt"
	"strings"
	"time"
)

// DeletedFileRetention parses delta.deletedFileRetentionDuration (default one week).
func (s *Snapshot) DeletedFileRetention() (time.Duration, error) {
	v := s.metadata.Configuration[ConfigDeletedFileRetention]
	if v == "" {
		return 7 * 24 * time.Hour, nil
	}
	d, err := ParseInterval(v)
	if err != nil {
		return 0, fmt.Errorf("parsing %s: %w", ConfigDeletedFileRetention, err)
	}
	return d, nil
}

// ParseInterval parses Spark calendar interval strings as used in Delta table
// properties, e.g. "interval 1 week", "interval 7 days", "30 days",
// "interval 2 hours 30 minutes".
func ParseInterval(s string) (time.Duration, error) {
	f := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(f) > 0 && f[0] == "interval" {
		f = f[1:]
	}
	if len(f) == 0 || len(f)%2 != 0 {
		return 0, fmt.Errorf("invalid interval %q", s)
	}
	var total time.Duration
	for i := 0; i < len(f); i += 2 {
		var n int64
		if _, err := fmt.Sscan(f[i], &n); err != nil {
			return 0, fmt.Errorf("invalid interval %q: %w", s, err)
		}
		unit := strings.TrimSuffix(f[i+1], "s")
		var d time.Duration
		switch unit {
		case "week":
			d = 7 * 24 * time.Hour
		case "day":
			d = 24 * time.Hour
		case "hour":
			d = time.Hour
		case "minute":
			d = time.Minute
		case "second":
			d = time.Second
		case "millisecond":
			d = time.Millisecond
		case "microsecond":
			d = time.Microsecond
		default:
			return 0, fmt.Errorf("invalid interval %q: unknown unit %q", s, f[i+1])
		}
		total += time.Duration(n) * d
	}
	return total, nil
}
