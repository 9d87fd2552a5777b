package jsonrows

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/stretchr/testify/require"
)

func TestParseTimestamp(t *testing.T) {
	us := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return tm.UnixMicro()
	}
	cases := []struct {
		in    string
		unit  arrow.TimeUnit
		naive bool
		want  int64
		bad   bool
	}{
		{in: "1970-01-01T00:00:00Z", unit: arrow.Microsecond, want: 0},
		{in: "2024-02-29T12:34:56.789012Z", unit: arrow.Microsecond, want: us("2024-02-29T12:34:56.789012Z")},
		{in: "2024-01-01T00:30:00+01:00", unit: arrow.Microsecond, want: us("2023-12-31T23:30:00Z")},
		{in: "2024-01-01t00:30:00-05:30", unit: arrow.Microsecond, want: us("2024-01-01T06:00:00Z")},
		{in: "2024-01-01 00:00:00Z", unit: arrow.Microsecond, want: us("2024-01-01T00:00:00Z")},
		{in: "1969-12-31T23:59:59.9999995Z", unit: arrow.Microsecond, want: -1},   // sub-µs truncated down
		{in: "1969-12-31T23:59:59.999999999Z", unit: arrow.Millisecond, want: -1}, // to ms, down
		{in: "0001-01-01T00:00:00Z", unit: arrow.Microsecond, want: us("0001-01-01T00:00:00Z")},
		{in: "9999-12-31T23:59:59.999999Z", unit: arrow.Microsecond, want: us("9999-12-31T23:59:59.999999Z")},
		{in: "2024-03-31T02:30:00+02:00", unit: arrow.Second, want: us("2024-03-31T00:30:00Z") / 1e6},
		{in: "2024-01-01T00:00:00", unit: arrow.Microsecond, naive: true, want: us("2024-01-01T00:00:00Z")},
		{in: "2024-01-01T00:00:00", unit: arrow.Microsecond, bad: true},
		{in: "2023-02-29T00:00:00Z", unit: arrow.Microsecond, bad: true},
		{in: "2024-01-01T00:00:60Z", unit: arrow.Microsecond, bad: true},
		{in: "2024-01-01T00:00:00.Z", unit: arrow.Microsecond, bad: true},
		{in: "2024-01-01T00:00:00+0100", unit: arrow.Microsecond, bad: true},
		{in: "2024-01-01T00:00:00Zjunk", unit: arrow.Microsecond, bad: true},
		{in: "1000-01-01T00:00:00Z", unit: arrow.Nanosecond, bad: true}, // out of int64 ns range
	}
	for _, c := range cases {
		got, err := ParseTimestamp([]byte(c.in), c.unit, c.naive)
		if c.bad {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
}

func TestDatesRoundTrip(t *testing.T) {
	for _, s := range []string{"0001-01-01", "1582-10-15", "1900-02-28", "1969-12-31", "1970-01-01", "2000-02-29", "2024-12-31", "9999-12-31"} {
		days, err := ParseDate([]byte(s))
		require.NoError(t, err, s)
		tm, _ := time.Parse("2006-01-02", s)
		require.Equal(t, tm.Unix()/86400, days, s)
		require.Equal(t, s, string(AppendDate(nil, days)))
	}
	require.Equal(t, "1969-12-31T23:59:59.999999Z", string(AppendTimestampMicros(nil, -1)))
	require.Equal(t, "1969-12-31T23:59:59.999Z", string(AppendTimestampMillis(nil, -1, false)))
	require.Equal(t, "1969-12-31T23:59:59.999", string(AppendTimestampMillis(nil, -1, true)))
}

func TestParseNumbers(t *testing.T) {
	ints := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0}, {in: "-0", want: 0}, {in: "42", want: 42}, {in: "1.0", want: 1}, {in: "1e3", want: 1000},
		{in: "1.5e1", want: 15}, {in: "-25E-1", bad: true}, {in: "9223372036854775807", want: 9223372036854775807},
		{in: "-9223372036854775808", want: -9223372036854775808}, {in: "9223372036854775808", bad: true},
		{in: "01", bad: true}, {in: "1.", bad: true}, {in: ".5", bad: true}, {in: "+1", bad: true}, {in: "1e", bad: true},
		{in: "NaN", bad: true}, {in: "inf", bad: true}, {in: "1-2", bad: true}, {in: "0.0000e5", want: 0},
		{in: "1e999999", bad: true}, {in: "0e999999", want: 0},
	}
	for _, c := range ints {
		got, err := ParseInt([]byte(c.in))
		if c.bad {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
	decs := []struct {
		in          string
		prec, scale int32
		want        string
		bad         bool
	}{
		{in: "12.34", prec: 10, scale: 2, want: "12.34"},
		{in: "-0.05", prec: 10, scale: 2, want: "-0.05"},
		{in: "1.5e-1", prec: 10, scale: 2, want: "0.15"},
		{in: "12.340000", prec: 10, scale: 2, want: "12.34"},
		{in: "12.345", prec: 10, scale: 2, bad: true},
		{in: "99999999.99", prec: 10, scale: 2, want: "99999999.99"},
		{in: "100000000", prec: 10, scale: 2, bad: true},
		{in: "99999999999999999999999999999999999999", prec: 38, scale: 0, want: "99999999999999999999999999999999999999"},
		{in: "-99999999999999999999999999999999999999", prec: 38, scale: 0, want: "-99999999999999999999999999999999999999"},
		{in: "999999999999999999999999999999999999999", prec: 38, scale: 0, bad: true},
		{in: "1e2", prec: 5, scale: 0, want: "100"},
	}
	for _, c := range decs {
		n, err := ParseDecimal([]byte(c.in), c.scale, c.prec)
		if c.bad {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, n.ToString(c.scale), c.in)
	}
}

func TestEpochNumbers(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: tsUTC}}, nil)
	cases := []struct {
		unit EpochUnit
		in   string
		want string
		bad  bool
	}{
		{EpochColumnUnit, "1700000000123456", "2023-11-14T22:13:20.123456Z", false},
		{EpochColumnUnit, "-1", "1969-12-31T23:59:59.999999Z", false},
		{EpochSeconds, "1700000000.5", "2023-11-14T22:13:20.5Z", false},
		{EpochMilliseconds, "1700000000123", "2023-11-14T22:13:20.123Z", false},
		{EpochNanoseconds, "-1", "1969-12-31T23:59:59.999999Z", false},
		{EpochNanoseconds, "1700000000123456789", "2023-11-14T22:13:20.123456Z", false},
		{EpochMicroseconds, "1.5", "", true},
		{EpochSeconds, "1e300", "", true},
	}
	for _, c := range cases {
		d, err := NewDecoder(schema, DecoderOptions{EpochUnit: c.unit})
		require.NoError(t, err)
		buf := d.NewBuffer(nil)
		err = buf.AppendJSON([]byte(`{"ts":` + c.in + `}`))
		if c.bad {
			require.Error(t, err, c.in)
			buf.Release()
			continue
		}
		require.NoError(t, err, c.in)
		rec := buf.NewRecord()
		require.JSONEq(t, `[{"ts":"`+c.want+`"}]`, recordJSON(t, rec), c.in)
		rec.Release()
		buf.Release()
	}
}

