package chsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/clickhouse/chtype"
)

// modernServer is the column context of a ClickHouse 26 server, so the
// driver's own column encoders check the values we produce for types the
// 18.16 test server does not have.
var modernServer = &column.ServerContext{Revision: 54483, VersionMajor: 26, VersionMinor: 7, Timezone: time.UTC}

// through converts JSON values with our builder and appends them to the
// driver's real column of that type, returning the column's rows as text.
func through(t *testing.T, typ string, o *ConvOptions, inputs ...string) ([]string, error) {
	t.Helper()
	ty, err := chtype.Parse(typ)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	b, err := newBuilder("c", ty, o)
	if err != nil {
		return nil, err
	}
	var p fastjson.Parser
	for _, in := range inputs {
		var v *fastjson.Value
		if in != "<missing>" {
			if v, err = p.Parse(in); err != nil {
				t.Fatalf("bad test JSON %q: %v", in, err)
			}
		}
		if err := b.add(v); err != nil {
			return nil, err
		}
	}
	blk := proto.NewBlock()
	blk.ServerContext = modernServer
	if err := blk.AddColumn("c", column.Type(ty.Raw)); err != nil {
		t.Fatalf("driver column %s: %v", typ, err)
	}
	if err := b.appendTo(batchColumn{blk.Columns[0]}); err != nil {
		t.Fatalf("%s: the driver refused our values: %v", typ, err)
	}
	// Through the native wire format and back, as the server would read it.
	back := roundTrip(t, blk)
	col := back.Columns[0]
	out := make([]string, col.Rows())
	for i := range out {
		out[i] = show(col.Row(i, false))
		if strings.Contains(out[i], "0x") { // pointers inside: show as JSON
			j, _ := json.Marshal(col.Row(i, false))
			out[i] = "json:" + string(j)
		}
	}
	return out, nil
}

// batchColumn adapts a driver column to driver.BatchColumn, as the
// driver's batch does.
type batchColumn struct{ c column.Interface }

func (b batchColumn) Append(v any) error {
	_, err := b.c.Append(v)
	return err
}
func (b batchColumn) AppendRow(v any) error { return b.c.AppendRow(v) }

// roundTrip encodes a block in the native format and decodes it again.
func roundTrip(t *testing.T, blk *proto.Block) *proto.Block {
	t.Helper()
	var buf chproto.Buffer
	if err := blk.Encode(&buf, modernServer.Revision); err != nil {
		t.Fatalf("encoding the block: %v", err)
	}
	back := proto.NewBlock()
	back.ServerContext = modernServer
	if err := back.Decode(chproto.NewReader(bytes.NewReader(buf.Buf)), modernServer.Revision); err != nil {
		t.Fatalf("decoding the block: %v", err)
	}
	return back
}

func show(v any) string {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL"
		}
		return show(rv.Elem().Interface())
	}
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case *time.Time:
		if x == nil {
			return "NULL"
		}
		return x.Format(time.RFC3339Nano)
	case nil:
		return "NULL"
	case big.Int:
		return x.String()
	case *big.Int:
		return x.String()
	}
	return fmt.Sprint(v)
}

