package lancerows

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

func testSchema(dim int, enc Encoding) Schema {
	s := Schema{
		ID:     Column{Name: "id", Type: String},
		Vector: Vector{Name: "vector", Path: "embedding", Dimension: dim, Encoding: enc},
		Columns: []Column{
			{Name: "text", Type: String, Required: true},
			{Name: "source", Path: "meta.source", Type: String},
			{Name: "page", Path: "meta.page", Type: Int32},
			{Name: "score", Type: Float64},
			{Name: "ok", Type: Bool},
			{Name: "ts", Type: Timestamp},
			{Name: "metadata", Path: "meta", Type: JSON},
		},
	}
	return s
}

// vectorOnly is testSchema with the id and vector only.
func vectorOnly(dim int, enc Encoding) Schema {
	s := testSchema(dim, enc)
	s.Columns = nil
	return s
}

// testLayout validates s and binds it to its own table schema.
func testLayout(t *testing.T, s Schema) *Layout {
	t.Helper()
	require.NoError(t, s.Validate())
	l, err := s.Bind(s.Arrow())
	require.NoError(t, err)
	return l
}

func newTestBuilder(t *testing.T, s Schema, f jsonrows.Format) (*Builder, *memory.CheckedAllocator) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := NewBuilder(testLayout(t, s), f, mem)
	t.Cleanup(func() {
		b.Release()
		mem.AssertSize(t, 0)
	})
	return b, mem
}

func b64(v ...float32) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func TestBuilderWritesEveryColumn(t *testing.T) {
	b, _ := newTestBuilder(t, testSchema(3, EncodingJSON), jsonrows.FormatJSON)
	n, err := b.Append([]byte(`{"id":"a","text":"hello","embedding":[0.1,-2.5,3e-3],"meta":{"source":"doc","page":7},"score":0.5,"ok":true,"ts":"2026-12-05T01:02:03.000004Z"}`))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = b.Append([]byte(`{"id":"b","text":"world","embedding":[1,2,3],"ts":1764896523000}`))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 2, b.Rows())

	rec := b.NewRecord()
	defer rec.Release()
	assert.Equal(t, int64(2), rec.NumRows())
	assert.Equal(t, 0, b.Rows())
	col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }

	assert.Equal(t, "a", col("id").(*array.String).Value(0))
	vec := col("vector").(*array.FixedSizeList)
	vals := vec.ListValues().(*array.Float32).Float32Values()
	assert.Equal(t, []float32{0.1, -2.5, 3e-3, 1, 2, 3}, vals)
	assert.Equal(t, "hello", col("text").(*array.String).Value(0))
	assert.Equal(t, "doc", col("source").(*array.String).Value(0))
	assert.True(t, col("source").IsNull(1))
	assert.Equal(t, int32(7), col("page").(*array.Int32).Value(0))
	assert.Equal(t, 0.5, col("score").(*array.Float64).Value(0))
	assert.True(t, col("ok").(*array.Boolean).Value(0))
	assert.True(t, col("ok").IsNull(1))
	ts := col("ts").(*array.Timestamp)
	assert.Equal(t, arrow.Timestamp(time.Date(2026, 12, 5, 1, 2, 3, 4000, time.UTC).UnixMicro()), ts.Value(0))
	assert.Equal(t, arrow.Timestamp(1764896523000000), ts.Value(1))
	assert.Equal(t, `{"source":"doc","page":7}`, col("metadata").(*array.String).Value(0))
	assert.True(t, col("metadata").IsNull(1))
}

