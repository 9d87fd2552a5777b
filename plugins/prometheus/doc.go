// Package prometheus registers a `prometheus` metrics exporter that serves
// /metrics on the Benthos service HTTP server.
package prometheus
