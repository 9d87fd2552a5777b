package lancerows

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/endian"
	"github.com/apache/arrow/go/v17/arrow/float16"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// Builder accumulates the rows of many messages into one Arrow record. A
// message is taken whole or not at all: its rows are parsed and checked into
// a staging area first, and reach the Arrow builders only when every row of
// the message is valid.
//
// Vectors are most of a record's bytes, so they skip the Arrow builders:
// each is parsed straight into one buffer of the whole record (a staged
// message is cut off again if it fails), which the record then owns. A
// float32 record's vector column is that buffer, not a copy; given a
// Recycler it is reused once the record is released.
type Builder struct {
	l      *Layout
	format jsonrows.Format
	mem    memory.Allocator
	rb     *array.RecordBuilder
	parser fastjson.Parser
	rows   int

	slab []byte    // the vector buffer, from mem; nil once a record owns it
	vecs []float32 // slab as float32: dim per appended row, then the staged message's

	// staging of the current message
	cells  []cell // len(cols) per row
	arena  []byte // string and JSON bytes
	numbuf []byte
	rest   []byte // a row with its vector replaced by null (fast path)
}

type cell struct {
	null bool
	i    int64
	f    float64
	off  int
	n    int
}

// NewBuilder returns an empty builder of records for l.
func NewBuilder(l *Layout, format jsonrows.Format, mem memory.Allocator) *Builder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &Builder{l: l, format: format, mem: mem, rb: array.NewRecordBuilder(mem, l.table)}
}

// Reserve makes room for rows more rows, so that a batch of known size
// fills its buffers without growing (and copying) them repeatedly.
func (b *Builder) Reserve(rows int) {
	b.rb.Reserve(rows)
	b.growVecs(rows * b.l.vector.dim)
}

// growVecs makes room for n more vector elements (and a few spare bytes,
// which base64 decoding may write past the last element).
func (b *Builder) growVecs(n int) {
	need := 4*(len(b.vecs)+n) + 4
	if need <= len(b.slab) {
		return
	}
	size := max(need, 2*len(b.slab), 64<<10)
	var slab []byte
	if r, ok := b.mem.(*Recycler); ok {
		slab = r.AllocateUninit(size) // every element is written before it is read
	} else {
		slab = b.mem.Allocate(size)
	}
	used := len(b.vecs)
	vecs := arrow.Float32Traits.CastFromBytes(slab)[:used]
	copy(vecs, b.vecs)
	if b.slab != nil {
		b.mem.Free(b.slab)
	}
	b.slab, b.vecs = slab, vecs
}

// Rows is the number of rows appended since the last NewRecord.
func (b *Builder) Rows() int { return b.rows }

// Release frees the builder's buffers.
func (b *Builder) Release() {
	b.rb.Release()
	if b.slab != nil {
		b.mem.Free(b.slab)
		b.slab, b.vecs = nil, nil
	}
}

