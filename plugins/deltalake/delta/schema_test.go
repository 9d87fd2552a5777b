package delta

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const richSchema = `{"type":"struct","fields":[
{"name":"id","type":"long","nullable":false,"metadata":{}},
{"name":"i","type":"integer","nullable":true,"metadata":{}},
{"name":"s","type":"short","nullable":true,"metadata":{}},
{"name":"b","type":"byte","nullable":true,"metadata":{}},
{"name":"f","type":"float","nullable":true,"metadata":{}},
{"name":"d","type":"double","nullable":true,"metadata":{}},
{"name":"ok","type":"boolean","nullable":true,"metadata":{}},
{"name":"bin","type":"binary","nullable":true,"metadata":{}},
{"name":"day","type":"date","nullable":true,"metadata":{}},
{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
{"name":"amount","type":"decimal(10, 2)","nullable":true,"metadata":{"comment":"money"}},
{"name":"user","type":{"type":"struct","fields":[{"name":"name","type":"string","nullable":true,"metadata":{}},{"name":"age","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
{"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},
{"name":"attrs","type":{"type":"map","keyType":"string","valueType":{"type":"array","elementType":"long","containsNull":false},"valueContainsNull":true},"nullable":true,"metadata":{}}
]}`

func TestSchemaParseRenderArrowRoundTrip(t *testing.T) {
	s, err := ParseSchema([]byte(richSchema))
	require.NoError(t, err)
	require.Len(t, s.Fields, 14)
	assert.Equal(t, &DecimalType{Precision: 10, Scale: 2}, s.Field("amount").Type)
	assert.Equal(t, `"money"`, string(s.Field("amount").Metadata["comment"]))
	assert.False(t, s.Field("id").Nullable)

	// Rendering and re-parsing is stable; decimal renders without the space.
	again, err := ParseSchema([]byte(s.String()))
	require.NoError(t, err)
	assert.True(t, SchemaEqual(s, again))
	assert.Contains(t, s.String(), `"type":"decimal(10,2)"`)

	as, err := ToArrow(s)
	require.NoError(t, err)
	ts := as.Field(9).Type.(*arrow.TimestampType)
	assert.Equal(t, arrow.Microsecond, ts.Unit)
	assert.Equal(t, "UTC", ts.TimeZone)
	assert.Equal(t, arrow.DECIMAL128, as.Field(10).Type.ID())
	assert.Equal(t, arrow.MAP, as.Field(13).Type.ID())

	back, err := FromArrow(as)
	require.NoError(t, err)
	assert.Equal(t, FormatType(s), FormatType(back))
	assert.True(t, SchemaEqual(s, back), "nullability survives the Arrow round trip")
}

func TestFromArrowSpecialCases(t *testing.T) {
	as := arrow.NewSchema([]arrow.Field{
		{Name: "ntz", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	}, nil)
	s, err := FromArrow(as)
	require.NoError(t, err)
	assert.Equal(t, "struct<ntz:timestamp_ntz,u16:integer,ls:string>", FormatType(s))

	_, err = FromArrow(arrow.NewSchema([]arrow.Field{{Name: "big", Type: arrow.PrimitiveTypes.Uint64}}, nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"big"`)
}

func TestParseSchemaErrors(t *testing.T) {
	for _, in := range []string{`{"type":"struct","fields":[{"name":"x","type":"varchar"}]}`, `"long"`, `{"type":"struct","fields":[{"name":"x","type":"decimal(40,2)"}]}`, `{`,
		`{"type":"struct","fields":[{"name":"a","type":"long"},{"name":"A","type":"string"}]}`,
		`{"type":"struct","fields":[{"type":"long"}]}`} {
		_, err := ParseSchema([]byte(in))
		assert.Error(t, err, in)
	}
}

func mustSchema(t *testing.T, s string) *StructType {
	t.Helper()
	st, err := ParseSchema([]byte(s))
	require.NoError(t, err)
	return st
}

func TestMergeSchema(t *testing.T) {
	base := mustSchema(t, `{"type":"struct","fields":[
{"name":"a","type":"long","nullable":false,"metadata":{}},
{"name":"u","type":{"type":"struct","fields":[{"name":"x","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
{"name":"l","type":{"type":"array","elementType":{"type":"struct","fields":[{"name":"p","type":"long","nullable":true,"metadata":{}}]},"containsNull":true},"nullable":true,"metadata":{}}]}`)

	t.Run("no change", func(t *testing.T) {
		m, changed, err := MergeSchema(base, base)
		require.NoError(t, err)
		assert.False(t, changed)
		assert.True(t, SchemaEqual(base, m))
	})
	t.Run("subset is no change", func(t *testing.T) {
		_, changed, err := MergeSchema(base, mustSchema(t, `{"type":"struct","fields":[{"name":"A","type":"long","nullable":true,"metadata":{}}]}`))
		require.NoError(t, err)
		assert.False(t, changed)
	})
	t.Run("new top-level and nested fields appended nullable", func(t *testing.T) {
		in := mustSchema(t, `{"type":"struct","fields":[
{"name":"new","type":"string","nullable":false,"metadata":{}},
{"name":"u","type":{"type":"struct","fields":[{"name":"y","type":"double","nullable":true,"metadata":{}},{"name":"x","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
{"name":"l","type":{"type":"array","elementType":{"type":"struct","fields":[{"name":"q","type":"boolean","nullable":true,"metadata":{}}]},"containsNull":true},"nullable":true,"metadata":{}}]}`)
		m, changed, err := MergeSchema(base, in)
		require.NoError(t, err)
		assert.True(t, changed)
		assert.Equal(t, "struct<a:long,u:struct<x:string,y:double>,l:array<struct<p:long,q:boolean>>,new:string>", FormatType(m))
		assert.True(t, m.Field("new").Nullable)
		assert.False(t, m.Field("a").Nullable)
		// base untouched
		assert.Equal(t, "struct<a:long,u:struct<x:string>,l:array<struct<p:long>>>", FormatType(base))
	})
	t.Run("type conflicts name the column and both types", func(t *testing.T) {
		cases := map[string]string{
			`{"type":"struct","fields":[{"name":"a","type":"string","nullable":true,"metadata":{}}]}`:                                                                              "a",
			`{"type":"struct","fields":[{"name":"u","type":{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`: "u.x",
			`{"type":"struct","fields":[{"name":"u","type":"string","nullable":true,"metadata":{}}]}`:                                                                              "u",
		}
		for in, col := range cases {
			_, _, err := MergeSchema(base, mustSchema(t, in))
			var sce *SchemaConflictError
			require.True(t, errors.As(err, &sce), in)
			assert.Equal(t, col, sce.Column)
			assert.NotEqual(t, sce.Existing, sce.Incoming)
			assert.Contains(t, err.Error(), col)
		}
	})
}
