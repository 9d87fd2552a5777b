package chtype

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// describeFixture reads the DESCRIBE rows chDB 26.7 printed (first line: version).
func describeFixture(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("testdata/describe_chdb_26.7.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		var r []string
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestParseEveryModernType(t *testing.T) {
	rows := describeFixture(t)
	if len(rows) < 55 {
		t.Fatalf("fixture has %d rows", len(rows))
	}
	for _, r := range rows {
		ty, err := Parse(r[1])
		if err != nil {
			t.Errorf("%s: %v", r[0], err)
			continue
		}
		if ty.Raw != strings.TrimSpace(r[1]) {
			t.Errorf("%s: Raw %q", r[0], ty.Raw)
		}
	}
}

func TestParseStructure(t *testing.T) {
	byName := map[string]*Type{}
	for _, r := range describeFixture(t) {
		ty, err := Parse(r[1])
		if err != nil {
			t.Fatal(err)
		}
		byName[r[0]] = ty
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
	}
	check("d2", [2]int{byName["d2"].Precision, byName["d2"].Scale}, [2]int{9, 4})
	check("d6", [2]int{byName["d6"].Precision, byName["d6"].Scale}, [2]int{76, 38})
	check("fs", byName["fs"].Length, 16)
	check("e8", byName["e8"].Enum, []EnumValue{{"it's", -3}, {"a", 1}, {"b c", 2}})
	check("e16", byName["e16"].Enum, []EnumValue{{"y", -1000}, {"x", 1000}})
	check("tstz", byName["tstz"].TZ, "Europe/Berlin")
	check("t64tz", [2]any{byName["t64tz"].Precision, byName["t64tz"].TZ}, [2]any{9, "Asia/Tokyo"})
	check("t64", [2]any{byName["t64"].Precision, byName["t64"].TZ}, [2]any{3, ""})
	check("lcn nullable", byName["lcn"].Nullable(), true)
	check("lcn base", byName["lcn"].Base().Name, "String")
	check("lc nullable", byName["lc"].Nullable(), false)
	check("aa", byName["aa"].Elems[0].Elems[0].Name, "Nullable")
	mm := byName["mm"]
	check("mm key", mm.Elems[0].Name, "LowCardinality")
	check("mm value", mm.Elems[1].Elems[0].Elems[1].Elems[0].Name, "Int32")
	check("tu fields", byName["tu"].Fields, []string(nil))
	check("tn fields", byName["tn"].Fields, []string{"x", "y"})
	tnn := byName["tnn"]
	check("tnn fields", tnn.Fields, []string{"a", "d"})
	check("tnn.a fields", tnn.Elems[0].Fields, []string{"b", "c"})
	check("tnn.d tz", tnn.Elems[1].TZ, "UTC")
	check("at", byName["at"].Elems[0].Fields, []string{"id", "name"})
	check("jt", byName["jt"].Name, "JSON")
	check("var", byName["var"].Name, "Variant")
	check("nest", [2]any{byName["nest"].Name, byName["nest"].Fields}, [2]any{"Nested", []string{"k", "v"}})
}

func TestParseWhitespaceAndQuoting(t *testing.T) {
	for in, check := range map[string]func(*Type) bool{
		"  Array( Tuple(\n\ta  Int32 ,\n\tb\tString ) )  ": func(ty *Type) bool {
			return ty.Elems[0].Fields[1] == "b" && ty.Elems[0].Elems[1].Name == "String"
		},
		"Tuple(`odd name` UInt8, `x``y` String)": func(ty *Type) bool {
			return ty.Fields[0] == "odd name" && ty.Fields[1] == "x`y"
		},
		"Enum8('a\\'b' = 1, 'c''d' = 2, 'e,f' = -128)": func(ty *Type) bool {
			return ty.Enum[0].Name == "a'b" && ty.Enum[1].Name == "c'd" && ty.Enum[2] == EnumValue{"e,f", -128}
		},
		"DateTime64( 6 , 'America/New_York' )": func(ty *Type) bool { return ty.Precision == 6 && ty.TZ == "America/New_York" },
		"Decimal128(5)":                        func(ty *Type) bool { return ty.Name == "Decimal" && ty.Precision == 38 && ty.Scale == 5 },
		"Object('json')":                       func(ty *Type) bool { return ty.Name == "JSON" },
		"SimpleAggregateFunction(sum, UInt64)": func(ty *Type) bool { return ty.Name == "SimpleAggregateFunction" },
		"Map(String,Array(Nullable(DateTime('UTC'))))": func(ty *Type) bool {
			return ty.Elems[1].Elems[0].Elems[0].TZ == "UTC"
		},
	} {
		ty, err := Parse(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if !check(ty) {
			t.Errorf("%q: unexpected tree %+v", in, ty)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", "Nullable", "Array(", "Array(Int32", "Map(String)", "Tuple(a Int32, String)", "Int32)",
		"FixedString(x)", "Enum8('a' = 200)", "Enum8('a' 1)", "DateTime64(3, UTC)", "Decimal(10, 2", "Nested(Int32)",
		"Decimal32", "Enum8('unterminated = 1)",
	} {
		if ty, err := Parse(in); err == nil {
			t.Errorf("%q: parsed as %+v, want an error", in, ty)
		}
	}
}
