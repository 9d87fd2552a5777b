package jsonrows

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"
)

// Sentinel errors wrapped by FieldError, for errors.Is.
var (
	ErrMalformedJSON    = errors.New("malformed JSON")
	ErrTypeMismatch     = errors.New("type mismatch")
	ErrNullNotAllowed   = errors.New("null in non-nullable column")
	ErrOutOfRange       = errors.New("value out of range")
	ErrInvalidValue     = errors.New("invalid value")
	ErrMissingPartition = errors.New("missing partition value")
)

// FieldError is a per-row error naming the field path at fault, e.g.
// "field user.age: expected long, got string".
type FieldError struct {
	Path   string
	Kind   error // one of the Err* sentinels
	Detail string
}

func (e *FieldError) Error() string { return "field " + e.Path + ": " + e.Detail }
func (e *FieldError) Unwrap() error { return e.Kind }

// UnknownField is a field present in a row but not in the schema, with the
// type inference would give it.
type UnknownField struct {
	Path string
	Type arrow.DataType
}

// UnknownFieldsError rejects a row carrying non-null fields the schema does
// not have (with UnknownFieldsReject). The caller can evolve the schema with
// InferSchema + EvolveSchema and decode the row again.
type UnknownFieldsError struct {
	Fields []UnknownField
}

func (e *UnknownFieldsError) Error() string {
	var sb strings.Builder
	sb.WriteString("unknown fields: ")
	for i, f := range e.Fields {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(f.Path)
		sb.WriteString(" (")
		sb.WriteString(typeName(f.Type))
		sb.WriteString(")")
	}
	return sb.String()
}

// UnknownFieldPolicy says what happens to row fields missing from the schema.
type UnknownFieldPolicy int

const (
	// UnknownFieldsReject fails the row with an *UnknownFieldsError listing
	// every unknown non-null field and its inferred type.
	UnknownFieldsReject UnknownFieldPolicy = iota
	// UnknownFieldsIgnore drops unknown fields silently.
	UnknownFieldsIgnore
)

// EpochUnit is the unit of JSON numbers given for timestamp columns.
type EpochUnit int

const (
	// EpochColumnUnit counts in the column's own unit (µs for Delta timestamps).
	EpochColumnUnit EpochUnit = iota
	EpochSeconds
	EpochMilliseconds
	EpochMicroseconds
	EpochNanoseconds
)

// DecoderOptions configures a Decoder.
type DecoderOptions struct {
	// PartitionColumns are top-level primitive columns whose values are
	// returned by Row.PartitionValues and left out of the data schema (and
	// so out of Buffer records). A row
	// without the field fails with ErrMissingPartition; an explicit null
	// gives a null partition value when the column is nullable.
	PartitionColumns []string
	// ExtraColumns are top-level columns filled from the extras passed to
	// Decode, in this order (metadata such as topic or offset), not from
	// the JSON. A JSON field with the same name is ignored.
	ExtraColumns []string
	// UnknownFields chooses between rejecting and ignoring unknown fields.
	UnknownFields UnknownFieldPolicy
	// EpochUnit is the unit of numeric timestamps.
	EpochUnit EpochUnit
	// NumbersFromStrings also accepts strings holding a JSON number for
	// integer and floating-point columns (protobuf's JSON mapping writes
	// 64-bit integers as strings). Decimals always accept strings.
	NumbersFromStrings bool
}

// cell is one converted value on the decode tape. Lists and maps record
// their length in i64; binary values point into the decoder's arena.
type cell struct {
	null bool
	i64  int64
	hi   int64 // decimal high bits; binary: arena end offset
	f64  float64
	b    []byte
}

// Row is a decoded, validated row staged inside its Decoder. It is valid
// until the next call to Decode.
type Row struct {
	d     *Decoder
	valid bool
}

