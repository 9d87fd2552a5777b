package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// DataType is a Delta column type: *PrimitiveType, *DecimalType, *StructType,
// *ArrayType or *MapType.
type DataType interface {
	// TypeName is the Delta name: "long", "decimal(10,2)", "struct", ...
	TypeName() string
}

// Primitive type names.
const (
	TypeString       = "string"
	TypeLong         = "long"
	TypeInteger      = "integer"
	TypeShort        = "short"
	TypeByte         = "byte"
	TypeFloat        = "float"
	TypeDouble       = "double"
	TypeBoolean      = "boolean"
	TypeBinary       = "binary"
	TypeDate         = "date"
	TypeTimestamp    = "timestamp"
	TypeTimestampNTZ = "timestamp_ntz"
)

var primitiveNames = map[string]bool{
	TypeString: true, TypeLong: true, TypeInteger: true, TypeShort: true, TypeByte: true,
	TypeFloat: true, TypeDouble: true, TypeBoolean: true, TypeBinary: true, TypeDate: true,
	TypeTimestamp: true, TypeTimestampNTZ: true,
}

// PrimitiveType is a non-decimal primitive such as "long" or "timestamp".
type PrimitiveType struct{ Name string }

// TypeName implements DataType.
func (p *PrimitiveType) TypeName() string { return p.Name }

// DecimalType is decimal(precision, scale), precision at most 38.
type DecimalType struct{ Precision, Scale int }

// TypeName implements DataType.
func (d *DecimalType) TypeName() string { return fmt.Sprintf("decimal(%d,%d)", d.Precision, d.Scale) }

// StructField is one named field of a struct.
type StructField struct {
	Name     string
	Type     DataType
	Nullable bool
	// Metadata is kept verbatim (column mapping ids, invariants, comments, ...).
	Metadata map[string]json.RawMessage
}

// StructType is a struct; the table schema is a StructType.
type StructType struct{ Fields []*StructField }

// TypeName implements DataType.
func (*StructType) TypeName() string { return "struct" }

