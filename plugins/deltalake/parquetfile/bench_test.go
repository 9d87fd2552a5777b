package parquetfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// webSchema is a web request log event: ~300 bytes of JSON with a nested
// struct and a list.
func webSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "request_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: tsUTC},
		{Name: "method", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "status", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "latency_ms", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "bytes", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "cached", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "client", Type: arrow.StructOf(
			arrow.Field{Name: "ip", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "user_agent", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
}

var (
	benchMethods   = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	benchCountries = []string{"CH", "DE", "US", "FR", "JP", "BR", "IN"}
	benchAgents    = []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/8.5.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"}
	benchTags      = []string{"api", "web", "beta", "mobile", "internal"}
)

func webEvents(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]byte, n)
	for i := range rows {
		tags := `"` + benchTags[rng.IntN(len(benchTags))] + `"`
		if rng.IntN(2) == 0 {
			tags += `,"` + benchTags[rng.IntN(len(benchTags))] + `"`
		}
		rows[i] = fmt.Appendf(nil, `{"request_id":"%016x%016x","ts":"2026-11-28T13:%02d:%02d.%06dZ","method":"%s","path":"/api/v1/items/%d","status":%d,"latency_ms":%.3f,"bytes":%d,"cached":%t,"client":{"ip":"10.%d.%d.%d","country":"%s","user_agent":"%s","user_id":%d},"tags":[%s]}`,
			rng.Uint64(), rng.Uint64(), rng.IntN(60), rng.IntN(60), rng.IntN(1000000),
			benchMethods[rng.IntN(len(benchMethods))], rng.IntN(100000), []int{200, 200, 200, 201, 304, 404, 500}[rng.IntN(7)],
			rng.Float64()*250, rng.IntN(1<<20), rng.IntN(2) == 0,
			rng.IntN(256), rng.IntN(256), rng.IntN(256), benchCountries[rng.IntN(len(benchCountries))],
			benchAgents[rng.IntN(len(benchAgents))], rng.IntN(1000000), tags)
	}
	return rows
}

func avgLen(rows [][]byte) int64 {
	total := 0
	for _, r := range rows {
		total += len(r)
	}
	return int64(total / len(rows))
}

const benchBatch = 8192

