package greptime

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	ingester "github.com/GreptimeTeam/greptimedb-ingester-go"
	"github.com/GreptimeTeam/greptimedb-ingester-go/table"
	"github.com/GreptimeTeam/greptimedb-ingester-go/table/types"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/greptime/greptimetest"
)

// BenchmarkWriteBatchNDJSON is scenario (d) of the bench without Benthos:
// one message of 1,000 metric rows per WriteBatch.
func BenchmarkWriteBatchNDJSON(b *testing.B) {
	s, err := greptimetest.Start(greptimetest.WithoutRows())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	conf, err := gtoSpec().ParseYAML(fmt.Sprintf(`
addr: %s
table: cpu
payload_format: ndjson
timestamp: { path: ts }
tags: [ host, region, dc, rack, os ]
fields:
  - { path: usage_user, type: float64 }
  - { path: usage_system, type: float64 }
  - { path: procs, type: int64 }
`, s.Addr()), nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := gtoConfigFromParsed(conf)
	if err != nil {
		b.Fatal(err)
	}
	out, err := newGreptimeOutput(cfg, service.MockResources())
	if err != nil {
		b.Fatal(err)
	}
	if err := out.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer out.Close(context.Background())
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, `{"ts":%d,"host":"host_%d","region":"eu-west-1","dc":"dc%d","rack":"r%d","os":"linux","usage_user":%d.25,"usage_system":%d.5,"procs":%d}`+"\n",
			1767225600000+int64(i/100)*10000, i%100, i%7, i%40, i%100, i%50, 100+i)
	}
	payload := []byte(sb.String())
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := out.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage(payload)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/row")
}

// BenchmarkIngesterWrite is scenario (c) in the same process: the official
// client's table.AddRow and Write, 1,000 rows per call.
func BenchmarkIngesterWrite(b *testing.B) {
	s, err := greptimetest.Start(greptimetest.WithoutRows())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	host, port, _ := net.SplitHostPort(s.Addr())
	p, _ := strconv.Atoi(port)
	cli, err := ingester.NewClient(ingester.NewConfig(host).WithPort(p).WithDatabase("public"))
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		tbl, _ := table.New("cpu")
		for _, t := range []string{"host", "region", "dc", "rack", "os"} {
			_ = tbl.AddTagColumn(t, types.STRING)
		}
		_ = tbl.AddFieldColumn("usage_user", types.FLOAT64)
		_ = tbl.AddFieldColumn("usage_system", types.FLOAT64)
		_ = tbl.AddFieldColumn("procs", types.INT64)
		_ = tbl.AddTimestampColumn("ts", types.TIMESTAMP_MILLISECOND)
		for i := 0; i < 1000; i++ {
			if err := tbl.AddRow("host_"+strconv.Itoa(i%100), "eu-west-1", "dc"+strconv.Itoa(i%7), "r"+strconv.Itoa(i%40), "linux",
				float64(i%100)+0.25, float64(i%50)+0.5, int64(100+i), int64(1767225600000+(i/100)*10000)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := cli.Write(context.Background(), tbl); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/row")
}
