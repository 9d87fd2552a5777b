package greptime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/internal/testmetrics"
	"github.com/danube-connect/danube-connect/plugins/greptime/greptimetest"
)

func newTestOutput(t *testing.T, yaml string) *greptimeOutput {
	t.Helper()
	out := buildTestOutput(t, yaml)
	require.NoError(t, out.Connect(context.Background()))
	t.Cleanup(func() { _ = out.Close(context.Background()) })
	return out
}

func buildTestOutput(t *testing.T, yaml string) *greptimeOutput {
	t.Helper()
	conf, err := gtoSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	cfg, err := gtoConfigFromParsed(conf)
	require.NoError(t, err)
	out, err := newGreptimeOutput(cfg, service.MockResources())
	require.NoError(t, err)
	return out
}

func msg(s string, meta ...string) *service.Message {
	m := service.NewMessage([]byte(s))
	for i := 0; i+1 < len(meta); i += 2 {
		m.MetaSetMut(meta[i], meta[i+1])
	}
	return m
}

// batchErrors returns the per-message errors of a WriteBatch result.
func batchErrors(t *testing.T, err error) map[int]error {
	t.Helper()
	out := map[int]error{}
	if err == nil {
		return out
	}
	var be *service.BatchError
	require.True(t, errors.As(err, &be), "want a BatchError, got %v", err)
	be.WalkMessages(func(i int, _ *service.Message, e error) bool {
		if e != nil {
			out[i] = e
		}
		return true
	})
	return out
}

func TestMixedTablesInOneRequest(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	a, b, c := tg.Table("cpu"), tg.Table("mem"), tg.Table("disk")
	out := newTestOutput(t, fmt.Sprintf(`
addr: %s
table: '${! meta("kind") }'
timestamp: { path: ts }
tags: [ host ]
`, tg.Addr))
	var batch service.MessageBatch
	for i := 0; i < 30; i++ {
		kind := []string{a, b, c}[i%3]
		batch = append(batch, msg(fmt.Sprintf(`{"ts":%d,"host":"h%d","value":%d.5}`, 1700000000000+i, i, i), "kind", kind))
	}
	require.NoError(t, out.WriteBatch(context.Background(), batch))
	for _, tb := range []string{a, b, c} {
		assert.Equal(t, 10, tg.Count(t, "", tb), tb)
	}
	if tg.Double != nil {
		assert.Equal(t, 1, tg.Double.Requests(), "all tables of a batch go in one request")
		cols := tg.Double.Table("", a).Columns()
		require.Len(t, cols, 3)
		assert.Equal(t, "ts", cols[0].Name)
		assert.Equal(t, "host", cols[1].Name)
		assert.Equal(t, "value", cols[2].Name)
	}
}

func TestTypeConflictsFailOnlyTheOffendingMessage(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	tb := tg.Table("sensors")
	out := newTestOutput(t, fmt.Sprintf(`
addr: %s
table: %s
timestamp: { path: ts }
tags: [ device ]
`, tg.Addr, tb))
	// First batch: mode is an int64 column on the server.
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{
		msg(`{"ts":1,"device":"d0","temp":20.5,"mode":1}`),
	}))
	batch := service.MessageBatch{
		msg(`{"ts":2,"device":"d1","temp":21.5}`),
		msg(`{"ts":3,"device":"d2","temp":"hot"}`), // conflicts within the batch (mapping)
		msg(`{"ts":4,"device":"d3","temp":22}`),    // integer into the float column: converted
		msg(`{"ts":5,"device":"d4","mode":"eco"}`), // conflicts with the server's int64 column
		msg(`{"ts":6,"device":"d5","temp":23.5,"mode":2}`),
	}
	errs := batchErrors(t, out.WriteBatch(context.Background(), batch))
	require.Len(t, errs, 2, "%v", errs)
	assert.ErrorContains(t, errs[1], "message 1")
	assert.ErrorContains(t, errs[1], `column "temp"`)
	assert.ErrorContains(t, errs[1], tb)
	assert.ErrorContains(t, errs[3], "message 3")
	assert.ErrorContains(t, errs[3], "table "+tb)
	assert.ErrorContains(t, errs[3], "mode")
	assert.Equal(t, 4, tg.Count(t, "", tb))
}

