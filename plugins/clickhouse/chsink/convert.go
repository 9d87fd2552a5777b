package chsink

// JSON → ClickHouse column conversion. Every column of a block is a builder
// that decodes fastjson values straight into a typed buffer (or, for nested
// types, into the Go values the driver's columns take), so a block can be
// rebuilt byte for byte on a retry and a bad message can be cut out by
// truncating every buffer to its starting length.

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/clickhouse/chtype"
)

// ConvOptions tune how JSON values are read.
type ConvOptions struct {
	EpochUnit EpochUnit
	// Location is used for timestamps without a zone when the column has
	// no time zone of its own (the server's zone).
	Location *time.Location
	// MissingDefault writes the type's zero value for a missing or null
	// field of a non-Nullable column; otherwise that is an error.
	MissingDefault bool
}

// errUnsupported marks a column type this package cannot write.
var errUnsupported = errors.New("unsupported column type")

// valueConv converts one JSON value (never nil, may be JSON null) into the
// Go value the driver's column takes.
type valueConv func(v *fastjson.Value) (any, error)

// builder buffers one column of a block.
type builder interface {
	// add appends v; nil means the field is absent.
	add(v *fastjson.Value) error
	len() int
	truncate(n int)
	// appendTo hands the buffered rows to a driver column.
	appendTo(c driver.BatchColumn) error
}

// kind is one scalar ClickHouse type read into Go type T.
type kind[T any] struct {
	conv func(*fastjson.Value) (T, error)
	zero T
	// bulk: the driver's Column.Append takes []T and []*T directly.
	bulk bool
}

type scalarKind interface {
	builder(name string, nullable bool, o *ConvOptions) builder
	// value converts to a T (boxed), or nil for JSON null when nullable.
	value(nullable bool) valueConv
	// slice converts a JSON array into []T (or []*T for nullable elements).
	slice(nullable bool) valueConv
	zeroValue() any
}

func (k kind[T]) zeroValue() any { return k.zero }

func (k kind[T]) builder(name string, nullable bool, o *ConvOptions) builder {
	return &typedBuilder[T]{k: k, name: name, nullable: nullable, missingDefault: o.MissingDefault}
}

func (k kind[T]) value(nullable bool) valueConv {
	return func(v *fastjson.Value) (any, error) {
		if v.Type() == fastjson.TypeNull {
			if nullable {
				return nil, nil
			}
			return nil, errors.New("null is not allowed (type is not Nullable)")
		}
		return k.conv(v)
	}
}

