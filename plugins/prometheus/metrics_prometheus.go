package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	pmFieldPrefix             = "prefix"
	pmFieldUseHistogramTiming = "use_histogram_timing"
	pmFieldHistogramBuckets   = "histogram_buckets"
	pmFieldAddProcessMetrics  = "add_process_metrics"
	pmFieldAddGoMetrics       = "add_go_metrics"
)

func prometheusSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Summary("Exposes metrics in the Prometheus text format at `/metrics` on the service-wide HTTP server.").
		Description(`
This is the default metrics exporter of danube-connect. Every component metric
(for example `+"`input_received`, `output_sent`, `output_latency_ns`"+` and the
danube-connect specific counters of the Danube, Delta Lake and webhook
components) is served at `+"`http://<http.address>/metrics`"+` (and under the
`+"`http.root_path`"+` prefix), ready for a Prometheus scrape job.

Counters become Prometheus counters, gauges become gauges. Timings (reported in
nanoseconds) become summaries with the 0.5, 0.9 and 0.99 quantiles, or, with
`+"`use_histogram_timing`"+`, histograms whose observations are converted to
seconds so that the bucket boundaries are readable.

Metric names are sanitised to the Prometheus character set; a metric name that
is registered twice with different label keys keeps its first definition and
the later one is dropped with a warning, rather than failing the process.`).
		Fields(
			service.NewStringField(pmFieldPrefix).
				Description("A prefix added to every metric name, for example `danube_connect`.").
				Default("").
				Example("danube_connect"),
			service.NewBoolField(pmFieldUseHistogramTiming).
				Description("Export timing metrics as histograms (in seconds) instead of summaries (in nanoseconds).").
				Default(false).
				Advanced(),
			service.NewFloatListField(pmFieldHistogramBuckets).
				Description("Bucket upper bounds, in seconds, for histogram timings. Empty means the Prometheus default buckets.").
				Default([]any{}).
				Advanced(),
			service.NewBoolField(pmFieldAddProcessMetrics).
				Description("Also export process metrics (CPU, resident memory, open file descriptors).").
				Default(true).
				Advanced(),
			service.NewBoolField(pmFieldAddGoMetrics).
				Description("Also export Go runtime metrics (goroutines, GC, heap).").
				Default(true).
				Advanced(),
		).
		LintRule(`root = if this.histogram_buckets.or([]).length() > 0 && !this.use_histogram_timing.or(false) { "histogram_buckets is only used with use_histogram_timing: true" }`).
		Example("Prefixed metrics with histograms", "Serve `/metrics` with a `danube_connect_` prefix and histogram latencies.", `
http:
  address: 0.0.0.0:4195
metrics:
  prometheus:
    prefix: danube_connect
    use_histogram_timing: true
`)
}

func init() {
	service.MustRegisterMetricsExporter("prometheus", prometheusSpec(),
		func(conf *service.ParsedConfig, log *service.Logger) (service.MetricsExporter, error) {
			pConf, err := prometheusConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			return newPrometheusExporter(pConf, log)
		})
}

type prometheusConfig struct {
	prefix             string
	useHistogramTiming bool
	histogramBuckets   []float64
	addProcessMetrics  bool
	addGoMetrics       bool
}

func prometheusConfigFromParsed(pConf *service.ParsedConfig) (conf prometheusConfig, err error) {
	if conf.prefix, err = pConf.FieldString(pmFieldPrefix); err != nil {
		return
	}
	if conf.useHistogramTiming, err = pConf.FieldBool(pmFieldUseHistogramTiming); err != nil {
		return
	}
	if conf.histogramBuckets, err = pConf.FieldFloatList(pmFieldHistogramBuckets); err != nil {
		return
	}
	for i, b := range conf.histogramBuckets {
		if i > 0 && b <= conf.histogramBuckets[i-1] {
			err = fmt.Errorf("field %s: buckets must be strictly increasing, %v follows %v", pmFieldHistogramBuckets, b, conf.histogramBuckets[i-1])
			return
		}
	}
	if conf.addProcessMetrics, err = pConf.FieldBool(pmFieldAddProcessMetrics); err != nil {
		return
	}
	conf.addGoMetrics, err = pConf.FieldBool(pmFieldAddGoMetrics)
	return
}

// prometheusExporter adapts Benthos' metric constructors to client_golang
// vectors kept in a private registry (never the global one, so that several
// exporters, e.g. in tests, do not collide).
type prometheusExporter struct {
	conf     prometheusConfig
	log      *service.Logger
	registry *prom.Registry
	handler  http.Handler

	mu      sync.Mutex
	vectors map[string]registeredVec
}

type registeredVec struct {
	labelKeys []string
	collector prom.Collector
}

func newPrometheusExporter(conf prometheusConfig, log *service.Logger) (*prometheusExporter, error) {
	reg := prom.NewRegistry()
	if conf.addProcessMetrics {
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("registering process metrics: %w", err)
		}
	}
	if conf.addGoMetrics {
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("registering Go runtime metrics: %w", err)
		}
	}
	return &prometheusExporter{
		conf:     conf,
		log:      log,
		registry: reg,
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
		vectors:  map[string]registeredVec{},
	}, nil
}

