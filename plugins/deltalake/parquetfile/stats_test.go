package parquetfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// writeRows decodes batches of rows and writes each batch as a row group,
// returning the file bytes and its DataFile.
func writeRows(t *testing.T, schema *arrow.Schema, batches ...[]string) ([]byte, DataFile) {
	t.Helper()
	d, err := jsonrows.NewDecoder(schema, jsonrows.DecoderOptions{})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	var out bytes.Buffer
	fw, err := NewFileWriter(&out, d.DataSchema(), WriterOptions{})
	require.NoError(t, err)
	for _, rows := range batches {
		for _, r := range rows {
			require.NoError(t, buf.AppendJSON([]byte(r)), r)
		}
		rec := buf.NewRecord()
		require.NoError(t, fw.Write(rec))
		rec.Release()
	}
	df, err := fw.Close()
	require.NoError(t, err)
	require.EqualValues(t, out.Len(), df.Size)
	require.True(t, json.Valid([]byte(df.Stats)), df.Stats)
	return out.Bytes(), df
}

func TestStats(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "addr", Type: arrow.StructOf(arrow.Field{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
		), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "allnull", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	long := strings.Repeat("z", 40)
	_, df := writeRows(t, schema,
		[]string{
			`{"id":5,"name":"bob","ts":"1969-12-31T23:59:59.999999Z","day":"2024-01-01","f":1.5,"dec":"10.50","ok":true,"bin":"AA==","user":{"age":40,"addr":{"city":"Bern"}},"tags":["x"]}`,
			`{"id":-3,"name":"` + long + `","ts":"2024-05-06T07:08:09.123999Z","day":"1999-12-31","f":-0.5,"dec":-1,"user":null}`,
		},
		[]string{
			`{"id":9,"name":"alice","f":2e10,"user":{"age":null,"addr":{"city":"Aarau"}}}`,
			`{"id":0,"user":{"age":7,"addr":null}}`,
		},
	)
	want := `{"numRecords":4,` +
		`"minValues":{"id":-3,"name":"alice","ts":"1969-12-31T23:59:59.999Z","day":"1999-12-31","f":-0.5,"dec":-1.00,"user":{"age":7,"addr":{"city":"Aarau"}}},` +
		`"maxValues":{"id":9,"name":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz{","ts":"2024-05-06T07:08:09.123Z","day":"2024-01-01","f":2e+10,"dec":10.50,"user":{"age":40,"addr":{"city":"Bern"}}},` +
		`"nullCount":{"id":0,"name":1,"ts":2,"day":2,"f":1,"dec":2,"ok":3,"bin":3,"user":{"age":2,"addr":{"city":2}},"allnull":4}}`
	require.JSONEq(t, want, df.Stats)
	require.Equal(t, want, df.Stats, "stable field order")
}

func TestStatsStringBounds(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	cases := []struct {
		rows     []string
		min, max string // max "" means absent
	}{
		{[]string{"a", "b"}, "a", "b"},
		{[]string{strings.Repeat("é", 40)}, strings.Repeat("é", 32), strings.Repeat("é", 31) + "ê"},
		{[]string{strings.Repeat("\uffff", 33)}, strings.Repeat("\uffff", 32), ""},
		{[]string{strings.Repeat("a", 32)}, strings.Repeat("a", 32), strings.Repeat("a", 32)},
		{[]string{"b", strings.Repeat("a", 33) + "🚀"}, strings.Repeat("a", 32), "b"},
	}
	for i, c := range cases {
		var rows []string
		for _, r := range c.rows {
			b, _ := json.Marshal(map[string]string{"s": r})
			rows = append(rows, string(b))
		}
		_, df := writeRows(t, schema, rows)
		var st struct {
			MinValues map[string]string
			MaxValues map[string]string
		}
		require.NoError(t, json.Unmarshal([]byte(df.Stats), &st))
		require.Equal(t, c.min, st.MinValues["s"], "case %d", i)
		mx, ok := st.MaxValues["s"]
		if c.max == "" {
			require.False(t, ok, "case %d: max must be absent, got %q", i, mx)
		} else {
			require.Equal(t, c.max, mx, "case %d", i)
			for _, r := range c.rows {
				require.LessOrEqual(t, r, mx, "case %d: max is an upper bound", i)
			}
		}
	}
}

func TestStatsNaNAndColumnLimit(t *testing.T) {
	var fields []arrow.Field
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; i < 40; i++ {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("c%02d", i), Type: arrow.PrimitiveTypes.Int64, Nullable: true})
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"c%02d":%d`, i, i)
	}
	sb.WriteString("}")
	_, df := writeRows(t, arrow.NewSchema(fields, nil), []string{sb.String()})
	var st struct{ NullCount, MinValues map[string]any }
	require.NoError(t, json.Unmarshal([]byte(df.Stats), &st))
	require.Len(t, st.NullCount, 32)
	require.Len(t, st.MinValues, 32)
	require.Contains(t, st.MinValues, "c31")
	require.NotContains(t, st.MinValues, "c32")

	// NaN never reaches min/max (JSON cannot carry it; fastjson would).
	sc := newStatsCollector(arrow.NewSchema([]arrow.Field{{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil), 32)
	ls := sc.leaves[0]
	ls.float(nan())
	require.False(t, ls.has)
	ls.float(2)
	ls.float(nan())
	ls.float(-1)
	require.Equal(t, -1.0, ls.minF)
	require.Equal(t, 2.0, ls.maxF)
}

func nan() float64 { var z float64; return z / z }

func TestStatsOfSlicedRecord(t *testing.T) {
	d, err := jsonrows.NewDecoder(eventSchema(), jsonrows.DecoderOptions{})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	for _, r := range []string{
		`{"id":1,"user":{"age":10}}`, `{"id":2,"user":null}`, `{"id":3,"user":{"age":30}}`, `{"id":4,"user":{"age":40}}`,
	} {
		require.NoError(t, buf.AppendJSON([]byte(r)))
	}
	rec := buf.NewRecord()
	defer rec.Release()
	part := rec.NewSlice(1, 3)
	defer part.Release()
	var out bytes.Buffer
	fw, err := NewFileWriter(&out, part.Schema(), WriterOptions{})
	require.NoError(t, err)
	require.NoError(t, fw.Write(part))
	df, err := fw.Close()
	require.NoError(t, err)
	require.Equal(t, `{"numRecords":2,"minValues":{"id":2,"user":{"age":30}},"maxValues":{"id":3,"user":{"age":30}},"nullCount":{"id":0,"name":2,"ts":2,"user":{"age":1}}}`, df.Stats)
}
