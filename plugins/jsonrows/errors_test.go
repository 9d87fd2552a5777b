package jsonrows

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

func strictSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "n8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "n32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 5, Scale: 2}, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "name", Type: arrow.BinaryTypes.String},
		), Nullable: true},
		{Name: "tags", Type: arrow.ListOfNonNullable(arrow.BinaryTypes.String), Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
}

func TestPerRowErrors(t *testing.T) {
	cases := []struct {
		row  string
		kind error
		msg  string
	}{
		{`{"id":1,`, ErrMalformedJSON, "malformed JSON"},
		{`[1,2]`, ErrMalformedJSON, "not an object"},
		{`{"id":1} x`, ErrMalformedJSON, "malformed JSON"},
		{`{"id":"1"}`, ErrTypeMismatch, "field id: expected long, got string"},
		{`{}`, ErrNullNotAllowed, "field id: null value in non-nullable column"},
		{`{"id":null}`, ErrNullNotAllowed, "field id: null"},
		{`{"id":1.5}`, ErrInvalidValue, "field id: bad long 1.5"},
		{`{"id":9223372036854775808}`, ErrOutOfRange, "field id"},
		{`{"id":NaN}`, ErrInvalidValue, "field id"},
		{`{"id":1,"n8":128}`, ErrOutOfRange, "field n8: value 128 overflows byte"},
		{`{"id":1,"n8":-129}`, ErrOutOfRange, "overflows byte"},
		{`{"id":1,"n32":2147483648}`, ErrOutOfRange, "field n32: value 2147483648 overflows integer"},
		{`{"id":1,"f32":1e39}`, ErrOutOfRange, "field f32"},
		{`{"id":1,"f32":true}`, ErrTypeMismatch, "field f32: expected float, got boolean"},
		{`{"id":1,"ts":"2024-13-01T00:00:00Z"}`, ErrInvalidValue, "field ts: bad timestamp"},
		{`{"id":1,"ts":"2024-02-30T00:00:00Z"}`, ErrInvalidValue, "field ts: bad timestamp"},
		{`{"id":1,"ts":"2024-01-01 00:00:00"}`, ErrInvalidValue, "field ts: bad timestamp"},
		{`{"id":1,"ts":"2024-01-01T25:00:00Z"}`, ErrInvalidValue, "field ts"},
		{`{"id":1,"ts":1.5}`, ErrInvalidValue, "field ts"},
		{`{"id":1,"ts":{}}`, ErrTypeMismatch, "field ts: expected timestamp, got object"},
		{`{"id":1,"day":"2024-1-1"}`, ErrInvalidValue, "field day: bad date"},
		{`{"id":1,"dec":1.234}`, ErrInvalidValue, "field dec: bad decimal(5,2)"},
		{`{"id":1,"dec":"1000.00"}`, ErrInvalidValue, "field dec"},
		{`{"id":1,"dec":"abc"}`, ErrInvalidValue, "field dec"},
		{`{"id":1,"bin":"!!!"}`, ErrInvalidValue, "field bin: binary value is not base64"},
		{`{"id":1,"s":5}`, ErrTypeMismatch, "field s: expected string, got number"},
		{"{\"id\":1,\"s\":\"\xff\"}", ErrInvalidValue, "field s: string is not valid UTF-8"},
		{`{"id":1,"user":{"age":"x","name":"a"}}`, ErrTypeMismatch, "field user.age: expected long, got string"},
		{`{"id":1,"user":{"age":1}}`, ErrNullNotAllowed, "field user.name: null value in non-nullable column"},
		{`{"id":1,"user":[]}`, ErrTypeMismatch, "field user: expected struct, got array"},
		{`{"id":1,"tags":["a",null]}`, ErrNullNotAllowed, "field tags[]: null"},
		{`{"id":1,"tags":"a"}`, ErrTypeMismatch, "field tags: expected array, got string"},
		{`{"id":1,"tags":["a",1]}`, ErrTypeMismatch, "field tags[]: expected string, got number"},
		{`{"id":1,"m":{"a":"b"}}`, ErrTypeMismatch, "field m.value: expected integer, got string"},
	}
	d, err := NewDecoder(strictSchema(), DecoderOptions{UnknownFields: UnknownFieldsIgnore})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	good := 0
	for i, c := range cases {
		// A good row before each bad one: it must survive untouched.
		require.NoError(t, buf.AppendJSON([]byte(`{"id":100,"n8":1,"user":{"name":"ok"},"tags":["t"],"m":{"k":1}}`)))
		good++
		r, err := d.Decode([]byte(c.row))
		require.Error(t, err, "case %d %s", i, c.row)
		require.Nil(t, r)
		require.True(t, errors.Is(err, c.kind), "case %d %s: %v is not %v", i, c.row, err, c.kind)
		require.Contains(t, err.Error(), c.msg, "case %d", i)
		// The failed Decode must not let a stale Row be appended.
		require.ErrorIs(t, buf.Append(&d.row), ErrStaleRow)
	}
	rec := buf.NewRecord()
	defer rec.Release()
	require.EqualValues(t, good, rec.NumRows())
	for i, col := range rec.Columns() {
		require.Equal(t, good, col.Len(), "column %d", i)
	}
	const want = `{"id":100,"n8":1,"n32":null,"f32":null,"ts":null,"day":null,"dec":null,"bin":null,"s":null,"user":{"age":null,"name":"ok"},"tags":["t"],"m":[{"key":"k","value":1}]}`
	wantAll := "[" + strings.TrimSuffix(strings.Repeat(want+",", good), ",") + "]"
	require.JSONEq(t, wantAll, recordJSON(t, rec))
}

