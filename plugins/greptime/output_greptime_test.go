package greptime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

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
	s, err := greptimetest.Start()
	require.NoError(t, err)
	defer s.Stop()
	out := newTestOutput(t, fmt.Sprintf("addr: %s\ntable: events\ntimestamp: { precision: us }\n", s.Addr()))
	before := time.Now()
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{
		msg(`{"k":"published"}`, "danube_publish_time", "1796000000123"),
		msg(`{"k":"no metadata"}`),
	}))
	rows := s.Table("", "events").Rows()
	require.Len(t, rows, 2)
	assert.Equal(t, int64(1796000000123000), rows[0]["ts"])
	assert.GreaterOrEqual(t, rows[1]["ts"], before.UnixMicro())
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
	strm, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- strm.Run(ctx) }()

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
	require.NoError(t, strm.StopWithin(10*time.Second))
	<-done
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
	s, err := greptimetest.Start()
	require.NoError(t, err)
	defer s.Stop()
	out := newTestOutput(t, fmt.Sprintf(`
addr: %s
table: hinted
compression: zstd
hints: { ttl: 7d, append_mode: true, merge_mode: last_non_null }
`, s.Addr()))
	batch := service.MessageBatch{msg(`{"v":1}`, "danube_publish_time", "1000"), msg(`{"v":1}`, "danube_publish_time", "1000")}
	require.NoError(t, out.WriteBatch(context.Background(), batch))
	h := s.Hints()
	require.NotEmpty(t, h)
	assert.Equal(t, map[string]string{"ttl": "7d", "append_mode": "true", "merge_mode": "last_non_null"}, h[len(h)-1])
	tb := s.Table("", "hinted")
	assert.Equal(t, "7d", tb.Options()["ttl"])
	assert.Equal(t, 2, tb.Len(), "append mode keeps equal rows")

	off := newTestOutput(t, fmt.Sprintf("addr: %s\ntable: absent\nhints: { auto_create_table: false }\n", s.Addr()))
	errs := batchErrors(t, off.WriteBatch(context.Background(), service.MessageBatch{msg(`{"v":1}`)}))
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], "4001")
	assert.Nil(t, s.Table("", "absent"))
}