func TestBuilderBase64AndFloat16(t *testing.T) {
	b, _ := newTestBuilder(t, vectorOnly(4, EncodingBase64F32), jsonrows.FormatNDJSON)
	payload := fmt.Sprintf("{\"id\":\"x\",\"embedding\":%q}\n\n{\"id\":\"y\",\"embedding\":%q}\n",
		b64(1, 2, 3, 4), strings.TrimRight(b64(-1, 0.5, 1e-7, 65504), "="))
	n, err := b.Append([]byte(payload))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	rec := b.NewRecord()
	defer rec.Release()
	vals := rec.Column(1).(*array.FixedSizeList).ListValues().(*array.Float32).Float32Values()
	assert.Equal(t, []float32{1, 2, 3, 4, -1, 0.5, 1e-7, 65504}, vals)

	s16 := vectorOnly(2, EncodingJSON)
	s16.Vector.Element = ElementFloat16
	b16, _ := newTestBuilder(t, s16, jsonrows.FormatJSONArray)
	_, err = b16.Append([]byte(`[{"id":"a","embedding":[0.5,-2]},{"id":"b","embedding":[65504,1e-3]}]`))
	require.NoError(t, err)
	rec16 := b16.NewRecord()
	defer rec16.Release()
	assert.Equal(t, "fixed_size_list<item: float16, nullable>[2]", rec16.Schema().Field(1).Type.String())
	f16 := rec16.Column(1).(*array.FixedSizeList).ListValues().(*array.Float16)
	assert.Equal(t, float32(0.5), f16.Value(0).Float32())
	assert.Equal(t, float32(-2), f16.Value(1).Float32())
	assert.Equal(t, float32(65504), f16.Value(2).Float32())
	_, err = b16.Append([]byte(`[{"id":"c","embedding":[70000,1]}]`))
	assert.ErrorContains(t, err, "out of the float16 range")
}

// Every bad row fails its whole message with an error naming the row and
// the field; nothing of that message reaches the record.
func TestBuilderRejectsBadMessagesWhole(t *testing.T) {
	nan := b64(1, float32(math.NaN()), 3)
	inf := b64(1, 2, float32(math.Inf(1)))
	cases := []struct {
		name, payload, want string
		enc                 Encoding
	}{
		{"wrong dimension", `{"id":"a","text":"t","embedding":[1,2]}`, `vector "vector": dimension 2, want 3`, EncodingJSON},
		{"too long", `{"id":"a","text":"t","embedding":[1,2,3,4]}`, `dimension 4, want 3`, EncodingJSON},
		{"string element", `{"id":"a","text":"t","embedding":[1,"2",3]}`, `element 1 is a string ("2"), want a number`, EncodingJSON},
		{"null element", `{"id":"a","text":"t","embedding":[1,null,3]}`, `element 1 is a null`, EncodingJSON},
		{"NaN literal", `{"id":"a","text":"t","embedding":[1,NaN,3]}`, `element 1 is NaN`, EncodingJSON},
		{"overflow", `{"id":"a","text":"t","embedding":[1,1e39,3]}`, `element 1 (1e39): out of range of float32`, EncodingJSON},
		{"vector not array", `{"id":"a","text":"t","embedding":"1,2,3"}`, `want a JSON array of 3 numbers`, EncodingJSON},
		{"null vector", `{"id":"a","text":"t","embedding":null}`, `vector field "embedding" is null`, EncodingJSON},
		{"missing vector", `{"id":"a","text":"t"}`, `missing required vector field "embedding"`, EncodingJSON},
		{"missing id", `{"text":"t","embedding":[1,2,3]}`, `missing required field "id"`, EncodingJSON},
		{"null id", `{"id":null,"text":"t","embedding":[1,2,3]}`, `field "id" (id) is null, but required`, EncodingJSON},
		{"missing required text", `{"id":"a","embedding":[1,2,3]}`, `missing required field "text"`, EncodingJSON},
		{"numeric id", `{"id":5,"text":"t","embedding":[1,2,3]}`, `field "id" (id): number value 5, want a string`, EncodingJSON},
		{"fractional int", `{"id":"a","text":"t","embedding":[1,2,3],"meta":{"page":1.5}}`, `field "meta.page" (page): number value 1.5`, EncodingJSON},
		{"int32 overflow", `{"id":"a","text":"t","embedding":[1,2,3],"meta":{"page":3000000000}}`, `int32 range`, EncodingJSON},
		{"bad bool", `{"id":"a","text":"t","embedding":[1,2,3],"ok":"yes"}`, `want true or false`, EncodingJSON},
		{"bad timestamp", `{"id":"a","text":"t","embedding":[1,2,3],"ts":"yesterday"}`, `want an RFC 3339 timestamp`, EncodingJSON},
		{"not an object", `[1,2,3]`, `row is a JSON array, want an object`, EncodingJSON},
		{"invalid JSON", `{"id":"a",`, `invalid JSON`, EncodingJSON},
		{"base64 NaN", `{"id":"a","text":"t","embedding":"` + nan + `"}`, `element 1 is NaN`, EncodingBase64F32},
		{"base64 Inf", `{"id":"a","text":"t","embedding":"` + inf + `"}`, `element 2 is infinite`, EncodingBase64F32},
		{"base64 short", `{"id":"a","text":"t","embedding":"` + b64(1, 2) + `"}`, `holds 2 float32, want 3`, EncodingBase64F32},
		{"base64 garbage", `{"id":"a","text":"t","embedding":"!!!!!!!!!!!!!!!!"}`, `invalid base64`, EncodingBase64F32},
		{"base64 array", `{"id":"a","text":"t","embedding":[1,2,3]}`, `want a base64 string`, EncodingBase64F32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := newTestBuilder(t, testSchema(3, c.enc), jsonrows.FormatJSON)
			good := `{"id":"g","text":"t","embedding":[1,2,3]}`
			if c.enc == EncodingBase64F32 {
				good = `{"id":"g","text":"t","embedding":"` + b64(1, 2, 3) + `"}`
			}
			_, err := b.Append([]byte(good))
			require.NoError(t, err)
			n, err := b.Append([]byte(c.payload))
			require.Error(t, err)
			assert.Equal(t, 0, n)
			assert.Contains(t, err.Error(), c.want)
			var re *jsonrows.RowError
			assert.True(t, errors.As(err, &re), "%T", err)
			assert.Equal(t, 1, b.Rows())
			rec := b.NewRecord()
			defer rec.Release()
			assert.Equal(t, int64(1), rec.NumRows())
		})
	}
}

