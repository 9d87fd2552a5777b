package chsink

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// BenchmarkConvertBlock decodes 1,000 ndjson rows of a 10-column log table
// into a block and fills the driver's columns, per op.
func BenchmarkConvertBlock(b *testing.B) {
	sch, err := newSchema("db", "t", []describeRow{
		{name: "ts", typ: "DateTime"}, {name: "received", typ: "DateTime"},
		{name: "host", typ: "LowCardinality(String)"}, {name: "service", typ: "LowCardinality(String)"},
		{name: "level", typ: "LowCardinality(String)"}, {name: "msg", typ: "String"},
		{name: "latency_ms", typ: "Float64"}, {name: "status", typ: "UInt16"}, {name: "bytes", typ: "UInt64"},
		{name: "tags", typ: "Array(String)"},
	})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, `{"ts":"2026-01-01 00:%02d:%02d","received":%d,"host":"web-0%d","service":"checkout","level":"info","msg":"request completed user session timeout","latency_ms":%d.125,"status":200,"bytes":%d,"tags":["beta","gzip"]}`+"\n",
			i/60%60, i%60, 1767225600+i, i%8, i%500, i*37)
	}
	payload := []byte(sb.String())
	s := newSink(nil, Options{Format: jsonrows.FormatNDJSON, Conv: ConvOptions{MissingDefault: true}}, modernVersion, nil)
	msgs := []Message{{Payload: payload}}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		blk, _, errs, err := s.convert(sch, msgs, []int{0})
		if err != nil || errs[0] != nil {
			b.Fatal(err, errs)
		}
		pb := proto.NewBlock()
		pb.ServerContext = modernServer
		for _, c := range sch.Columns {
			_ = pb.AddColumn(c.Name, column.Type(c.Type.Raw))
		}
		for j, c := range blk.cols {
			if err := c.appendTo(batchColumn{pb.Columns[j]}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/row")
	_ = time.Now
}
