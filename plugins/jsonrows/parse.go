package jsonrows

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	simd64 "github.com/segmentio/asm/base64"
)

var (
	errOverflow   = errors.New("out of range")
	errSyntax     = errors.New("not a JSON number")
	errFraction   = errors.New("has a fractional part")
	errPrecision  = errors.New("too many digits for the precision")
	errBadTime    = errors.New("want RFC 3339, e.g. 2024-01-02T15:04:05.123456Z")
	errBadDate    = errors.New("want YYYY-MM-DD")
	errBadTimeVal = errors.New("field out of range")
)

// numberParts splits a strict JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberParts(b []byte) (neg bool, intPart, frac []byte, exp int, err error) {
	i := 0
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	intPart = b[start:i]
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return false, nil, nil, 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		frac = b[fs:i]
		if len(frac) == 0 {
			return false, nil, nil, 0, errSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if exp < 100000 {
				exp = exp*10 + int(b[i]-'0')
			}
			i++
		}
		if i == es {
			return false, nil, nil, 0, errSyntax
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(b) {
		return false, nil, nil, 0, errSyntax
	}
	return neg, intPart, frac, exp, nil
}

// ParseInt parses an integral JSON number exactly. 1.0 and 1e3 are
// accepted, 1.5 is not.
func ParseInt(b []byte) (int64, error) {
	// Fast path: plain short integers.
	if n := len(b); n > 0 && n <= 18 {
		i, neg := 0, false
		if b[0] == '-' {
			i, neg = 1, true
		}
		if i < n && (b[i] != '0' || n == i+1) {
			var v int64
			j := i
			for ; j < n; j++ {
				c := b[j]
				if c < '0' || c > '9' {
					break
				}
				v = v*10 + int64(c-'0')
			}
			if j == n && j > i {
				if neg {
					v = -v
				}
				return v, nil
			}
		}
	}
	num, err := ParseDecimal(b, 0, 38)
	if err != nil {
		return 0, err
	}
	if !fitsInt64(num) {
		return 0, errOverflow
	}
	return int64(num.LowBits()), nil
}

func fitsInt64(n decimal128.Num) bool {
	hi, lo := n.HighBits(), n.LowBits()
	return (hi == 0 && lo <= math.MaxInt64) || (hi == -1 && lo > math.MaxInt64)
}

var (
	bigTen     = decimal128.FromU64(10)
	pow10Table = func() [39]decimal128.Num {
		var t [39]decimal128.Num
		t[0] = decimal128.FromU64(1)
		for i := 1; i < len(t); i++ {
			t[i] = t[i-1].Mul(bigTen)
		}
		return t
	}()
)

// ParseDecimal parses a JSON number text exactly as the integer
// value × 10^scale with at most prec digits; digits that would have to be
// rounded away are an error.
func ParseDecimal(b []byte, scale, prec int32) (decimal128.Num, error) {
	neg, intPart, frac, exp, err := numberParts(b)
	if err != nil {
		return decimal128.Num{}, err
	}
	// Significant digits D (int ++ frac), value = D × 10^(exp - len(frac)).
	var digits [80]byte
	nd := 0
	appendDigits := func(src []byte) bool {
		for _, c := range src {
			if nd == 0 && c == '0' {
				continue // leading zeros
			}
			if nd == len(digits) {
				return false
			}
			digits[nd] = c
			nd++
		}
		return true
	}
	if !appendDigits(intPart) || !appendDigits(frac) {
		return decimal128.Num{}, errPrecision
	}
	k := exp - len(frac) + int(scale)
	if nd == 0 {
		return decimal128.Num{}, nil
	}
	if k < 0 {
		drop := -k
		if drop > nd {
			return decimal128.Num{}, errFraction
		}
		for _, c := range digits[nd-drop : nd] {
			if c != '0' {
				return decimal128.Num{}, errFraction
			}
		}
		nd -= drop
		k = 0
		if nd == 0 {
			return decimal128.Num{}, nil
		}
	}
	if nd+k > int(prec) {
		if prec >= 38 {
			return decimal128.Num{}, errOverflow
		}
		return decimal128.Num{}, errPrecision
	}
	var n decimal128.Num
	for _, c := range digits[:nd] {
		n = n.Mul(bigTen).Add(decimal128.FromU64(uint64(c - '0')))
	}
	if k > 0 {
		n = n.Mul(pow10Table[k])
	}
	if neg {
		n = n.Negate()
	}
	return n, nil
}

// ParseFloat parses a strict JSON number as a float of the given size;
// values beyond the float range are errors, not infinities.
func ParseFloat(b []byte, bits int) (float64, error) {
	if f, n, ok := parseFloatFast(b, bits); ok && n == len(b) {
		return f, nil
	}
	if _, _, _, _, err := numberParts(b); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(unsafeString(b), bits)
	if err != nil {
		return 0, errOverflow
	}
	return f, nil
}