// HandlerFunc is discovered by Benthos (duck typing) and mounted at /metrics.
func (p *prometheusExporter) HandlerFunc() http.HandlerFunc {
	return p.handler.ServeHTTP
}

var invalidMetricChars = regexp.MustCompile(`[^a-zA-Z0-9_:]`)

func sanitiseName(name string) string {
	name = invalidMetricChars.ReplaceAllString(name, "_")
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		name = "_" + name
	}
	return name
}

func (p *prometheusExporter) fullName(name string) string {
	if p.conf.prefix != "" {
		name = p.conf.prefix + "_" + name
	}
	return sanitiseName(name)
}

func sanitiseLabels(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = sanitiseName(k)
	}
	return out
}

// getOrRegister returns the existing collector for name when its label keys
// match, registers build() otherwise, and returns nil when the name is taken
// with different label keys.
func (p *prometheusExporter) getOrRegister(name string, labelKeys []string, build func() prom.Collector) prom.Collector {
	p.mu.Lock()
	defer p.mu.Unlock()
	if existing, ok := p.vectors[name]; ok {
		if strings.Join(existing.labelKeys, "\x00") == strings.Join(labelKeys, "\x00") {
			return existing.collector
		}
		p.log.Warnf("Metric %s registered again with labels %v (first had %v); dropping the later definition", name, labelKeys, existing.labelKeys)
		return nil
	}
	c := build()
	if err := p.registry.Register(c); err != nil {
		p.log.Warnf("Registering metric %s: %v", name, err)
		return nil
	}
	p.vectors[name] = registeredVec{labelKeys: labelKeys, collector: c}
	return c
}

func (p *prometheusExporter) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	full, keys := p.fullName(name), sanitiseLabels(labelKeys)
	c := p.getOrRegister(full, keys, func() prom.Collector {
		return prom.NewCounterVec(prom.CounterOpts{Name: full, Help: "Benthos counter metric " + name}, keys)
	})
	vec, _ := c.(*prom.CounterVec)
	return func(labelValues ...string) service.MetricsExporterCounter {
		if vec == nil {
			return noopMetric{}
		}
		return counter{vec.WithLabelValues(labelValues...)}
	}
}

func (p *prometheusExporter) NewTimerCtor(name string, labelKeys ...string) service.MetricsExporterTimerCtor {
	full, keys := p.fullName(name), sanitiseLabels(labelKeys)
	if p.conf.useHistogramTiming {
		c := p.getOrRegister(full, keys, func() prom.Collector {
			buckets := p.conf.histogramBuckets
			if len(buckets) == 0 {
				buckets = prom.DefBuckets
			}
			return prom.NewHistogramVec(prom.HistogramOpts{Name: full, Help: "Benthos timing metric " + name + " in seconds", Buckets: buckets}, keys)
		})
		vec, _ := c.(*prom.HistogramVec)
		return func(labelValues ...string) service.MetricsExporterTimer {
			if vec == nil {
				return noopMetric{}
			}
			return observer{obs: vec.WithLabelValues(labelValues...), scale: 1e-9}
		}
	}
	c := p.getOrRegister(full, keys, func() prom.Collector {
		return prom.NewSummaryVec(prom.SummaryOpts{
			Name:       full,
			Help:       "Benthos timing metric " + name + " in nanoseconds",
			Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
		}, keys)
	})
	vec, _ := c.(*prom.SummaryVec)
	return func(labelValues ...string) service.MetricsExporterTimer {
		if vec == nil {
			return noopMetric{}
		}
		return observer{obs: vec.WithLabelValues(labelValues...), scale: 1}
	}
}

func (p *prometheusExporter) NewGaugeCtor(name string, labelKeys ...string) service.MetricsExporterGaugeCtor {
	full, keys := p.fullName(name), sanitiseLabels(labelKeys)
	c := p.getOrRegister(full, keys, func() prom.Collector {
		return prom.NewGaugeVec(prom.GaugeOpts{Name: full, Help: "Benthos gauge metric " + name}, keys)
	})
	vec, _ := c.(*prom.GaugeVec)
	return func(labelValues ...string) service.MetricsExporterGauge {
		if vec == nil {
			return noopMetric{}
		}
		return gauge{vec.WithLabelValues(labelValues...)}
	}
}

func (p *prometheusExporter) Close(context.Context) error { return nil }

type counter struct{ c prom.Counter }

func (c counter) Incr(n int64)          { c.c.Add(float64(n)) }
func (c counter) IncrFloat64(n float64) { c.c.Add(n) }

type gauge struct{ g prom.Gauge }

func (g gauge) Set(v int64)          { g.g.Set(float64(v)) }
func (g gauge) SetFloat64(v float64) { g.g.Set(v) }

type observer struct {
	obs   prom.Observer
	scale float64
}

func (o observer) Timing(deltaNs int64) { o.obs.Observe(float64(deltaNs) * o.scale) }

type noopMetric struct{}

func (noopMetric) Incr(int64)          {}
func (noopMetric) IncrFloat64(float64) {}
func (noopMetric) Set(int64)           {}
func (noopMetric) SetFloat64(float64)  {}
func (noopMetric) Timing(int64)        {}
