package jsonrows

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/stretchr/testify/require"
)

func partSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "msg", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 6, Scale: 2}, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "topic", Type: arrow.BinaryTypes.String},
		{Name: "offset", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "published", Type: tsUTC, Nullable: true},
	}, nil)
}

func TestPartitionValues(t *testing.T) {
	d, err := NewDecoder(partSchema(), DecoderOptions{
		PartitionColumns: []string{"ts", "s", "i", "d", "b", "dec", "f", "topic"},
		ExtraColumns:     []string{"topic", "offset", "published"},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"msg", "offset", "published"}, fieldNames(d.DataSchema()))
	pub := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC)
	cases := []struct {
		row  string
		want string
	}{
		{`{"msg":"m","s":"a/b c%=é","i":-7,"d":"2024-02-29","ts":"2024-01-02T03:04:05.1+01:00","b":true,"dec":"-1.5","f":0.1}`,
			`s="a/b c%=é" i="-7" d="2024-02-29" ts="2024-01-02T02:04:05.100000Z" b="true" dec="-1.50" f="0.1" topic="/t/1"`},
		{`{"s":"","i":null,"d":null,"ts":"1969-12-31T23:59:59.999999Z","b":false,"dec":null,"f":null}`,
			`s="" i=null d=null ts="1969-12-31T23:59:59.999999Z" b="false" dec=null f=null topic="/t/1"`},
	}
	var keys []string
	for _, c := range cases {
		r, err := d.Decode([]byte(c.row), "/t/1", int64(42), pub)
		require.NoError(t, err, c.row)
		got := ""
		for _, pv := range r.PartitionValues() {
			if pv.Null {
				got += pv.Column + "=null "
			} else {
				got += fmt.Sprintf("%s=%q ", pv.Column, valueText(pv))
			}
		}
		// PartitionValues is in PartitionColumns order: ts first.
		require.Equal(t, "ts=", got[:3])
		require.ElementsMatch(t, splitFields(c.want), splitFields(got))
		keys = append(keys, string(r.AppendPartitionKey(nil)))
		buf := d.NewBuffer(nil)
		require.NoError(t, buf.Append(r))
		rec := buf.NewRecord()
		require.Contains(t, recordJSON(t, rec), `"offset":42,"published":"1969-07-20T20:17:40.123456Z"`)
		rec.Release()
		buf.Release()
	}
	require.NotEqual(t, keys[0], keys[1])

	// Missing partition value and bad partition value fail the row.
	_, err = d.Decode([]byte(`{"i":1,"d":null,"ts":null,"b":null,"dec":null,"f":null}`), "/t/1", nil, nil)
	require.True(t, errors.Is(err, ErrMissingPartition), "%v", err)
	require.ErrorContains(t, err, "field s: missing partition value")
	_, err = d.Decode([]byte(`{"s":"x","i":"1","d":null,"ts":null,"b":null,"dec":null,"f":null}`), "/t/1", nil, nil)
	require.ErrorContains(t, err, "field i: expected integer, got string")
	// Extras are type-checked too; a null in the non-nullable topic fails.
	_, err = d.Decode([]byte(`{"s":"x","i":1,"d":null,"ts":null,"b":null,"dec":null,"f":null}`), nil, nil, nil)
	require.ErrorIs(t, err, ErrNullNotAllowed)
	_, err = d.Decode([]byte(`{"s":"x","i":1,"d":null,"ts":null,"b":null,"dec":null,"f":null}`), "/t", "not-a-number", nil)
	require.ErrorContains(t, err, "field offset: expected long, got Go string")
	_, err = d.Decode([]byte(`{"s":"x","i":1,"d":null,"ts":null,"b":null,"dec":null,"f":null}`), "/t\xff", nil, nil)
	require.ErrorContains(t, err, "field topic: string is not valid UTF-8")
	_, err = d.Decode([]byte(`{}`), "/t")
	require.ErrorContains(t, err, "got 1 extra values for 3 extra columns")
}

// valueText spells a typed value for comparison (the sink decides the real
// spelling).
func valueText(v Value) string {
	switch t := v.Type.(type) {
	case *arrow.BooleanType:
		return strconv.FormatBool(v.Int != 0)
	case *arrow.Date32Type:
		return string(AppendDate(nil, v.Int))
	case *arrow.TimestampType:
		return string(AppendTimestampMicros(nil, ToMicros(v.Int, t.Unit)))
	case *arrow.Decimal128Type:
		return v.Decimal.ToString(t.Scale)
	case *arrow.Float32Type, *arrow.Float64Type:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case *arrow.StringType:
		return string(v.Bytes)
	}
	return strconv.FormatInt(v.Int, 10)
}

func splitFields(s string) []string { return bytes2strings(bytes.Fields([]byte(s))) }

func bytes2strings(b [][]byte) []string {
	out := make([]string, len(b))
	for i := range b {
		out[i] = string(b[i])
	}
	return out
}

func fieldNames(s *arrow.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name)
	}
	return out
}

func TestPartitionKeyUnambiguous(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	d, err := NewDecoder(schema, DecoderOptions{PartitionColumns: []string{"a", "b"}})
	require.NoError(t, err)
	seen := map[string]string{}
	for _, row := range []string{`{"a":"x","b":""}`, `{"a":"","b":"x"}`, `{"a":"x","b":null}`, `{"a":null,"b":"x"}`, `{"a":"x\u0000","b":""}`, `{"a":"","b":""}`, `{"a":null,"b":null}`} {
		r, err := d.Decode([]byte(row))
		require.NoError(t, err)
		k := string(r.AppendPartitionKey(nil))
		require.NotContains(t, seen, k, "%s collides with %s", row, seen[k])
		seen[k] = row
	}
}

func TestExtrasConversions(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 5, Scale: 1}, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
	}, nil)
	d, err := NewDecoder(schema, DecoderOptions{ExtraColumns: []string{"i8", "f", "bin", "day", "dec", "ts"}})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	require.NoError(t, buf.AppendJSON([]byte(`{}`), uint8(7), 2, []byte{1, 2}, time.Date(2020, 5, 6, 23, 0, 0, 0, time.UTC), "12.3", "2020-01-01T00:00:00.000001Z"))
	require.NoError(t, buf.AppendJSON([]byte(`{}`), nil, float32(0.5), "x", "2021-01-01", decimal128.FromI64(-5), int64(-1)))
	require.NoError(t, buf.AppendJSON([]byte(`{}`), int64(-128), nil, nil, 0, 42, nil))
	rec := buf.NewRecord()
	defer rec.Release()
	require.JSONEq(t, `[
	 {"i8":7,"f":2,"bin":"AQI=","day":"2020-05-06","dec":"12.3","ts":"2020-01-01T00:00:00.000001Z"},
	 {"i8":null,"f":0.5,"bin":"eA==","day":"2021-01-01","dec":"-0.5","ts":"1969-12-31T23:59:59.999999Z"},
	 {"i8":-128,"f":null,"bin":null,"day":"1970-01-01","dec":"42","ts":null}]`, recordJSON(t, rec))
	require.Equal(t, decimal128.FromI64(420), rec.Column(4).(*array.Decimal128).Value(2), "42 scaled by 10^1")
	_, err = d.Decode([]byte(`{}`), 200, nil, nil, nil, nil, nil)
	require.ErrorIs(t, err, ErrOutOfRange)
	_, err = d.Decode([]byte(`{}`), nil, nil, nil, nil, "1.23", nil)
	require.ErrorContains(t, err, "field dec: bad decimal(5,1)")
}
