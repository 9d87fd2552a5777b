package chsink

// Scalar parsers from JSON values. They are small and self-contained so that
// they can be replaced by the shared ones in plugins/jsonrows once those are
// exported there.

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// EpochUnit says how a JSON number in a DateTime/DateTime64 column is read.
type EpochUnit uint8

const (
	// EpochAuto picks seconds, milliseconds, microseconds or nanoseconds from
	// the magnitude of the number.
	EpochAuto EpochUnit = iota
	EpochSeconds
	EpochMillis
	EpochMicros
	EpochNanos
)

// ParseEpochUnit maps the `epoch_unit` option.
func ParseEpochUnit(s string) (EpochUnit, error) {
	switch s {
	case "", "auto":
		return EpochAuto, nil
	case "s":
		return EpochSeconds, nil
	case "ms":
		return EpochMillis, nil
	case "us":
		return EpochMicros, nil
	case "ns":
		return EpochNanos, nil
	}
	return 0, fmt.Errorf("unknown epoch unit %q (want auto, s, ms, us or ns)", s)
}

// numberText returns the literal text of a JSON number, or of a JSON string
// holding a number (ClickHouse accepts quoted numbers too).
func numberText(v *fastjson.Value) (string, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return string(v.MarshalTo(nil)), nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", errors.New("empty string is not a number")
		}
		return s, nil
	case fastjson.TypeTrue:
		return "1", nil
	case fastjson.TypeFalse:
		return "0", nil
	}
	return "", fmt.Errorf("expected a number, got %s", v.Type())
}

// parseInt reads an integer exactly, accepting integral floats (5.0, 1e3).
func parseInt(v *fastjson.Value, bits int) (int64, error) {
	if v.Type() == fastjson.TypeNumber {
		if n, err := v.Int64(); err == nil {
			return checkInt(n, bits)
		}
	}
	s, err := numberText(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < -9.223372036854775e18 || f >= 9.223372036854775e18 {
			return 0, fmt.Errorf("%s is not an integer in range of Int%d", s, bits)
		}
		n = int64(f)
	}
	return checkInt(n, bits)
}

func checkInt(n int64, bits int) (int64, error) {
	if bits < 64 {
		lim := int64(1) << (bits - 1)
		if n < -lim || n >= lim {
			return 0, fmt.Errorf("%d is out of range of Int%d", n, bits)
		}
	}
	return n, nil
}

func parseUint(v *fastjson.Value, bits int) (uint64, error) {
	if v.Type() == fastjson.TypeNumber {
		if n, err := v.Uint64(); err == nil {
			return checkUint(n, bits)
		}
	}
	s, err := numberText(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < 0 || f >= 1.8446744073709552e19 {
			return 0, fmt.Errorf("%s is not an integer in range of UInt%d", s, bits)
		}
		n = uint64(f)
	}
	return checkUint(n, bits)
}

func checkUint(n uint64, bits int) (uint64, error) {
	if bits < 64 && n >= uint64(1)<<bits {
		return 0, fmt.Errorf("%d is out of range of UInt%d", n, bits)
	}
	return n, nil
}

func parseFloat(v *fastjson.Value) (float64, error) {
	if v.Type() == fastjson.TypeNumber {
		return v.Float64()
	}
	s, err := numberText(v)
	if err != nil {
		return 0, err
	}
	switch strings.ToLower(s) {
	case "nan":
		return math.NaN(), nil
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// parseBigInt reads Int128/256 and UInt128/256 exactly.
func parseBigInt(v *fastjson.Value, bits int, signed bool) (*big.Int, error) {
	s, err := numberText(v)
	if err != nil {
		return nil, err
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("%s is not an integer", s)
	}
	if signed {
		lim := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		if n.Cmp(new(big.Int).Neg(lim)) < 0 || n.Cmp(lim) >= 0 {
			return nil, fmt.Errorf("%s is out of range of Int%d", s, bits)
		}
	} else if n.Sign() < 0 || n.BitLen() > bits {
		return nil, fmt.Errorf("%s is out of range of UInt%d", s, bits)
	}
	return n, nil
}

// parseTime reads a DateTime/DateTime64/Date value: RFC 3339, ClickHouse
// text form `2006-01-02 15:04:05[.fff]` (in loc), a date, or epoch numbers.
func parseTime(v *fastjson.Value, loc *time.Location, unit EpochUnit) (time.Time, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		if n, err := v.Int64(); err == nil {
			return epochInt(n, unit), nil
		}
		return epochTime(string(v.MarshalTo(nil)), unit)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if t, ok := fastTime(b, loc); ok {
			return t, nil
		}
		return parseTimeString(strings.TrimSpace(string(b)), loc, unit)
	}
	return time.Time{}, fmt.Errorf("expected a timestamp string or epoch number, got %s", v.Type())
}

// epochInt converts an integral epoch number.
func epochInt(n int64, unit EpochUnit) time.Time {
	if unit == EpochAuto {
		unit = epochUnitOf(n)
	}
	switch unit {
	case EpochSeconds:
		return time.Unix(n, 0).UTC()
	case EpochMillis:
		return time.UnixMilli(n).UTC()
	case EpochMicros:
		return time.UnixMicro(n).UTC()
	}
	return time.Unix(0, n).UTC()
}

func epochUnitOf(n int64) EpochUnit {
	if n < 0 {
		n = -n
	}
	switch {
	case n < 1e11:
		return EpochSeconds
	case n < 1e14:
		return EpochMillis
	case n < 1e17:
		return EpochMicros
	}
	return EpochNanos
}

// num2 and num4 read fixed-width decimal fields; -1 when not digits.
func num2(b []byte) int {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return -1
	}
	return int(b[0]-'0')*10 + int(b[1]-'0')
}