func TestPayloadFormats(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	for _, format := range []string{"ndjson", "json_array"} {
		tb := tg.Table("rows_" + format)
		out := newTestOutput(t, fmt.Sprintf(`
addr: %s
table: %s
payload_format: %s
timestamp: { path: ts }
tags: [ id ]
fields: [ { path: v, type: int64 } ]
`, tg.Addr, tb, format))
		rows := func(from, n int, bad int) string {
			var parts []string
			for i := from; i < from+n; i++ {
				r := fmt.Sprintf(`{"ts":%d,"id":"r%d","v":%d}`, i, i, i)
				if i == bad {
					r = fmt.Sprintf(`{"ts":%d,"id":"r%d","v":"not a number"}`, i, i)
				}
				parts = append(parts, r)
			}
			if format == "ndjson" {
				return strings.Join(parts, "\n") + "\n"
			}
			return "[" + strings.Join(parts, ",") + "]"
		}
		batch := service.MessageBatch{msg(rows(0, 100, -1)), msg(rows(100, 5, 102)), msg(rows(200, 3, -1))}
		errs := batchErrors(t, out.WriteBatch(context.Background(), batch))
		require.Len(t, errs, 1, "%s: %v", format, errs)
		assert.ErrorContains(t, errs[1], "row 3", format)
		assert.ErrorContains(t, errs[1], "v", format)
		if format == "ndjson" {
			assert.ErrorContains(t, errs[1], "line 3")
		}
		assert.Equal(t, 103, tg.Count(t, "", tb), "%s: the bad message's other rows are not written", format)
	}
}

func TestDefaultTimeIsThePublishTime(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	tb := tg.Table("events")
	out := newTestOutput(t, fmt.Sprintf("addr: %s\ntable: %s\ntimestamp: { precision: us }\n", tg.Addr, tb))
	before := time.Now()
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{
		msg(`{"k":"published"}`, "danube_publish_time", "1796000000123"),
		msg(`{"k":"no metadata"}`),
	}))
	ts := map[any]any{}
	for _, r := range tg.Rows(t, "", tb) {
		ts[r["k"]] = r["ts"]
	}
	require.Len(t, ts, 2, "%v", ts)
	assert.Equal(t, int64(1796000000123000), ts["published"])
	require.IsType(t, int64(0), ts["no metadata"])
	assert.GreaterOrEqual(t, ts["no metadata"].(int64), before.UnixMicro())
}

func TestMetricsAndLogsMappings(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	prefix := tg.Table("node")
	out := newTestOutput(t, fmt.Sprintf(`
addr: %s
mapping: metrics
table: %s
payload_format: ndjson
`, tg.Addr, prefix))
	payload := `{"name":"cpu_seconds_total","labels":{"cpu":"0","mode":"idle"},"value":12.5,"timestamp":1700000000000}
{"name":"cpu_seconds_total","labels":{"cpu":"1","mode":"idle"},"value":11,"timestamp":1700000000000}
{"name":"memory_bytes","labels":{"kind":"free"},"gauge":{"value":1024},"timestamp":1700000000000}`
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(payload)}))
	assert.Equal(t, 2, tg.Count(t, "", prefix+"_cpu_seconds_total"))
	assert.Equal(t, 1, tg.Count(t, "", prefix+"_memory_bytes"))
	if tg.Double != nil {
		cols := tg.Double.Table("", prefix+"_cpu_seconds_total").Columns()
		var names []string
		for _, c := range cols {
			names = append(names, c.Name+":"+c.Semantic.String())
		}
		assert.Equal(t, []string{"greptime_timestamp:TIMESTAMP", "cpu:TAG", "mode:TAG", "greptime_value:FIELD"}, names)
	}

	logs := tg.Table("app_logs")
	lo := newTestOutput(t, fmt.Sprintf("addr: %s\nmapping: logs\ntable: %s\ntags: [ service ]\npayload_format: ndjson\n", tg.Addr, logs))
	require.NoError(t, lo.WriteBatch(context.Background(), service.MessageBatch{
		msg("2026-12-05 ERROR disk full\n{\"service\":\"api\",\"level\":\"warn\",\"message\":\"slow\",\"timestamp\":\"2026-12-05T01:00:00Z\"}\n", "danube_publish_time", "1796000000000"),
	}))
	assert.Equal(t, 2, tg.Count(t, "", logs))
}

