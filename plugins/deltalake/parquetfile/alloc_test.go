package parquetfile

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// TestRecyclingAllocatorParquetRoundTrip builds, writes and releases many
// records with recycled buffers (each reuse overwrites what the previous
// owner left) and checks every file reads back as the rows written, with
// nothing outstanding at the end.
func TestRecyclingAllocatorParquetRoundTrip(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "premium", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	d, err := jsonrows.NewDecoder(schema, jsonrows.DecoderOptions{})
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(jsonrows.NewRecyclingAllocator(8 << 20))
	for round := 0; round < 6; round++ {
		var want []arrow.RecordBatch
		for part := 0; part < 3; part++ {
			buf := d.NewBuffer(mem)
			buf.Reserve(500)
			for i := 0; i < 500+round*37; i++ {
				id := round*100_000 + part*1000 + i
				row := fmt.Appendf(nil, `{"id":%d,"name":"n-%d-%d","user":{"country":"C%d","premium":%t},"tags":["t%d","u%d"]}`, id, round, i, i%7, i%2 == 0, i%3, round)
				if i%11 == 0 {
					row = fmt.Appendf(nil, `{"id":%d,"name":null,"user":null,"tags":null}`, id)
				}
				require.NoError(t, buf.AppendJSON(row))
			}
			want = append(want, buf.NewRecord())
			buf.Release()
		}
		merged := make([]arrow.Array, schema.NumFields())
		for c := range merged {
			parts := []arrow.Array{want[0].Column(c), want[1].Column(c), want[2].Column(c)}
			merged[c], err = array.Concatenate(parts, mem)
			require.NoError(t, err)
		}
		rec := array.NewRecordBatch(schema, merged, -1)
		for _, a := range merged {
			a.Release()
		}
		var out bytes.Buffer
		fw, err := NewFileWriter(&out, schema, WriterOptions{Allocator: mem})
		require.NoError(t, err)
		require.NoError(t, fw.Write(rec))
		_, err = fw.Close()
		require.NoError(t, err)

		tbl := readParquet(t, out.Bytes())
		require.EqualValues(t, rec.NumRows(), tbl.NumRows())
		require.JSONEq(t, recordJSON(t, rec), recordJSON(t, tableRecord(t, tbl)), "round %d: file differs from the record written", round)
		rec.Release()
		for _, w := range want {
			w.Release()
		}
	}
	mem.AssertSize(t, 0)
}