func num4(b []byte) int {
	h, l := num2(b[:2]), num2(b[2:4])
	if h < 0 || l < 0 {
		return -1
	}
	return h*100 + l
}

// fastTime parses the common forms without allocating:
// YYYY-MM-DD, and YYYY-MM-DD[T ]hh:mm:ss[.fraction][Z|±hh:mm] (no zone:
// in loc). Anything else (or an invalid date) returns false and takes the
// general path, which also words the error.
func fastTime(b []byte, loc *time.Location) (time.Time, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	y, mo, d := num4(b[0:4]), num2(b[5:7]), num2(b[8:10])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	var h, mi, sec, ns int
	i := 10
	if len(b) > 10 {
		if len(b) < 19 || b[10] != 'T' && b[10] != ' ' || b[13] != ':' || b[16] != ':' {
			return time.Time{}, false
		}
		h, mi, sec = num2(b[11:13]), num2(b[14:16]), num2(b[17:19])
		if h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
			return time.Time{}, false
		}
		i = 19
		if i < len(b) && b[i] == '.' {
			i++
			start, scale := i, 100_000_000
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				ns += int(b[i]-'0') * scale
				scale /= 10
				i++
			}
			if i == start {
				return time.Time{}, false
			}
		}
	}
	zone, off := loc, 0
	switch rest := b[i:]; {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0] == 'Z':
		zone = time.UTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num2(rest[1:3]), num2(rest[4:6])
		if oh < 0 || om < 0 {
			return time.Time{}, false
		}
		zone, off = time.UTC, (oh*60+om)*60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, zone)
	if t.Day() != d { // Feb 30 and the like: let the general path reject it
		return time.Time{}, false
	}
	if off != 0 {
		t = t.Add(-time.Duration(off) * time.Second)
	}
	return t, true
}

var localLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

func parseTimeString(s string, loc *time.Location, unit EpochUnit) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty timestamp")
	}
	if c := s[0]; c >= '0' && c <= '9' && len(s) >= 10 && s[4] == '-' {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		// ClickHouse text form with an explicit offset.
		if t, err := time.Parse("2006-01-02 15:04:05.999999999Z07:00", s); err == nil {
			return t, nil
		}
		for _, l := range localLayouts {
			if t, err := time.ParseInLocation(l, s, loc); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp (want RFC 3339, 'YYYY-MM-DD hh:mm:ss[.fff]' or epoch)", s)
	}
	return epochTime(s, unit)
}

// epochTime converts an epoch number (integer or decimal) to a time.
func epochTime(s string, unit EpochUnit) (time.Time, error) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot parse %q as an epoch", s)
		}
		intPart, frac, hasFrac = strconv.FormatFloat(math.Trunc(f), 'f', 0, 64), "", false
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp (want RFC 3339, 'YYYY-MM-DD hh:mm:ss[.fff]' or epoch)", s)
	}
	if unit == EpochAuto {
		unit = epochUnitOf(n)
	}
	var fracNanos int64
	if hasFrac && frac != "" {
		// Fractions of the unit, to nanosecond resolution.
		digits := frac
		if len(digits) > 9 {
			digits = digits[:9]
		}
		f, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot parse %q as an epoch", s)
		}
		for i := len(digits); i < 9; i++ {
			f *= 10
		}
		fracNanos = f // the fraction in units of 1e-9 of the unit
	}
	sign := int64(1)
	if strings.HasPrefix(intPart, "-") {
		sign = -1
	}
	switch unit {
	case EpochSeconds:
		return time.Unix(n, sign*fracNanos).UTC(), nil
	case EpochMillis:
		return time.Unix(0, 0).Add(time.Duration(n)*time.Millisecond + time.Duration(sign*fracNanos/1e3)).UTC(), nil
	case EpochMicros:
		return time.Unix(0, 0).Add(time.Duration(n)*time.Microsecond + time.Duration(sign*fracNanos/1e6)).UTC(), nil
	default:
		return time.Unix(0, n).UTC(), nil
	}
}

// parseDate reads a Date/Date32: a date or timestamp string, or a number
// of days since 1970-01-01 (the ClickHouse meaning of a number there).
func parseDate(v *fastjson.Value, loc *time.Location) (time.Time, error) {
	if v.Type() == fastjson.TypeNumber {
		d, err := v.Int64()
		if err != nil {
			return time.Time{}, fmt.Errorf("a Date number is whole days since 1970-01-01: %w", err)
		}
		return time.Unix(d*86400, 0).UTC(), nil
	}
	if v.Type() != fastjson.TypeString {
		return time.Time{}, fmt.Errorf("expected a date string or day number, got %s", v.Type())
	}
	b, _ := v.StringBytes()
	t, ok := fastTime(b, loc)
	if !ok {
		var err error
		if t, err = parseTimeString(strings.TrimSpace(string(b)), loc, EpochSeconds); err != nil {
			return time.Time{}, err
		}
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// stringValue reads a String column value: a JSON string as is, anything
// else as its JSON text (objects and arrays into String columns).
func stringValue(v *fastjson.Value) string {
	if v.Type() == fastjson.TypeString {
		b, _ := v.StringBytes()
		return string(b)
	}
	return string(v.MarshalTo(nil))
}