// Decoder parses JSON rows against one table schema. It is not safe for
// concurrent use; use one per goroutine.
type Decoder struct {
	opts       DecoderOptions
	table      *arrow.Schema
	data       *arrow.Schema
	root       *node
	partNodes  []*node
	extraNodes []*node

	parser     fastjson.Parser
	tape       []cell
	arena      []byte
	num        []byte
	partCells  []cell // per partition column, in PartitionColumns order
	unknown    []UnknownField
	unknownErr error
	row        Row
}

// NewDecoder compiles schema (the full table schema, partition columns
// included) for decoding.
func NewDecoder(schema *arrow.Schema, opts DecoderOptions) (*Decoder, error) {
	root := &node{kind: kStruct, fieldIndex: map[string]int{}, partition: -1, extra: -1, dataIndex: -1}
	d := &Decoder{opts: opts, table: schema, root: root}
	d.row.d = d
	for i, f := range schema.Fields() {
		if _, dup := root.fieldIndex[f.Name]; dup {
			return nil, fmt.Errorf("field %s: duplicate column name", f.Name)
		}
		c, err := compileField(f, f.Name)
		if err != nil {
			return nil, err
		}
		root.children = append(root.children, c)
		root.fieldIndex[f.Name] = i
	}
	root.slots = make([]*fastjson.Value, len(root.children))
	for i, name := range opts.PartitionColumns {
		idx, ok := root.fieldIndex[name]
		if !ok {
			return nil, fmt.Errorf("partition column %s: not in the schema", name)
		}
		c := root.children[idx]
		if !isPrimitive(c.kind) || c.kind == kBinary {
			return nil, fmt.Errorf("partition column %s: type %s cannot be a partition column", name, typeName(c.typ))
		}
		if c.partition >= 0 {
			return nil, fmt.Errorf("partition column %s: listed twice", name)
		}
		c.partition = i
		d.partNodes = append(d.partNodes, c)
	}
	for i, name := range opts.ExtraColumns {
		idx, ok := root.fieldIndex[name]
		if !ok {
			return nil, fmt.Errorf("extra column %s: not in the schema", name)
		}
		c := root.children[idx]
		if c.extra >= 0 {
			return nil, fmt.Errorf("extra column %s: listed twice", name)
		}
		if !isPrimitive(c.kind) {
			return nil, fmt.Errorf("extra column %s: type %s cannot be filled from an extra value", name, typeName(c.typ))
		}
		c.extra = i
		d.extraNodes = append(d.extraNodes, c)
	}
	var dataFields []arrow.Field
	for i, c := range root.children {
		if c.partition >= 0 {
			continue
		}
		c.dataIndex = len(dataFields)
		dataFields = append(dataFields, schema.Field(i))
	}
	md := schema.Metadata()
	d.data = arrow.NewSchema(dataFields, &md)
	d.partCells = make([]cell, len(d.partNodes))
	return d, nil
}

// TableSchema is the schema the decoder was built for.
func (d *Decoder) TableSchema() *arrow.Schema { return d.table }

// DataSchema is the schema of the records Buffers build: the table schema
// without the partition columns.
func (d *Decoder) DataSchema() *arrow.Schema { return d.data }

// Decode parses and validates one JSON object row. extras supply the
// ExtraColumns values in order (nil for null; Go bool, integer, float,
// string, []byte, time.Time or decimal128.Num as fits the column). On
// success the returned Row stays valid until the next Decode; on failure
// nothing is staged and the error names the field at fault.
func (d *Decoder) Decode(row []byte, extras ...any) (*Row, error) {
	d.row.valid = false
	d.tape = d.tape[:0]
	d.arena = d.arena[:0]
	d.unknown = d.unknown[:0]
	d.unknownErr = nil
	if len(extras) != len(d.extraNodes) {
		return nil, fmt.Errorf("decoding row: got %d extra values for %d extra columns", len(extras), len(d.extraNodes))
	}
	v, err := d.parser.ParseBytes(row)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("%w: row is a JSON %s, not an object", ErrMalformedJSON, v.Type())
	}
	root := d.root
	d.collectFields(root, v)
	for i, c := range root.children {
		val := root.slots[i]
		switch {
		case c.extra >= 0:
			err = d.convertExtra(c, extras[c.extra])
		case c.partition >= 0:
			if val == nil {
				return nil, &FieldError{Path: c.path, Kind: ErrMissingPartition, Detail: "missing partition value"}
			}
			err = d.partitionFromJSON(c, val)
		default:
			err = d.convert(c, val)
		}
		if err != nil {
			return nil, err
		}
	}
	if d.unknownErr != nil {
		return nil, d.unknownErr
	}
	if len(d.unknown) > 0 {
		fields := make([]UnknownField, len(d.unknown))
		copy(fields, d.unknown)
		return nil, &UnknownFieldsError{Fields: fields}
	}
	d.row.valid = true
	return &d.row, nil
}

