package jsonparquet

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/valyala/fastjson"
)

// partitionFromJSON validates a partition column's JSON value and stores
// its Delta serialisation.
func (d *Decoder) partitionFromJSON(n *node, v *fastjson.Value) error {
	if v.Type() == fastjson.TypeNull {
		if !n.nullable {
			return nullErr(n)
		}
		d.partSpan[n.partition] = [2]int{-1, -1}
		return nil
	}
	c, err := d.primitive(n, v)
	if err != nil {
		return err
	}
	d.storePartition(n, c)
	return nil
}

func (d *Decoder) storePartition(n *node, c cell) {
	if c.null {
		d.partSpan[n.partition] = [2]int{-1, -1}
		return
	}
	start := len(d.partBuf)
	d.partBuf = appendPartitionValue(d.partBuf, n, c, d.arena)
	d.partSpan[n.partition] = [2]int{start, len(d.partBuf)}
}

// appendPartitionValue serialises a value per the Delta protocol's
// "Partition Value Serialization": numbers in their string form, dates
// YYYY-MM-DD, timestamps ISO 8601 UTC with microseconds, booleans
// true/false.
func appendPartitionValue(dst []byte, n *node, c cell, arena []byte) []byte {
	switch n.kind {
	case kBool:
		return strconv.AppendBool(dst, c.i64 != 0)
	case kInt8, kInt16, kInt32, kInt64:
		return strconv.AppendInt(dst, c.i64, 10)
	case kFloat32:
		return strconv.AppendFloat(dst, c.f64, 'g', -1, 32)
	case kFloat64:
		return strconv.AppendFloat(dst, c.f64, 'g', -1, 64)
	case kString:
		return append(dst, c.b...)
	case kBinary:
		return append(dst, arena[c.i64:c.hi]...)
	case kDate32:
		return appendDate(dst, c.i64)
	case kTimestamp:
		micros := c.i64
		switch n.tsUnit {
		case arrow.Second:
			micros *= 1e6
		case arrow.Millisecond:
			micros *= 1e3
		case arrow.Nanosecond:
			micros = floorDiv(micros, 1e3)
		}
		return appendTimestampMicros(dst, micros)
	case kDecimal128:
		return append(dst, decimal128.New(c.hi, uint64(c.i64)).ToString(n.scale)...)
	}
	return dst
}

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

func appendDate(dst []byte, days int64) []byte {
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
	dst = appendDate(dst, days)
	dst = append(dst, 'T')
	dst = appendPadded(dst, rem/3600, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, rem/60%60, 2)
	dst = append(dst, ':')
	return appendPadded(dst, rem%60, 2)
}

// appendTimestampMicros writes "1970-01-01T00:00:00.123456Z".
func appendTimestampMicros(dst []byte, micros int64) []byte {
	secs := floorDiv(micros, 1e6)
	dst = appendClock(dst, secs)
	dst = append(dst, '.')
	dst = appendPadded(dst, micros-secs*1e6, 6)
	return append(dst, 'Z')
}

// appendTimestampMillis writes "1970-01-01T00:00:00.123Z", truncating
// down; naive (timestamp_ntz) values get no zone designator.
func appendTimestampMillis(dst []byte, micros int64, naive bool) []byte {
	secs := floorDiv(micros, 1e6)
	dst = appendClock(dst, secs)
	dst = append(dst, '.')
	dst = appendPadded(dst, (micros-secs*1e6)/1e3, 3)
	if naive {
		return dst
	}
	return append(dst, 'Z')
}

// convertExtra converts a Go value supplied for an extra column.
func (d *Decoder) convertExtra(n *node, v any) error {
	c, err := d.extraCell(n, v)
	if err != nil {
		return err
	}
	if c.null && !n.nullable {
		return nullErr(n)
	}
	if n.partition >= 0 {
		d.storePartition(n, c)
		return nil
	}
	d.tape = append(d.tape, c)
	return nil
}

func extraTypeErr(n *node, v any) error {
	return &FieldError{Path: n.path, Kind: ErrTypeMismatch, Detail: fmt.Sprintf("expected %s, got Go %T", typeName(n.typ), v)}
}

func goInt(v any) (int64, bool, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true, true
	case int8:
		return int64(x), true, true
	case int16:
		return int64(x), true, true
	case int32:
		return int64(x), true, true
	case int64:
		return x, true, true
	case uint8:
		return int64(x), true, true
	case uint16:
		return int64(x), true, true
	case uint32:
		return int64(x), true, true
	case uint:
		return int64(x), x <= math.MaxInt64, true
	case uint64:
		return int64(x), x <= math.MaxInt64, true
	}
	return 0, false, false
}