func TestConvertTypes(t *testing.T) {
	def := &ConvOptions{MissingDefault: true, Location: time.UTC}
	cases := []struct {
		typ    string
		inputs []string
		want   []string
	}{
		{"Int8", []string{"-128", "127", `"5"`, "3.0", "1e2"}, []string{"-128", "127", "5", "3", "100"}},
		{"UInt64", []string{"18446744073709551615", `"18446744073709551615"`, "0"}, []string{"18446744073709551615", "18446744073709551615", "0"}},
		{"Int64", []string{"-9223372036854775808", "9223372036854775807"}, []string{"-9223372036854775808", "9223372036854775807"}},
		{"Int128", []string{"-170141183460469231731687303715884105728", `"170141183460469231731687303715884105727"`}, []string{"-170141183460469231731687303715884105728", "170141183460469231731687303715884105727"}},
		{"UInt256", []string{"115792089237316195423570985008687907853269984665640564039457584007913129639935"}, []string{"115792089237316195423570985008687907853269984665640564039457584007913129639935"}},
		{"Float32", []string{"1.5", `"-inf"`}, []string{"1.5", "-Inf"}},
		{"Float64", []string{"0.1", "1e308", `"nan"`}, []string{"0.1", "1e+308", "NaN"}},
		{"Bool", []string{"true", "false", "1", `"false"`}, []string{"true", "false", "true", "false"}},
		{"Decimal(9, 2)", []string{"1234567.891", `"-0.005"`, "12"}, []string{"1234567.89", "0", "12"}},
		{"Decimal(76, 38)", []string{`"12345678901234567890123456789012345678.12345678901234567890123456789012345678"`}, []string{"12345678901234567890123456789012345678.12345678901234567890123456789012345678"}},
		{"String", []string{`"héllo"`, `{"a":[1,2]}`, "42", `""`}, []string{"héllo", `{"a":[1,2]}`, "42", ""}},
		{"FixedString(4)", []string{`"ab"`, `"abcd"`}, []string{"ab\x00\x00", "abcd"}},
		{"UUID", []string{`"123e4567-e89b-12d3-a456-426614174000"`}, []string{"123e4567-e89b-12d3-a456-426614174000"}},
		// (The driver's own Enum parser cannot take escaped quotes in names.)
		{"Enum8('minus' = -3, 'a' = 1, 'b c' = 2)", []string{`"b c"`, "-3", `"1"`}, []string{"b c", "minus", "a"}},
		{"Enum16('y' = -1000, 'x' = 1000)", []string{`"x"`, "-1000"}, []string{"x", "y"}},
		{"Date", []string{`"2024-02-29"`, "19782", `"2024-02-29T23:30:00-02:00"`}, []string{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"}},
		{"Date32", []string{`"1900-01-01"`, `"2299-12-31"`}, []string{"1900-01-01T00:00:00Z", "2299-12-31T00:00:00Z"}},
		{"DateTime", []string{`"2024-05-06T07:08:09Z"`, `"2024-05-06 07:08:09"`, "1715000000", "1715000000123", `"1715000000"`}, []string{"2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z", "2024-05-06T12:53:20Z", "2024-05-06T12:53:20Z", "2024-05-06T12:53:20Z"}},
		{"DateTime('Europe/Berlin')", []string{`"2024-05-06 09:08:09"`, `"2024-05-06T07:08:09Z"`}, []string{"2024-05-06T09:08:09+02:00", "2024-05-06T09:08:09+02:00"}},
		{"DateTime64(3)", []string{`"2024-05-06T07:08:09.123456Z"`, "1715000000123", "1715000000.5"}, []string{"2024-05-06T07:08:09.123Z", "2024-05-06T12:53:20.123Z", "2024-05-06T12:53:20.5Z"}},
		{"DateTime64(9, 'Asia/Tokyo')", []string{`"2024-05-06 07:08:09.123456789"`, "1715000000123456789", "1715000000123456"}, []string{"2024-05-06T07:08:09.123456789+09:00", "2024-05-06T21:53:20.123456789+09:00", "2024-05-06T21:53:20.123456+09:00"}},
		{"IPv4", []string{`"10.1.2.3"`, `"::ffff:1.2.3.4"`}, []string{"10.1.2.3", "1.2.3.4"}},
		{"IPv6", []string{`"2001:db8::1"`, `"1.2.3.4"`}, []string{"2001:db8::1", "1.2.3.4"}},
		{"Nullable(Int32)", []string{"null", "7", "<missing>"}, []string{"NULL", "7", "NULL"}},
		{"LowCardinality(String)", []string{`"a"`, `"b"`, `"a"`}, []string{"a", "b", "a"}},
		{"LowCardinality(Nullable(String))", []string{`"a"`, "null"}, []string{"a", "NULL"}},
		{"Array(Int64)", []string{"[1,2,3]", "[]"}, []string{"[1 2 3]", "[]"}},
		{"Array(Array(Nullable(String)))", []string{`[["a",null],[]]`}, []string{`json:[["a",null],[]]`}},
		{"Map(String, UInt64)", []string{`{"b":2,"a":1}`}, []string{"map[a:1 b:2]"}},
		{"Map(UInt16, Array(String))", []string{`{"7":["x"]}`}, []string{"map[7:[x]]"}},
		{"Tuple(Int32, String)", []string{`[1,"x"]`}, []string{"[1 x]"}},
		{"Tuple(\n    x Int32,\n    y Nullable(String))", []string{`{"x":5}`, `[6,"z"]`}, []string{"map[x:5 y:<nil>]", `json:{"x":6,"y":"z"}`}},
		{"Array(Tuple(\n    id UInt64,\n    name String))", []string{`[{"id":1,"name":"a"},[2,"b"]]`}, []string{"[map[id:1 name:a] map[id:2 name:b]]"}},
		{"Nested(k String, v Nullable(Float64))", []string{`[{"k":"a","v":1.5},{"k":"b","v":null}]`}, []string{`json:[{"k":"a","v":1.5},{"k":"b","v":null}]`}},
		// Missing and null under missing_fields: default.
		{"UInt32", []string{"<missing>", "null"}, []string{"0", "0"}},
		{"DateTime", []string{"<missing>"}, []string{"1970-01-01T00:00:00Z"}},
		{"Array(String)", []string{"<missing>"}, []string{"[]"}},
		{"Enum8('b' = 2, 'a' = 1)", []string{"<missing>"}, []string{"b"}},
	}
	for _, c := range cases {
		got, err := through(t, c.typ, def, c.inputs...)
		if err != nil {
			t.Errorf("%s %v: %v", c.typ, c.inputs, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %d rows %q", c.typ, len(got), got)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s input %s: got %q, want %q", c.typ, c.inputs[i], got[i], c.want[i])
			}
		}
	}
}

func TestConvertRejects(t *testing.T) {
	strict := &ConvOptions{Location: time.UTC}
	for _, c := range []struct{ typ, in, want string }{
		{"Int8", "128", "out of range of Int8"},
		{"UInt8", "-1", "not an integer in range of UInt8"},
		{"Int32", "1.5", "not an integer"},
		{"Int32", `"abc"`, "not an integer"},
		{"Int32", `[1]`, "expected a number"},
		{"UInt64", "18446744073709551616", "UInt64"},
		{"Int128", "170141183460469231731687303715884105728", "out of range of Int128"},
		{"Float32", "1e39", "out of range of Float32"},
		{"Decimal(5, 2)", "1000", "out of range"},
		{"FixedString(2)", `"abc"`, "do not fit FixedString(2)"},
		{"UUID", `"nope"`, "invalid UUID"},
		{"Enum8('a' = 1)", `"b"`, "is not a value of"},
		{"Enum8('a' = 1)", "2", "is not a value of"},
		{"IPv4", `"2001:db8::1"`, "not an IPv4"},
		{"Date", `"2024-13-01"`, "cannot parse"},
		{"DateTime", `"yesterday"`, "cannot parse"},
		{"DateTime", `"1960-01-01T00:00:00Z"`, "out of range of DateTime"},
		{"Bool", `"maybe"`, "expected a boolean"},
		{"Int32", "null", "null is not allowed"},
		{"Int32", "<missing>", "field is missing"},
		{"Array(Int32)", "[1,null]", "null in an array of a non-Nullable"},
		{"Array(Int32)", `{"a":1}`, "expected an array"},
		{"Map(String, Int8)", `{"a":1000}`, `key "a"`},
		{"Map(UInt8, String)", `{"x":"y"}`, `key "x"`},
		{"Tuple(Int32, String)", `[1]`, "expected 2 tuple elements"},
		{"Tuple(a Int32, b String)", `{"a":1}`, `tuple field "b" is missing`},
		{"JSON", `[1]`, "expected a JSON object"},
	} {
		_, err := through(t, c.typ, strict, c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: got %v, want an error containing %q", c.typ, c.in, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), `column "c"`) {
			t.Errorf("%s %s: error %q does not name the column", c.typ, c.in, err)
		}
	}
}

func TestUnsupportedTypesAreNotWritten(t *testing.T) {
	s, err := newSchema("db", "t", []describeRow{
		{name: "a", typ: "Int32"},
		{name: "v", typ: "Variant(String, UInt64)"},
		{name: "m", typ: "DateTime", defaultKind: "MATERIALIZED"},
		{name: "al", typ: "String", defaultKind: "ALIAS"},
		{name: "n.k", typ: "Array(String)"},
		{name: "n.v", typ: "Array(Float64)"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range s.Columns {
		names = append(names, c.Name)
	}
	if fmt.Sprint(names) != "[a n.k n.v]" || s.Unwritable["v"] == "" || len(s.nested["n"]) != 2 {
		t.Fatalf("columns %v, unwritable %v, nested %v", names, s.Unwritable, s.nested)
	}
}

type fastjsonParser struct{ p fastjson.Parser }

func (p *fastjsonParser) parse(t *testing.T, s string) *fastjson.Value {
	t.Helper()
	v, err := p.p.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
