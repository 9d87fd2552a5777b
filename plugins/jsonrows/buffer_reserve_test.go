package jsonrows

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/stretchr/testify/require"
)

func TestBufferReserveAvoidsGrowthAndKeepsRows(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "req", Type: arrow.StructOf(
			arrow.Field{Name: "status", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "ms", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		), Nullable: true},
	}, nil)
	d, err := NewDecoder(schema, DecoderOptions{})
	require.NoError(t, err)
	const n = 5000
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = fmt.Appendf(nil, `{"id":%d,"ok":%t,"req":{"status":%d,"ms":%d.5}}`, i, i%3 == 0, 200+i%5, i)
	}

	fill := func(reserve bool) (arrow.RecordBatch, int64, int64) {
		buf := d.NewBuffer(nil)
		defer buf.Release()
		if reserve {
			buf.Reserve(n)
		}
		before := buf.AllocatedBytes()
		for _, r := range rows {
			require.NoError(t, buf.AppendJSON(r))
		}
		after := buf.AllocatedBytes()
		return buf.NewRecord(), before, after
	}
	plain, _, _ := fill(false)
	defer plain.Release()
	reserved, before, after := fill(true)
	defer reserved.Release()

	require.Positive(t, before, "Reserve allocated nothing")
	require.Equal(t, before, after, "fixed-width builders grew although their rows were reserved")
	require.True(t, array.RecordEqual(plain, reserved), "a reserved buffer must produce the same record")
	require.EqualValues(t, n, reserved.NumRows())
}

// TestBufferReserveSizesStringDataFromLastRecord checks that, once a record
// of similar rows was built, Reserve also sizes string data (top-level,
// in structs and in lists) so that the next buffer does not grow, and that
// the rows are unchanged.
func TestBufferReserveSizesStringDataFromLastRecord(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "agent", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	d, err := NewDecoder(schema, DecoderOptions{})
	require.NoError(t, err)
	const n = 3000
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = fmt.Appendf(nil, `{"id":%d,"name":"user-%05d","user":{"agent":"Mozilla/5.0 (X11; Linux x86_64) %d"},"tags":["beta","mobile"]}`, i, i, i%100)
	}
	fill := func() (arrow.RecordBatch, int64, int64) {
		buf := d.NewBuffer(nil)
		defer buf.Release()
		buf.Reserve(n)
		before := buf.AllocatedBytes()
		for _, r := range rows {
			require.NoError(t, buf.AppendJSON(r))
		}
		after := buf.AllocatedBytes()
		return buf.NewRecord(), before, after
	}
	first, firstBefore, firstAfter := fill()
	defer first.Release()
	require.Greater(t, firstAfter, firstBefore, "the first buffer knows no string sizes and must grow")
	second, before, after := fill()
	defer second.Release()
	require.Greater(t, before, firstBefore, "Reserve did not reserve string data learned from the first record")
	// Only the list elements (one value per tag, not per row) may grow.
	tags := second.Column(3).(*array.List).ListValues().(*array.String)
	require.LessOrEqual(t, after-before, int64(4*tags.Len()*2+64), "string data grew although it was reserved")
	require.True(t, array.RecordEqual(first, second), "a reserved buffer must produce the same record")
}

// One call carrying a single huge message must not make the next call's
// Reserve allocate its size times the next call's row count.
func TestBufferReserveAfterOneLargeRowStaysBounded(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "body", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	d, err := NewDecoder(schema, DecoderOptions{})
	require.NoError(t, err)
	big := d.NewBuffer(nil)
	require.NoError(t, big.AppendJSON(fmt.Appendf(nil, `{"id":0,"body":"%s"}`, strings.Repeat("x", 1<<20))))
	big.NewRecord().Release()
	big.Release()

	small := d.NewBuffer(nil)
	defer small.Release()
	small.Reserve(3000)
	require.Less(t, small.AllocatedBytes(), int64(64<<20), "allocated %d MiB", small.AllocatedBytes()>>20)

	// Many large rows in one record: the guess is capped all the same.
	many := d.NewBuffer(nil)
	for i := range minLearnRows {
		require.NoError(t, many.AppendJSON(fmt.Appendf(nil, `{"id":%d,"body":"%s"}`, i, strings.Repeat("y", 256<<10))))
	}
	many.NewRecord().Release()
	many.Release()
	next := d.NewBuffer(nil)
	defer next.Release()
	next.Reserve(10000)
	require.Less(t, next.AllocatedBytes(), int64(64<<20), "allocated %d MiB", next.AllocatedBytes()>>20)
}
