package chsink

import (
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/valyala/fastjson"
)

// UnknownFields says what happens to a JSON field with no column.
type UnknownFields uint8

const (
	// UnknownIgnore drops the field.
	UnknownIgnore UnknownFields = iota
	// UnknownError fails the message.
	UnknownError
	// UnknownCatchAll collects unknown fields as one JSON object into a
	// String column.
	UnknownCatchAll
)

// ParseUnknownFields maps the `unknown_fields` option.
func ParseUnknownFields(s string) (UnknownFields, error) {
	switch s {
	case "", "ignore":
		return UnknownIgnore, nil
	case "error":
		return UnknownError, nil
	case "catch_all":
		return UnknownCatchAll, nil
	}
	return 0, fmt.Errorf("unknown unknown_fields policy %q (want ignore, error or catch_all)", s)
}

// blockOptions are the row-mapping rules of a block.
type blockOptions struct {
	conv     ConvOptions
	unknown  UnknownFields
	catchAll string // column name for UnknownCatchAll
}

// block is one native block in the making: a buffer per column.
type block struct {
	schema   *Schema
	opts     *blockOptions
	cols     []builder
	supplied []bool // a row gave column i a value (DEFAULT columns no row sets are left out)
	rows     int
	catchAll int // column index, or -1

	slots   []*fastjson.Value
	arena   fastjson.Arena
	extra   *fastjson.Value // catch-all object of the current row
	unknown bool            // some row had a field with no column
}

func newBlock(s *Schema, o *blockOptions) (*block, error) {
	b := &block{schema: s, opts: o, cols: make([]builder, len(s.Columns)), supplied: make([]bool, len(s.Columns)),
		slots: make([]*fastjson.Value, len(s.Columns)), catchAll: -1}
	for i, c := range s.Columns {
		bl, err := newBuilder(c.Name, c.Type, &o.conv)
		if err != nil {
			return nil, fmt.Errorf("table %s column %q: %w", QualifiedName(s.Database, s.Table), c.Name, err)
		}
		b.cols[i] = bl
	}
	if o.unknown == UnknownCatchAll {
		i, ok := s.byName[o.catchAll]
		if !ok {
			return nil, fmt.Errorf("table %s has no catch-all column %q (unknown_fields: catch_all)", QualifiedName(s.Database, s.Table), o.catchAll)
		}
		if s.Columns[i].Type.Base().Name != "String" {
			return nil, fmt.Errorf("table %s catch-all column %q must be String, is %s", QualifiedName(s.Database, s.Table), o.catchAll, s.Columns[i].Type.Raw)
		}
		b.catchAll = i
	}
	return b, nil
}

// mark is the row count to truncate back to when a message fails.
func (b *block) mark() int { return b.rows }

func (b *block) rollback(n int) {
	for _, c := range b.cols {
		c.truncate(n)
	}
	b.rows = n
}

// addRow decodes one JSON object into the column buffers. overrides, when
// not nil, replace fields by column name. On error the buffers may hold a
// partial row: the caller rolls back to its mark.
func (b *block) addRow(v *fastjson.Value, overrides map[string]*fastjson.Value) error {
	obj, err := v.Object()
	if err != nil {
		return fmt.Errorf("expected a JSON object, got %s", v.Type())
	}
	for i := range b.slots {
		b.slots[i] = nil
	}
	b.arena.Reset()
	b.extra = nil
	var verr error
	obj.Visit(func(key []byte, val *fastjson.Value) {
		if verr != nil {
			return
		}
		if i, ok := b.schema.byName[string(key)]; ok {
			b.slots[i] = val
			return
		}
		if subs, ok := b.schema.nested[string(key)]; ok {
			verr = b.splitNested(string(key), val, subs)
			return
		}
		if _, ok := b.schema.Unwritable[string(key)]; ok {
			verr = fmt.Errorf("field %q: column type %s is not supported by this output", key, b.schema.Unwritable[string(key)])
			return
		}
		b.unknown = true
		switch b.opts.unknown {
		case UnknownError:
			verr = fmt.Errorf("field %q has no column in table %s (unknown_fields: error)", key, QualifiedName(b.schema.Database, b.schema.Table))
		case UnknownCatchAll:
			if b.extra == nil {
				b.extra = b.arena.NewObject()
			}
			b.extra.Set(string(key), val)
		}
	})
	if verr != nil {
		return verr
	}
	for name, ov := range overrides {
		i, ok := b.schema.byName[name]
		if !ok {
			return fmt.Errorf("columns mapping %q: table %s has no such column", name, QualifiedName(b.schema.Database, b.schema.Table))
		}
		b.slots[i] = ov
	}
	if b.catchAll >= 0 && b.slots[b.catchAll] == nil {
		if b.extra != nil {
			b.slots[b.catchAll] = b.arena.NewString(string(b.extra.MarshalTo(nil)))
		} else if !b.schema.Columns[b.catchAll].Type.Nullable() {
			b.slots[b.catchAll] = b.arena.NewString("{}")
		}
	}
	for i, c := range b.cols {
		if err := c.add(b.slots[i]); err != nil {
			return err
		}
		if b.slots[i] != nil {
			b.supplied[i] = true
		}
	}
	b.rows++
	return nil
}

// splitNested turns `n: [{a:1,b:"x"}, ...]` into the flattened columns
// `n.a: [1, ...]`, `n.b: ["x", ...]`.
func (b *block) splitNested(parent string, val *fastjson.Value, subs []nestedSub) error {
	if val.Type() == fastjson.TypeNull {
		return nil
	}
	arr, err := val.Array()
	if err != nil {
		return fmt.Errorf("field %q: Nested columns take an array of objects, got %s", parent, val.Type())
	}
	for _, s := range subs {
		if b.slots[s.col] != nil {
			continue
		}
		out := b.arena.NewArray()
		for j, e := range arr {
			if e.Type() != fastjson.TypeObject {
				return fmt.Errorf("field %q element %d: expected an object, got %s", parent, j, e.Type())
			}
			f := e.Get(s.field)
			if f == nil {
				f = b.arena.NewNull()
			}
			out.SetArrayItem(j, f)
		}
		b.slots[s.col] = out
	}
	return nil
}

// sendColumns are the indexes of the columns the INSERT lists: all but
// DEFAULT columns that no row of the block supplied (the server then
// computes their default expression).
func (b *block) sendColumns() []int {
	out := make([]int, 0, len(b.cols))
	for i, c := range b.schema.Columns {
		if c.DefaultKind == "DEFAULT" && !b.supplied[i] {
			continue
		}
		out = append(out, i)
	}
	return out
}

// insertQuery is the INSERT statement of the block, always with its
// column list (servers before 19 need it for native inserts).
func (b *block) insertQuery(cols []int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO ")
	sb.WriteString(QualifiedName(b.schema.Database, b.schema.Table))
	sb.WriteString(" (")
	for j, i := range cols {
		if j > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(QuoteIdent(b.schema.Columns[i].Name))
	}
	sb.WriteString(")")
	return sb.String()
}

// fill appends the buffered rows to a prepared batch.
func (b *block) fill(batch driver.Batch, cols []int) error {
	for j, i := range cols {
		if err := b.cols[i].appendTo(batch.Column(j)); err != nil {
			return fmt.Errorf("column %q: %w", b.schema.Columns[i].Name, err)
		}
	}
	return nil
}
