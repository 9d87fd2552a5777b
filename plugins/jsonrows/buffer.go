package jsonrows

import (
	"errors"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bnode pairs a schema node with its builder in one Buffer.
type bnode struct {
	n        *node
	b        array.Builder
	children []bnode
}

// Buffer accumulates rows for one (table, partition) in Arrow builders. It
// is not safe for concurrent use.
type Buffer struct {
	mem   *countingAllocator
	dec   *Decoder
	rb    *array.RecordBuilder
	cols  []bnode
	rows  int64
	bytes int64
}

// NewBuffer returns an empty buffer for rows decoded by d. mem may be nil
// (Go allocator).
func (d *Decoder) NewBuffer(mem memory.Allocator) *Buffer {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	cm := &countingAllocator{mem: mem}
	rb := array.NewRecordBuilder(cm, d.data)
	buf := &Buffer{mem: cm, dec: d, rb: rb}
	for _, c := range d.root.children {
		if c.partition >= 0 {
			continue
		}
		buf.cols = append(buf.cols, bindBuilder(c, rb.Field(c.dataIndex)))
	}
	return buf
}

func bindBuilder(n *node, b array.Builder) bnode {
	bn := bnode{n: n, b: b}
	switch n.kind {
	case kStruct:
		sb := b.(*array.StructBuilder)
		for i, c := range n.children {
			bn.children = append(bn.children, bindBuilder(c, sb.FieldBuilder(i)))
		}
	case kList:
		lb := b.(*array.ListBuilder)
		bn.children = []bnode{bindBuilder(n.children[0], lb.ValueBuilder())}
	case kMap:
		mb := b.(*array.MapBuilder)
		bn.children = []bnode{bindBuilder(n.children[0], mb.KeyBuilder()), bindBuilder(n.children[1], mb.ItemBuilder())}
	}
	return bn
}

// ErrStaleRow is returned by Append for a Row whose Decode failed or that
// belongs to another Decoder.
var ErrStaleRow = errors.New("row is not a successfully decoded row of this buffer's decoder")

// Append adds a row staged by the buffer's Decoder. It does not fail for a
// valid row: all checks happened in Decode.
func (b *Buffer) Append(r *Row) error {
	if r == nil || r.d != b.dec || !r.valid {
		return ErrStaleRow
	}
	d := b.dec
	pos := 0
	var size int64
	for i := range b.cols {
		pos, size = b.replay(&b.cols[i], d.tape, pos, d.arena, size)
	}
	b.rows++
	b.bytes += size
	return nil
}

// AppendJSON decodes row with the buffer's Decoder and appends it. For
// partitioned tables use Decoder.Decode and route by partition instead.
func (b *Buffer) AppendJSON(row []byte, extras ...any) error {
	r, err := b.dec.Decode(row, extras...)
	if err != nil {
		return err
	}
	return b.Append(r)
}

// Reserve makes room for rows more rows in the builders of the top-level
// columns and of their struct fields, so that a caller that knows its row
// count avoids the builders' repeated capacity doubling (each doubling
// copies and leaves the old buffer as garbage). String and binary data is
// reserved from the bytes per row of the decoder's previous record (plus
// 1/8), so it does not grow either when rows look alike. List elements
// still grow on demand.
func (b *Buffer) Reserve(rows int) {
	var reserve func(bn *bnode, values bool)
	reserve = func(bn *bnode, values bool) {
		if values {
			bn.b.Reserve(rows)
		}
		if per := bn.n.dataPerRow; per > 0 {
			// A guess: capped, because one unusual record must not
			// make the next call reserve gigabytes (builders grow on
			// demand beyond it anyway).
			want := min(per*int64(rows)*9/8, maxReservedDataBytes)
			bn.b.(binaryDataBuilder).ReserveData(int(want))
		}
		for i := range bn.children {
			// One value per row only below structs.
			reserve(&bn.children[i], values && bn.n.kind == kStruct)
		}
	}
	for i := range b.cols {
		reserve(&b.cols[i], true)
	}
}

const (
	// maxReservedDataBytes caps Reserve's string/binary data guess per column.
	maxReservedDataBytes = 16 << 20
	// minLearnRows is the fewest rows a record needs for Reserve to learn
	// its data sizes.
	minLearnRows = 64
)

// binaryDataBuilder is the part of array.BinaryBuilder (and of
// array.StringBuilder, which embeds it) that Reserve uses.
type binaryDataBuilder interface {
	DataLen() int
	ReserveData(n int)
}

// learnDataSizes records the data bytes per row of the buffered string and
// binary columns for the next Reserve.
func (b *Buffer) learnDataSizes() {
	if b.rows < minLearnRows {
		// Too few rows to stand for the next call's.
		return
	}
	var learn func(bn *bnode)
	learn = func(bn *bnode) {
		if bn.n.kind == kString || bn.n.kind == kBinary {
			if db, ok := bn.b.(binaryDataBuilder); ok {
				bn.n.dataPerRow = int64(db.DataLen()) / b.rows
			}
		}
		for i := range bn.children {
			learn(&bn.children[i])
		}
	}
	for i := range b.cols {
		learn(&b.cols[i])
	}
}

// Rows is the number of rows buffered since the last NewRecord.
func (b *Buffer) Rows() int64 { return b.rows }

// BufferedBytes is the size of the buffered values (data bytes plus
// offsets), which grows smoothly with each row: use it to size row groups
// and files. The builders' allocated capacity is typically 1.2-1.5x this;
// see AllocatedBytes.
func (b *Buffer) BufferedBytes() int64 { return b.bytes }

// AllocatedBytes is the memory currently allocated through this buffer:
// builder capacity plus records from NewRecord not yet released. Use it
// for hard memory limits.
func (b *Buffer) AllocatedBytes() int64 { return b.mem.n.Load() }

// Decoder is the decoder the buffer takes rows from.
func (b *Buffer) Decoder() *Decoder { return b.dec }

// Schema is the Arrow schema of the records this buffer produces.
func (b *Buffer) Schema() *arrow.Schema { return b.dec.data }

// NewRecord moves the buffered rows into a record batch (the caller
// releases it) and leaves the buffer empty.
func (b *Buffer) NewRecord() arrow.RecordBatch {
	b.learnDataSizes()
	rec := b.rb.NewRecordBatch()
	b.rows, b.bytes = 0, 0
	return rec
}

// Release frees the builders.
func (b *Buffer) Release() {
	if b.rb != nil {
		b.rb.Release()
		b.rb = nil
	}
}

var fixedSize = [...]int64{kBool: 1, kInt8: 1, kInt16: 2, kInt32: 4, kInt64: 8, kFloat32: 4, kFloat64: 8,
	kString: 4, kBinary: 4, kTimestamp: 8, kDate32: 4, kDecimal128: 16, kStruct: 1, kList: 4, kMap: 4}

// replay appends the tape values for one node, mirroring Decoder.convert.
func (b *Buffer) replay(bn *bnode, tape []cell, pos int, arena []byte, size int64) (int, int64) {
	c := &tape[pos]
	pos++
	n := bn.n
	size += fixedSize[n.kind]
	if c.null {
		bn.b.AppendNull()
		return pos, size
	}
	switch n.kind {
	case kBool:
		bn.b.(*array.BooleanBuilder).Append(c.i64 != 0)
	case kInt8:
		bn.b.(*array.Int8Builder).Append(int8(c.i64))
	case kInt16:
		bn.b.(*array.Int16Builder).Append(int16(c.i64))
	case kInt32:
		bn.b.(*array.Int32Builder).Append(int32(c.i64))
	case kInt64:
		bn.b.(*array.Int64Builder).Append(c.i64)
	case kFloat32:
		bn.b.(*array.Float32Builder).Append(float32(c.f64))
	case kFloat64:
		bn.b.(*array.Float64Builder).Append(c.f64)
	case kString:
		bn.b.(*array.StringBuilder).BinaryBuilder.Append(c.b)
		size += int64(len(c.b))
	case kBinary:
		v := arena[c.i64:c.hi]
		bn.b.(*array.BinaryBuilder).Append(v)
		size += int64(len(v))
	case kTimestamp:
		bn.b.(*array.TimestampBuilder).Append(arrow.Timestamp(c.i64))
	case kDate32:
		bn.b.(*array.Date32Builder).Append(arrow.Date32(c.i64))
	case kDecimal128:
		bn.b.(*array.Decimal128Builder).Append(decimal128.New(c.hi, uint64(c.i64)))
	case kStruct:
		bn.b.(*array.StructBuilder).Append(true)
		for i := range bn.children {
			pos, size = b.replay(&bn.children[i], tape, pos, arena, size)
		}
	case kList:
		bn.b.(*array.ListBuilder).Append(true)
		elem := &bn.children[0]
		for k := int64(0); k < c.i64; k++ {
			pos, size = b.replay(elem, tape, pos, arena, size)
		}
	case kMap:
		bn.b.(*array.MapBuilder).Append(true)
		key, item := &bn.children[0], &bn.children[1]
		for k := int64(0); k < c.i64; k++ {
			pos, size = b.replay(key, tape, pos, arena, size)
			pos, size = b.replay(item, tape, pos, arena, size)
		}
	}
	return pos, size
}

// countingAllocator tracks the bytes a Buffer holds. Builders allocate
// rarely (capacity doubling), so the atomic adds cost nothing measurable.
type countingAllocator struct {
	mem memory.Allocator
	n   atomic.Int64
}

func (c *countingAllocator) Allocate(size int) []byte {
	b := c.mem.Allocate(size)
	c.n.Add(int64(len(b)))
	return b
}

func (c *countingAllocator) Reallocate(size int, b []byte) []byte {
	old := len(b)
	nb := c.mem.Reallocate(size, b)
	c.n.Add(int64(len(nb) - old))
	return nb
}

func (c *countingAllocator) Free(b []byte) {
	c.n.Add(-int64(len(b)))
	c.mem.Free(b)
}
