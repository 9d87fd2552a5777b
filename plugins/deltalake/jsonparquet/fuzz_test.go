package jsonparquet

import (
	"bytes"
	"testing"
)

// FuzzAppendJSON checks that no input panics the decoder, that a rejected
// row never leaves values in the builders, and that accepted rows always
// make a consistent record that Parquet accepts. Run with
// `go test -fuzz FuzzAppendJSON ./plugins/deltalake/jsonparquet`; plain
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
		d, err := NewDecoder(richSchema(), DecoderOptions{UnknownFields: UnknownFieldsIgnore})
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
