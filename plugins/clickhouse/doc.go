// Package clickhouse registers the Benthos `clickhouse_async` output, thin
// glue over plugins/clickhouse/chsink (schema discovery, JSON → native
// block conversion, retries; no Benthos dependency) and
// plugins/clickhouse/chtype (the ClickHouse type parser):
//
//   - output_clickhouse_async.go: spec, config parsing, per-table grouping
//     of a batch, Danube offsets for deduplication tokens, `columns`
//     Bloblang overrides, BatchError mapping and metrics.
//
// Tests run against a real clickhouse-server whose native address is in
// DC_CLICKHOUSE_ADDR (resources/scripts/services.sh up starts one).
package clickhouse