func (k kind[T]) slice(nullable bool) valueConv {
	return func(v *fastjson.Value) (any, error) {
		arr, err := v.Array()
		if err != nil {
			return nil, fmt.Errorf("expected an array, got %s", v.Type())
		}
		if nullable {
			out := make([]*T, len(arr))
			for i, e := range arr {
				if e.Type() == fastjson.TypeNull {
					continue
				}
				x, err := k.conv(e)
				if err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
				out[i] = &x
			}
			return out, nil
		}
		out := make([]T, len(arr))
		for i, e := range arr {
			if e.Type() == fastjson.TypeNull {
				return nil, fmt.Errorf("element %d: null in an array of a non-Nullable type", i)
			}
			x, err := k.conv(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	}
}

// typedBuilder buffers a scalar column as []T plus a null map.
type typedBuilder[T any] struct {
	k              kind[T]
	name           string
	nullable       bool
	missingDefault bool
	vals           []T
	nulls          []bool // only when nullable
}

func (b *typedBuilder[T]) add(v *fastjson.Value) error {
	if v == nil || v.Type() == fastjson.TypeNull {
		if b.nullable {
			b.vals = append(b.vals, b.k.zero)
			b.nulls = append(b.nulls, true)
			return nil
		}
		if !b.missingDefault {
			if v == nil {
				return fmt.Errorf("column %q: field is missing and the column is not Nullable", b.name)
			}
			return fmt.Errorf("column %q: null is not allowed (column is not Nullable)", b.name)
		}
		b.vals = append(b.vals, b.k.zero)
		return nil
	}
	x, err := b.k.conv(v)
	if err != nil {
		return fmt.Errorf("column %q: %w", b.name, err)
	}
	b.vals = append(b.vals, x)
	if b.nullable {
		b.nulls = append(b.nulls, false)
	}
	return nil
}

func (b *typedBuilder[T]) len() int { return len(b.vals) }

func (b *typedBuilder[T]) truncate(n int) {
	b.vals = b.vals[:n]
	if b.nullable {
		b.nulls = b.nulls[:n]
	}
}

func (b *typedBuilder[T]) appendTo(c driver.BatchColumn) error {
	if !b.nullable {
		if b.k.bulk {
			return c.Append(b.vals)
		}
		for _, x := range b.vals {
			if err := c.AppendRow(x); err != nil {
				return err
			}
		}
		return nil
	}
	ptrs := make([]*T, len(b.vals))
	for i := range b.vals {
		if !b.nulls[i] {
			ptrs[i] = &b.vals[i]
		}
	}
	if b.k.bulk {
		return c.Append(ptrs)
	}
	for _, p := range ptrs {
		var err error
		if p == nil {
			err = c.AppendRow(nil)
		} else {
			err = c.AppendRow(*p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// anyBuilder buffers a nested-type column as driver-ready Go values.
type anyBuilder struct {
	name           string
	conv           valueConv
	nullable       bool
	missingDefault bool
	zero           any
	vals           []any
}

func (b *anyBuilder) add(v *fastjson.Value) error {
	if v == nil || v.Type() == fastjson.TypeNull {
		switch {
		case b.nullable:
			b.vals = append(b.vals, nil)
			return nil
		case !b.missingDefault && v == nil:
			return fmt.Errorf("column %q: field is missing and the column is not Nullable", b.name)
		case !b.missingDefault:
			return fmt.Errorf("column %q: null is not allowed (column is not Nullable)", b.name)
		}
		b.vals = append(b.vals, b.zero)
		return nil
	}
	x, err := b.conv(v)
	if err != nil {
		return fmt.Errorf("column %q: %w", b.name, err)
	}
	b.vals = append(b.vals, x)
	return nil
}

func (b *anyBuilder) len() int       { return len(b.vals) }
func (b *anyBuilder) truncate(n int) { b.vals = b.vals[:n] }
func (b *anyBuilder) appendTo(c driver.BatchColumn) error {
	for _, x := range b.vals {
		if err := c.AppendRow(x); err != nil {
			return err
		}
	}
	return nil
}

// newBuilder returns the buffer for a column of type t.
func newBuilder(name string, t *chtype.Type, o *ConvOptions) (builder, error) {
	nullable := t.Nullable()
	base := t.Base()
	if t.Name == "LowCardinality" && base.Name == "String" {
		// Few distinct values: intern them (one allocation per value, not
		// per row) and append row by row (the driver's bulk Append of a
		// LowCardinality column goes through reflection for every row).
		intern := map[string]string{}
		k := kind[string]{conv: func(v *fastjson.Value) (string, error) {
			if v.Type() != fastjson.TypeString {
				return stringValue(v), nil
			}
			b, _ := v.StringBytes()
			if s, ok := intern[string(b)]; ok {
				return s, nil
			}
			s := string(b)
			if len(intern) < 1<<16 {
				intern[s] = s
			}
			return s, nil
		}}
		return k.builder(name, nullable, o), nil
	}
	if k, err := scalarFor(base, o); err == nil {
		return k.builder(name, nullable, o), nil
	} else if !errors.Is(err, errNotScalar) {
		return nil, err
	}
	conv, err := valueConvFor(base, o)
	if err != nil {
		return nil, err
	}
	zero, err := zeroValue(base, o)
	if err != nil {
		return nil, err
	}
	return &anyBuilder{name: name, conv: conv, nullable: nullable, missingDefault: o.MissingDefault, zero: zero}, nil
}

var errNotScalar = errors.New("not a scalar type")

func intKind[T int8 | int16 | int32 | int64](bits int) kind[T] {
	return kind[T]{bulk: true, conv: func(v *fastjson.Value) (T, error) {
		n, err := parseInt(v, bits)
		return T(n), err
	}}
}

func uintKind[T uint8 | uint16 | uint32 | uint64](bits int) kind[T] {
	return kind[T]{bulk: true, conv: func(v *fastjson.Value) (T, error) {
		n, err := parseUint(v, bits)
		return T(n), err
	}}
}

var locations sync.Map // zone name → *time.Location

func location(t *chtype.Type, o *ConvOptions) (*time.Location, error) {
	if t.TZ == "" {
		if o.Location != nil {
			return o.Location, nil
		}
		return time.UTC, nil
	}
	if l, ok := locations.Load(t.TZ); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(t.TZ)
	if err != nil {
		return nil, fmt.Errorf("time zone of %s: %w", t.Raw, err)
	}
	locations.Store(t.TZ, loc)
	return loc, nil
}

var (
	minDateTime = time.Unix(0, 0).UTC()
	maxDateTime = time.Unix(math.MaxUint32, 0).UTC()
)

// scalarFor returns the kind of a type without inner types (after Nullable
// and LowCardinality are stripped), or errNotScalar.
func scalarFor(t *chtype.Type, o *ConvOptions) (scalarKind, error) {
	switch t.Name {
	case "Int8":
		return intKind[int8](8), nil
	case "Int16":
		return intKind[int16](16), nil
	case "Int32":
		return intKind[int32](32), nil
	case "Int64":
		return intKind[int64](64), nil
	case "UInt8":
		return uintKind[uint8](8), nil
	case "UInt16":
		return uintKind[uint16](16), nil
	case "UInt32":
		return uintKind[uint32](32), nil
	case "UInt64":
		return uintKind[uint64](64), nil
	case "Int128", "Int256", "UInt128", "UInt256":
		bits := 128
		if t.Name[len(t.Name)-3:] == "256" {
			bits = 256
		}
		signed := t.Name[0] == 'I'
		return kind[*big.Int]{zero: new(big.Int), conv: func(v *fastjson.Value) (*big.Int, error) {
			return parseBigInt(v, bits, signed)
		}}, nil
	case "Float32":
		return kind[float32]{bulk: true, conv: func(v *fastjson.Value) (float32, error) {
			f, err := parseFloat(v)
			if err == nil && !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
				return 0, fmt.Errorf("%g is out of range of Float32", f)
			}
			return float32(f), err
		}}, nil
	case "Float64":
		return kind[float64]{bulk: true, conv: parseFloat}, nil
	case "Bool", "Boolean":
		return kind[bool]{bulk: true, conv: func(v *fastjson.Value) (bool, error) {
			switch v.Type() {
			case fastjson.TypeTrue:
				return true, nil
			case fastjson.TypeFalse:
				return false, nil
			}
			s, err := numberText(v)
			if err == nil {
				switch s {
				case "1", "true":
					return true, nil
				case "0", "false":
					return false, nil
				}
			}
			return false, fmt.Errorf("expected a boolean, got %s", v)
		}}, nil
	case "String":
		return kind[string]{bulk: true, conv: func(v *fastjson.Value) (string, error) { return stringValue(v), nil }}, nil
	case "FixedString":
		n := t.Length
		return kind[string]{conv: func(v *fastjson.Value) (string, error) {
			s := stringValue(v)
			if len(s) > n {
				return "", fmt.Errorf("%d bytes do not fit FixedString(%d)", len(s), n)
			}
			return s, nil
		}}, nil
	case "UUID":
		return kind[uuid.UUID]{conv: func(v *fastjson.Value) (uuid.UUID, error) {
			b, err := v.StringBytes()
			if err != nil {
				return uuid.UUID{}, fmt.Errorf("expected a UUID string, got %s", v.Type())
			}
			return uuid.ParseBytes(b)
		}}, nil
	case "IPv4", "IPv6":
		v4 := t.Name == "IPv4"
		zero := netip.IPv6Unspecified()
		if v4 {
			zero = netip.IPv4Unspecified()
		}
		return kind[netip.Addr]{zero: zero, conv: func(v *fastjson.Value) (netip.Addr, error) {
			b, err := v.StringBytes()
			if err != nil {
				return netip.Addr{}, fmt.Errorf("expected an IP address string, got %s", v.Type())
			}
			a, err := netip.ParseAddr(string(b))
			if err != nil {
				return a, err
			}
			if v4 {
				if a.Is4In6() {
					a = a.Unmap()
				}
				if !a.Is4() {
					return a, fmt.Errorf("%s is not an IPv4 address", a)
				}
			} else if a.Is4() {
				a = netip.AddrFrom16(a.As16())
			}
			return a, nil
		}}, nil
	case "Date", "Date32":
		loc, err := location(t, o)
		if err != nil {
			return nil, err
		}
		lo, hi := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2149, 6, 6, 0, 0, 0, 0, time.UTC)
		if t.Name == "Date32" {
			lo, hi = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2299, 12, 31, 0, 0, 0, 0, time.UTC)
		}
		return kind[time.Time]{bulk: true, zero: lo, conv: func(v *fastjson.Value) (time.Time, error) {
			d, err := parseDate(v, loc)
			if err == nil && (d.Before(lo) || d.After(hi)) {
				return d, fmt.Errorf("%s is out of range of %s", d.Format("2006-01-02"), t.Name)
			}
			return d, err
		}}, nil
	case "DateTime":
		loc, err := location(t, o)
		if err != nil {
			return nil, err
		}
		return kind[time.Time]{bulk: true, zero: minDateTime, conv: func(v *fastjson.Value) (time.Time, error) {
			ts, err := parseTime(v, loc, o.EpochUnit)
			if err == nil && (ts.Before(minDateTime) || ts.After(maxDateTime)) {
				return ts, fmt.Errorf("%s is out of range of DateTime", ts.Format(time.RFC3339))
			}
			return ts, err
		}}, nil
	case "DateTime64":
		loc, err := location(t, o)
		if err != nil {
			return nil, err
		}
		return kind[time.Time]{bulk: true, zero: minDateTime, conv: func(v *fastjson.Value) (time.Time, error) {
			return parseTime(v, loc, o.EpochUnit)
		}}, nil
	case "Decimal":
		prec, scale := t.Precision, int32(t.Scale)
		limit := decimal.New(1, int32(prec)-scale)
		return kind[decimal.Decimal]{conv: func(v *fastjson.Value) (decimal.Decimal, error) {
			s, err := numberText(v)
			if err != nil {
				return decimal.Decimal{}, err
			}
			d, err := decimal.NewFromString(s)
			if err != nil {
				return d, fmt.Errorf("%s is not a decimal number", s)
			}
			d = d.RoundBank(scale)
			if d.Abs().Cmp(limit) >= 0 {
				return d, fmt.Errorf("%s is out of range of %s", s, t.Raw)
			}
			return d, nil
		}}, nil
	case "Enum8", "Enum16":
		byName := make(map[string]int16, len(t.Enum))
		valid := make(map[int16]bool, len(t.Enum))
		for _, e := range t.Enum {
			byName[e.Name] = e.Value
			valid[e.Value] = true
		}
		conv := func(v *fastjson.Value) (int16, error) {
			if v.Type() == fastjson.TypeString {
				b, _ := v.StringBytes()
				if n, ok := byName[string(b)]; ok {
					return n, nil
				}
			}
			n, err := parseInt(v, 16)
			if err != nil || !valid[int16(n)] {
				return 0, fmt.Errorf("%s is not a value of %s", v, t.Raw)
			}
			return int16(n), nil
		}
		var first int16
		if len(t.Enum) > 0 {
			first = t.Enum[0].Value
		}
		if t.Name == "Enum8" {
			return kind[int8]{bulk: true, zero: int8(first), conv: func(v *fastjson.Value) (int8, error) {
				n, err := conv(v)
				return int8(n), err
			}}, nil
		}
		return kind[int16]{bulk: true, zero: first, conv: conv}, nil
	case "JSON":
		return kind[string]{zero: "{}", conv: func(v *fastjson.Value) (string, error) {
			if v.Type() != fastjson.TypeObject {
				return "", fmt.Errorf("expected a JSON object, got %s", v.Type())
			}
			return string(v.MarshalTo(nil)), nil
		}}, nil
	case "Nullable", "LowCardinality", "Array", "Map", "Tuple", "Nested":
		return nil, errNotScalar
	}
	return nil, fmt.Errorf("%w %s", errUnsupported, t.Raw)
}

// valueConvFor converts JSON into the Go value of any writable type.
func valueConvFor(t *chtype.Type, o *ConvOptions) (valueConv, error) {
	nullable := t.Nullable()
	base := t.Base()
	if k, err := scalarFor(base, o); err == nil {
		return k.value(nullable), nil
	} else if !errors.Is(err, errNotScalar) {
		return nil, err
	}
	var conv valueConv
	switch base.Name {
	case "Array":
		elem := base.Elems[0]
		if k, err := scalarFor(elem.Base(), o); err == nil {
			conv = k.slice(elem.Nullable())
			break
		}
		ec, err := valueConvFor(elem, o)
		if err != nil {
			return nil, err
		}
		conv = func(v *fastjson.Value) (any, error) {
			arr, err := v.Array()
			if err != nil {
				return nil, fmt.Errorf("expected an array, got %s", v.Type())
			}
			out := make([]any, len(arr))
			for i, e := range arr {
				if out[i], err = ec(e); err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
			}
			return out, nil
		}
	case "Map":
		kt := base.Elems[0]
		kc, err := valueConvFor(kt, o)
		if err != nil {
			return nil, err
		}
		vc, err := valueConvFor(base.Elems[1], o)
		if err != nil {
			return nil, err
		}
		conv = func(v *fastjson.Value) (any, error) {
			var a fastjson.Arena
			obj, err := v.Object()
			if err != nil {
				return nil, fmt.Errorf("expected an object for %s, got %s", base.Raw, v.Type())
			}
			m := &orderedMap{}
			obj.Visit(func(key []byte, val *fastjson.Value) {
				if err != nil {
					return
				}
				var kv, vv any
				if kv, err = kc(a.NewStringBytes(key)); err != nil {
					err = fmt.Errorf("key %q: %w", key, err)
					return
				}
				a.Reset()
				if vv, err = vc(val); err != nil {
					err = fmt.Errorf("key %q: %w", key, err)
					return
				}
				m.Put(kv, vv)
			})
			return m, err
		}
	case "Tuple", "Nested":
		convs := make([]valueConv, len(base.Elems))
		for i, e := range base.Elems {
			c, err := valueConvFor(e, o)
			if err != nil {
				return nil, err
			}
			convs[i] = c
		}
		tuple := func(v *fastjson.Value) (any, error) {
			out := make([]any, len(convs))
			switch v.Type() {
			case fastjson.TypeArray:
				arr, _ := v.Array()
				if len(arr) != len(convs) {
					return nil, fmt.Errorf("expected %d tuple elements, got %d", len(convs), len(arr))
				}
				for i, e := range arr {
					x, err := convs[i](e)
					if err != nil {
						return nil, fmt.Errorf("tuple element %d: %w", i+1, err)
					}
					out[i] = x
				}
			case fastjson.TypeObject:
				if base.Fields == nil {
					return nil, errors.New("an unnamed Tuple takes an array, not an object")
				}
				for i, f := range base.Fields {
					e := v.Get(f)
					if e == nil {
						if !o.MissingDefault && !base.Elems[i].Nullable() {
							return nil, fmt.Errorf("tuple field %q is missing", f)
						}
						z, err := zeroValue(base.Elems[i], o)
						if err != nil {
							return nil, err
						}
						out[i] = z
						continue
					}
					x, err := convs[i](e)
					if err != nil {
						return nil, fmt.Errorf("tuple field %q: %w", f, err)
					}
					out[i] = x
				}
			default:
				return nil, fmt.Errorf("expected an array or object for %s, got %s", base.Raw, v.Type())
			}
			return out, nil
		}
		if base.Name == "Tuple" {
			conv = tuple
			break
		}
		conv = func(v *fastjson.Value) (any, error) { // Nested = Array(Tuple)
			arr, err := v.Array()
			if err != nil {
				return nil, fmt.Errorf("expected an array of objects for %s, got %s", base.Raw, v.Type())
			}
			out := make([]any, len(arr))
			for i, e := range arr {
				if out[i], err = tuple(e); err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
			}
			return out, nil
		}
	default:
		return nil, fmt.Errorf("%w %s", errUnsupported, t.Raw)
	}
	return func(v *fastjson.Value) (any, error) {
		if v.Type() == fastjson.TypeNull {
			if nullable {
				return nil, nil
			}
			return nil, errors.New("null is not allowed (type is not Nullable)")
		}
		return conv(v)
	}, nil
}

// zeroValue is the value written for a missing field under the default
// policy: ClickHouse's default of the type.
func zeroValue(t *chtype.Type, o *ConvOptions) (any, error) {
	if t.Nullable() {
		return nil, nil
	}
	base := t.Base()
	if k, err := scalarFor(base, o); err == nil {
		return k.zeroValue(), nil
	} else if !errors.Is(err, errNotScalar) {
		return nil, err
	}
	switch base.Name {
	case "Array", "Nested":
		return []any{}, nil
	case "Map":
		return &orderedMap{}, nil
	case "Tuple":
		out := make([]any, len(base.Elems))
		for i, e := range base.Elems {
			z, err := zeroValue(e, o)
			if err != nil {
				return nil, err
			}
			out[i] = z
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w %s", errUnsupported, t.Raw)
}

// orderedMap keeps a JSON object's key order, so that a rebuilt block is
// identical to the first one (Go maps iterate at random).
type orderedMap struct {
	keys, vals []any
}

var _ column.IterableOrderedMap = (*orderedMap)(nil)

func (m *orderedMap) Put(k, v any) { m.keys = append(m.keys, k); m.vals = append(m.vals, v) }
func (m *orderedMap) Iterator() column.MapIterator {
	return &mapIter{m: m, i: -1}
}

type mapIter struct {
	m *orderedMap
	i int
}

func (it *mapIter) Next() bool { it.i++; return it.i < len(it.m.keys) }
func (it *mapIter) Key() any   { return it.m.keys[it.i] }
func (it *mapIter) Value() any { return it.m.vals[it.i] }
