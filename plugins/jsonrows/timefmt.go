package jsonrows

import (
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// The formatters below are the inverses of ParseDate and ParseTimestamp,
// for sinks that have to spell a decoded value as text (partition values,
// statistics).

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func appendPadded(dst []byte, v int64, width int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// AppendDate writes "YYYY-MM-DD" for days since 1970-01-01.
func AppendDate(dst []byte, days int64) []byte {
	y, m, d := civilFromDays(days)
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, '-')
	return appendPadded(dst, d, 2)
}

// appendClock appends "YYYY-MM-DDTHH:MM:SS" for secs since the epoch.
func appendClock(dst []byte, secs int64) []byte {
	days := floorDiv(secs, 86400)
	rem := secs - days*86400
	dst = AppendDate(dst, days)
	dst = append(dst, 'T')
	dst = appendPadded(dst, rem/3600, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, rem/60%60, 2)
	dst = append(dst, ':')
	return appendPadded(dst, rem%60, 2)
}

// AppendTimestampMicros writes "1970-01-01T00:00:00.123456Z".
func AppendTimestampMicros(dst []byte, micros int64) []byte {
	secs := floorDiv(micros, 1e6)
	dst = appendClock(dst, secs)
	dst = append(dst, '.')
	dst = appendPadded(dst, micros-secs*1e6, 6)
	return append(dst, 'Z')
}

// AppendTimestampMillis writes "1970-01-01T00:00:00.123Z", truncating
// down; naive (timestamp_ntz) values get no zone designator.
func AppendTimestampMillis(dst []byte, micros int64, naive bool) []byte {
	secs := floorDiv(micros, 1e6)
	dst = appendClock(dst, secs)
	dst = append(dst, '.')
	dst = appendPadded(dst, (micros-secs*1e6)/1e3, 3)
	if naive {
		return dst
	}
	return append(dst, 'Z')
}

// ToMicros converts a timestamp in unit to microseconds, truncating finer
// units towards negative infinity.
func ToMicros(v int64, unit arrow.TimeUnit) int64 {
	switch unit {
	case arrow.Second:
		return v * 1e6
	case arrow.Millisecond:
		return v * 1e3
	case arrow.Nanosecond:
		return floorDiv(v, 1e3)
	}
	return v
}
