package tablewriter

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// TestRowGroupsBoundMergedSize checks that per-call records are merged into
// row groups of at most maxRowGroupBytes (a larger single record passes
// alone), in order, without losing or repeating rows.
func TestRowGroupsBoundMergedSize(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	pad := strings.Repeat("x", 1000)
	mk := func(first, rows int) arrow.RecordBatch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for i := first; i < first+rows; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.StringBuilder).Append(pad)
		}
		return b.NewRecordBatch()
	}
	// 20 records of ~1 MiB, then one of ~10 MiB, then 3 small ones.
	var recs []arrow.RecordBatch
	next := 0
	for _, n := range append(append(repeat(1000, 20), 10_000), 10, 10, 10) {
		recs = append(recs, mk(next, n))
		next += n
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()

	groups := &rowGroups{recs: recs}
	want := int64(0)
	var sizes []int64
	for !groups.done() {
		rg, err := groups.next()
		require.NoError(t, err)
		size := recordBytes(rg)
		if rg.NumRows() != 10_000 {
			require.LessOrEqual(t, size, int64(maxRowGroupBytes), "merged row group too large")
		}
		ids := rg.Column(0).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			require.Equal(t, want, ids.Value(i), "rows out of order or lost")
			want++
		}
		sizes = append(sizes, size)
		rg.Release()
	}
	require.EqualValues(t, next, want)
	require.Greater(t, len(sizes), 3, "20 MiB of records must not become one row group")
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}