// ParseFloatPrefix parses the JSON number at the start of b as ParseFloat
// does and returns its length: it ends at the first byte that cannot
// continue a number, which the caller checks. Array readers use it to scan
// and convert each element in one pass.
func ParseFloatPrefix(b []byte, bits int) (f float64, n int, err error) {
	if f, n, ok := parseFloatFast(b, bits); ok {
		return f, n, nil
	}
	for n < len(b) && (b[n] >= '0' && b[n] <= '9' || b[n] == '.' || b[n] == 'e' || b[n] == 'E' || b[n] == '-' || b[n] == '+') {
		n++
	}
	f, err = ParseFloat(b[:n], bits)
	return f, n, err
}

// pow10Exact holds the powers of ten that float64 represents exactly.
var pow10Exact = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// pow10Near holds 10^k for k in [pow10NearMin, pow10NearMax], each the
// nearest float64 (exact up to 10^22).
const pow10NearMin, pow10NearMax = -64, 38

var pow10Near = func() (t [pow10NearMax - pow10NearMin + 1]float64) {
	for k := range t {
		t[k], _ = strconv.ParseFloat("1e"+strconv.Itoa(k+pow10NearMin), 64)
	}
	return t
}()

// parseFloatFast converts the JSON number at the start of b, returning
// its length, when it is a common one, in a few nanoseconds instead of
// strconv's general algorithm: embeddings are thousands of numbers per row.
// For float64 it takes numbers whose mantissa (at most 2^53) and power of
// ten (at most 22) are exact, and rounds once (Clinger's fast path). For
// float32 it takes any mantissa below 10^19 and power of ten in range, and
// computes in float64 within 3 float64 ulps of the exact value (three
// roundings of 2^-53 each); rounding that to float32 gives the correctly
// rounded float32 unless a float32 midpoint lies within those ulps, which
// is checked. ok is false, and the caller takes the general path, for
// anything else, including every syntax error.
func parseFloatFast(b []byte, bits int) (f float64, n int, ok bool) {
	i, l := 0, len(b)
	neg := i < l && b[i] == '-'
	if neg {
		i++
	}
	if i >= l {
		return 0, 0, false
	}
	var m uint64 // kept below 10^19
	exp := 0
	if b[i] == '0' {
		i++
	} else {
		s := i
		for i < l && b[i]-'0' <= 9 {
			if m >= 1e18 {
				return 0, 0, false
			}
			m = m*10 + uint64(b[i]-'0')
			i++
		}
		if i == s {
			return 0, 0, false
		}
	}
	if i < l && b[i] == '.' {
		i++
		s := i
		for l-i >= 8 && m < 1e11 {
			v := binary.LittleEndian.Uint64(b[i:])
			if (v&0xF0F0F0F0F0F0F0F0)|((v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4 != 0x3333333333333333 {
				break // not eight digits
			}
			m = m*1e8 + eightDigits(v)
			i += 8
		}
		for i < l && b[i]-'0' <= 9 {
			if m >= 1e18 {
				return 0, 0, false
			}
			m = m*10 + uint64(b[i]-'0')
			i++
		}
		if i == s {
			return 0, 0, false
		}
		exp = s - i
	}
	if i < l && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := i < l && b[i] == '-'
		if i < l && (b[i] == '-' || b[i] == '+') {
			i++
		}
		s, e := i, 0
		for i < l && b[i]-'0' <= 9 && i-s < 4 {
			e = e*10 + int(b[i]-'0')
			i++
		}
		if i == s || (i < l && b[i]-'0' <= 9) {
			return 0, 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i < l && (b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '-' || b[i] == '+' || b[i]-'0' <= 9) {
		return 0, 0, false // e.g. "01", "1.2.3": the general path words the error
	}
	if bits == 32 {
		if m != 0 {
			if exp < pow10NearMin || exp > pow10NearMax {
				return 0, 0, false
			}
			f = float64(m) * pow10Near[exp-pow10NearMin]
			u := math.Float64bits(f)
			// Normal float32 range only (2^-126 <= |f| < 2^127), and not
			// within 8 ulps of a float32 midpoint: float32 drops the low
			// 29 bits of the float64 mantissa, and a midpoint has them
			// 1000...0.
			const half, margin = 1 << 28, 8
			if e := u >> 52 & 0x7ff; e < 1023-126 || e >= 1023+127 {
				return 0, 0, false
			}
			if low := u & (1<<29 - 1); low+margin >= half && low <= half+margin {
				return 0, 0, false
			}
		}
		if neg {
			f = -f
		}
		return float64(float32(f)), i, true
	}
	if m > 1<<53 {
		return 0, 0, false
	}
	f = float64(m)
	switch {
	case m == 0 || exp == 0:
	case exp > 0 && exp < len(pow10Exact):
		f *= pow10Exact[exp]
	case exp < 0 && -exp < len(pow10Exact):
		f /= pow10Exact[-exp]
	default:
		return 0, 0, false
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// eightDigits is the value of the eight ASCII digits in v (little endian:
// the first digit in the lowest byte), combined pairwise in three
// multiplications.
func eightDigits(v uint64) uint64 {
	v = (v & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	v = (v & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (v & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

// daysFromCivil counts days since 1970-01-01 in the proleptic Gregorian
// calendar (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digitsAt(s []byte, i, n int) (int64, bool) {
	if i+n > len(s) {
		return 0, false
	}
	var v int64
	for _, c := range s[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseYMD parses "YYYY-MM-DD" at the start of s.
func parseYMD(s []byte) (days int64, ok bool) {
	y, ok1 := digitsAt(s, 0, 4)
	m, ok2 := digitsAt(s, 5, 2)
	d, ok3 := digitsAt(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// ParseDate parses "YYYY-MM-DD" into days since 1970-01-01.
func ParseDate(s []byte) (int64, error) {
	if len(s) != 10 {
		return 0, errBadDate
	}
	days, ok := parseYMD(s)
	if !ok {
		return 0, errBadDate
	}
	return days, nil
}

var unitPerSecond = [...]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}

// ParseTimestamp parses RFC 3339 ("2024-01-02T15:04:05.123456789+02:00",
// 'T' may also be 't' or ' ') into unit since the epoch, UTC. Fractions
// finer than unit are truncated towards negative infinity. With naive
// (timestamp_ntz columns) the zone designator may be left out.
func ParseTimestamp(s []byte, unit arrow.TimeUnit, naive bool) (int64, error) {
	if len(s) < 19 {
		return 0, errBadTime
	}
	days, ok := parseYMD(s)
	if !ok || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
		return 0, errBadTime
	}
	hh, ok1 := digitsAt(s, 11, 2)
	mm, ok2 := digitsAt(s, 14, 2)
	ss, ok3 := digitsAt(s, 17, 2)
	if !ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':' {
		return 0, errBadTime
	}
	if hh > 23 || mm > 59 || ss > 59 {
		return 0, errBadTimeVal
	}
	i := 19
	var fracNanos int64
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		scale := int64(1e8)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			fracNanos += int64(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return 0, errBadTime
		}
	}
	offset, next, err := parseZone(s, i, naive)
	if err != nil {
		return 0, err
	}
	i = next
	if i != len(s) {
		return 0, errBadTime
	}
	secs := days*86400 + hh*3600 + mm*60 + ss - offset
	per := unitPerSecond[unit]
	if secs > math.MaxInt64/per-1 || secs < math.MinInt64/per+1 {
		return 0, errOverflow
	}
	return secs*per + fracNanos/(1e9/per), nil
}

// parseZone reads the zone designator at s[i:] ("Z", "+hh:mm", "-hh:mm",
// or nothing when naive), returning its offset in seconds east of UTC.
func parseZone(s []byte, i int, naive bool) (offset int64, next int, err error) {
	if i == len(s) {
		if naive {
			return 0, i, nil
		}
		return 0, i, errBadTime
	}
	switch s[i] {
	case 'Z', 'z':
		return 0, i + 1, nil
	case '+', '-':
		oh, ok1 := digitsAt(s, i+1, 2)
		om, ok2 := digitsAt(s, i+4, 2)
		if !ok1 || !ok2 || s[i+3] != ':' || oh > 23 || om > 59 {
			return 0, i, errBadTime
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
		return offset, i + 6, nil
	}
	return 0, i, errBadTime
}

// ParseEpoch converts the JSON number raw, counted in from since the Unix
// epoch, into the unit to. A number in a coarser unit is scaled exactly and
// may carry a fraction down to the target unit (1.5 s into ms); anything
// finer is rejected. A number in a finer unit (ns into µs) must be an
// integer and is truncated towards negative infinity.
func ParseEpoch(raw []byte, from, to arrow.TimeUnit) (int64, error) {
	if from <= to {
		num, err := ParseDecimal(raw, int32(3*(to-from)), 38)
		if err != nil {
			return 0, err
		}
		if !fitsInt64(num) {
			return 0, errOverflow
		}
		return int64(num.LowBits()), nil
	}
	i, err := ParseInt(raw)
	if err != nil {
		return 0, err
	}
	return floorDiv(i, int64(math.Pow10(int(3*(from-to))))), nil
}

// DecodeBase64 appends the bytes of the standard-alphabet base64 text s,
// padded or not, to dst. On error dst is returned unchanged.
//
// Vectors sent as base64 make this the bulk of their decoding, so it uses
// segmentio/asm's SIMD decoder (several times the standard library's rate;
// it falls back to the standard decoder where it has none, and for what
// follows the first character it does not handle, such as padding or line
// breaks). Its error offsets count from where it fell back, so errors are
// worded by the standard decoder.
func DecodeBase64(dst, s []byte) ([]byte, error) {
	enc, std := simd64.StdEncoding, base64.StdEncoding
	if len(s)%4 != 0 {
		enc, std = simd64.RawStdEncoding, base64.RawStdEncoding
	}
	start := len(dst)
	need := enc.DecodedLen(len(s))
	dst = slices.Grow(dst, need)[:start+need]
	m, err := enc.Decode(dst[start:], s)
	if err != nil {
		_, err = std.Decode(dst[start:], s)
		return dst[:start], err
	}
	return dst[:start+m], nil
}