// BenchmarkDecode measures JSON -> Arrow per row (op = one ~300-byte row).
func BenchmarkDecode(b *testing.B) {
	rows := webEvents(benchBatch)
	b.Run("jsonrows", func(b *testing.B) {
		d, err := jsonrows.NewDecoder(webSchema(), jsonrows.DecoderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		buf := d.NewBuffer(nil)
		defer buf.Release()
		b.SetBytes(avgLen(rows))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r, err := d.Decode(rows[i%benchBatch])
			if err != nil {
				b.Fatal(err)
			}
			_ = buf.Append(r)
			if buf.Rows() == benchBatch {
				buf.NewRecord().Release()
			}
		}
	})
	b.Run("encoding_json_map", func(b *testing.B) {
		b.SetBytes(avgLen(rows))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var m map[string]any
			if err := json.Unmarshal(rows[i%benchBatch], &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arrow_json_reader", func(b *testing.B) {
		block := bytes.Join(rows, []byte("\n"))
		b.SetBytes(avgLen(rows))
		b.ReportAllocs()
		b.ResetTimer()
		done := 0
		for done < b.N {
			rdr := array.NewJSONReader(bytes.NewReader(block), webSchema(), array.WithChunk(benchBatch), array.WithAllocator(memory.DefaultAllocator))
			for rdr.Next() {
				done += int(rdr.RecordBatch().NumRows())
			}
			if err := rdr.Err(); err != nil {
				b.Fatal(err)
			}
			rdr.Release()
		}
	})
}

// BenchmarkDecodeEncode measures JSON -> Arrow -> Parquet (op = one row,
// MB/s of input JSON), with the default 32 MiB row groups.
func BenchmarkDecodeEncode(b *testing.B) {
	rows := webEvents(benchBatch)
	for _, c := range []struct {
		codec string
		level int
	}{{CompressionZstd, 0}, {CompressionZstd, 3}, {CompressionSnappy, 0}} {
		codec := c.codec
		b.Run(fmt.Sprintf("%s-level%d", codec, c.level), func(b *testing.B) {
			d, err := jsonrows.NewDecoder(webSchema(), jsonrows.DecoderOptions{})
			if err != nil {
				b.Fatal(err)
			}
			sinks := 0
			open := func() (Sink, string, error) { sinks++; return discardSink{}, FileName(sinks, codec), nil }
			pw, err := NewPartitionWriter(d.NewBuffer(nil), open, WriterOptions{Compression: codec, CompressionLevel: c.level})
			if err != nil {
				b.Fatal(err)
			}
			defer pw.Close()
			b.SetBytes(avgLen(rows))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := pw.AppendJSON(rows[i%benchBatch]); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := pw.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (discardSink) Close() error                { return nil }
func (discardSink) Abort() error                { return nil }

func TestBenchEventsDecode(t *testing.T) {
	rows := webEvents(100)
	if l := avgLen(rows); l < 250 || l > 380 {
		t.Fatalf("benchmark events should be about 300 bytes, got %d", l)
	}
	d, err := jsonrows.NewDecoder(webSchema(), jsonrows.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := d.NewBuffer(nil)
	defer buf.Release()
	for _, r := range rows {
		if err := buf.AppendJSON(r); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkDecodeRatio interleaves the three decoders in small slices of
// the same rows so that a busy shared machine slows them alike, and
// reports the jsonrows decoder's speed-up as ratios (timing-independent).
func BenchmarkDecodeRatio(b *testing.B) {
	const slice = 512
	rows := webEvents(benchBatch)
	d, err := jsonrows.NewDecoder(webSchema(), jsonrows.DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	buf := d.NewBuffer(nil)
	defer buf.Release()
	var ours, std, arr time.Duration
	b.SetBytes(avgLen(rows))
	b.ResetTimer()
	for done := 0; done < b.N; done += slice {
		part := rows[(done/slice*slice)%benchBatch:][:slice]
		start := time.Now()
		for _, r := range part {
			row, err := d.Decode(r)
			if err != nil {
				b.Fatal(err)
			}
			_ = buf.Append(row)
		}
		if buf.Rows() >= benchBatch {
			buf.NewRecord().Release()
		}
		ours += time.Since(start)

		start = time.Now()
		for _, r := range part {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				b.Fatal(err)
			}
		}
		std += time.Since(start)

		block := bytes.Join(part, []byte("\n"))
		start = time.Now()
		rdr := array.NewJSONReader(bytes.NewReader(block), webSchema(), array.WithChunk(slice))
		for rdr.Next() {
		}
		if err := rdr.Err(); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
		arr += time.Since(start)
	}
	b.ReportMetric(float64(std)/float64(ours), "x_vs_encoding_json")
	b.ReportMetric(float64(arr)/float64(ours), "x_vs_arrow_json_reader")
}

// BenchmarkDecodeEncodeRatio interleaves JSON -> Parquet (zstd, snappy; 1
// MiB row groups so that encoding interleaves too) with encoding/json
// decoding alone, and reports the speed ratios.
func BenchmarkDecodeEncodeRatio(b *testing.B) {
	const slice = 512
	rows := webEvents(benchBatch)
	var writers []*PartitionWriter
	for i, codec := range []string{CompressionZstd, CompressionSnappy, CompressionZstd} {
		level := 0 // the default: 1 for zstd
		if i == 2 {
			level = 3
		}
		d, err := jsonrows.NewDecoder(webSchema(), jsonrows.DecoderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		open := func() (Sink, string, error) { return discardSink{}, FileName(0, codec), nil }
		pw, err := NewPartitionWriter(d.NewBuffer(nil), open, WriterOptions{Compression: codec, CompressionLevel: level, RowGroupBytes: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		defer pw.Close()
		writers = append(writers, pw)
	}
	times := make([]time.Duration, len(writers)+1)
	b.SetBytes(avgLen(rows))
	b.ResetTimer()
	for done := 0; done < b.N; done += slice {
		part := rows[(done/slice*slice)%benchBatch:][:slice]
		for i, pw := range writers {
			start := time.Now()
			for _, r := range part {
				if err := pw.AppendJSON(r); err != nil {
					b.Fatal(err)
				}
			}
			times[i] += time.Since(start)
		}
		start := time.Now()
		for _, r := range part {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				b.Fatal(err)
			}
		}
		times[len(writers)] += time.Since(start)
	}
	std := float64(times[len(writers)])
	b.ReportMetric(std/float64(times[0]), "zstd_x_vs_encoding_json")
	b.ReportMetric(std/float64(times[1]), "snappy_x_vs_encoding_json")
	b.ReportMetric(std/float64(times[2]), "zstd3_x_vs_encoding_json")
}