func TestBuilderNDJSONBadRowFailsMessage(t *testing.T) {
	b, _ := newTestBuilder(t, testSchema(2, EncodingJSON), jsonrows.FormatNDJSON)
	msg := `{"id":"1","text":"a","embedding":[1,2]}
{"id":"2","text":"b","embedding":[3,4]}
{"id":"3","text":"c","embedding":[5]}
`
	_, err := b.Append([]byte(msg))
	assert.EqualError(t, err, `row 3 (line 3): vector "vector": dimension 1, want 2`)
	assert.Equal(t, 0, b.Rows())
	n, err := b.Append([]byte(strings.Replace(msg, "[5]", "[5,6]", 1)))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	rec := b.NewRecord()
	defer rec.Release()
	vals := rec.Column(1).(*array.FixedSizeList).ListValues().(*array.Float32).Float32Values()
	assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, vals)
	ids := rec.Column(0).(*array.String)
	assert.Equal(t, "3", ids.Value(2))
}

// A table created elsewhere (Python) decides field order, nullability and
// timestamp unit; extra nullable columns get nulls.
func TestBindToForeignTable(t *testing.T) {
	s := Schema{
		ID:      Column{Name: "id", Type: Int64},
		Vector:  Vector{Name: "vec", Dimension: 2},
		Columns: []Column{{Name: "text", Type: String}, {Name: "at", Type: Timestamp}},
	}
	require.NoError(t, s.Validate())
	table := arrow.NewSchema([]arrow.Field{
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: false},
		{Name: "extra", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "vec", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	l, err := s.Bind(table)
	require.NoError(t, err)
	b := NewBuilder(l, jsonrows.FormatJSON, nil)
	defer b.Release()
	_, err = b.Append([]byte(`{"id":1,"vec":[1,2],"at":"2026-01-01T00:00:00.000000001Z"}`))
	assert.ErrorContains(t, err, `missing required field "text"`, "non-nullable in the table makes it required")
	_, err = b.Append([]byte(`{"id":1,"vec":[1,2],"text":"x","at":"2026-01-01T00:00:00.000000001Z"}`))
	require.NoError(t, err)
	rec := b.NewRecord()
	defer rec.Release()
	assert.True(t, rec.Schema().Equal(table))
	assert.True(t, rec.Column(1).IsNull(0))
	assert.Equal(t, arrow.Timestamp(1767225600000000001), rec.Column(3).(*array.Timestamp).Value(0))

	for name, bad := range map[string]*arrow.Schema{
		`table has no column "text"`:                            arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "vec", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32)}}, nil),
		`column "id" is utf8 in the table, configured as int64`: arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil),
		`vector column "vec" is fixed_size_list<item: float32, nullable>[3] in the table`: arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "text", Type: arrow.BinaryTypes.String}, {Name: "at", Type: arrow.FixedWidthTypes.Timestamp_us},
			{Name: "vec", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)}}, nil),
		`table column "other" is not nullable and not configured`: arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "text", Type: arrow.BinaryTypes.String}, {Name: "at", Type: arrow.FixedWidthTypes.Timestamp_us},
			{Name: "vec", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32)}, {Name: "other", Type: arrow.BinaryTypes.String}}, nil),
	} {
		_, err := s.Bind(bad)
		assert.ErrorContains(t, err, name)
	}
}