func TestBufferNewRecordAndSchemaChecks(t *testing.T) {
	d, err := NewDecoder(eventSchema(), DecoderOptions{})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	for i := 0; i < 10; i++ {
		require.NoError(t, buf.AppendJSON(eventRow(i)))
	}
	require.GreaterOrEqual(t, buf.AllocatedBytes(), buf.BufferedBytes())
	rec := buf.NewRecord()
	require.EqualValues(t, 10, rec.NumRows())
	rec.Release()
	require.Zero(t, buf.Rows())
	require.Zero(t, buf.BufferedBytes())
	require.Less(t, buf.AllocatedBytes(), int64(4096), "memory of a flushed buffer is returned")

	for _, s := range []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: "e", Type: arrow.StructOf()}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int64)}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "u", Type: arrow.PrimitiveTypes.Uint64}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil),
	} {
		_, err := NewDecoder(s, DecoderOptions{})
		require.Error(t, err, s.String())
	}
	_, err = NewDecoder(eventSchema(), DecoderOptions{PartitionColumns: []string{"user"}})
	require.ErrorContains(t, err, "partition column user: type struct cannot be a partition column")
	_, err = NewDecoder(eventSchema(), DecoderOptions{PartitionColumns: []string{"nope"}})
	require.ErrorContains(t, err, "partition column nope: not in the schema")
	_, err = NewDecoder(eventSchema(), DecoderOptions{ExtraColumns: []string{"user"}})
	require.ErrorContains(t, err, "extra column user")
}

func TestMapKeyTypes(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "byInt", Type: arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String), Nullable: true},
		{Name: "byDay", Type: arrow.MapOf(arrow.FixedWidthTypes.Date32, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "byFlag", Type: arrow.MapOf(arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	d, err := NewDecoder(schema, DecoderOptions{})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	require.NoError(t, buf.AppendJSON([]byte(`{"byInt":{"1":"a","-2":null},"byDay":{"2024-01-02":3},"byFlag":{"true":1}}`)))
	for _, bad := range []string{`{"byInt":{"x":"a"}}`, `{"byInt":{"3000000000":"a"}}`, `{"byDay":{"2024-13-01":1}}`, `{"byFlag":{"yes":1}}`} {
		_, err := d.Decode([]byte(bad))
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "field by", bad)
	}
	rec := buf.NewRecord()
	defer rec.Release()
	require.JSONEq(t, `[{"byInt":[{"key":1,"value":"a"},{"key":-2,"value":null}],"byDay":[{"key":"2024-01-02","value":3}],"byFlag":[{"key":true,"value":1}]}]`, recordJSON(t, rec))
}

func TestNumbersFromStrings(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	strict, err := NewDecoder(schema, DecoderOptions{})
	require.NoError(t, err)
	_, err = strict.Decode([]byte(`{"i":"9007199254740993"}`))
	require.ErrorContains(t, err, "field i: expected long, got string")

	lenient, err := NewDecoder(schema, DecoderOptions{NumbersFromStrings: true})
	require.NoError(t, err)
	buf := lenient.NewBuffer(nil)
	defer buf.Release()
	require.NoError(t, buf.AppendJSON([]byte(`{"i":"9007199254740993","f":"-2.5e3"}`)))
	require.NoError(t, buf.AppendJSON([]byte(`{"i":7,"f":1}`)))
	for _, bad := range []string{`{"i":"x"}`, `{"i":" 1"}`, `{"f":"NaN"}`, `{"i":"1.5"}`} {
		_, err := lenient.Decode([]byte(bad))
		require.Error(t, err, bad)
	}
	rec := buf.NewRecord()
	defer rec.Release()
	require.JSONEq(t, `[{"i":9007199254740993,"f":-2500},{"i":7,"f":1}]`, recordJSON(t, rec))
	require.Equal(t, int64(9007199254740993), rec.Column(0).(*array.Int64).Value(0), "exact beyond 2^53")
}