// collectFields fills n.slots with the object's values in schema order and
// records unknown fields.
func (d *Decoder) collectFields(n *node, v *fastjson.Value) {
	obj, _ := v.Object()
	slots := n.slots
	clear(slots)
	// Producers usually emit fields in schema order: try the field after
	// the previous match before hashing the key.
	next := 0
	obj.Visit(func(key []byte, val *fastjson.Value) {
		idx := -1
		if next < len(n.children) && n.children[next].name == string(key) {
			idx = next
		} else if i, ok := n.fieldIndex[string(key)]; ok {
			idx = i
		}
		if idx >= 0 {
			slots[idx] = val
			next = idx + 1
			return
		}
		if d.opts.UnknownFields == UnknownFieldsIgnore || val.Type() == fastjson.TypeNull {
			return
		}
		p := joinPath(n.path, string(key))
		t, err := inferType(val, p)
		if err != nil {
			// e.g. [1,"x"]: no schema can hold it, so the row must fail
			// rather than lose the value.
			if d.unknownErr == nil {
				d.unknownErr = err
			}
			return
		}
		for i := range d.unknown {
			if d.unknown[i].Path == p { // duplicate key: the last one wins
				d.unknown = append(d.unknown[:i], d.unknown[i+1:]...)
				break
			}
		}
		if t == nil {
			return // only nulls inside: nothing to lose yet
		}
		d.unknown = append(d.unknown, UnknownField{Path: p, Type: t})
	})
}

func (d *Decoder) typeErr(n *node, v *fastjson.Value) error {
	return &FieldError{Path: n.path, Kind: ErrTypeMismatch, Detail: "expected " + typeName(n.typ) + ", got " + jsonTypeName(v.Type())}
}

func jsonTypeName(t fastjson.Type) string {
	switch t {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	default:
		return t.String()
	}
}

func nullErr(n *node) error {
	return &FieldError{Path: n.path, Kind: ErrNullNotAllowed, Detail: "null value in non-nullable column"}
}

// convert validates v against n and appends the converted value(s) to the
// tape, in schema order.
func (d *Decoder) convert(n *node, v *fastjson.Value) error {
	if v == nil || v.Type() == fastjson.TypeNull {
		if !n.nullable {
			return nullErr(n)
		}
		d.tape = append(d.tape, cell{null: true})
		return nil
	}
	switch n.kind {
	case kStruct:
		if v.Type() != fastjson.TypeObject {
			return d.typeErr(n, v)
		}
		d.collectFields(n, v)
		d.tape = append(d.tape, cell{})
		for i, c := range n.children {
			if err := d.convert(c, n.slots[i]); err != nil {
				return err
			}
		}
		return nil
	case kList:
		if v.Type() != fastjson.TypeArray {
			return d.typeErr(n, v)
		}
		arr, _ := v.Array()
		d.tape = append(d.tape, cell{i64: int64(len(arr))})
		for _, e := range arr {
			if err := d.convert(n.children[0], e); err != nil {
				return err
			}
		}
		return nil
	case kMap:
		if v.Type() != fastjson.TypeObject {
			return d.typeErr(n, v)
		}
		obj, _ := v.Object()
		d.tape = append(d.tape, cell{i64: int64(obj.Len())})
		var err error
		obj.Visit(func(key []byte, val *fastjson.Value) {
			if err != nil {
				return
			}
			var kc cell
			if kc, err = d.mapKey(n.children[0], key); err != nil {
				return
			}
			d.tape = append(d.tape, kc)
			err = d.convert(n.children[1], val)
		})
		return err
	}
	c, err := d.primitive(n, v)
	if err != nil {
		return err
	}
	d.tape = append(d.tape, c)
	return nil
}

