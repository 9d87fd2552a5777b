package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// clickhouseQuery runs a query with clickhouse-client against the test
// server (DC_CLICKHOUSE_ADDR, started by resources/scripts/services.sh).
func clickhouseQuery(t *testing.T, query string) string {
	t.Helper()
	addr := os.Getenv("DC_CLICKHOUSE_ADDR")
	require.NotEmpty(t, addr, "DC_CLICKHOUSE_ADDR is not set: run `bash resources/scripts/services.sh up` "+
		"(installs Debian's clickhouse-server) and source ~/.cache/danube-connect/services.env, or run `make test`")
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	out, err := exec.Command("clickhouse-client", "--host", host, "--port", port, "--multiquery", "--query", query).CombinedOutput()
	require.NoError(t, err, "clickhouse-client %q: %s", query, out)
	return string(out)
}

// The shipped example config/danube_to_clickhouse.yaml, run by the binary:
// JSON events published to Danube land in ClickHouse, each row carrying its
// Danube offset (from the input's metadata through the `columns` mapping),
// every message exactly once in a normal run.
func TestClickhouseDanubeExampleConfig(t *testing.T) {
	addr := os.Getenv("DC_CLICKHOUSE_ADDR")
	db := fmt.Sprintf("it_danube_%d", time.Now().UnixNano()%1e9)
	clickhouseQuery(t, "CREATE DATABASE "+db)
	t.Cleanup(func() { clickhouseQuery(t, "DROP DATABASE IF EXISTS "+db) })
	clickhouseQuery(t, "CREATE TABLE "+db+`.events (ts DateTime, host LowCardinality(String),
  level Enum8('debug'=1,'info'=2,'warn'=3,'error'=4), msg String, latency_ms Float64,
  tags Array(String), offset UInt64) ENGINE = MergeTree ORDER BY (host, ts)`)

	b := danubetest.Start(t)
	const topic, sub = "/default/ch-events", "clickhouse-writer"
	require.NoError(t, b.CreateTopic(topic, true))
	_, here, _, _ := runtime.Caller(0)
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "config", "danube_to_clickhouse.yaml"))
	require.NoError(t, err)
	p := startDeltaProcess(t, string(cfg), "DANUBE_URL="+b.URL(), "DANUBE_TOPIC="+topic, "DANUBE_SUBSCRIPTION="+sub,
		"CLICKHOUSE_ADDR="+addr, "CLICKHOUSE_DATABASE="+db, "CLICKHOUSE_TABLE=events")
	danubeWaitStreaming(t, b, topic, sub)

	const n = 500
	var produce service.MessageHandlerFunc
	runDanubeStream(t, func(sb *service.StreamBuilder) {
		var err error
		produce, err = sb.AddProducerFunc()
		require.NoError(t, err)
		require.NoError(t, sb.AddOutputYAML(fmt.Sprintf("danube:\n    url: %s\n    topic: %s%s\n", b.URL(), topic, danubeFast)))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	levels := []string{"debug", "info", "warn", "error"}
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf(`{"ts":"2026-01-01T00:00:%02dZ","host":"h%d","level":"%s","msg":"m%d","latency_ms":%d.5,"tags":["t%d"],"ignored":true}`,
			i%60, i%3, levels[i%4], i, i, i%5)
		require.NoError(t, produce(ctx, service.NewMessage([]byte(msg))))
	}
	danubeWaitFor(t, 60*time.Second, "all rows in ClickHouse", func() bool {
		return strings.TrimSpace(clickhouseQuery(t, "SELECT count() FROM "+db+".events")) == fmt.Sprint(n)
	})
	got := strings.Fields(clickhouseQuery(t, "SELECT uniqExact(msg), uniqExact(offset), min(offset), max(offset), countIf(level = 'warn'), sum(latency_ms) FROM "+db+".events"))
	require.Equal(t, []string{fmt.Sprint(n), fmt.Sprint(n), "0", fmt.Sprint(n - 1), fmt.Sprint(n / 4), fmt.Sprint(n*(n-1)/2 + n/2)}, got, "logs:\n%s", p.output())
}