func TestSchemaValidate(t *testing.T) {
	ok := func() Schema {
		return Schema{ID: Column{Name: "id", Type: String}, Vector: Vector{Name: "v", Dimension: 8}}
	}
	s := ok()
	require.NoError(t, s.Validate())
	assert.Equal(t, ElementFloat32, s.Vector.Element)
	assert.Equal(t, "schema:\n  fields: 2\n    - id: type=utf8\n    - v: type=fixed_size_list<item: float32, nullable>[8]", s.Arrow().String())
	for want, mutate := range map[string]func(*Schema){
		"dimension 0 out of range 1..4096":    func(s *Schema) { s.Vector.Dimension = 0 },
		"dimension 4097 out of range 1..4096": func(s *Schema) { s.Vector.Dimension = 4097 },
		"type float64 not supported":          func(s *Schema) { s.ID.Type = Float64 },
		`name "v" is also the id column`:      func(s *Schema) { s.ID.Name = "v" },
		`name "id" is already used by id`:     func(s *Schema) { s.Columns = []Column{{Name: "id", Type: String}} },
		"type is missing":                     func(s *Schema) { s.Columns = []Column{{Name: "x"}} },
		`path "a..b" has an empty key`:        func(s *Schema) { s.Vector.Path = "a..b" },
	} {
		s := ok()
		mutate(&s)
		assert.ErrorContains(t, s.Validate(), want)
	}
	_, err := ParseType("decimal")
	assert.Error(t, err)
	_, err = ParseEncoding("hex")
	assert.Error(t, err)
	_, err = ParseElement("float64")
	assert.Error(t, err)
}

func benchVector(dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(math.Sin(float64(i))) * 0.1
	}
	return v
}

func BenchmarkAppend768(b *testing.B) {
	for _, enc := range []Encoding{EncodingJSON, EncodingBase64F32} {
		b.Run(EncodingNames[enc], func(b *testing.B) {
			s := Schema{ID: Column{Name: "id", Type: Int64}, Vector: Vector{Name: "vector", Dimension: 768, Encoding: enc},
				Columns: []Column{{Name: "text", Type: String}}}
			if err := s.Validate(); err != nil {
				b.Fatal(err)
			}
			l, _ := s.Bind(s.Arrow())
			v := benchVector(768)
			var payload string
			if enc == EncodingJSON {
				parts := make([]string, len(v))
				for i, f := range v {
					parts[i] = fmt.Sprint(f)
				}
				payload = `{"id":1,"text":"some text of a chunk","vector":[` + strings.Join(parts, ",") + `]}`
			} else {
				payload = `{"id":1,"text":"some text of a chunk","vector":"` + b64(v...) + `"}`
			}
			bld := NewBuilder(l, jsonrows.FormatJSON, nil)
			bld.Reserve(1000)
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := bld.Append([]byte(payload)); err != nil {
					b.Fatal(err)
				}
				if bld.Rows() == 1000 {
					bld.NewRecord().Release()
					bld.Reserve(1000)
				}
			}
		})
	}
}
