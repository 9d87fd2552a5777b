package lancerows

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// Layout is a Schema bound to the schema of an actual table: records are
// built with the table's own field order, types and nullability, so that a
// table created by another writer (Python, say) accepts them.
type Layout struct {
	table  *arrow.Schema
	cols   []colSpec   // scalar values parsed per row; cols[0] is the id
	fields []fieldPlan // one per table field, in table order
	vector vecSpec
}

type colSpec struct {
	name     string
	path     []string
	typ      Type
	required bool
	unit     arrow.TimeUnit // timestamps: the table column's unit
}

type vecSpec struct {
	name     string
	path     []string
	dim      int
	elem     Element
	encoding Encoding
}

type fieldKind uint8

const (
	fieldColumn fieldKind = iota // a parsed scalar: fieldPlan.col indexes cols
	fieldVector                  // the vector
	fieldNull                    // a nullable table column this output does not write
)

type fieldPlan struct {
	kind fieldKind
	col  int
}

// Bind checks that table can hold the declared columns and returns the
// layout that writes them into it. Table columns the schema does not
// declare must be nullable (they are written as nulls); declared columns
// must exist with a compatible type; a non-nullable table column makes its
// value required.
func (s *Schema) Bind(table *arrow.Schema) (*Layout, error) {
	l := &Layout{table: table, fields: make([]fieldPlan, table.NumFields())}
	for i := range l.fields {
		l.fields[i] = fieldPlan{kind: fieldNull}
	}
	bound := make(map[int]bool)
	bindColumn := func(c Column) error {
		idx := table.FieldIndices(c.Name)
		if len(idx) != 1 {
			return fmt.Errorf("table has no column %q (columns: %s)", c.Name, fieldNames(table))
		}
		f := table.Field(idx[0])
		if !c.Type.accepts(f.Type) {
			return fmt.Errorf("column %q is %s in the table, configured as %s", c.Name, f.Type, c.Type)
		}
		spec := colSpec{name: c.Name, path: pathOf(c.Name, c.Path), typ: c.Type, required: c.Required || !f.Nullable}
		if ts, ok := f.Type.(*arrow.TimestampType); ok {
			spec.unit = ts.Unit
		}
		l.fields[idx[0]] = fieldPlan{kind: fieldColumn, col: len(l.cols)}
		l.cols = append(l.cols, spec)
		bound[idx[0]] = true
		return nil
	}
	if err := bindColumn(s.ID); err != nil {
		return nil, fmt.Errorf("id: %w", err)
	}
	for _, c := range s.Columns {
		if err := bindColumn(c); err != nil {
			return nil, err
		}
	}
	idx := table.FieldIndices(s.Vector.Name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("table has no vector column %q (columns: %s)", s.Vector.Name, fieldNames(table))
	}
	vf := table.Field(idx[0])
	fsl, ok := vf.Type.(*arrow.FixedSizeListType)
	if !ok || int(fsl.Len()) != s.Vector.Dimension || !arrow.TypeEqual(fsl.Elem(), s.Vector.Element.arrowType()) {
		return nil, fmt.Errorf("vector column %q is %s in the table, configured as %s", s.Vector.Name, vf.Type, s.VectorType())
	}
	l.fields[idx[0]] = fieldPlan{kind: fieldVector}
	bound[idx[0]] = true
	l.vector = vecSpec{name: s.Vector.Name, path: pathOf(s.Vector.Name, s.Vector.Path), dim: s.Vector.Dimension,
		elem: s.Vector.Element, encoding: s.Vector.Encoding}
	for i, f := range table.Fields() {
		if !bound[i] && !f.Nullable {
			return nil, fmt.Errorf("table column %q is not nullable and not configured: declare it in columns", f.Name)
		}
	}
	return l, nil
}

// Schema is the Arrow schema of the records the layout builds (the table's).
func (l *Layout) Schema() *arrow.Schema { return l.table }

// VectorColumn is the name of the vector column.
func (l *Layout) VectorColumn() string { return l.vector.name }

// Dimension is the vector dimension.
func (l *Layout) Dimension() int { return l.vector.dim }

func fieldNames(s *arrow.Schema) string {
	out := ""
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name
	}
	return out
}
