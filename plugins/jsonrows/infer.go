package jsonrows

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"
)

// inferValue gives the type inference assigns to a JSON value: integer ->
// Int64, other number -> Float64, string -> String, bool -> Boolean, object
// -> Struct, array -> List of the merged element type. It returns nil when
// nothing but nulls (or empty arrays/objects) was seen, so no all-null
// column is ever materialised. Conflicting element types are errors.
func inferType(v *fastjson.Value, path string) (arrow.DataType, error) {
	switch v.Type() {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return arrow.FixedWidthTypes.Boolean, nil
	case fastjson.TypeNumber:
		if _, err := v.Int64(); err == nil {
			return arrow.PrimitiveTypes.Int64, nil
		}
		return arrow.PrimitiveTypes.Float64, nil
	case fastjson.TypeString:
		return arrow.BinaryTypes.String, nil
	case fastjson.TypeArray:
		arr, _ := v.Array()
		var elem arrow.DataType
		for _, e := range arr {
			et, err := inferType(e, path+"[]")
			if err != nil {
				return nil, err
			}
			if elem, err = mergeTypes(elem, et, path+"[]", true); err != nil {
				return nil, err
			}
		}
		if elem == nil {
			return nil, nil
		}
		return arrow.ListOf(elem), nil
	case fastjson.TypeObject:
		obj, _ := v.Object()
		var fields []arrow.Field
		var err error
		obj.Visit(func(key []byte, val *fastjson.Value) {
			if err != nil {
				return
			}
			name := string(key)
			var ft arrow.DataType
			ft, err = inferType(val, joinPath(path, name))
			if err != nil {
				return
			}
			for i := range fields {
				if fields[i].Name == name { // duplicate key: the last one wins, as in decoding
					if ft == nil {
						fields = append(fields[:i], fields[i+1:]...)
					} else {
						fields[i].Type = ft
					}
					return
				}
			}
			if ft != nil {
				fields = append(fields, arrow.Field{Name: name, Type: ft, Nullable: true})
			}
		})
		if err != nil || len(fields) == 0 {
			return nil, err
		}
		return arrow.StructOf(fields...), nil
	}
	return nil, nil
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// mergeTypes merges two inferred types. With widen, Int64 and Float64 merge
// to Float64 (allowed only during inference).
func mergeTypes(a, b arrow.DataType, path string, widen bool) (arrow.DataType, error) {
	if a == nil {
		return b, nil
	}
	if b == nil {
		return a, nil
	}
	switch at := a.(type) {
	case *arrow.StructType:
		bt, ok := b.(*arrow.StructType)
		if !ok {
			break
		}
		fields, err := mergeFields(at.Fields(), bt.Fields(), path, widen)
		if err != nil {
			return nil, err
		}
		return arrow.StructOf(fields...), nil
	case *arrow.ListType:
		bt, ok := b.(*arrow.ListType)
		if !ok {
			break
		}
		et, err := mergeTypes(at.Elem(), bt.Elem(), path+"[]", widen)
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(et), nil
	default:
		if arrow.TypeEqual(a, b) {
			return a, nil
		}
		if widen && isIntFloatPair(a, b) {
			return arrow.PrimitiveTypes.Float64, nil
		}
	}
	return nil, &FieldError{Path: path, Kind: ErrTypeMismatch, Detail: fmt.Sprintf("conflicting types %s and %s", typeName(a), typeName(b))}
}

func isIntFloatPair(a, b arrow.DataType) bool {
	ai, bi := a.ID(), b.ID()
	return (ai == arrow.INT64 && bi == arrow.FLOAT64) || (ai == arrow.FLOAT64 && bi == arrow.INT64)
}

func mergeFields(a, b []arrow.Field, parent string, widen bool) ([]arrow.Field, error) {
	out := make([]arrow.Field, len(a), len(a)+len(b))
	copy(out, a)
	for _, bf := range b {
		found := false
		for i := range out {
			if out[i].Name != bf.Name {
				continue
			}
			t, err := mergeTypes(out[i].Type, bf.Type, joinPath(parent, bf.Name), widen)
			if err != nil {
				return nil, err
			}
			out[i].Type = t
			found = true
			break
		}
		if !found {
			out = append(out, bf)
		}
	}
	return out, nil
}

// Inferrer infers a schema from sample rows.
type Inferrer struct {
	parser fastjson.Parser
	fields []arrow.Field
	rows   int
}

// Add merges one JSON object row into the inferred schema. On error
// (malformed JSON or a type conflict naming the field) the inferred schema
// is left unchanged, so the caller can reject just that row.
func (inf *Inferrer) Add(row []byte) error {
	v, err := inf.parser.ParseBytes(row)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	if v.Type() != fastjson.TypeObject {
		return fmt.Errorf("%w: row is a JSON %s, not an object", ErrMalformedJSON, v.Type())
	}
	t, err := inferType(v, "")
	if err != nil {
		return err
	}
	inf.rows++
	if t == nil {
		return nil
	}
	merged, err := mergeFields(inf.fields, t.(*arrow.StructType).Fields(), "", true)
	if err != nil {
		return err
	}
	if err := checkCaseClashes(merged, ""); err != nil {
		return err
	}
	inf.fields = merged
	return nil
}

// Schema returns the schema inferred so far (possibly without fields).
func (inf *Inferrer) Schema() *arrow.Schema {
	return arrow.NewSchema(append([]arrow.Field(nil), inf.fields...), nil)
}

// InferSchema infers a schema from rows; the first bad row fails it.
func InferSchema(rows [][]byte) (*arrow.Schema, error) {
	var inf Inferrer
	for i, r := range rows {
		if err := inf.Add(r); err != nil {
			return nil, fmt.Errorf("inferring schema from row %d: %w", i, err)
		}
	}
	return inf.Schema(), nil
}

// MergeInferred merges two inferred schemas: fields of b missing from a are
// appended, Int64 and Float64 widen to Float64, other conflicts are errors
// naming the field.
func MergeInferred(a, b *arrow.Schema) (*arrow.Schema, error) {
	fields, err := mergeFields(a.Fields(), b.Fields(), "", true)
	if err != nil {
		return nil, err
	}
	if err := checkCaseClashes(fields, ""); err != nil {
		return nil, err
	}
	return arrow.NewSchema(fields, nil), nil
}

// EvolveSchema adds the fields of observed (typically inferred) that table
// lacks, as nullable columns at the end of their struct (Delta schema
// evolution); changed reports whether anything was added. A field whose
// observed type cannot be decoded into the table's type is an error naming
// it; table types are never changed. Names that differ from an existing
// one only by case are rejected (Delta names are case-insensitive).
func EvolveSchema(table, observed *arrow.Schema) (evolved *arrow.Schema, changed bool, err error) {
	fields, changed, err := evolveFields(table.Fields(), observed.Fields(), "")
	if err != nil {
		return nil, false, err
	}
	if !changed {
		return table, false, nil
	}
	md := table.Metadata()
	return arrow.NewSchema(fields, &md), true, nil
}

func evolveFields(table, observed []arrow.Field, parent string) ([]arrow.Field, bool, error) {
	out := append([]arrow.Field(nil), table...)
	changed := false
	for _, of := range observed {
		path := joinPath(parent, of.Name)
		idx := -1
		for i := range out {
			if out[i].Name == of.Name {
				idx = i
				break
			}
			if strings.EqualFold(out[i].Name, of.Name) {
				return nil, false, &FieldError{Path: path, Kind: ErrTypeMismatch, Detail: fmt.Sprintf("name differs only by case from existing column %s", joinPath(parent, out[i].Name))}
			}
		}
		if idx < 0 {
			of.Nullable = true
			out = append(out, of)
			changed = true
			continue
		}
		t, ch, err := evolveType(out[idx].Type, of.Type, path)
		if err != nil {
			return nil, false, err
		}
		if ch {
			out[idx].Type = t
			changed = true
		}
	}
	return out, changed, nil
}

func evolveType(table, observed arrow.DataType, path string) (arrow.DataType, bool, error) {
	switch tt := table.(type) {
	case *arrow.StructType:
		if ot, ok := observed.(*arrow.StructType); ok {
			fields, ch, err := evolveFields(tt.Fields(), ot.Fields(), path)
			if err != nil || !ch {
				return table, false, err
			}
			return arrow.StructOf(fields...), true, nil
		}
	case *arrow.ListType:
		if ot, ok := observed.(*arrow.ListType); ok {
			et, ch, err := evolveType(tt.Elem(), ot.Elem(), path+"[]")
			if err != nil || !ch {
				return table, false, err
			}
			ef := tt.ElemField()
			ef.Type = et
			return arrow.ListOfField(ef), true, nil
		}
	case *arrow.MapType:
		if ot, ok := observed.(*arrow.StructType); ok {
			for _, f := range ot.Fields() {
				if _, _, err := evolveType(tt.ItemType(), f.Type, path+".value"); err != nil {
					return nil, false, err
				}
			}
			return table, false, nil
		}
	default:
		if decodable(table, observed) {
			return table, false, nil
		}
	}
	return nil, false, &FieldError{Path: path, Kind: ErrTypeMismatch, Detail: fmt.Sprintf("expected %s, got %s", typeName(table), typeName(observed))}
}

// decodable says whether JSON values inferred as observed decode into a
// primitive table column.
func decodable(table, observed arrow.DataType) bool {
	switch observed.ID() {
	case arrow.INT64:
		switch table.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
			arrow.DECIMAL128, arrow.TIMESTAMP, arrow.DATE32:
			return true
		}
	case arrow.FLOAT64:
		switch table.ID() {
		case arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128:
			return true
		}
	case arrow.STRING:
		switch table.ID() {
		case arrow.STRING, arrow.BINARY, arrow.TIMESTAMP, arrow.DATE32, arrow.DECIMAL128:
			return true
		}
	case arrow.BOOL:
		return table.ID() == arrow.BOOL
	}
	return false
}

// checkCaseClashes rejects empty names and names that differ only by case
// within one struct: Delta column names are case-insensitive.
func checkCaseClashes(fields []arrow.Field, parent string) error {
	for i, f := range fields {
		if f.Name == "" {
			return &FieldError{Path: joinPath(parent, `""`), Kind: ErrInvalidValue, Detail: "empty field name"}
		}
		for _, g := range fields[:i] {
			if strings.EqualFold(f.Name, g.Name) {
				return &FieldError{Path: joinPath(parent, f.Name), Kind: ErrTypeMismatch, Detail: fmt.Sprintf("name differs only by case from %s", joinPath(parent, g.Name))}
			}
		}
		t := f.Type
		path := joinPath(parent, f.Name)
		for {
			lt, ok := t.(*arrow.ListType)
			if !ok {
				break
			}
			t, path = lt.Elem(), path+"[]"
		}
		if st, ok := t.(*arrow.StructType); ok {
			if err := checkCaseClashes(st.Fields(), path); err != nil {
				return err
			}
		}
	}
	return nil
}