// Field returns the field with this name (exact match first, then
// case-insensitive, since Delta column names are unique regardless of case).
func (s *StructType) Field(name string) *StructField {
	for _, f := range s.Fields {
		if f.Name == name {
			return f
		}
	}
	for _, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// ArrayType is an array of ElementType.
type ArrayType struct {
	ElementType  DataType
	ContainsNull bool
}

// TypeName implements DataType.
func (*ArrayType) TypeName() string { return "array" }

// MapType is a map from KeyType to ValueType.
type MapType struct {
	KeyType           DataType
	ValueType         DataType
	ValueContainsNull bool
}

// TypeName implements DataType.
func (*MapType) TypeName() string { return "map" }

var decimalRe = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// ParseSchema parses a Delta schema string (the JSON in metaData.schemaString).
func ParseSchema(data []byte) (*StructType, error) {
	t, err := parseType(json.RawMessage(data))
	if err != nil {
		return nil, fmt.Errorf("parsing schema: %w", err)
	}
	st, ok := t.(*StructType)
	if !ok {
		return nil, fmt.Errorf("parsing schema: top level type is %s, not struct", t.TypeName())
	}
	return st, nil
}

func parseType(raw json.RawMessage) (DataType, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return nil, err
		}
		return parsePrimitive(name)
	}
	var obj struct {
		Type              string            `json:"type"`
		Fields            []json.RawMessage `json:"fields"`
		ElementType       json.RawMessage   `json:"elementType"`
		ContainsNull      *bool             `json:"containsNull"`
		KeyType           json.RawMessage   `json:"keyType"`
		ValueType         json.RawMessage   `json:"valueType"`
		ValueContainsNull *bool             `json:"valueContainsNull"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	switch obj.Type {
	case "struct":
		st := &StructType{}
		seen := make(map[string]bool, len(obj.Fields))
		for i, fr := range obj.Fields {
			var f struct {
				Name     string                     `json:"name"`
				Type     json.RawMessage            `json:"type"`
				Nullable *bool                      `json:"nullable"`
				Metadata map[string]json.RawMessage `json:"metadata"`
			}
			if err := json.Unmarshal(fr, &f); err != nil {
				return nil, fmt.Errorf("field %d: %w", i, err)
			}
			if f.Name == "" {
				return nil, fmt.Errorf("field %d: empty name", i)
			}
			lower := strings.ToLower(f.Name)
			if seen[lower] {
				return nil, fmt.Errorf("field %q appears twice (names are case-insensitive)", f.Name)
			}
			seen[lower] = true
			ft, err := parseType(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			st.Fields = append(st.Fields, &StructField{
				Name: f.Name, Type: ft, Nullable: f.Nullable == nil || *f.Nullable, Metadata: f.Metadata,
			})
		}
		return st, nil
	case "array":
		et, err := parseType(obj.ElementType)
		if err != nil {
			return nil, fmt.Errorf("array element: %w", err)
		}
		return &ArrayType{ElementType: et, ContainsNull: obj.ContainsNull == nil || *obj.ContainsNull}, nil
	case "map":
		kt, err := parseType(obj.KeyType)
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		vt, err := parseType(obj.ValueType)
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: obj.ValueContainsNull == nil || *obj.ValueContainsNull}, nil
	default:
		return nil, fmt.Errorf("unknown type %q", obj.Type)
	}
}

func parsePrimitive(name string) (DataType, error) {
	if primitiveNames[name] {
		return &PrimitiveType{Name: name}, nil
	}
	if name == "decimal" { // Spark's default precision
		return &DecimalType{Precision: 10, Scale: 0}, nil
	}
	if m := decimalRe.FindStringSubmatch(name); m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		if p < 1 || p > 38 || s > p {
			return nil, fmt.Errorf("invalid decimal precision/scale in %q", name)
		}
		return &DecimalType{Precision: p, Scale: s}, nil
	}
	return nil, fmt.Errorf("unsupported type %q", name)
}

// MarshalJSON renders the schema in Delta's JSON form.
func (s *StructType) MarshalJSON() ([]byte, error) { return json.Marshal(typeJSON(s)) }

// String renders the schema as a schemaString.
func (s *StructType) String() string {
	b, _ := s.MarshalJSON()
	return string(b)
}

func typeJSON(t DataType) any {
	switch v := t.(type) {
	case *StructType:
		fields := make([]any, 0, len(v.Fields))
		for _, f := range v.Fields {
			md := f.Metadata
			if md == nil {
				md = map[string]json.RawMessage{}
			}
			fields = append(fields, struct {
				Name     string                     `json:"name"`
				Type     any                        `json:"type"`
				Nullable bool                       `json:"nullable"`
				Metadata map[string]json.RawMessage `json:"metadata"`
			}{f.Name, typeJSON(f.Type), f.Nullable, md})
		}
		return struct {
			Type   string `json:"type"`
			Fields []any  `json:"fields"`
		}{"struct", fields}
	case *ArrayType:
		return struct {
			Type         string `json:"type"`
			ElementType  any    `json:"elementType"`
			ContainsNull bool   `json:"containsNull"`
		}{"array", typeJSON(v.ElementType), v.ContainsNull}
	case *MapType:
		return struct {
			Type              string `json:"type"`
			KeyType           any    `json:"keyType"`
			ValueType         any    `json:"valueType"`
			ValueContainsNull bool   `json:"valueContainsNull"`
		}{"map", typeJSON(v.KeyType), typeJSON(v.ValueType), v.ValueContainsNull}
	default:
		return t.TypeName()
	}
}

// FormatType renders any type compactly for error messages, e.g.
// "struct<a:long,b:array<string>>".
func FormatType(t DataType) string {
	switch v := t.(type) {
	case *StructType:
		parts := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			parts[i] = f.Name + ":" + FormatType(f.Type)
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	case *ArrayType:
		return "array<" + FormatType(v.ElementType) + ">"
	case *MapType:
		return "map<" + FormatType(v.KeyType) + "," + FormatType(v.ValueType) + ">"
	default:
		return t.TypeName()
	}
}

// ToArrow converts a Delta schema to an Arrow schema: timestamp becomes
// Timestamp(µs, "UTC"), timestamp_ntz Timestamp(µs, ""), decimal Decimal128.
func ToArrow(s *StructType) (*arrow.Schema, error) {
	fields := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		af, err := fieldToArrow(f)
		if err != nil {
			return nil, err
		}
		fields[i] = af
	}
	return arrow.NewSchema(fields, nil), nil
}

func fieldToArrow(f *StructField) (arrow.Field, error) {
	t, err := TypeToArrow(f.Type)
	if err != nil {
		return arrow.Field{}, fmt.Errorf("converting column %q: %w", f.Name, err)
	}
	return arrow.Field{Name: f.Name, Type: t, Nullable: f.Nullable}, nil
}

// TypeToArrow converts one Delta type to its Arrow type.
func TypeToArrow(t DataType) (arrow.DataType, error) {
	switch v := t.(type) {
	case *PrimitiveType:
		switch v.Name {
		case TypeString:
			return arrow.BinaryTypes.String, nil
		case TypeLong:
			return arrow.PrimitiveTypes.Int64, nil
		case TypeInteger:
			return arrow.PrimitiveTypes.Int32, nil
		case TypeShort:
			return arrow.PrimitiveTypes.Int16, nil
		case TypeByte:
			return arrow.PrimitiveTypes.Int8, nil
		case TypeFloat:
			return arrow.PrimitiveTypes.Float32, nil
		case TypeDouble:
			return arrow.PrimitiveTypes.Float64, nil
		case TypeBoolean:
			return arrow.FixedWidthTypes.Boolean, nil
		case TypeBinary:
			return arrow.BinaryTypes.Binary, nil
		case TypeDate:
			return arrow.FixedWidthTypes.Date32, nil
		case TypeTimestamp:
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
		case TypeTimestampNTZ:
			return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
		}
	case *DecimalType:
		return &arrow.Decimal128Type{Precision: int32(v.Precision), Scale: int32(v.Scale)}, nil
	case *StructType:
		fields := make([]arrow.Field, len(v.Fields))
		for i, f := range v.Fields {
			af, err := fieldToArrow(f)
			if err != nil {
				return nil, err
			}
			fields[i] = af
		}
		return arrow.StructOf(fields...), nil
	case *ArrayType:
		et, err := TypeToArrow(v.ElementType)
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: et, Nullable: v.ContainsNull}), nil
	case *MapType:
		kt, err := TypeToArrow(v.KeyType)
		if err != nil {
			return nil, err
		}
		vt, err := TypeToArrow(v.ValueType)
		if err != nil {
			return nil, err
		}
		mt := arrow.MapOfWithMetadata(kt, arrow.Metadata{}, vt, arrow.Metadata{})
		mt.SetItemNullable(v.ValueContainsNull)
		return mt, nil
	}
	return nil, fmt.Errorf("no Arrow type for %s", FormatType(t))
}

// FromArrow converts an Arrow schema to a Delta schema. Timestamps with a time
// zone become timestamp, without one timestamp_ntz; unsigned 8/16/32-bit ints
// widen to the next signed type; uint64 and other types without a lossless
// Delta type are errors naming the column.
func FromArrow(s *arrow.Schema) (*StructType, error) {
	st := &StructType{}
	for _, f := range s.Fields() {
		t, err := TypeFromArrow(f.Type)
		if err != nil {
			return nil, fmt.Errorf("converting column %q: %w", f.Name, err)
		}
		st.Fields = append(st.Fields, &StructField{Name: f.Name, Type: t, Nullable: f.Nullable})
	}
	return st, nil
}

// TypeFromArrow converts one Arrow type to a Delta type.
func TypeFromArrow(t arrow.DataType) (DataType, error) {
	prim := func(n string) (DataType, error) { return &PrimitiveType{Name: n}, nil }
	switch v := t.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return prim(TypeString)
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return prim(TypeBinary)
	case *arrow.Int64Type, *arrow.Uint32Type:
		return prim(TypeLong)
	case *arrow.Int32Type, *arrow.Uint16Type:
		return prim(TypeInteger)
	case *arrow.Int16Type, *arrow.Uint8Type:
		return prim(TypeShort)
	case *arrow.Int8Type:
		return prim(TypeByte)
	case *arrow.Float32Type:
		return prim(TypeFloat)
	case *arrow.Float64Type:
		return prim(TypeDouble)
	case *arrow.BooleanType:
		return prim(TypeBoolean)
	case *arrow.Date32Type, *arrow.Date64Type:
		return prim(TypeDate)
	case *arrow.TimestampType:
		if v.TimeZone == "" {
			return prim(TypeTimestampNTZ)
		}
		return prim(TypeTimestamp)
	case *arrow.Decimal128Type:
		if v.Precision > 38 {
			return nil, fmt.Errorf("decimal precision %d exceeds 38", v.Precision)
		}
		return &DecimalType{Precision: int(v.Precision), Scale: int(v.Scale)}, nil
	case *arrow.StructType:
		st := &StructType{}
		for _, f := range v.Fields() {
			ft, err := TypeFromArrow(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			st.Fields = append(st.Fields, &StructField{Name: f.Name, Type: ft, Nullable: f.Nullable})
		}
		return st, nil
	case *arrow.MapType: // before ListLikeType: a map is also list-like
		kt, err := TypeFromArrow(v.KeyType())
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		vt, err := TypeFromArrow(v.ItemType())
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: v.ItemField().Nullable}, nil
	case arrow.ListLikeType:
		ef := v.ElemField()
		et, err := TypeFromArrow(ef.Type)
		if err != nil {
			return nil, fmt.Errorf("list element: %w", err)
		}
		return &ArrayType{ElementType: et, ContainsNull: ef.Nullable}, nil
	}
	return nil, fmt.Errorf("arrow type %s has no Delta equivalent", t)
}

// SchemaConflictError reports a column whose type differs between two schemas.
type SchemaConflictError struct {
	Column   string // dotted path, e.g. "user.age"
	Existing string
	Incoming string
}

func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("column %q: type %s in the table conflicts with %s", e.Column, e.Existing, e.Incoming)
}

// MergeSchema returns base extended with the fields of incoming that base
// lacks: new top-level and nested struct fields are appended at the end of
// their struct and are always nullable (existing rows hold null for them).
// A field present in both with a different type is a *SchemaConflictError
// naming the column and both types. Neither argument is modified. The bool
// reports whether the result differs from base.
func MergeSchema(base, incoming *StructType) (*StructType, bool, error) {
	t, changed, err := mergeType("", base, incoming)
	if err != nil {
		return nil, false, err
	}
	return t.(*StructType), changed, nil
}

func mergeType(path string, base, in DataType) (DataType, bool, error) {
	conflict := func() error {
		return &SchemaConflictError{Column: path, Existing: FormatType(base), Incoming: FormatType(in)}
	}
	switch b := base.(type) {
	case *StructType:
		i, ok := in.(*StructType)
		if !ok {
			return nil, false, conflict()
		}
		out := &StructType{Fields: make([]*StructField, 0, len(b.Fields))}
		changed := false
		for _, bf := range b.Fields {
			nf := *bf
			if inf := i.Field(bf.Name); inf != nil {
				t, ch, err := mergeType(joinPath(path, bf.Name), bf.Type, inf.Type)
				if err != nil {
					return nil, false, err
				}
				nf.Type, changed = t, changed || ch
			}
			out.Fields = append(out.Fields, &nf)
		}
		for _, inf := range i.Fields {
			if b.Field(inf.Name) == nil {
				nf := *inf
				nf.Nullable = true
				out.Fields = append(out.Fields, &nf)
				changed = true
			}
		}
		return out, changed, nil
	case *ArrayType:
		i, ok := in.(*ArrayType)
		if !ok {
			return nil, false, conflict()
		}
		et, ch, err := mergeType(path+".element", b.ElementType, i.ElementType)
		if err != nil {
			return nil, false, err
		}
		return &ArrayType{ElementType: et, ContainsNull: b.ContainsNull}, ch, nil
	case *MapType:
		i, ok := in.(*MapType)
		if !ok {
			return nil, false, conflict()
		}
		kt, kch, err := mergeType(path+".key", b.KeyType, i.KeyType)
		if err != nil {
			return nil, false, err
		}
		vt, vch, err := mergeType(path+".value", b.ValueType, i.ValueType)
		if err != nil {
			return nil, false, err
		}
		return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: b.ValueContainsNull}, kch || vch, nil
	default:
		if in.TypeName() != base.TypeName() {
			return nil, false, conflict()
		}
		return base, false, nil
	}
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// SchemaEqual reports whether two schemas have the same fields, types and
// nullability (metadata ignored).
func SchemaEqual(a, b *StructType) bool {
	return FormatType(a) == FormatType(b) && nullSig(a) == nullSig(b)
}

func nullSig(t DataType) string {
	var sb strings.Builder
	var walk func(DataType)
	walk = func(t DataType) {
		switch v := t.(type) {
		case *StructType:
			for _, f := range v.Fields {
				sb.WriteString(strconv.FormatBool(f.Nullable))
				walk(f.Type)
			}
		case *ArrayType:
			sb.WriteString(strconv.FormatBool(v.ContainsNull))
			walk(v.ElementType)
		case *MapType:
			sb.WriteString(strconv.FormatBool(v.ValueContainsNull))
			walk(v.KeyType)
			walk(v.ValueType)
		}
	}
	walk(t)
	return sb.String()
}