func TestUnknownFields(t *testing.T) {
	d, err := NewDecoder(strictSchema(), DecoderOptions{})
	require.NoError(t, err)
	_, err = d.Decode([]byte(`{"id":1,"extra":5,"nothing":null,"user":{"name":"a","nick":"b","deep":{"x":[1.5]}},"empty":[]}`))
	var ue *UnknownFieldsError
	require.ErrorAs(t, err, &ue)
	require.Len(t, ue.Fields, 3)
	require.Equal(t, "extra", ue.Fields[0].Path)
	require.Equal(t, "long", typeName(ue.Fields[0].Type))
	require.Equal(t, "user.nick", ue.Fields[1].Path)
	require.Equal(t, "user.deep", ue.Fields[2].Path)
	require.Equal(t, "struct<x: list<item: float64, nullable> nullable>", ue.Fields[2].Type.String())
	require.Contains(t, err.Error(), "unknown fields: extra (long), user.nick (string), user.deep (struct)")

	// Evolving the schema with the inferred row makes it decodable.
	obs, err := InferSchema([][]byte{[]byte(`{"id":1,"extra":5,"user":{"name":"a","nick":"b"}}`)})
	require.NoError(t, err)
	evolved, changed, err := EvolveSchema(strictSchema(), obs)
	require.NoError(t, err)
	require.True(t, changed)
	d2, err := NewDecoder(evolved, DecoderOptions{})
	require.NoError(t, err)
	buf := d2.NewBuffer(nil)
	defer buf.Release()
	require.NoError(t, buf.AppendJSON([]byte(`{"id":1,"extra":5,"user":{"name":"a","nick":"b"}}`)))

	// A value no schema can hold fails the row instead of being dropped.
	_, err = d.Decode([]byte(`{"id":1,"mixed":[1,"x"]}`))
	require.ErrorContains(t, err, "field mixed[]: conflicting types long and string")

	// Ignoring drops them.
	d3, err := NewDecoder(strictSchema(), DecoderOptions{UnknownFields: UnknownFieldsIgnore})
	require.NoError(t, err)
	_, err = d3.Decode([]byte(`{"id":1,"extra":5}`))
	require.NoError(t, err)
}