func TestHostileInput(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	tb := tg.Table("hostile")
	out := newTestOutput(t, fmt.Sprintf("addr: %s\ntable: '${! meta(\"t\").or(\"%s\") }'\ntimestamp: { path: ts }\n", tg.Addr, tb))
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	batch := service.MessageBatch{
		msg(`{"ts":1,"ok":1}`),
		msg(``),
		msg(`{"ts":2,"ok":`),
		msg("\x00\xff\xfe garbage"),
		msg(`{"ts":3,"ok":1}`, "t", strings.Repeat("x", 300)),
		msg(`{"ts":1e400,"ok":1}`),
		msg(`{"ts":4,"` + strings.Repeat("k", 150) + `":1}`),
		msg(deep),
		msg(`{"ts":5,"ok":1,"ok":2}`),
		msg(`{"ts":6,"ok":2}`),
	}
	errs := batchErrors(t, out.WriteBatch(context.Background(), batch))
	for _, i := range []int{1, 2, 3, 4, 5, 6, 7} {
		assert.Contains(t, errs, i, "message %d", i)
	}
	assert.NotContains(t, errs, 0)
	assert.NotContains(t, errs, 9)
	assert.GreaterOrEqual(t, tg.Count(t, "", tb), 2)
}

func TestTLSFromConfig(t *testing.T) {
	p := greptimetest.NewPKI(t)
	s, err := greptimetest.Start(greptimetest.WithTLS(p.ServerTLS()), greptimetest.WithAuth("writer", "pw"))
	require.NoError(t, err)
	defer s.Stop()
	ca, cert, key := p.WriteFiles(t, t.TempDir())
	out := newTestOutput(t, fmt.Sprintf(`
addr: %s
table: secure
username: writer
password: pw
compression: gzip
tls:
  enabled: true
  root_cas_file: %s
  client_certs: [ { cert_file: %s, key_file: %s } ]
`, s.Addr(), ca, cert, key))
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(`{"v":1}`)}))
	assert.Equal(t, 1, s.Table("", "secure").Len())

	noCert := buildTestOutput(t, fmt.Sprintf("addr: %s\ntable: secure\ntimeout: 500ms\ntls: { enabled: true, root_cas_file: %s }\n", s.Addr(), ca))
	assert.Error(t, noCert.Connect(context.Background()), "TLS without the client certificate")
	plain := buildTestOutput(t, fmt.Sprintf("addr: %s\ntable: secure\ntimeout: 500ms\n", s.Addr()))
	assert.Error(t, plain.Connect(context.Background()), "plaintext to a TLS server")
}

