package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// Table holds the rows of one table in a batch, column-aligned.
type Table struct {
	Name   string
	schema []*gpb.ColumnSchema
	index  map[string]int
	// widenable marks columns inferred as int64 in this batch and never
	// written before: a float value later in the batch turns them float64.
	widenable map[int]bool
	pinned    map[string]gpb.ColumnDataType
	rows      []*gpb.Row
	msgs      []int
	sizes     []int32 // JSON bytes of each row, for the output's metrics
	lastMsg   int
	// layout of the previous row (column names and their schema indexes):
	// rows of one producer mostly repeat it, and then skip the map lookups.
	lastNames []string
	lastIdx   []int
}

// sameLayout reports whether cells have the previous row's columns, in the
// same order and with the schema's types.
func (t *Table) sameLayout(cells []cell) bool {
	if len(cells) != len(t.lastNames) {
		return false
	}
	for i := range cells {
		c := &cells[i]
		if c.name != t.lastNames[i] {
			return false
		}
		sc := t.schema[t.lastIdx[i]]
		if sc.Datatype != c.dt || sc.SemanticType != c.sem {
			return false
		}
	}
	return true
}

// Len is the number of rows.
func (t *Table) Len() int { return len(t.rows) }

// Message is the message index the row at i came from.
func (t *Table) Message(i int) int { return t.msgs[i] }

// Size is the length of the JSON (or log line) row i was mapped from.
func (t *Table) Size(i int) int { return int(t.sizes[i]) }

// Request is the insert of all rows. Call Batch.Tables first.
func (t *Table) Request() *gpb.RowInsertRequest { return t.Sub(0, len(t.rows)) }

// Sub is the insert of the rows [lo, hi). Columns that are null in all of
// these rows are left out, so that a column only some messages carry does
// not make the server reject the rows of the others.
func (t *Table) Sub(lo, hi int) *gpb.RowInsertRequest {
	rows := t.rows[lo:hi:hi]
	if lo == 0 && hi == len(t.rows) {
		return &gpb.RowInsertRequest{TableName: t.Name, Rows: &gpb.Rows{Schema: t.schema, Rows: rows}}
	}
	used := make([]bool, len(t.schema))
	n := 0
	for _, r := range rows {
		for j, v := range r.Values {
			if !used[j] && v.ValueData != nil {
				used[j] = true
				n++
			}
		}
	}
	if n == len(t.schema) {
		return &gpb.RowInsertRequest{TableName: t.Name, Rows: &gpb.Rows{Schema: t.schema, Rows: rows}}
	}
	schema := make([]*gpb.ColumnSchema, 0, n)
	for j, c := range t.schema {
		if used[j] {
			schema = append(schema, c)
		}
	}
	out := make([]*gpb.Row, len(rows))
	for i, r := range rows {
		vals := make([]*gpb.Value, 0, n)
		for j, v := range r.Values {
			if used[j] {
				vals = append(vals, v)
			}
		}
		out[i] = &gpb.Row{Values: vals}
	}
	return &gpb.RowInsertRequest{TableName: t.Name, Rows: &gpb.Rows{Schema: schema, Rows: out}}
}

// Batch builds the tables of one write. Not safe for concurrent use.
type Batch struct {
	m      *Mapper
	p      fastjson.Parser
	tables map[string]*Table
	order  []*Table
	cells  []cell
	seen   map[string]bool
	slab   slab
	intern map[string]string
	buf    []byte
	rows   int

	lastRaw   string // the previous row's raw table name and its table:
	lastTable *Table // rows of a batch mostly go to the table before

	msg     int          // the message being added (Begin)
	size    int32        // the length of the row being added
	touched []checkpoint // tables the message added rows to, as before it
}

type checkpoint struct {
	t      *Table
	isNew  bool
	rows   int
	schema int
}

// Begin starts the rows of message msg; Rollback removes them all again,
// so that a message with one bad row is written not at all.
func (b *Batch) Begin(msg int) {
	b.msg = msg
	b.touched = b.touched[:0]
}

