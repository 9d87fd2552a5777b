package chsink

// Scalar parsers from JSON values, on top of the exact parsers shared in
// plugins/jsonrows (integers, timestamps, dates, epochs). Decimals (up to 76
// digits, rounded to the scale) and 128/256-bit integers are ClickHouse's
// own and are read here.

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
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
	n, err := jsonrows.ParseInt([]byte(s)) // exact, also for 5.0 and 1e3
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer in range of Int%d", s, bits)
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
		// Integral non-plain forms (5.0, 1e3), exactly.
		d, derr := jsonrows.ParseDecimal([]byte(s), 0, 38)
		if derr != nil || d.HighBits() != 0 {
			return 0, fmt.Errorf("%s is not an integer in range of UInt%d", s, bits)
		}
		n = d.LowBits()
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
		if t, ok := sharedTime(b, loc); ok {
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

// sharedTime reads RFC 3339 and 'YYYY-MM-DD hh:mm:ss[.frac]' (no zone:
// in loc) with the shared parser, and a bare date as midnight in loc. It
// returns false for anything else (or out of its range), which the general
// path then parses or rejects with a worded error.
func sharedTime(b []byte, loc *time.Location) (time.Time, bool) {
	if len(b) == 10 {
		days, err := jsonrows.ParseDate(b)
		if err != nil {
			return time.Time{}, false
		}
		if loc == time.UTC {
			return time.Unix(days*86400, 0).UTC(), true
		}
		y, m, d := time.Unix(days*86400, 0).UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc), true
	}
	naive := !hasZone(b)
	ns, err := jsonrows.ParseTimestamp(b, arrow.Nanosecond, naive)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(0, ns).UTC()
	if naive && loc != time.UTC {
		// The wall clock in the column's zone.
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	}
	return t, true
}

// hasZone reports whether a timestamp text ends in a zone designator.
func hasZone(b []byte) bool {
	n := len(b)
	if n == 0 {
		return false
	}
	if c := b[n-1]; c == 'Z' || c == 'z' {
		return true
	}
	return n >= 6 && (b[n-6] == '+' || b[n-6] == '-') && b[n-3] == ':'
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

var arrowUnits = [...]arrow.TimeUnit{EpochSeconds: arrow.Second, EpochMillis: arrow.Millisecond, EpochMicros: arrow.Microsecond, EpochNanos: arrow.Nanosecond}

// epochTime converts an epoch number (integer or decimal) to a time,
// exactly to the nanosecond where it fits (years 1678-2261).
func epochTime(s string, unit EpochUnit) (time.Time, error) {
	if u := unit; u != EpochAuto || !strings.ContainsAny(s, "eE") {
		if u == EpochAuto {
			intPart, _, _ := strings.Cut(s, ".")
			n, err := strconv.ParseInt(intPart, 10, 64)
			if err == nil {
				u = epochUnitOf(n)
			}
		}
		if u != EpochAuto {
			if ns, err := jsonrows.ParseEpoch([]byte(s), arrowUnits[u], arrow.Nanosecond); err == nil {
				return time.Unix(0, ns).UTC(), nil
			}
		}
	}
	return epochTimeWide(s, unit)
}

// epochTimeWide is epochTime for numbers outside int64 nanoseconds.
func epochTimeWide(s string, unit EpochUnit) (time.Time, error) {
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
	t, ok := sharedTime(b, loc)
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
