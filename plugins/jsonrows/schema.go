package jsonrows

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"
)

// kind is the decoder's view of an Arrow type.
type kind uint8

const (
	kBool kind = iota
	kInt8
	kInt16
	kInt32
	kInt64
	kFloat32
	kFloat64
	kString
	kBinary
	kTimestamp
	kDate32
	kDecimal128
	kStruct
	kList
	kMap
)

// node is one compiled schema position. Nodes are shared by every Buffer of
// a Decoder; they hold no builder state.
type node struct {
	kind     kind
	name     string
	path     string // dotted path used in error messages, lists add "[]"
	nullable bool
	typ      arrow.DataType

	intMin, intMax int64 // kInt*
	tsUnit         arrow.TimeUnit
	naive          bool // timestamp without time zone (timestamp_ntz)
	prec, scale    int32

	children   []*node        // struct fields; list: [element]; map: [key, value]
	fieldIndex map[string]int // struct: field name -> index in children
	slots      []*fastjson.Value

	// dataPerRow is the string/binary data bytes per buffered row seen by
	// the last Buffer.NewRecord of this node's Decoder (kString, kBinary):
	// Buffer.Reserve sizes the data buffer from it.
	dataPerRow int64

	// Top-level only.
	partition int // index into the partition columns, -1 when not one
	extra     int // index into the extras, -1 when not one
	dataIndex int // column index in the data (Parquet) schema, -1 for partitions
}

// typeName names a type the way Delta does, for error messages.
func typeName(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.BooleanType:
		return "boolean"
	case *arrow.Int8Type:
		return "byte"
	case *arrow.Int16Type:
		return "short"
	case *arrow.Int32Type:
		return "integer"
	case *arrow.Int64Type:
		return "long"
	case *arrow.Float32Type:
		return "float"
	case *arrow.Float64Type:
		return "double"
	case *arrow.StringType:
		return "string"
	case *arrow.BinaryType:
		return "binary"
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return "timestamp_ntz"
		}
		return "timestamp"
	case *arrow.Date32Type:
		return "date"
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.StructType:
		return "struct"
	case *arrow.ListType:
		return "array"
	case *arrow.MapType:
		return "map"
	case nil:
		return "null"
	default:
		return t.String()
	}
}

func compileField(f arrow.Field, path string) (*node, error) {
	n := &node{name: f.Name, path: path, nullable: f.Nullable, typ: f.Type, partition: -1, extra: -1, dataIndex: -1}
	switch t := f.Type.(type) {
	case *arrow.BooleanType:
		n.kind = kBool
	case *arrow.Int8Type:
		n.kind, n.intMin, n.intMax = kInt8, math.MinInt8, math.MaxInt8
	case *arrow.Int16Type:
		n.kind, n.intMin, n.intMax = kInt16, math.MinInt16, math.MaxInt16
	case *arrow.Int32Type:
		n.kind, n.intMin, n.intMax = kInt32, math.MinInt32, math.MaxInt32
	case *arrow.Int64Type:
		n.kind, n.intMin, n.intMax = kInt64, math.MinInt64, math.MaxInt64
	case *arrow.Float32Type:
		n.kind = kFloat32
	case *arrow.Float64Type:
		n.kind = kFloat64
	case *arrow.StringType:
		n.kind = kString
	case *arrow.BinaryType:
		n.kind = kBinary
	case *arrow.TimestampType:
		n.kind, n.tsUnit, n.naive = kTimestamp, t.Unit, t.TimeZone == ""
	case *arrow.Date32Type:
		n.kind = kDate32
	case *arrow.Decimal128Type:
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("field %s: unsupported decimal(%d,%d)", path, t.Precision, t.Scale)
		}
		n.kind, n.prec, n.scale = kDecimal128, t.Precision, t.Scale
	case *arrow.StructType:
		if t.NumFields() == 0 {
			return nil, fmt.Errorf("field %s: a struct needs at least one field (Parquet cannot store an empty group)", path)
		}
		n.kind = kStruct
		n.fieldIndex = make(map[string]int, t.NumFields())
		for i, cf := range t.Fields() {
			if _, dup := n.fieldIndex[cf.Name]; dup {
				return nil, fmt.Errorf("field %s: duplicate field name %q", path, cf.Name)
			}
			c, err := compileField(cf, path+"."+cf.Name)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
			n.fieldIndex[cf.Name] = i
		}
		n.slots = make([]*fastjson.Value, len(n.children))
	case *arrow.ListType:
		n.kind = kList
		c, err := compileField(t.ElemField(), path+"[]")
		if err != nil {
			return nil, err
		}
		n.children = []*node{c}
	case *arrow.MapType:
		n.kind = kMap
		switch t.KeyType().ID() {
		case arrow.STRING, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.BOOL, arrow.DATE32, arrow.TIMESTAMP:
		default:
			return nil, fmt.Errorf("field %s: map keys of type %s cannot come from JSON object keys", path, typeName(t.KeyType()))
		}
		k, err := compileField(t.KeyField(), path+".key")
		if err != nil {
			return nil, err
		}
		k.nullable = false
		v, err := compileField(t.ItemField(), path+".value")
		if err != nil {
			return nil, err
		}
		n.children = []*node{k, v}
	default:
		return nil, fmt.Errorf("field %s: unsupported Arrow type %s", path, f.Type)
	}
	return n, nil
}

func isPrimitive(k kind) bool { return k < kStruct }