// NewRecord returns the rows appended so far as one record (the caller
// releases it) and empties the builder.
func (b *Builder) NewRecord() arrow.Record {
	n := b.rows
	cols := make([]arrow.Array, len(b.l.fields))
	for fi, plan := range b.l.fields {
		if plan.kind == fieldVector {
			cols[fi] = b.vectorArray(b.l.table.Field(fi).Type.(*arrow.FixedSizeListType), n)
		} else {
			cols[fi] = b.rb.Field(fi).NewArray()
		}
	}
	rec := array.NewRecord(b.l.table, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	b.rows = 0
	return rec
}

// vectorArray returns the n appended vectors as a column of type t. A
// float32 column takes over the slab; float16 ones are converted into a
// buffer of their own and the slab is kept for the next record.
func (b *Builder) vectorArray(t *arrow.FixedSizeListType, n int) arrow.Array {
	var values *memory.Buffer
	switch b.l.vector.elem {
	case ElementFloat16:
		buf := b.mem.Allocate(2 * len(b.vecs))
		out := arrow.Float16Traits.CastFromBytes(buf)[:len(b.vecs)]
		for i, f := range b.vecs {
			out[i] = float16.New(f)
		}
		values = memory.NewBufferWithAllocator(buf, b.mem)
		b.vecs = b.vecs[:0]
	default:
		if b.slab == nil {
			b.growVecs(0)
		}
		values = memory.NewBufferWithAllocator(b.slab, b.mem)
		b.slab, b.vecs = nil, nil
	}
	child := array.NewData(t.Elem(), n*b.l.vector.dim, []*memory.Buffer{nil, values}, nil, 0, 0)
	values.Release()
	list := array.NewData(t, n, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
	child.Release()
	defer list.Release()
	return array.MakeFromData(list)
}

// Append parses every row of one message payload (framed by the builder's
// payload format) and appends them, or none: the error of the first bad row
// is a *jsonrows.RowError naming it. It returns the number of rows appended.
func (b *Builder) Append(payload []byte) (int, error) {
	b.cells, b.arena = b.cells[:0], b.arena[:0]
	mark := len(b.vecs)
	if b.format == jsonrows.FormatNDJSON {
		// Room for every line's vector at once, not by doubling.
		b.growVecs((bytes.Count(payload, []byte{'\n'}) + 1) * b.l.vector.dim)
	}
	n, err := jsonrows.Each(b.format, payload, func(_ int, row []byte) error {
		return b.stage(row)
	})
	if err != nil {
		b.vecs = b.vecs[:mark]
		return 0, err
	}
	b.commit(n)
	return n, nil
}

func (b *Builder) stage(row []byte) error {
	b.growVecs(b.l.vector.dim)
	doc, fast := row, false
	if start, ok := locate(row, b.l.vector.path); ok {
		var end int
		if b.l.vector.encoding == EncodingJSON {
			end, fast = b.fastVector(row, start)
		} else {
			end, fast = b.fastBase64(row, start)
		}
		if fast {
			b.rest = append(append(append(b.rest[:0], row[:start]...), "null"...), row[end:]...)
			doc = b.rest
		}
	}
	v, err := b.parser.ParseBytes(doc)
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if v.Type() != fastjson.TypeObject {
		return fmt.Errorf("row is a JSON %s, want an object", v.Type())
	}
	for i := range b.l.cols {
		c, err := b.parseCell(&b.l.cols[i], v.Get(b.l.cols[i].path...))
		if err != nil {
			return err
		}
		b.cells = append(b.cells, c)
	}
	if fast {
		return nil
	}
	return b.parseVector(v.Get(b.l.vector.path...))
}

func (b *Builder) parseCell(c *colSpec, v *fastjson.Value) (cell, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		if c.required {
			if v == nil {
				return cell{}, fmt.Errorf("missing required field %q (%s)", strings.Join(c.path, "."), c.name)
			}
			return cell{}, fmt.Errorf("field %q (%s) is null, but required", strings.Join(c.path, "."), c.name)
		}
		return cell{null: true}, nil
	}
	bad := func(want string) error {
		return fmt.Errorf("field %q (%s): %s value %s, want %s", strings.Join(c.path, "."), c.name, v.Type(), truncate(v), want)
	}
	switch c.typ {
	case String:
		if v.Type() != fastjson.TypeString {
			return cell{}, bad("a string")
		}
		s := v.GetStringBytes()
		off := len(b.arena)
		b.arena = append(b.arena, s...)
		return cell{off: off, n: len(s)}, nil
	case JSON:
		off := len(b.arena)
		b.arena = v.MarshalTo(b.arena)
		return cell{off: off, n: len(b.arena) - off}, nil
	case Int32, Int64:
		if v.Type() != fastjson.TypeNumber {
			return cell{}, bad("an integer")
		}
		i, err := v.Int64()
		if err != nil || (c.typ == Int32 && (i < math.MinInt32 || i > math.MaxInt32)) {
			return cell{}, bad("an integer in the " + c.typ.String() + " range")
		}
		return cell{i: i}, nil
	case Float32, Float64:
		if v.Type() != fastjson.TypeNumber {
			return cell{}, bad("a number")
		}
		f, err := v.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || (c.typ == Float32 && math.IsInf(float64(float32(f)), 0)) {
			return cell{}, bad("a finite number in the " + c.typ.String() + " range")
		}
		return cell{f: f}, nil
	case Bool:
		switch v.Type() {
		case fastjson.TypeTrue:
			return cell{i: 1}, nil
		case fastjson.TypeFalse:
			return cell{i: 0}, nil
		}
		return cell{}, bad("true or false")
	case Timestamp:
		var t time.Time
		switch v.Type() {
		case fastjson.TypeString:
			var err error
			if t, err = time.Parse(time.RFC3339Nano, string(v.GetStringBytes())); err != nil {
				return cell{}, bad("an RFC 3339 timestamp")
			}
		case fastjson.TypeNumber:
			ms, err := v.Int64()
			if err != nil {
				return cell{}, bad("epoch milliseconds (an integer)")
			}
			t = time.UnixMilli(ms)
		default:
			return cell{}, bad("an RFC 3339 string or epoch milliseconds")
		}
		ts, err := arrow.TimestampFromTime(t, c.unit)
		if err != nil {
			return cell{}, bad("a timestamp in range")
		}
		return cell{i: int64(ts)}, nil
	}
	return cell{}, fmt.Errorf("field %q: unsupported type %s", c.name, c.typ)
}

func (b *Builder) parseVector(v *fastjson.Value) error {
	vs := &b.l.vector
	if v == nil {
		return fmt.Errorf("missing required vector field %q", strings.Join(vs.path, "."))
	}
	if v.Type() == fastjson.TypeNull {
		return fmt.Errorf("vector field %q is null", strings.Join(vs.path, "."))
	}
	if vs.encoding == EncodingBase64F32 {
		return b.parseBase64(v)
	}
	if v.Type() != fastjson.TypeArray {
		return fmt.Errorf("vector %q: %s value %s, want a JSON array of %d numbers", vs.name, v.Type(), truncate(v), vs.dim)
	}
	arr, _ := v.Array()
	if len(arr) != vs.dim {
		return fmt.Errorf("vector %q: dimension %d, want %d", vs.name, len(arr), vs.dim)
	}
	for j, e := range arr {
		if e.Type() != fastjson.TypeNumber {
			return fmt.Errorf("vector %q: element %d is a %s (%s), want a number", vs.name, j, e.Type(), truncate(e))
		}
		// Parsed straight to float32 (correctly rounded, as the fast path).
		b.numbuf = e.MarshalTo(b.numbuf[:0])
		f, err := jsonrows.ParseFloat(b.numbuf, 32)
		if err != nil {
			switch lower := strings.ToLower(string(b.numbuf)); {
			case strings.Contains(lower, "nan"):
				return fmt.Errorf("vector %q: element %d is NaN", vs.name, j)
			case strings.Contains(lower, "inf"):
				return fmt.Errorf("vector %q: element %d is infinite", vs.name, j)
			}
			return fmt.Errorf("vector %q: element %d (%s): %v of float32", vs.name, j, b.numbuf, err)
		}
		if err := b.checkElement(j, f); err != nil {
			return err
		}
		b.vecs = append(b.vecs, float32(f))
	}
	return nil
}

func (b *Builder) checkElement(j int, f float64) error {
	vs := &b.l.vector
	switch {
	case math.IsNaN(f):
		return fmt.Errorf("vector %q: element %d is NaN", vs.name, j)
	case math.IsInf(f, 0):
		return fmt.Errorf("vector %q: element %d is infinite", vs.name, j)
	case vs.elem == ElementFloat16 && math.Abs(f) > 65504:
		return fmt.Errorf("vector %q: element %d (%g) is out of the float16 range", vs.name, j, f)
	case math.IsInf(float64(float32(f)), 0):
		return fmt.Errorf("vector %q: element %d (%g) is out of the float32 range", vs.name, j, f)
	}
	return nil
}

func (b *Builder) parseBase64(v *fastjson.Value) error {
	vs := &b.l.vector
	if v.Type() != fastjson.TypeString {
		return fmt.Errorf("vector %q: %s value %s, want a base64 string of %d little-endian float32 (vector_encoding base64_f32)",
			vs.name, v.Type(), truncate(v), vs.dim)
	}
	return b.decodeBase64(v.GetStringBytes())
}

// decodeBase64 appends the vector encoded in s to b.vecs, decoding it in
// place (the caller made room for one vector).
func (b *Builder) decodeBase64(s []byte) error {
	vs := &b.l.vector
	want := 4 * vs.dim
	// 4 base64 characters carry 3 bytes: check the size before decoding.
	if approx := len(s) * 3 / 4; approx < want || approx > want+3 {
		return fmt.Errorf("vector %q: base64 of %d bytes holds %d float32, want %d", vs.name, len(s), approx/4, vs.dim)
	}
	at := len(b.vecs)
	free := b.slab[4*at:] // growVecs left want+4 bytes: room for padding
	buf, err := jsonrows.DecodeBase64(free[:0], s)
	if err != nil {
		return fmt.Errorf("vector %q: invalid base64: %w", vs.name, err)
	}
	if n := len(buf); n != want {
		return fmt.Errorf("vector %q: base64 decodes to %d bytes (%d float32), want %d float32", vs.name, n, n/4, vs.dim)
	}
	v := b.vecs[at : at+vs.dim]
	// The base64 bytes (little-endian) are decoded into the float32 buffer
	// as they are, and swapped afterwards only on big-endian machines.
	if endian.IsBigEndian {
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
		}
	}
	for j, f := range v {
		if bits := math.Float32bits(f); bits&0x7f800000 == 0x7f800000 || (vs.elem == ElementFloat16 && math.Abs(float64(f)) > 65504) {
			if err := b.checkElement(j, float64(f)); err != nil {
				return err
			}
		}
	}
	b.vecs = b.vecs[:at+vs.dim]
	return nil
}

