package jsonrows

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

func TestInferSchema(t *testing.T) {
	cases := []struct {
		name string
		rows []string
		want string // schema String() without the header line
		err  string
	}{
		{"primitives", []string{`{"i":1,"f":1.5,"s":"x","b":true,"e":1e3}`},
			"i: type=int64, nullable\nf: type=float64, nullable\ns: type=utf8, nullable\nb: type=bool, nullable\ne: type=float64, nullable", ""},
		{"nulls left out until seen", []string{`{"a":null,"b":[],"c":{},"d":[null],"e":{"x":null}}`, `{"z":1}`},
			"z: type=int64, nullable", ""},
		{"null then value", []string{`{"a":null}`, `{"a":"v"}`}, "a: type=utf8, nullable", ""},
		{"int widens to double", []string{`{"a":1}`, `{"a":2.5}`, `{"a":3}`}, "a: type=float64, nullable", ""},
		{"array element widening", []string{`{"a":[1,2.5]}`}, "a: type=list<item: float64, nullable>, nullable", ""},
		{"nested merge keeps order", []string{`{"u":{"b":1}}`, `{"u":{"a":"x","b":2}}`, `{"n":[{"k":1},{"v":true}]}`},
			"u: type=struct<b: int64 nullable, a: utf8 nullable>, nullable\nn: type=list<item: struct<k: int64 nullable, v: bool nullable>, nullable>, nullable", ""},
		{"conflict", []string{`{"u":{"age":1}}`, `{"u":{"age":"x"}}`}, "", "field u.age: conflicting types long and string"},
		{"conflict struct vs scalar", []string{`{"u":1}`, `{"u":{"a":1}}`}, "", "field u: conflicting types long and struct"},
		{"conflict in array", []string{`{"a":[1,"x"]}`}, "", "field a[]: conflicting types long and string"},
		{"malformed", []string{`{"a":`}, "", "malformed JSON"},
		{"duplicate keys: last wins", []string{`{"a":1,"a":"x","b":1,"b":[]}`}, "a: type=utf8, nullable", ""},
		{"empty name", []string{`{"":1}`}, "", "empty field name"},
		{"case clash", []string{`{"a":1}`, `{"A":2}`}, "", "field A: name differs only by case from a"},
		{"nested case clash", []string{`{"l":[{"x":1,"X":2}]}`}, "", "field l[].X: name differs only by case from l[].x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rows [][]byte
			for _, r := range c.rows {
				rows = append(rows, []byte(r))
			}
			s, err := InferSchema(rows)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, schemaBody(s))
		})
	}
}

func schemaBody(s *arrow.Schema) string {
	var out string
	for i, f := range s.Fields() {
		if i > 0 {
			out += "\n"
		}
		n := ""
		if f.Nullable {
			n = ", nullable"
		}
		out += f.Name + ": type=" + f.Type.String() + n
	}
	return out
}

func TestInferrerRejectsRowWithoutChangingState(t *testing.T) {
	var inf Inferrer
	require.NoError(t, inf.Add([]byte(`{"a":1}`)))
	err := inf.Add([]byte(`{"a":"x","b":true}`))
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "a", fe.Path)
	require.Equal(t, "a: type=int64, nullable", schemaBody(inf.Schema()))
}

func TestMergeInferred(t *testing.T) {
	a := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true}, {Name: "y", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	m, err := MergeInferred(a, b)
	require.NoError(t, err)
	require.Equal(t, "x: type=float64, nullable\ny: type=utf8, nullable", schemaBody(m))
	c := arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}}, nil)
	_, err = MergeInferred(m, c)
	require.ErrorContains(t, err, "field y: conflicting types string and boolean")
	require.True(t, errors.Is(err, ErrTypeMismatch))
}

func TestEvolveSchema(t *testing.T) {
	table := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "user", Type: arrow.StructOf(arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), Nullable: true},
		{Name: "attrs", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String), Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	cases := []struct {
		name    string
		rows    []string
		changed bool
		want    string
		err     string
	}{
		{"compatible, nothing new", []string{`{"id":1,"ts":"2024-01-01T00:00:00Z","price":1.5,"user":{"age":3},"attrs":{"a":"b"},"f":1}`}, false, "", ""},
		{"new top-level and nested", []string{`{"id":1,"user":{"age":3,"name":"x"},"new":[1]}`}, true,
			"id: type=int64\nts: type=timestamp[us, tz=UTC], nullable\nprice: type=decimal(10, 2), nullable\nuser: type=struct<age: int32 nullable, name: utf8 nullable>, nullable\nattrs: type=map<utf8, utf8, items_nullable>, nullable\nf: type=float64, nullable\nnew: type=list<item: int64, nullable>, nullable", ""},
		{"type conflict", []string{`{"user":{"age":"old"}}`}, false, "", "field user.age: expected integer, got string"},
		{"no narrowing", []string{`{"id":1.5}`}, false, "", "field id: expected long, got double"},
		{"map value conflict", []string{`{"attrs":{"a":1}}`}, false, "", "field attrs.value: expected string, got long"},
		{"case clash", []string{`{"ID":1}`}, false, "", "name differs only by case"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rows [][]byte
			for _, r := range c.rows {
				rows = append(rows, []byte(r))
			}
			obs, err := InferSchema(rows)
			require.NoError(t, err)
			ev, changed, err := EvolveSchema(table, obs)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.changed, changed)
			if !changed {
				require.Same(t, table, ev)
				return
			}
			require.Equal(t, c.want, schemaBody(ev))
		})
	}
}