// Rollback removes the rows added since Begin, and the columns they added.
func (b *Batch) Rollback() {
	for i := len(b.touched) - 1; i >= 0; i-- {
		cp := b.touched[i]
		t := cp.t
		b.rows -= len(t.rows) - cp.rows
		t.rows, t.msgs, t.sizes = t.rows[:cp.rows], t.msgs[:cp.rows], t.sizes[:cp.rows]
		for _, c := range t.schema[cp.schema:] {
			delete(t.index, c.ColumnName)
		}
		for idx := range t.widenable {
			if idx >= cp.schema {
				delete(t.widenable, idx)
			}
		}
		t.schema = t.schema[:cp.schema]
		t.lastMsg = -1
		t.lastNames, t.lastIdx = t.lastNames[:0], t.lastIdx[:0]
		if cp.isNew {
			delete(b.tables, t.Name)
			b.order = b.order[:len(b.order)-1]
		}
	}
	b.touched = b.touched[:0]
	b.lastTable = nil
}

// NewBatch starts an empty batch.
func (m *Mapper) NewBatch() *Batch {
	return &Batch{m: m, tables: map[string]*Table{}, seen: map[string]bool{}, intern: map[string]string{}}
}

// Rows is the number of rows added.
func (b *Batch) Rows() int { return b.rows }

// Tables pads every row to its table's final schema and returns the tables
// in the order they first appeared.
func (b *Batch) Tables() []*Table {
	for _, t := range b.order {
		n := len(t.schema)
		for _, r := range t.rows {
			for len(r.Values) < n {
				r.Values = append(r.Values, b.slab.value())
			}
		}
	}
	return b.order
}

type valueKind uint8

const (
	kNull valueKind = iota
	kInt
	kUint
	kFloat
	kBool
	kString
	kBinary
	kTime
)

type cell struct {
	name  string
	sem   gpb.SemanticType
	dt    gpb.ColumnDataType
	typed bool // type fixed by config
	kind  valueKind
	i     int64
	u     uint64
	f     float64
	b     bool
	s     string
	bin   []byte
}

