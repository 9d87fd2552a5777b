package lancerows

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// MaxDimension is the largest vector dimension accepted. Arrow allows more,
// but embedding models stop well below it and one row must stay small
// enough to batch thousands of them.
const MaxDimension = 4096

// Type is the type of a scalar column.
type Type uint8

const (
	// String is a UTF-8 string column from a JSON string.
	String Type = iota + 1
	// Int32 is a 32-bit integer column from an integral JSON number.
	Int32
	// Int64 is a 64-bit integer column from an integral JSON number.
	Int64
	// Float32 is a 32-bit float column from a JSON number.
	Float32
	// Float64 is a 64-bit float column from a JSON number.
	Float64
	// Bool is a boolean column from a JSON true or false.
	Bool
	// Timestamp is a timestamp column (microseconds, UTC, when the output
	// creates the table) from an RFC 3339 string or epoch milliseconds.
	Timestamp
	// JSON is a string column holding any JSON value as compact JSON text:
	// free-form metadata objects.
	JSON
)

// TypeNames maps the configuration names to column types.
var TypeNames = map[string]Type{
	"string": String, "int32": Int32, "int64": Int64, "float32": Float32,
	"float64": Float64, "bool": Bool, "timestamp": Timestamp, "json": JSON,
}

// ParseType maps a configuration name to its Type.
func ParseType(s string) (Type, error) {
	if t, ok := TypeNames[s]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown column type %q (want string, int32, int64, float32, float64, bool, timestamp or json)", s)
}

func (t Type) String() string {
	for name, v := range TypeNames {
		if v == t {
			return name
		}
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// arrowType is the column type the output declares when it creates a table.
func (t Type) arrowType() arrow.DataType {
	switch t {
	case String, JSON:
		return arrow.BinaryTypes.String
	case Int32:
		return arrow.PrimitiveTypes.Int32
	case Int64:
		return arrow.PrimitiveTypes.Int64
	case Float32:
		return arrow.PrimitiveTypes.Float32
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	return nil
}

// accepts reports whether an existing table column of type dt can hold
// values of this type (timestamps in any unit and time zone).
func (t Type) accepts(dt arrow.DataType) bool {
	if t == Timestamp {
		return dt.ID() == arrow.TIMESTAMP
	}
	return arrow.TypeEqual(t.arrowType(), dt)
}

// Element is the number type of the vector's elements.
type Element uint8

const (
	// ElementFloat32 stores each element as a 32-bit float.
	ElementFloat32 Element = iota + 1
	// ElementFloat16 stores each element as a 16-bit float (half the size;
	// values beyond ±65504 are rejected).
	ElementFloat16
)

// ParseElement maps "float32" or "float16" to its Element.
func ParseElement(s string) (Element, error) {
	switch s {
	case "float32":
		return ElementFloat32, nil
	case "float16":
		return ElementFloat16, nil
	}
	return 0, fmt.Errorf("unknown vector element type %q (want float32 or float16)", s)
}

func (e Element) arrowType() arrow.DataType {
	if e == ElementFloat16 {
		return arrow.FixedWidthTypes.Float16
	}
	return arrow.PrimitiveTypes.Float32
}

func (e Element) String() string {
	if e == ElementFloat16 {
		return "float16"
	}
	return "float32"
}

// Encoding is how a message carries the vector.
type Encoding uint8

const (
	// EncodingJSON is a JSON array of numbers.
	EncodingJSON Encoding = iota
	// EncodingBase64F32 is a JSON string holding the standard base64 of the
	// elements as little-endian float32 (4 bytes each): no float parsing.
	EncodingBase64F32
)

// EncodingNames lists the accepted `vector_encoding` values, default first.
var EncodingNames = []string{"json", "base64_f32"}

// ParseEncoding maps a `vector_encoding` value to its Encoding.
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "", "json":
		return EncodingJSON, nil
	case "base64_f32":
		return EncodingBase64F32, nil
	}
	return 0, fmt.Errorf("unknown vector_encoding %q (want json or base64_f32)", s)
}

// Column is a scalar column: its name in the table, where its value is in
// the message (dot-separated object keys) and its type.
type Column struct {
	Name     string
	Path     string // empty: the column name
	Type     Type
	Required bool // a missing or null value fails the message
}

// Vector is the embedding column: a fixed-size list of Dimension elements.
type Vector struct {
	Name      string
	Path      string // empty: the column name
	Dimension int
	Element   Element
	Encoding  Encoding
}

// Schema declares the columns the output writes: an id, the vector and any
// number of text and metadata columns. The id and the vector are required
// in every row.
type Schema struct {
	ID      Column
	Vector  Vector
	Columns []Column
}

func pathOf(name, path string) []string {
	if path == "" {
		path = name
	}
	return strings.Split(path, ".")
}

// Validate checks the declaration and fills the defaults (paths, element type).
func (s *Schema) Validate() error {
	if s.ID.Name == "" {
		return errors.New("id: name is empty")
	}
	if s.ID.Type != String && s.ID.Type != Int64 {
		return fmt.Errorf("id: type %s not supported (want string or int64)", s.ID.Type)
	}
	s.ID.Required = true
	if s.Vector.Name == "" {
		return errors.New("vector: name is empty")
	}
	if s.Vector.Dimension < 1 || s.Vector.Dimension > MaxDimension {
		return fmt.Errorf("vector: dimension %d out of range 1..%d", s.Vector.Dimension, MaxDimension)
	}
	if s.Vector.Element == 0 {
		s.Vector.Element = ElementFloat32
	}
	seen := map[string]string{s.ID.Name: "id", s.Vector.Name: "vector"}
	if s.ID.Name == s.Vector.Name {
		return fmt.Errorf("vector: name %q is also the id column", s.Vector.Name)
	}
	for i, c := range s.Columns {
		if c.Name == "" {
			return fmt.Errorf("columns[%d]: name is empty", i)
		}
		if c.Type == 0 {
			return fmt.Errorf("columns[%d] (%s): type is missing", i, c.Name)
		}
		if prev, dup := seen[c.Name]; dup {
			return fmt.Errorf("columns[%d]: name %q is already used by %s", i, c.Name, prev)
		}
		seen[c.Name] = fmt.Sprintf("columns[%d]", i)
	}
	for _, p := range append([]string{s.ID.Path, s.Vector.Path}, columnPaths(s.Columns)...) {
		for _, k := range strings.Split(p, ".") {
			if p != "" && k == "" {
				return fmt.Errorf("path %q has an empty key", p)
			}
		}
	}
	return nil
}

func columnPaths(cs []Column) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Path
	}
	return out
}

// VectorType is the Arrow type of the vector column the output creates.
func (s *Schema) VectorType() arrow.DataType {
	return arrow.FixedSizeListOf(int32(s.Vector.Dimension), s.Vector.Element.arrowType())
}

// Arrow is the schema of a table the output creates: the id and the vector
// are not nullable, the other columns are unless required.
func (s *Schema) Arrow() *arrow.Schema {
	fields := []arrow.Field{
		{Name: s.ID.Name, Type: s.ID.Type.arrowType()},
		{Name: s.Vector.Name, Type: s.VectorType()},
	}
	for _, c := range s.Columns {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type.arrowType(), Nullable: !c.Required})
	}
	return arrow.NewSchema(fields, nil)
}