// mapKey converts a JSON object key for a map's key type.
func (d *Decoder) mapKey(n *node, key []byte) (cell, error) {
	bad := func(err error) error {
		return &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad %s map key %q: %v", typeName(n.typ), key, err)}
	}
	switch n.kind {
	case kString:
		if !utf8.Valid(key) {
			return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: "map key is not valid UTF-8"}
		}
		return cell{b: key}, nil
	case kInt8, kInt16, kInt32, kInt64:
		i, err := d.parseInt(n, key)
		return cell{i64: i}, err
	case kBool:
		switch string(key) {
		case "true":
			return cell{i64: 1}, nil
		case "false":
			return cell{}, nil
		}
		return cell{}, bad(errSyntax)
	case kDate32:
		days, err := ParseDate(key)
		if err != nil {
			return cell{}, bad(err)
		}
		return cell{i64: days}, nil
	case kTimestamp:
		ts, err := ParseTimestamp(key, n.tsUnit, n.naive)
		if err != nil {
			return cell{}, bad(err)
		}
		return cell{i64: ts}, nil
	}
	return cell{}, fmt.Errorf("field %s: unsupported map key type", n.path)
}

// primitive converts a non-null JSON scalar for a primitive column.
func (d *Decoder) primitive(n *node, v *fastjson.Value) (cell, error) {
	t := v.Type()
	switch n.kind {
	case kBool:
		switch t {
		case fastjson.TypeTrue:
			return cell{i64: 1}, nil
		case fastjson.TypeFalse:
			return cell{}, nil
		}
		return cell{}, d.typeErr(n, v)
	case kInt8, kInt16, kInt32, kInt64:
		raw, ok := d.numberText(v)
		if !ok {
			return cell{}, d.typeErr(n, v)
		}
		i, err := d.parseInt(n, raw)
		return cell{i64: i}, err
	case kFloat32, kFloat64:
		raw, ok := d.numberText(v)
		if !ok {
			return cell{}, d.typeErr(n, v)
		}
		f, err := floatField(n, raw)
		return cell{f64: f}, err
	case kString:
		if t != fastjson.TypeString {
			return cell{}, d.typeErr(n, v)
		}
		s, _ := v.StringBytes()
		if !utf8.Valid(s) {
			return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: "string is not valid UTF-8"}
		}
		return cell{b: s}, nil
	case kBinary:
		if t != fastjson.TypeString {
			return cell{}, d.typeErr(n, v)
		}
		s, _ := v.StringBytes()
		return d.decodeBase64(n, s)
	case kTimestamp:
		switch t {
		case fastjson.TypeString:
			s, _ := v.StringBytes()
			ts, err := ParseTimestamp(s, n.tsUnit, n.naive)
			if err != nil {
				return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: fmt.Sprintf("bad timestamp %q: %v", s, err)}
			}
			return cell{i64: ts}, nil
		case fastjson.TypeNumber:
			ts, err := d.epochNumber(n, d.rawNumber(v))
			return cell{i64: ts}, err
		}
		return cell{}, d.typeErr(n, v)
	case kDate32:
		switch t {
		case fastjson.TypeString:
			s, _ := v.StringBytes()
			days, err := ParseDate(s)
			if err != nil {
				return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: fmt.Sprintf("bad date %q: %v", s, err)}
			}
			return cell{i64: days}, nil
		case fastjson.TypeNumber:
			i, err := d.parseIntRange(n, d.rawNumber(v), math.MinInt32, math.MaxInt32)
			return cell{i64: i}, err
		}
		return cell{}, d.typeErr(n, v)
	case kDecimal128:
		var raw []byte
		switch t {
		case fastjson.TypeNumber:
			raw = d.rawNumber(v)
		case fastjson.TypeString:
			raw, _ = v.StringBytes()
		default:
			return cell{}, d.typeErr(n, v)
		}
		num, err := ParseDecimal(raw, n.scale, n.prec)
		if err != nil {
			return cell{}, &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad %s %q: %v", typeName(n.typ), raw, err)}
		}
		return cell{i64: int64(num.LowBits()), hi: num.HighBits()}, nil
	}
	return cell{}, fmt.Errorf("field %s: unsupported kind", n.path)
}