func (d *Decoder) extraCell(n *node, v any) (cell, error) {
	if v == nil {
		return cell{null: true}, nil
	}
	if !isPrimitive(n.kind) {
		return cell{}, &FieldError{Path: n.path, Kind: ErrTypeMismatch, Detail: "extra values must be primitive"}
	}
	rangeErr := func() error {
		return &FieldError{Path: n.path, Kind: ErrOutOfRange, Detail: fmt.Sprintf("value %v overflows %s", v, typeName(n.typ))}
	}
	switch n.kind {
	case kBool:
		if b, ok := v.(bool); ok {
			if b {
				return cell{i64: 1}, nil
			}
			return cell{}, nil
		}
	case kInt8, kInt16, kInt32, kInt64:
		if i, fits, ok := goInt(v); ok {
			if !fits || i < n.intMin || i > n.intMax {
				return cell{}, rangeErr()
			}
			return cell{i64: i}, nil
		}
	case kFloat32, kFloat64:
		switch x := v.(type) {
		case float64:
			return cell{f64: x}, nil
		case float32:
			return cell{f64: float64(x)}, nil
		}
		if i, _, ok := goInt(v); ok {
			return cell{f64: float64(i)}, nil
		}
	case kString, kBinary:
		var b []byte
		switch x := v.(type) {
		case string:
			b = unsafe.Slice(unsafe.StringData(x), len(x))
		case []byte:
			b = x
		default:
			return cell{}, extraTypeErr(n, v)
		}
		if n.kind == kString {
			if !utf8.Valid(b) {
				return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: "string is not valid UTF-8"}
			}
			return cell{b: b}, nil
		}
		start := len(d.arena)
		d.arena = append(d.arena, b...)
		return cell{i64: int64(start), hi: int64(len(d.arena))}, nil
	case kTimestamp:
		switch x := v.(type) {
		case time.Time:
			per := unitPerSecond[n.tsUnit]
			return cell{i64: x.Unix()*per + int64(x.Nanosecond())/(1e9/per)}, nil
		case string:
			ts, err := parseTimestamp([]byte(x), n.tsUnit, n.naive)
			if err != nil {
				return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: fmt.Sprintf("bad timestamp %q: %v", x, err)}
			}
			return cell{i64: ts}, nil
		}
		if i, fits, ok := goInt(v); ok {
			if !fits {
				return cell{}, rangeErr()
			}
			return cell{i64: i}, nil
		}
	case kDate32:
		switch x := v.(type) {
		case time.Time:
			y, m, dd := x.UTC().Date()
			return cell{i64: daysFromCivil(int64(y), int64(m), int64(dd))}, nil
		case string:
			days, err := parseDate([]byte(x))
			if err != nil {
				return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: fmt.Sprintf("bad date %q: %v", x, err)}
			}
			return cell{i64: days}, nil
		}
		if i, fits, ok := goInt(v); ok {
			if !fits || i < math.MinInt32 || i > math.MaxInt32 {
				return cell{}, rangeErr()
			}
			return cell{i64: i}, nil
		}
	case kDecimal128:
		var num decimal128.Num
		var err error
		switch x := v.(type) {
		case decimal128.Num:
			num = x
			if !num.FitsInPrecision(n.prec) {
				return cell{}, rangeErr()
			}
		case string:
			num, err = parseScaled([]byte(x), n.scale, n.prec)
		default:
			i, fits, ok := goInt(v)
			if !ok {
				return cell{}, extraTypeErr(n, v)
			}
			if !fits {
				return cell{}, rangeErr()
			}
			num, err = parseScaled(strconv.AppendInt(nil, i, 10), n.scale, n.prec)
		}
		if err != nil {
			return cell{}, &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad %s %v: %v", typeName(n.typ), v, err)}
		}
		return cell{i64: int64(num.LowBits()), hi: num.HighBits()}, nil
	}
	return cell{}, extraTypeErr(n, v)
}

// PartitionValues returns the row's partition values in PartitionColumns
// order.
func (r *Row) PartitionValues() []PartitionValue {
	d := r.d
	out := make([]PartitionValue, len(d.partNodes))
	for i, n := range d.partNodes {
		out[i].Column = n.name
		sp := d.partSpan[i]
		if sp[0] < 0 {
			out[i].Null = true
			continue
		}
		out[i].Value = string(d.partBuf[sp[0]:sp[1]])
	}
	return out
}

// AppendPartitionKey appends a compact, unambiguous encoding of the
// partition values to dst, for use as a map key when routing rows to
// Buffers without allocating per row.
func (r *Row) AppendPartitionKey(dst []byte) []byte {
	d := r.d
	for i := range d.partNodes {
		sp := d.partSpan[i]
		if sp[0] < 0 {
			dst = binary.AppendUvarint(dst, 0)
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(sp[1]-sp[0])+1)
		dst = append(dst, d.partBuf[sp[0]:sp[1]]...)
	}
	return dst
}