func TestConnectFailsWhenUnreachable(t *testing.T) {
	s, err := greptimetest.Start()
	require.NoError(t, err)
	addr := s.Addr()
	s.Stop()
	out := buildTestOutput(t, fmt.Sprintf("addr: %s\ntable: x\ntimeout: 300ms\n", addr))
	err = out.Connect(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
}

func TestConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"addr: x\n": "table",
		"table: t\nfields: [ { path: a, type: decimal } ]\n": "decimal",
		"table: t\ntags: [ a ]\nfields: [ { path: a } ]\n":   "also",
		"mapping: metrics\ntags: [ a ]\n":                    "metrics",
		"table: t\nmax_retries: -1\n":                        "max_retries",
	} {
		conf, err := gtoSpec().ParseYAML(yaml, nil)
		require.NoError(t, err, yaml)
		cfg, err := gtoConfigFromParsed(conf)
		if err == nil {
			_, err = newGreptimeOutput(cfg, service.MockResources())
		}
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), want, yaml)
	}
}

// runStream builds and runs the stream of sb; stop stops it and waits for
// its end. The stream's context ends with the test.
func runStream(t *testing.T, sb *service.StreamBuilder) (ctx context.Context, stop func()) {
	t.Helper()
	strm, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- strm.Run(ctx) }()
	return ctx, func() {
		require.NoError(t, strm.StopWithin(10*time.Second))
		<-done
	}
}

