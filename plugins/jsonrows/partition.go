package jsonrows

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/valyala/fastjson"
)

// Value is one decoded primitive value together with the column it was
// decoded for. Which field holds it depends on Type: Int for booleans (0 or
// 1), integers, Date32 (days since 1970-01-01) and timestamps (in the
// column's unit); Float for Float32/Float64; Bytes for strings; Decimal for
// Decimal128. Bytes may point into the decoder and stays valid until the
// next Decode.
type Value struct {
	Column  string
	Type    arrow.DataType
	Null    bool
	Int     int64
	Float   float64
	Bytes   []byte
	Decimal decimal128.Num
}

// partitionFromJSON validates a partition column's JSON value and keeps it
// for Row.PartitionValues.
func (d *Decoder) partitionFromJSON(n *node, v *fastjson.Value) error {
	if v.Type() == fastjson.TypeNull {
		if !n.nullable {
			return nullErr(n)
		}
		d.partCells[n.partition] = cell{null: true}
		return nil
	}
	c, err := d.primitive(n, v)
	if err != nil {
		return err
	}
	d.partCells[n.partition] = c
	return nil
}

// PartitionValues returns the row's partition values in PartitionColumns
// order. How a value is spelt as text (directory names, log entries) is the
// sink's business.
func (r *Row) PartitionValues() []Value {
	d := r.d
	out := make([]Value, len(d.partNodes))
	for i, n := range d.partNodes {
		out[i] = cellValue(n, d.partCells[i])
	}
	return out
}

func cellValue(n *node, c cell) Value {
	v := Value{Column: n.name, Type: n.typ, Null: c.null}
	if c.null {
		return v
	}
	switch n.kind {
	case kFloat32, kFloat64:
		v.Float = c.f64
	case kString:
		v.Bytes = c.b
	case kDecimal128:
		v.Decimal = decimal128.New(c.hi, uint64(c.i64))
	default:
		v.Int = c.i64
	}
	return v
}

// AppendPartitionKey appends a compact, unambiguous encoding of the
// partition values to dst, for use as a map key when routing rows to
// Buffers without allocating per row.
func (r *Row) AppendPartitionKey(dst []byte) []byte {
	d := r.d
	for i, n := range d.partNodes {
		c := d.partCells[i]
		if c.null {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch n.kind {
		case kFloat32, kFloat64:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(c.f64))
		case kString:
			dst = binary.AppendUvarint(dst, uint64(len(c.b)))
			dst = append(dst, c.b...)
		case kDecimal128:
			dst = binary.AppendVarint(dst, c.hi)
			dst = binary.AppendVarint(dst, c.i64)
		default:
			dst = binary.AppendVarint(dst, c.i64)
		}
	}
	return dst
}
