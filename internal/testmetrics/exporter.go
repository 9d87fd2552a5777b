// Package testmetrics is an in-memory Benthos metrics exporter for tests.
package testmetrics

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Exporter keeps every metric in memory, keyed by name and the component's
// own labels: "name{k=v,...}", "name{}" without any. Benthos' labels (label,
// path) are left out. Counters sum, timers count their timings, gauges keep
// their last value and the history of values set.
type Exporter struct {
	mu     sync.Mutex
	values map[string]int64
	gauges map[string][]int64
}

// New returns an empty Exporter.
func New() *Exporter {
	return &Exporter{values: map[string]int64{}, gauges: map[string][]int64{}}
}

// Get is the value of the metric key: a counter's sum, a timer's count or a
// gauge's last value.
func (e *Exporter) Get(key string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.values[key]
}

// MaxGauge is the highest value the gauge key was set to (zero if none).
func (e *Exporter) MaxGauge(key string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var hi int64
	for _, v := range e.gauges[key] {
		hi = max(hi, v)
	}
	return hi
}

func (e *Exporter) add(key string, n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.values[key] += n
}

func (e *Exporter) set(key string, v int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.values[key] = v
	e.gauges[key] = append(e.gauges[key], v)
}

type metric struct {
	e   *Exporter
	key string
}

func (m metric) Incr(n int64) { m.e.add(m.key, n) }
func (m metric) Timing(int64) { m.e.add(m.key, 1) }
func (m metric) Set(v int64)  { m.e.set(m.key, v) }

func (e *Exporter) ctor(name string, keys []string) func(...string) metric {
	return func(vals ...string) metric {
		var b strings.Builder
		b.WriteString(name + "{")
		for i, k := range keys {
			if k != "label" && k != "path" && i < len(vals) { // Benthos' own labels
				fmt.Fprintf(&b, "%s=%s,", k, vals[i])
			}
		}
		b.WriteString("}")
		return metric{e: e, key: b.String()}
	}
}

// NewCounterCtor implements service.MetricsExporter.
func (e *Exporter) NewCounterCtor(name string, keys ...string) service.MetricsExporterCounterCtor {
	f := e.ctor(name, keys)
	return func(v ...string) service.MetricsExporterCounter { return f(v...) }
}

// NewTimerCtor implements service.MetricsExporter.
func (e *Exporter) NewTimerCtor(name string, keys ...string) service.MetricsExporterTimerCtor {
	f := e.ctor(name, keys)
	return func(v ...string) service.MetricsExporterTimer { return f(v...) }
}

// NewGaugeCtor implements service.MetricsExporter.
func (e *Exporter) NewGaugeCtor(name string, keys ...string) service.MetricsExporterGaugeCtor {
	f := e.ctor(name, keys)
	return func(v ...string) service.MetricsExporterGauge { return f(v...) }
}

// Close implements service.MetricsExporter.
func (e *Exporter) Close(context.Context) error { return nil }