// AddRow maps one JSON row of message msg into table (for the metrics
// mapping: the table name prefix). def is the time used when the row has no
// timestamp of its own. A failed row leaves the batch unchanged.
func (b *Batch) AddRow(table string, row []byte, def time.Time) error {
	msg := b.msg
	b.cells = b.cells[:0]
	m := b.m
	row = bytes.TrimSpace(row)
	b.size = int32(min(len(row), math.MaxInt32))
	if m.kind == KindLogs && (len(row) == 0 || row[0] != '{') {
		ts, err := b.timestampCell(nil, def)
		if err != nil {
			return err
		}
		b.cells = append(b.cells, ts, cell{name: LogMessageColumn, sem: gpb.SemanticType_FIELD, dt: gpb.ColumnDataType_STRING, kind: kString, s: string(row)})
		return b.commit(msg, table)
	}
	v, err := b.p.ParseBytes(row)
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	obj, err := v.Object()
	if err != nil {
		return fmt.Errorf("row is a JSON %s, want an object", v.Type())
	}
	ts, err := b.timestampCell(v, def)
	if err != nil {
		return err
	}
	b.cells = append(b.cells, ts)
	if m.kind == KindMetrics {
		if table, err = b.metricCells(v, table); err != nil {
			return err
		}
		return b.commit(msg, table)
	}
	for i := range m.tags {
		if err := b.configured(v, &m.tags[i]); err != nil {
			return err
		}
	}
	if len(m.fields) > 0 {
		for i := range m.fields {
			if err := b.configured(v, &m.fields[i]); err != nil {
				return err
			}
		}
	} else {
		var ferr error
		obj.Visit(func(key []byte, fv *fastjson.Value) {
			if ferr != nil || m.skip[string(key)] {
				return
			}
			name, err := m.Sanitize(key)
			if err != nil {
				ferr = fmt.Errorf("key %q: %w", key, err)
				return
			}
			c := cell{name: name, sem: gpb.SemanticType_FIELD}
			if err := b.infer(&c, fv, false); err != nil {
				ferr = fmt.Errorf("key %q: %w", key, err)
				return
			}
			if c.kind != kNull {
				b.cells = append(b.cells, c)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return b.commit(msg, table)
}

func (b *Batch) configured(v *fastjson.Value, c *column) error {
	fv := v.Get(c.path...)
	if fv == nil || fv.Type() == fastjson.TypeNull {
		return nil
	}
	out := cell{name: c.name, sem: c.sem}
	var err error
	if c.typ == TypeInfer {
		err = b.infer(&out, fv, c.sem == gpb.SemanticType_TAG)
	} else {
		err = b.typed(&out, fv, c.typ, c.sem == gpb.SemanticType_TAG)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pathString(c.path), err)
	}
	b.cells = append(b.cells, out)
	return nil
}

func pathString(p []string) string {
	var s []byte
	for i, e := range p {
		if i > 0 {
			s = append(s, '.')
		}
		s = append(s, e...)
	}
	return string(s)
}

// str copies s, sharing one copy of repeated tag values within the batch.
func (b *Batch) str(s []byte, tag bool) string {
	if !tag {
		return string(s)
	}
	if v, ok := b.intern[string(s)]; ok {
		return v
	}
	v := string(s)
	if len(b.intern) < 1<<14 {
		b.intern[v] = v
	}
	return v
}

func (b *Batch) infer(c *cell, v *fastjson.Value, tag bool) error {
	switch v.Type() {
	case fastjson.TypeNull:
		c.kind = kNull
	case fastjson.TypeNumber:
		if i, err := v.Int64(); err == nil {
			c.kind, c.dt, c.i = kInt, gpb.ColumnDataType_INT64, i
			return nil
		}
		f, err := v.Float64()
		if err != nil {
			return fmt.Errorf("number %s: %w", v, err)
		}
		c.kind, c.dt, c.f = kFloat, gpb.ColumnDataType_FLOAT64, f
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		c.kind, c.dt, c.s = kString, gpb.ColumnDataType_STRING, b.str(s, tag)
	case fastjson.TypeTrue, fastjson.TypeFalse:
		c.kind, c.dt, c.b = kBool, gpb.ColumnDataType_BOOLEAN, v.Type() == fastjson.TypeTrue
	default: // objects and arrays are kept as their JSON text
		b.buf = v.MarshalTo(b.buf[:0])
		c.kind, c.dt, c.s = kString, gpb.ColumnDataType_STRING, string(b.buf)
	}
	return nil
}

func (b *Batch) typed(c *cell, v *fastjson.Value, t Type, tag bool) error {
	c.typed, c.dt = true, t.datatype()
	typ := v.Type()
	var raw []byte
	if typ == fastjson.TypeString {
		raw, _ = v.StringBytes()
	}
	switch t {
	case TypeInt64:
		c.kind = kInt
		var err error
		switch typ {
		case fastjson.TypeNumber:
			if c.i, err = v.Int64(); err != nil { // 1.0, 1e3: exact or an error
				b.buf = v.MarshalTo(b.buf[:0])
				if c.i, err = jsonrows.ParseInt(b.buf); err != nil {
					return fmt.Errorf("%s is not an int64: %w", v, err)
				}
			}
		case fastjson.TypeString:
			if c.i, err = jsonrows.ParseInt(raw); err != nil {
				return fmt.Errorf("%q is not an int64", raw)
			}
		default:
			return fmt.Errorf("JSON %s is not an int64", typ)
		}
	case TypeUint64:
		c.kind = kUint
		var err error
		switch typ {
		case fastjson.TypeNumber:
			if c.u, err = v.Uint64(); err != nil {
				return fmt.Errorf("%s is not a uint64", v)
			}
		case fastjson.TypeString:
			if c.u, err = strconv.ParseUint(string(raw), 10, 64); err != nil {
				return fmt.Errorf("%q is not a uint64", raw)
			}
		default:
			return fmt.Errorf("JSON %s is not a uint64", typ)
		}
	case TypeFloat64:
		c.kind = kFloat
		var err error
		switch typ {
		case fastjson.TypeNumber:
			c.f, err = v.Float64()
		case fastjson.TypeString:
			c.f, err = strconv.ParseFloat(string(raw), 64)
		default:
			return fmt.Errorf("JSON %s is not a float64", typ)
		}
		if err != nil {
			return fmt.Errorf("%s is not a float64", v)
		}
	case TypeBool:
		c.kind = kBool
		switch {
		case typ == fastjson.TypeTrue || typ == fastjson.TypeFalse:
			c.b = typ == fastjson.TypeTrue
		case typ == fastjson.TypeString && (string(raw) == "true" || string(raw) == "false"):
			c.b = string(raw) == "true"
		default:
			return fmt.Errorf("%s is not a bool", v)
		}
	case TypeString:
		c.kind = kString
		if typ == fastjson.TypeString {
			c.s = b.str(raw, tag)
		} else {
			b.buf = v.MarshalTo(b.buf[:0])
			c.s = string(b.buf)
		}
	case TypeBinary:
		if typ != fastjson.TypeString {
			return fmt.Errorf("JSON %s is not binary (want a string)", typ)
		}
		c.kind, c.bin = kBinary, append([]byte(nil), raw...)
	case TypeJSON:
		b.buf = v.MarshalTo(b.buf[:0])
		c.kind, c.s = kString, string(b.buf)
	}
	return nil
}

func (b *Batch) timestampCell(v *fastjson.Value, def time.Time) (cell, error) {
	ts := &b.m.ts
	c := cell{name: b.m.tsName, sem: gpb.SemanticType_TIMESTAMP, dt: ts.Precision.datatype(), kind: kTime, typed: true}
	path := b.m.tsPath
	if path == nil && b.m.kind != KindColumns {
		path = defaultTimestampPath
	}
	var tv *fastjson.Value
	if path != nil && v != nil {
		tv = v.Get(path...)
	}
	if tv == nil || tv.Type() == fastjson.TypeNull {
		if path != nil && v != nil && b.m.kind == KindColumns && !ts.Optional {
			return c, fmt.Errorf("timestamp %s is missing", pathString(path))
		}
		if def.IsZero() {
			def = time.Now()
		}
		c.i = ts.Precision.from(def)
		return c, nil
	}
	var err error
	c.i, err = b.parseTimestamp(tv, ts)
	if err != nil {
		return c, fmt.Errorf("timestamp %s: %w", pathString(path), err)
	}
	return c, nil
}

var defaultTimestampPath = []string{"timestamp"}

func arrowUnit(d time.Duration) arrow.TimeUnit {
	switch d {
	case time.Second:
		return arrow.Second
	case time.Millisecond:
		return arrow.Millisecond
	case time.Microsecond:
		return arrow.Microsecond
	}
	return arrow.Nanosecond
}

func (p Precision) arrowUnit() arrow.TimeUnit {
	switch p {
	case Microsecond:
		return arrow.Microsecond
	case Nanosecond:
		return arrow.Nanosecond
	}
	return arrow.Millisecond
}

// parseTimestamp reads a time value into the column precision: numbers
// (and numeric strings) counted in the configured unit, exactly scaled;
// strings in RFC 3339 or the configured layout.
func (b *Batch) parseTimestamp(v *fastjson.Value, ts *Timestamp) (int64, error) {
	to := ts.Precision.arrowUnit()
	switch v.Type() {
	case fastjson.TypeNumber:
		b.buf = v.MarshalTo(b.buf[:0])
		return jsonrows.ParseEpoch(b.buf, arrowUnit(ts.Unit), to)
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		var err error
		if ts.Layout == "" {
			var n int64
			if n, err = jsonrows.ParseTimestamp(s, to, false); err == nil {
				return n, nil
			}
		} else {
			var t time.Time
			if t, err = time.Parse(ts.Layout, string(s)); err == nil {
				return ts.Precision.from(t), nil
			}
		}
		if n, nerr := jsonrows.ParseEpoch(s, arrowUnit(ts.Unit), to); nerr == nil {
			return n, nil
		}
		layout := ts.Layout
		if layout == "" {
			layout = "RFC 3339"
		}
		return 0, fmt.Errorf("%q is neither %s nor a number: %w", s, layout, err)
	}
	return 0, fmt.Errorf("JSON %s is not a timestamp", v.Type())
}

func (b *Batch) metricCells(v *fastjson.Value, prefix string) (string, error) {
	name := v.GetStringBytes("name")
	if len(name) == 0 {
		return "", errors.New(`metric has no "name" string`)
	}
	raw := name
	if prefix != "" {
		b.buf = append(append(append(b.buf[:0], prefix...), '_'), name...)
		raw = b.buf
	}
	table, err := b.m.Sanitize(raw)
	if err != nil {
		return "", fmt.Errorf("metric name %q: %w", name, err)
	}
	labels := v.GetObject("labels")
	if labels == nil {
		labels = v.GetObject("tags")
	}
	var lerr error
	if labels != nil {
		labels.Visit(func(key []byte, lv *fastjson.Value) {
			if lerr != nil || lv.Type() == fastjson.TypeNull {
				return
			}
			col, err := b.m.Sanitize(key)
			if err != nil {
				lerr = fmt.Errorf("label %q: %w", key, err)
				return
			}
			if col == b.m.tsName || col == MetricValueColumn {
				lerr = fmt.Errorf("label %q collides with the %s column", key, col)
				return
			}
			c := cell{name: col, sem: gpb.SemanticType_TAG, dt: gpb.ColumnDataType_STRING, kind: kString}
			if lv.Type() == fastjson.TypeString {
				s, _ := lv.StringBytes()
				c.s = b.str(s, true)
			} else {
				c.s = string(lv.MarshalTo(nil))
			}
			b.cells = append(b.cells, c)
		})
	}
	if lerr != nil {
		return "", lerr
	}
	val := v.Get("value")
	if val == nil {
		if val = v.Get("gauge", "value"); val == nil {
			val = v.Get("counter", "value")
		}
	}
	if val == nil {
		return "", errors.New(`metric has no "value"`)
	}
	c := cell{name: MetricValueColumn, sem: gpb.SemanticType_FIELD}
	if err := b.typed(&c, val, TypeFloat64, false); err != nil {
		return "", fmt.Errorf("value: %w", err)
	}
	b.cells = append(b.cells, c)
	return table, nil
}

// commit checks the row's cells against the table schema, then appends it.
func (b *Batch) commit(msg int, name string) error {
	if t := b.lastTable; t != nil && name == b.lastRaw && t.sameLayout(b.cells) {
		b.appendRow(t, msg, false, t.lastIdx)
		return nil
	}
	raw := name
	if b.m.kind != KindMetrics {
		var err error
		b.buf = append(b.buf[:0], name...)
		if name, err = b.m.Sanitize(b.buf); err != nil {
			return fmt.Errorf("table name: %w", err)
		}
	}
	t := b.tables[name]
	isNew := t == nil
	if !isNew && t.sameLayout(b.cells) {
		b.lastRaw, b.lastTable = raw, t
		b.appendRow(t, msg, false, t.lastIdx)
		return nil
	}
	clear(b.seen)
	if isNew {
		t = &Table{lastMsg: -1, Name: name, index: map[string]int{}, widenable: map[int]bool{}, pinned: b.m.pinnedTypes(name)}
	}
	var widen []int
	for i := range b.cells {
		c := &b.cells[i]
		if b.seen[c.name] {
			return fmt.Errorf("column %q appears twice in the row", c.name)
		}
		b.seen[c.name] = true
		idx, ok := t.index[c.name]
		if ok {
			sc := t.schema[idx]
			if sc.SemanticType != c.sem {
				return fmt.Errorf("table %s column %q is a %s column, this row makes it a %s", name, c.name, semName(sc.SemanticType), semName(c.sem))
			}
			if sc.Datatype != c.dt {
				w, err := coerce(c, sc.Datatype, t.widenable[idx])
				if err != nil {
					return fmt.Errorf("table %s column %q: %w", name, c.name, err)
				}
				if w {
					widen = append(widen, idx)
				}
			}
			continue
		}
		if c.sem == gpb.SemanticType_TIMESTAMP {
			for _, sc := range t.schema {
				if sc.SemanticType == gpb.SemanticType_TIMESTAMP {
					return fmt.Errorf("table %s already has the time index %q, this row names it %q", name, sc.ColumnName, c.name)
				}
			}
		}
		if pt, ok := t.pinned[c.name]; ok && pt != c.dt {
			if _, err := coerce(c, pt, false); err != nil {
				return fmt.Errorf("table %s column %q: %w", name, c.name, err)
			}
		}
	}
	// The row is valid: apply.
	if isNew {
		b.tables[name] = t
		b.order = append(b.order, t)
	}
	b.checkpoint(t, msg, isNew)
	for _, idx := range widen {
		t.widen(idx)
	}
	for i := range b.cells {
		c := &b.cells[i]
		if _, ok := t.index[c.name]; ok {
			continue
		}
		idx := len(t.schema)
		t.index[c.name] = idx
		t.schema = append(t.schema, &gpb.ColumnSchema{ColumnName: c.name, Datatype: c.dt, SemanticType: c.sem})
		if c.dt == gpb.ColumnDataType_INT64 && !c.typed {
			if _, pinned := t.pinned[c.name]; !pinned {
				t.widenable[idx] = true
			}
		}
	}
	t.lastNames, t.lastIdx = t.lastNames[:0], t.lastIdx[:0]
	for i := range b.cells {
		t.lastNames = append(t.lastNames, b.cells[i].name)
		t.lastIdx = append(t.lastIdx, t.index[b.cells[i].name])
	}
	b.lastRaw, b.lastTable = raw, t
	b.appendRow(t, msg, true, t.lastIdx)
	return nil
}

func (b *Batch) checkpoint(t *Table, msg int, isNew bool) {
	if isNew || t.lastMsg != msg {
		b.touched = append(b.touched, checkpoint{t: t, isNew: isNew, rows: len(t.rows), schema: len(t.schema)})
		t.lastMsg = msg
	}
}

// appendRow adds the cells as a row; idx[i] is the schema index of cell i.
func (b *Batch) appendRow(t *Table, msg int, checked bool, idx []int) {
	if !checked {
		b.checkpoint(t, msg, false)
	}
	r := b.slab.row()
	r.Values = b.slab.values(len(t.schema))
	for i := range b.cells {
		r.Values[idx[i]] = b.slab.cellValue(&b.cells[i])
	}
	for i, v := range r.Values {
		if v == nil {
			r.Values[i] = b.slab.value()
		}
	}
	t.rows = append(t.rows, r)
	t.msgs = append(t.msgs, msg)
	t.sizes = append(t.sizes, b.size)
	b.rows++
}

func semName(s gpb.SemanticType) string {
	switch s {
	case gpb.SemanticType_TAG:
		return "tag"
	case gpb.SemanticType_FIELD:
		return "field"
	}
	return "timestamp"
}

// coerce converts c to the column type want when no precision is lost. It
// reports true when instead the column must widen from int64 to float64.
func coerce(c *cell, want gpb.ColumnDataType, widenable bool) (bool, error) {
	switch {
	case c.kind == kInt && want == gpb.ColumnDataType_FLOAT64 && !c.typed:
		c.kind, c.f, c.dt = kFloat, float64(c.i), want
		return false, nil
	case c.kind == kInt && want == gpb.ColumnDataType_UINT64 && c.i >= 0 && !c.typed:
		c.kind, c.u, c.dt = kUint, uint64(c.i), want
		return false, nil
	case c.kind == kFloat && want == gpb.ColumnDataType_INT64 && widenable && !c.typed:
		return true, nil
	case c.kind == kString && want == gpb.ColumnDataType_JSON:
		c.dt = want
		return false, nil
	}
	return false, fmt.Errorf("the column is %s, this row has a %s value", dtName(want), dtName(c.dt))
}

func dtName(d gpb.ColumnDataType) string {
	switch d {
	case gpb.ColumnDataType_INT64:
		return "int64"
	case gpb.ColumnDataType_UINT64:
		return "uint64"
	case gpb.ColumnDataType_FLOAT64:
		return "float64"
	case gpb.ColumnDataType_BOOLEAN:
		return "bool"
	case gpb.ColumnDataType_STRING:
		return "string"
	case gpb.ColumnDataType_BINARY:
		return "binary"
	case gpb.ColumnDataType_JSON:
		return "json"
	}
	return d.String()
}

// widen turns the int64 column idx into float64 in every row so far.
func (t *Table) widen(idx int) {
	t.schema[idx].Datatype = gpb.ColumnDataType_FLOAT64
	delete(t.widenable, idx)
	for _, r := range t.rows {
		if idx < len(r.Values) {
			if iv, ok := r.Values[idx].ValueData.(*gpb.Value_I64Value); ok {
				r.Values[idx].ValueData = &gpb.Value_F64Value{F64Value: float64(iv.I64Value)}
			}
		}
	}
}
