package parquetfile

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

func TestPartitionValueOfGoValues(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want string
		null bool
	}{
		{"x", "x", false}, {int64(42), "42", false}, {float64(3), "3", false}, {1.5, "1.5", false},
		{true, "true", false}, {nil, "", true},
		{time.Date(2024, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600)), "2024-01-02T02:04:05.000006Z", false},
	} {
		got, err := PartitionValueOf(tt.in)
		require.NoError(t, err)
		if tt.null {
			assert.Nil(t, got)
		} else {
			assert.Equal(t, tt.want, *got)
		}
	}
	_, err := PartitionValueOf(map[string]any{})
	assert.Error(t, err)
}

// TestPartitionValueDecodedRows spells values decoded from JSON; a value
// given as a Go value by a partition mapping spells the same.
func TestPartitionValueDecodedRows(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 6, Scale: 2}, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	}, nil)
	cols := []string{"s", "i", "d", "ts", "b", "dec", "f", "f32"}
	d, err := jsonrows.NewDecoder(schema, jsonrows.DecoderOptions{PartitionColumns: cols})
	require.NoError(t, err)
	r, err := d.Decode([]byte(`{"s":"a/b c%=é","i":-7,"d":"2024-02-29","ts":"2024-01-02T03:04:05.1+01:00","b":true,"dec":"-1.5","f":3.0,"f32":0.1}`))
	require.NoError(t, err)
	var got []string
	for _, v := range r.PartitionValues() {
		got = append(got, v.Column+"="+*PartitionValue(v))
	}
	assert.Equal(t, []string{"s=a/b c%=é", "i=-7", "d=2024-02-29", "ts=2024-01-02T02:04:05.100000Z", "b=true", "dec=-1.50", "f=3", "f32=0.1"}, got)
	for _, v := range r.PartitionValues()[:2] {
		var goValue any = string(v.Bytes)
		if v.Column == "i" {
			goValue = v.Int
		}
		fromGo, err := PartitionValueOf(goValue)
		require.NoError(t, err)
		assert.Equal(t, *PartitionValue(v), *fromGo)
	}
	r, err = d.Decode([]byte(`{"s":null,"i":null,"d":null,"ts":null,"b":null,"dec":null,"f":null,"f32":null}`))
	require.NoError(t, err)
	for _, v := range r.PartitionValues() {
		assert.Nil(t, PartitionValue(v), v.Column)
	}
}
