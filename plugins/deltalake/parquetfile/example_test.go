package parquetfile_test

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

type memFile struct{ bytes.Buffer }

func (*memFile) Close() error { return nil }
func (*memFile) Abort() error { return nil }

// Decode rows of a table partitioned by day, route them by partition and
// stream each partition into Parquet files with Delta stats.
func Example() {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "topic", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	dec, err := jsonrows.NewDecoder(schema, jsonrows.DecoderOptions{
		PartitionColumns: []string{"day"},
		ExtraColumns:     []string{"topic"},
	})
	if err != nil {
		panic(err)
	}
	writers := map[string]*parquetfile.PartitionWriter{}
	var order []string
	var key []byte
	for _, row := range []string{`{"id":1,"day":"2024-01-01"}`, `{"id":"x","day":"2024-01-01"}`, `{"id":2,"day":"2024-01-02"}`} {
		r, err := dec.Decode([]byte(row), "/orders")
		if err != nil {
			fmt.Println("rejected:", err)
			continue
		}
		key = r.AppendPartitionKey(key[:0])
		pw := writers[string(key)]
		if pw == nil {
			dir := "day=" + *parquetfile.PartitionValue(r.PartitionValues()[0])
			open := func() (parquetfile.Sink, string, error) {
				return &memFile{}, dir + "/" + parquetfile.FileName(0, parquetfile.CompressionZstd), nil
			}
			if pw, err = parquetfile.NewPartitionWriter(dec.NewBuffer(nil), open, parquetfile.WriterOptions{}); err != nil {
				panic(err)
			}
			writers[string(key)] = pw
			order = append(order, string(key))
		}
		if err := pw.Append(r); err != nil {
			panic(err)
		}
	}
	for _, k := range order {
		files, err := writers[k].Flush()
		if err != nil {
			panic(err)
		}
		for _, f := range files {
			fmt.Println(f.Path[:15], f.NumRecords, f.Stats)
		}
		writers[k].Close()
	}
	// Output:
	// rejected: field id: expected long, got string
	// day=2024-01-01/ 1 {"numRecords":1,"minValues":{"id":1,"topic":"/orders"},"maxValues":{"id":1,"topic":"/orders"},"nullCount":{"id":0,"topic":0}}
	// day=2024-01-02/ 1 {"numRecords":1,"minValues":{"id":2,"topic":"/orders"},"maxValues":{"id":2,"topic":"/orders"},"nullCount":{"id":0,"topic":0}}
}