// rawNumber returns the JSON text of a number value, valid until the next
// call. fastjson accepts some non-JSON numbers (NaN, Inf, 1-2), so callers
// validate the grammar themselves.
func (d *Decoder) rawNumber(v *fastjson.Value) []byte {
	d.num = v.MarshalTo(d.num[:0])
	return d.num
}

// numberText returns the text of a JSON number, or of a string holding one
// when DecoderOptions.NumbersFromStrings is set.
func (d *Decoder) numberText(v *fastjson.Value) ([]byte, bool) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return d.rawNumber(v), true
	case fastjson.TypeString:
		if d.opts.NumbersFromStrings {
			s, _ := v.StringBytes()
			return s, true
		}
	}
	return nil, false
}

func (d *Decoder) parseInt(n *node, raw []byte) (int64, error) {
	return d.parseIntRange(n, raw, n.intMin, n.intMax)
}

func (d *Decoder) parseIntRange(n *node, raw []byte, lo, hi int64) (int64, error) {
	i, err := ParseInt(raw)
	if err != nil {
		return 0, &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad %s %s: %v", typeName(n.typ), raw, err)}
	}
	if i < lo || i > hi {
		return 0, &FieldError{Path: n.path, Kind: ErrOutOfRange, Detail: fmt.Sprintf("value %s overflows %s", raw, typeName(n.typ))}
	}
	return i, nil
}

func errKind(err error) error {
	if errors.Is(err, errOverflow) {
		return ErrOutOfRange
	}
	return ErrInvalidValue
}

func floatField(n *node, raw []byte) (float64, error) {
	bits := 64
	if n.kind == kFloat32 {
		bits = 32
	}
	f, err := ParseFloat(raw, bits)
	if err != nil {
		return 0, &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad %s %s: %v", typeName(n.typ), raw, err)}
	}
	return f, nil
}

func (d *Decoder) decodeBase64(n *node, s []byte) (cell, error) {
	start := len(d.arena)
	out, err := DecodeBase64(d.arena, s)
	if err != nil {
		return cell{}, &FieldError{Path: n.path, Kind: ErrInvalidValue, Detail: "binary value is not base64: " + err.Error()}
	}
	d.arena = out
	return cell{i64: int64(start), hi: int64(len(out))}, nil
}

// epochUnit is the unit numeric timestamps are counted in for n.
func (d *Decoder) epochUnit(n *node) arrow.TimeUnit {
	switch d.opts.EpochUnit {
	case EpochSeconds:
		return arrow.Second
	case EpochMilliseconds:
		return arrow.Millisecond
	case EpochMicroseconds:
		return arrow.Microsecond
	case EpochNanoseconds:
		return arrow.Nanosecond
	}
	return n.tsUnit
}

func (d *Decoder) epochNumber(n *node, raw []byte) (int64, error) {
	v, err := ParseEpoch(raw, d.epochUnit(n), n.tsUnit)
	if err != nil {
		return 0, &FieldError{Path: n.path, Kind: errKind(err), Detail: fmt.Sprintf("bad timestamp %s: %v", raw, err)}
	}
	return v, nil
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
