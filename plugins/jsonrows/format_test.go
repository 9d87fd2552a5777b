package jsonrows

import (
	"errors"
	"strings"
	"testing"
)

func rows(t *testing.T, f Format, payload string) ([]string, error) {
	t.Helper()
	var out []string
	n, err := Each(f, []byte(payload), func(i int, row []byte) error {
		if i != len(out) {
			t.Fatalf("index %d, want %d", i, len(out))
		}
		out = append(out, string(row))
		return nil
	})
	if n != len(out) {
		t.Fatalf("Each returned %d rows, saw %d", n, len(out))
	}
	return out, err
}

func TestEachFraming(t *testing.T) {
	cases := []struct {
		f       Format
		payload string
		want    []string
		errPart string
	}{
		{FormatJSON, ` {"a":1} `, []string{`{"a":1}`}, ""},
		{FormatJSON, "  \n", nil, "row 1: empty payload"},
		{FormatNDJSON, "{\"a\":1}\n\n {\"a\":2}\r\n{\"a\":3}", []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}, ""},
		{FormatNDJSON, "", nil, ""},
		{FormatJSONArray, `[ {"a":"x,]}"} , [1,2], "s\"]", 3.5e2, true, null ]`,
			[]string{`{"a":"x,]}"}`, `[1,2]`, `"s\"]"`, `3.5e2`, `true`, `null`}, ""},
		{FormatJSONArray, ` [ ] `, nil, ""},
		{FormatJSONArray, `{"a":1}`, nil, "not a JSON array: byte 0"},
		{FormatJSONArray, ``, nil, "empty"},
		{FormatJSONArray, `[1,2,]`, []string{"1", "2"}, "trailing comma"},
		{FormatJSONArray, `[1,2`, []string{"1", "2"}, "ends inside the array"},
		{FormatJSONArray, `[1 2]`, []string{"1"}, "expected ',' or ']' at byte 3"},
		{FormatJSONArray, `[1] x`, []string{"1"}, "data after the array at byte 4"},
		{FormatJSONArray, `[{"a":"unterminated]`, nil, "row 1: unterminated string"},
		{FormatJSONArray, `[{"a":[1}`, nil, "row 1: unterminated value"},
		{FormatJSONArray, `[,1]`, nil, "row 1: empty element"},
	}
	for _, c := range cases {
		got, err := rows(t, c.f, c.payload)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%v %q: rows %q, want %q", c.f, c.payload, got, c.want)
		}
		if c.errPart == "" && err != nil {
			t.Errorf("%v %q: unexpected error %v", c.f, c.payload, err)
		}
		if c.errPart != "" && (err == nil || !strings.Contains(err.Error(), c.errPart)) {
			t.Errorf("%v %q: error %v, want it to contain %q", c.f, c.payload, err, c.errPart)
		}
	}
}

func TestEachRowErrorNamesRow(t *testing.T) {
	bad := errors.New("field x: expected a number")
	fail := func(i int, _ []byte) error {
		if i == 2 {
			return bad
		}
		return nil
	}
	_, err := Each(FormatNDJSON, []byte("{}\n\n{}\n{}\n{}"), fail)
	var re *RowError
	if !errors.As(err, &re) || re.Row != 3 || re.Line != 4 || !errors.Is(err, bad) {
		t.Fatalf("ndjson: %v (%+v)", err, re)
	}
	if err.Error() != "row 3 (line 4): field x: expected a number" {
		t.Fatalf("ndjson text: %q", err)
	}
	_, err = Each(FormatJSONArray, []byte(`[{},{},{}]`), fail)
	if !errors.As(err, &re) || re.Row != 3 || err.Error() != "row 3: field x: expected a number" {
		t.Fatalf("json_array: %v", err)
	}
	_, err = Each(FormatJSON, []byte(`{}`), func(int, []byte) error { return bad })
	if err == nil || err.Error() != "row 1: field x: expected a number" {
		t.Fatalf("json: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	for i, name := range FormatNames {
		f, err := ParseFormat(name)
		if err != nil || int(f) != i || f.String() != name {
			t.Fatalf("%s: %v %v", name, f, err)
		}
	}
	if f, err := ParseFormat(""); err != nil || f != FormatJSON {
		t.Fatal("empty should default to json")
	}
	if _, err := ParseFormat("csv"); err == nil || !strings.Contains(err.Error(), `"csv"`) {
		t.Fatalf("csv: %v", err)
	}
}

func FuzzEachJSONArray(f *testing.F) {
	for _, s := range []string{`[1,2]`, `[{"a":"]"}]`, `[`, `["\\"]`, `[[[]]]`, ` [ "a" , {"b":[1,{}]} ] `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		total := 0
		n, _ := Each(FormatJSONArray, []byte(s), func(_ int, row []byte) error {
			if len(row) == 0 {
				t.Fatalf("empty row from %q", s)
			}
			total++
			return nil
		})
		if n != total {
			t.Fatalf("count %d vs %d", n, total)
		}
	})
}

func BenchmarkEachNDJSON(b *testing.B) {
	payload := []byte(strings.Repeat(`{"ts":"2024-01-01T00:00:00Z","host":"a","v":1.5}`+"\n", 1000))
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := Each(FormatNDJSON, payload, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEachJSONArray(b *testing.B) {
	payload := []byte("[" + strings.Repeat(`{"ts":"2024-01-01T00:00:00Z","host":"a","v":1.5,"tags":["x","y"]},`, 999) + `{}]`)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := Each(FormatJSONArray, payload, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