// The server goes away in the middle of a stream and comes back: every
// message is written (the failed batches are redelivered), none lost.
func TestServerOutageMidStreamLosesNothing(t *testing.T) {
	s, err := greptimetest.Start()
	require.NoError(t, err)
	defer s.Stop()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	produce, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
greptime:
  addr: %s
  table: readings
  timestamp: { path: ts }
  tags: [ id ]
  timeout: 300ms
  max_retries: 2
  backoff: { initial_interval: 10ms, max_interval: 50ms }
  max_in_flight: 4
`, s.Addr())))
	ctx, stop := runStream(t, sb)

	const producers, batches, per = 4, 25, 20
	var wg sync.WaitGroup
	var redeliveries sync.Map
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var batch service.MessageBatch
				for i := 0; i < per; i++ {
					id := (p*batches+b)*per + i
					batch = append(batch, msg(fmt.Sprintf(`{"ts":%d,"id":"m%d","v":%d}`, 1700000000000+id, id, id)))
				}
				// Like an input that redelivers what was not acknowledged.
				for ctx.Err() == nil {
					if err := produce(ctx, batch.DeepCopy()); err == nil {
						break
					}
					redeliveries.Store(fmt.Sprint(p, b), true)
					time.Sleep(20 * time.Millisecond)
				}
				// Paced so that the stream is still running when the outage starts.
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Outage while the producers run.
	time.Sleep(150 * time.Millisecond)
	s.Stop()
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, s.Restart())
	wg.Wait()
	stop()
	tb := s.Table("", "readings")
	require.NotNil(t, tb)
	assert.Equal(t, producers*batches*per, tb.Len(), "every message stored once (overwrites merge)")
	n := 0
	redeliveries.Range(func(any, any) bool { n++; return true })
	assert.Positive(t, n, "the outage made some batches fail and be redelivered")
}

func TestRetryableErrorsAreRetriedInsideTheOutput(t *testing.T) {
	s, err := greptimetest.Start()
	require.NoError(t, err)
	defer s.Stop()
	out := newTestOutput(t, fmt.Sprintf("addr: %s\ntable: r\nbackoff: { initial_interval: 1ms, max_interval: 5ms }\n", s.Addr()))
	s.FailNext(3, greptimetest.Fault{Code: codes.Unavailable, GreptimeCode: 4008, Msg: "region not ready"})
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg(`{"v":1}`)}))
	assert.Equal(t, 4, s.Requests())
	s.FailNext(5, greptimetest.Fault{Code: codes.Unavailable, GreptimeCode: 4008, Msg: "region not ready"})
	err = out.WriteBatch(context.Background(), service.MessageBatch{msg(`{"v":1}`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "region not ready")
	assert.Contains(t, err.Error(), "4008")
	assert.Contains(t, err.Error(), "table r")
}

func TestLintRules(t *testing.T) {
	for yaml, want := range map[string]string{
		"greptime: { addr: 'x:1' }":                             "table is required",
		"greptime: { mapping: metrics, tags: [ a ] }":           "mapping metrics",
		"greptime: { mapping: metrics, fields: [ {path: a} ] }": "mapping metrics",
		"greptime: { mapping: metrics }":                        "",
		"greptime: { table: t, tags: [ a ] }":                   "",
	} {
		err := service.NewStreamBuilder().AddOutputYAML(yaml)
		if want == "" {
			assert.NoError(t, err, yaml)
		} else if assert.Error(t, err, yaml) {
			assert.Contains(t, err.Error(), want, yaml)
		}
	}
}

func TestHintsFromConfig(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	hinted, absent := tg.Table("hinted"), tg.Table("absent")
	out := newTestOutput(t, fmt.Sprintf(`
addr: %s
table: %s
compression: zstd
hints: { ttl: 7d, append_mode: true, merge_mode: last_non_null }
`, tg.Addr, hinted))
	// A recent time: on a real server rows older than the TTL may be gone.
	now := fmt.Sprint(time.Now().UnixMilli())
	batch := service.MessageBatch{msg(`{"v":1}`, "danube_publish_time", now), msg(`{"v":1}`, "danube_publish_time", now)}
	require.NoError(t, out.WriteBatch(context.Background(), batch))
	assert.Equal(t, 2, tg.Count(t, "", hinted), "append mode keeps equal rows")
	if tg.Double != nil {
		// Only the double records the hints received and shows table options.
		h := tg.Double.Hints()
		require.NotEmpty(t, h)
		assert.Equal(t, map[string]string{"ttl": "7d", "append_mode": "true", "merge_mode": "last_non_null"}, h[len(h)-1])
		assert.Equal(t, "7d", tg.Double.Table("", hinted).Options()["ttl"])
	}

	off := newTestOutput(t, fmt.Sprintf("addr: %s\ntable: %s\nhints: { auto_create_table: false }\n", tg.Addr, absent))
	errs := batchErrors(t, off.WriteBatch(context.Background(), service.MessageBatch{msg(`{"v":1}`)}))
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], "4001")
	assert.Equal(t, 0, tg.Count(t, "", absent))
	if tg.Double != nil {
		assert.Nil(t, tg.Double.Table("", absent), "not created")
	}
}

// The server, not the output's remembered column types, rejects a type
// conflict: a fresh output has not seen the table, maps the string as a
// string column, and only that message fails.
func TestServerRejectsATypeConflictOfOneMessage(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	tb := tg.Table("modes")
	conf := fmt.Sprintf("addr: %s\ntable: %s\ntimestamp: { path: ts }\ntags: [ device ]\n", tg.Addr, tb)
	ts := time.Now().Add(-time.Minute).UnixMilli()
	first := newTestOutput(t, conf)
	require.NoError(t, first.WriteBatch(context.Background(), service.MessageBatch{
		msg(fmt.Sprintf(`{"ts":%d,"device":"d0","mode":1}`, ts)),
	}))

	fresh := newTestOutput(t, conf)
	batch := service.MessageBatch{
		msg(fmt.Sprintf(`{"ts":%d,"device":"d1","temp":20.5}`, ts+1)),
		msg(fmt.Sprintf(`{"ts":%d,"device":"d2","mode":"eco"}`, ts+2)),
		msg(fmt.Sprintf(`{"ts":%d,"device":"d3","temp":21.5}`, ts+3)),
	}
	errs := batchErrors(t, fresh.WriteBatch(context.Background(), batch))
	require.Len(t, errs, 1, "%v", errs)
	require.Contains(t, errs, 1)
	assert.ErrorContains(t, errs[1], "message 1")
	assert.ErrorContains(t, errs[1], "table "+tb)
	assert.ErrorContains(t, errs[1], "mode")

	var devices []any
	for _, r := range tg.Rows(t, "", tb) {
		devices = append(devices, r["device"])
	}
	assert.Equal(t, []any{"d0", "d1", "d3"}, devices)
}

// Double only: it injects a transient fault and counts requests.
func TestMetricsPerTable(t *testing.T) {
	s, err := greptimetest.Start()
	require.NoError(t, err)
	defer s.Stop()
	s.CreateTable("", "a",
		greptimetest.Column{Name: "ts", Type: gpb.ColumnDataType_TIMESTAMP_MILLISECOND, Semantic: gpb.SemanticType_TIMESTAMP},
		greptimetest.Column{Name: "host", Type: gpb.ColumnDataType_STRING, Semantic: gpb.SemanticType_TAG},
		greptimetest.Column{Name: "mode", Type: gpb.ColumnDataType_INT64, Semantic: gpb.SemanticType_FIELD})

	mm := testmetrics.New()
	env := service.NewEnvironment()
	require.NoError(t, env.RegisterMetricsExporter("greptime_test_metrics", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return mm, nil }))
	sb := env.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.SetMetricsYAML("greptime_test_metrics: {}"))
	produce, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
greptime:
  addr: %s
  table: '${! meta("t") }'
  timestamp: { path: ts }
  tags: [ host ]
  backoff: { initial_interval: 1ms, max_interval: 5ms }
`, s.Addr())))
	ctx, stop := runStream(t, sb)

	rowsA := []string{`{"ts":1,"host":"x","n":1}`, `{"ts":2,"host":"y","n":2}`}
	rowsB := []string{`{"ts":3,"host":"x","v":1.5}`, `{"ts":4,"host":"y","v":2.5}`}
	batch := service.MessageBatch{
		msg(rowsA[0], "t", "a"),
		msg(`{"ts":5,"host":"z","mode":"eco"}`, "t", "a"), // rejected by the server (mode is int64)
		msg(rowsB[0], "t", "b"),
		msg(`{"ts":6,`, "t", "b"), // rejected by the mapping
		msg(rowsA[1], "t", "a"),
		msg(rowsB[1], "t", "b"),
	}
	// The first request (tables a and b) fails transiently and is retried.
	s.FailNext(1, greptimetest.Fault{Code: codes.Unavailable, GreptimeCode: 4008, Msg: "region not ready"})
	require.Error(t, produce(ctx, batch), "two messages fail")
	stop()
	assert.Equal(t, 2, s.Table("", "a").Len())
	assert.Equal(t, 2, s.Table("", "b").Len())

	size := func(rows []string) int64 { return int64(len(rows[0]) + len(rows[1])) }
	for key, want := range map[string]int64{
		"greptime_output_rows{table=a,}":                     2,
		"greptime_output_rows{table=b,}":                     2,
		"greptime_output_bytes{table=a,}":                    size(rowsA),
		"greptime_output_bytes{table=b,}":                    size(rowsB),
		"greptime_output_batches{}":                          1,
		"greptime_output_retries{code=4008,table=,}":         1,
		"greptime_output_errors{code=4008,table=,}":          1,
		"greptime_output_errors{code=1004,table=,}":          1, // the request of both tables
		"greptime_output_errors{code=1004,table=b,}":         0,
		"greptime_output_rejected_messages{reason=server,}":  1,
		"greptime_output_rejected_messages{reason=mapping,}": 1,
		"greptime_output_requests{}":                         int64(s.Requests()),
		"greptime_output_request_latency_ns{}":               int64(s.Requests()),
		"greptime_output_retries{code=4008,table=a,}":        0,
		"greptime_output_errors{code=4008,table=a,}":         0,
		"greptime_output_errors{code=4008,table=b,}":         0,
	} {
		assert.Equal(t, want, mm.Get(key), key)
	}
	// Isolating the rejected message sends table a alone: its rejections
	// carry the table.
	assert.Positive(t, mm.Get("greptime_output_errors{code=1004,table=a,}"))
}
