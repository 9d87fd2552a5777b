package prometheus

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestExporter(t *testing.T, yaml string) *prometheusExporter {
	t.Helper()
	pConf, err := prometheusSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	conf, err := prometheusConfigFromParsed(pConf)
	require.NoError(t, err)
	e, err := newPrometheusExporter(conf, service.MockResources().Logger())
	require.NoError(t, err)
	return e
}

func scrape(t *testing.T, e *prometheusExporter) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.HandlerFunc()(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body)
}

func TestPrometheusExporterSeries(t *testing.T) {
	e := newTestExporter(t, `prefix: dc`)
	e.NewCounterCtor("output_sent", "label", "path")("out", "root.output").Incr(3)
	e.NewGaugeCtor("buffered-bytes", "label")("delta").Set(42)
	e.NewTimerCtor("output_latency_ns", "label")("out").Timing(2_000_000)

	body := scrape(t, e)
	assert.Contains(t, body, `dc_output_sent{label="out",path="root.output"} 3`)
	assert.Contains(t, body, `dc_buffered_bytes{label="delta"} 42`)
	assert.Contains(t, body, `dc_output_latency_ns{label="out",quantile="0.5"} 2e+06`)
	assert.Contains(t, body, "process_resident_memory_bytes")
	assert.Contains(t, body, "go_goroutines")
}

func TestPrometheusHistogramSeconds(t *testing.T) {
	e := newTestExporter(t, `
use_histogram_timing: true
histogram_buckets: [0.001, 0.01, 0.1]
add_process_metrics: false
add_go_metrics: false
`)
	e.NewTimerCtor("commit_latency_ns")().Timing(5_000_000) // 5 ms
	body := scrape(t, e)
	assert.Contains(t, body, `commit_latency_ns_bucket{le="0.001"} 0`)
	assert.Contains(t, body, `commit_latency_ns_bucket{le="0.01"} 1`)
	assert.Contains(t, body, `commit_latency_ns_sum 0.005`)
	assert.NotContains(t, body, "go_goroutines")
}

func TestPrometheusLabelConflictDoesNotPanic(t *testing.T) {
	e := newTestExporter(t, `add_process_metrics: false`)
	e.NewCounterCtor("dup", "a")("x").Incr(1)
	// Same name, different label keys: dropped with a warning, not a panic.
	e.NewCounterCtor("dup", "b", "c")("y", "z").Incr(5)
	body := scrape(t, e)
	assert.Contains(t, body, `dup{a="x"} 1`)
	assert.False(t, strings.Contains(body, `b="y"`))
}

func TestPrometheusConfigErrors(t *testing.T) {
	pConf, err := prometheusSpec().ParseYAML(`
use_histogram_timing: true
histogram_buckets: [1, 0.5]
`, nil)
	require.NoError(t, err)
	_, err = prometheusConfigFromParsed(pConf)
	require.ErrorContains(t, err, "histogram_buckets")

	lints, err := service.NewEnvironment().NewComponentConfigLinter().LintMetricsYAML([]byte(`
prometheus:
  histogram_buckets: [0.1]
`))
	require.NoError(t, err)
	require.Len(t, lints, 1)
	assert.Contains(t, lints[0].What, "only used with use_histogram_timing")
}