// commit moves the n staged rows into the Arrow builders.
func (b *Builder) commit(n int) {
	ncol := len(b.l.cols)
	for fi, plan := range b.l.fields {
		fb := b.rb.Field(fi)
		switch plan.kind {
		case fieldNull:
			fb.AppendNulls(n)
		case fieldVector:
			// the vectors are in b.vecs already
		case fieldColumn:
			for r := 0; r < n; r++ {
				b.appendCell(fb, b.l.cols[plan.col].typ, b.cells[r*ncol+plan.col])
			}
		}
	}
	b.rows += n
}

func (b *Builder) appendCell(fb array.Builder, typ Type, c cell) {
	if c.null {
		fb.AppendNull()
		return
	}
	switch x := fb.(type) {
	case *array.StringBuilder:
		x.BinaryBuilder.Append(b.arena[c.off : c.off+c.n])
	case *array.Int32Builder:
		x.Append(int32(c.i))
	case *array.Int64Builder:
		x.Append(c.i)
	case *array.Float32Builder:
		x.Append(float32(c.f))
	case *array.Float64Builder:
		x.Append(c.f)
	case *array.BooleanBuilder:
		x.Append(c.i != 0)
	case *array.TimestampBuilder:
		x.Append(arrow.Timestamp(c.i))
	default:
		// Bind admits only the types above.
		panic(fmt.Sprintf("lancerows: no builder for %s (%T)", typ, fb))
	}
}

// truncate renders a JSON value for an error message, cut to a readable size.
func truncate(v *fastjson.Value) string {
	s := v.String()
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
