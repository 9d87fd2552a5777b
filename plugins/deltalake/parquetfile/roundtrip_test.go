package parquetfile

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

var tsUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func richSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "small", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "mid", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
			arrow.Field{Name: "addr", Type: arrow.StructOf(
				arrow.Field{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true},
			), Nullable: true},
		), Nullable: true},
		{Name: "attrs", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "events", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "kind", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "at", Type: tsUTC, Nullable: true},
		)), Nullable: true},
	}, nil)
}

var richRows = []string{
	`{"id":1,"name":"alice","ts":"2024-01-02T03:04:05.123456Z","day":"2024-01-02","amount":12.34,"score":1.5,"ratio":0.25,"ok":true,"raw":"aGVsbG8=","small":-128,"mid":32767,
	  "user":{"age":30,"tags":["a","b"],"addr":{"city":"Zürich"}},"attrs":{"x":1,"y":2},"events":[{"kind":"click","at":"2024-01-02T03:04:05Z"}]}`,
	`{"id":2,"name":"日本語 ✓ 🚀","ts":"1969-12-31T23:59:59.999999Z","day":"1900-03-01","amount":"-0.05","score":-1e300,"ratio":3,"ok":false,"raw":"","small":127,"mid":-32768,
	  "user":{"age":null,"tags":[],"addr":null},"attrs":{},"events":[]}`,
	`{"id":3,"name":null,"ts":null,"day":null,"amount":null,"score":null,"ok":null,"raw":null,"user":null,"attrs":null,"events":null}`,
	`{"id":4,"ts":"2024-06-30T23:59:59.5+02:00","user":{"tags":["x",null]},"events":[{"kind":null,"at":null},null]}`,
	`{"id":5,"ts":1700000000123456,"day":19000,"amount":99999999.99,"user":{"addr":{}}}`,
}

const richExpected = `[
{"amount":"12.34","attrs":[{"key":"x","value":1},{"key":"y","value":2}],"day":"2024-01-02","events":[{"at":"2024-01-02T03:04:05Z","kind":"click"}],"id":1,"mid":32767,"name":"alice","ok":true,"ratio":0.25,"raw":"aGVsbG8=","score":1.5,"small":-128,"ts":"2024-01-02T03:04:05.123456Z","user":{"addr":{"city":"Zürich"},"age":30,"tags":["a","b"]}},
{"amount":"-0.05","attrs":[],"day":"1900-03-01","events":[],"id":2,"mid":-32768,"name":"日本語 ✓ 🚀","ok":false,"ratio":3,"raw":"","score":-1e+300,"small":127,"ts":"1969-12-31T23:59:59.999999Z","user":{"addr":null,"age":null,"tags":[]}},
{"amount":null,"attrs":null,"day":null,"events":null,"id":3,"mid":null,"name":null,"ok":null,"ratio":null,"raw":null,"score":null,"small":null,"ts":null,"user":null},
{"amount":null,"attrs":null,"day":null,"events":[{"at":null,"kind":null},null],"id":4,"mid":null,"name":null,"ok":null,"ratio":null,"raw":null,"score":null,"small":null,"ts":"2024-06-30T21:59:59.5Z","user":{"addr":null,"age":null,"tags":["x",null]}},
{"amount":"99999999.99","attrs":null,"day":"2022-01-08","events":null,"id":5,"mid":null,"name":null,"ok":null,"ratio":null,"raw":null,"score":null,"small":null,"ts":"2023-11-14T22:13:20.123456Z","user":{"addr":{"city":null},"age":null,"tags":null}}
]`

func decodeAll(t *testing.T, d *jsonrows.Decoder, rows []string) *jsonrows.Buffer {
	t.Helper()
	buf := d.NewBuffer(nil)
	for i, r := range rows {
		require.NoError(t, buf.AppendJSON([]byte(r)), "row %d", i)
	}
	return buf
}

func recordJSON(t *testing.T, rec arrow.RecordBatch) string {
	t.Helper()
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	return string(b)
}

func readParquet(t *testing.T, data []byte) arrow.Table {
	t.Helper()
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	require.NoError(t, err)
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	tbl, err := fr.ReadTable(context.Background())
	require.NoError(t, err)
	return tbl
}

func tableRecord(t *testing.T, tbl arrow.Table) arrow.RecordBatch {
	t.Helper()
	tr := array.NewTableReader(tbl, tbl.NumRows()+1)
	t.Cleanup(tr.Release)
	require.True(t, tr.Next())
	return tr.RecordBatch()
}

func TestRoundTrip(t *testing.T) {
	d, err := jsonrows.NewDecoder(richSchema(), jsonrows.DecoderOptions{})
	require.NoError(t, err)
	buf := decodeAll(t, d, richRows)
	defer buf.Release()
	require.EqualValues(t, len(richRows), buf.Rows())
	require.Positive(t, buf.BufferedBytes())
	rec := buf.NewRecord()
	defer rec.Release()
	require.JSONEq(t, richExpected, recordJSON(t, rec))

	for _, codec := range []string{CompressionZstd, CompressionSnappy, CompressionUncompressed} {
		t.Run(codec, func(t *testing.T) {
			var out bytes.Buffer
			fw, err := NewFileWriter(&out, rec.Schema(), WriterOptions{Compression: codec})
			require.NoError(t, err)
			require.NoError(t, fw.Write(rec))
			df, err := fw.Close()
			require.NoError(t, err)
			require.EqualValues(t, out.Len(), df.Size)
			require.EqualValues(t, len(richRows), df.NumRecords)
			tbl := readParquet(t, out.Bytes())
			defer tbl.Release()
			requireSameTypes(t, rec.Schema(), tbl.Schema())
			back := tableRecord(t, tbl)
			require.JSONEq(t, richExpected, recordJSON(t, back))
		})
	}
}

// requireSameTypes compares schemas ignoring field metadata and list
// element names (Parquet names them "element").
func requireSameTypes(t *testing.T, want, got *arrow.Schema) {
	t.Helper()
	require.Equal(t, want.NumFields(), got.NumFields())
	for i, f := range want.Fields() {
		g := got.Field(i)
		require.Equal(t, f.Name, g.Name)
		require.Equal(t, f.Nullable, g.Nullable, f.Name)
		require.True(t, arrow.TypeEqual(f.Type, g.Type, arrow.CheckMetadata()) || sameTypeString(f.Type, g.Type), "%s: want %s got %s", f.Name, f.Type, g.Type)
	}
}

func sameTypeString(a, b arrow.DataType) bool {
	norm := func(s string) string { return strings.ReplaceAll(s, "item:", "element:") }
	return norm(a.String()) == norm(b.String())
}
