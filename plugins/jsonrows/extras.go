package jsonrows

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

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
		d.partCells[n.partition] = c
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
			ts, err := ParseTimestamp([]byte(x), n.tsUnit, n.naive)
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
			days, err := ParseDate([]byte(x))
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
			num, err = ParseDecimal([]byte(x), n.scale, n.prec)
		default:
			i, fits, ok := goInt(v)
			if !ok {
				return cell{}, extraTypeErr(n, v)
			}
			if !fits {
				return cell{}, rangeErr()
			}
			num, err = ParseDecimal(strconv.AppendInt(nil, i, 10), n.scale, n.prec)
		}
		if err != nil {
			return cell{}, &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad %s %v: %v", typeName(n.typ), v, err)}
		}
		return cell{i64: int64(num.LowBits()), hi: num.HighBits()}, nil
	}
	return cell{}, extraTypeErr(n, v)
}
