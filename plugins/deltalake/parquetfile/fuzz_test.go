package parquetfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// FuzzAppendJSON checks that no input panics the decoder, that a rejected
// row never leaves values in the builders, and that accepted rows always
// make a consistent record that Parquet accepts. Run with
// `go test -fuzz FuzzAppendJSON ./plugins/deltalake/parquetfile`; plain
// `go test` runs the seed corpus.
func FuzzAppendJSON(f *testing.F) {
	for _, r := range richRows {
		f.Add([]byte(r))
	}
	for _, r := range []string{
		`{"id":1,"amount":"1e-2","ts":-1,"day":-1,"small":1.0e2}`,
		`{"id":1,"user":{"tags":[null,"x"],"addr":{"city":"\u00e9\ud83d\ude80"}},"attrs":{"":null}}`,
		`{"id":1,"events":[{"at":"0001-01-01T00:00:00Z"},{"at":"9999-12-31T23:59:59.999999Z"}]}`,
		`{"id":-9223372036854775808,"score":1e308,"ratio":-3.4e38}`,
		`{"id":1,"raw":"AA","name":"\"quoted\\"}`,
		`{"id":1,"id":2}`, `{"id":1,"unknown":{"a":[1,"x"]}}`, `{"id":1e19}`, `{"id":--1}`, `{"id":1,"ts":"2024-01-01T00:00:00.+00:00"}`,
		`[]`, `null`, ``, `{"id":1,"amount":"-0"}`, `{"id":1,"attrs":{"a":1,"a":2}}`,
	} {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, row []byte) {
		d, err := jsonrows.NewDecoder(richSchema(), jsonrows.DecoderOptions{UnknownFields: jsonrows.UnknownFieldsIgnore})
		if err != nil {
			t.Fatal(err)
		}
		buf := d.NewBuffer(nil)
		defer buf.Release()
		good := []byte(`{"id":7,"user":{"tags":["k"]},"events":[{"kind":"k"}],"attrs":{"a":1}}`)
		if err := buf.AppendJSON(good); err != nil {
			t.Fatal(err)
		}
		before := buf.BufferedBytes()
		r, err := d.Decode(row)
		if err != nil {
			if r != nil {
				t.Fatal("row returned with an error")
			}
			if buf.Rows() != 1 || buf.BufferedBytes() != before {
				t.Fatal("rejected row changed the buffer")
			}
		} else if err := buf.Append(r); err != nil {
			t.Fatal(err)
		}
		if err := buf.AppendJSON(good); err != nil {
			t.Fatal(err)
		}
		rec := buf.NewRecord()
		defer rec.Release()
		for i, c := range rec.Columns() {
			if int64(c.Len()) != rec.NumRows() {
				t.Fatalf("column %d has %d values for %d rows", i, c.Len(), rec.NumRows())
			}
		}
		var out bytes.Buffer
		fw, err := NewFileWriter(&out, rec.Schema(), WriterOptions{Compression: CompressionUncompressed})
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Write(rec); err != nil {
			t.Fatalf("parquet rejected a decoded row %q: %v", row, err)
		}
		df, err := fw.Close()
		if err != nil || df.NumRecords != rec.NumRows() {
			t.Fatalf("close: %v %+v", err, df)
		}
	})
}

// FuzzInferThenDecode checks that inference and decoding agree: a row
// whose schema could be inferred decodes against that schema, failing at
// most on a value outside the inferred type's range (1e400, NaN), never on
// a type, nullability or unknown-field error.
func FuzzInferThenDecode(f *testing.F) {
	for _, r := range richRows {
		f.Add([]byte(r))
	}
	for _, r := range []string{
		`{"a":[1,2.5],"b":{"c":null,"d":[[1],[2]]},"e":[]}`, `{"a":[{"x":1},{"y":"s"}]}`, `{"a":1e400}`, `{"a":[null,{"b":[null,1]}]}`,
		`{"a":-0,"b":1.0,"c":"\u0000"}`, `{"a":{"b":{}}}`, `{"A":1,"a":2}`,
	} {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, row []byte) {
		schema, err := jsonrows.InferSchema([][]byte{row})
		if err != nil || schema.NumFields() == 0 {
			return
		}
		d, err := jsonrows.NewDecoder(schema, jsonrows.DecoderOptions{})
		if err != nil {
			t.Fatalf("inferred schema %s does not compile: %v", schema, err)
		}
		if _, err := d.Decode(row); err != nil {
			var unknown *jsonrows.UnknownFieldsError
			if errors.As(err, &unknown) || errors.Is(err, jsonrows.ErrTypeMismatch) || errors.Is(err, jsonrows.ErrNullNotAllowed) {
				t.Fatalf("row %q does not decode against its inferred schema %s: %v", row, schema, err)
			}
		}
		if _, changed, err := jsonrows.EvolveSchema(schema, schema); err != nil || changed {
			t.Fatalf("evolving a schema with itself: changed=%v err=%v", changed, err)
		}
	})
}

// FuzzStringStats checks the string bounds of the stats: minValues is at
// most every value and maxValues (when present) at least every value, in
// UTF-8 byte order (= code point order).
func FuzzStringStats(f *testing.F) {
	f.Add("a|b")
	f.Add(strings.Repeat("é", 40) + "|" + strings.Repeat("\uffff", 40))
	f.Add("\U0010FFFF\U0010FFFF|\ud7ff\ud7ff\ud7ff")
	f.Add("zz|z|")
	f.Fuzz(func(t *testing.T, joined string) {
		if !utf8.ValidString(joined) {
			return
		}
		values := strings.Split(joined, "|")
		sc := newStatsCollector(arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil), 32)
		for _, v := range values {
			sc.leaves[0].str([]byte(v))
		}
		sc.numRecords = int64(len(values))
		var st struct {
			MinValues map[string]string
			MaxValues map[string]string
		}
		if err := json.Unmarshal([]byte(sc.statsJSON()), &st); err != nil {
			t.Fatal(err)
		}
		mn, ok := st.MinValues["s"]
		if !ok {
			t.Fatal("min missing")
		}
		mx, hasMax := st.MaxValues["s"]
		for _, v := range values {
			if mn > v {
				t.Fatalf("min %q > value %q", mn, v)
			}
			if hasMax && mx < v {
				t.Fatalf("max %q < value %q", mx, v)
			}
		}
		if utf8.RuneCountInString(mn) > StringStatsPrefix || (hasMax && utf8.RuneCountInString(mx) > StringStatsPrefix) {
			t.Fatalf("bounds longer than %d characters: %q %q", StringStatsPrefix, mn, mx)
		}
	})
}
