// Package jsonrows is the sink-neutral JSON row layer shared by every
// danube-connect sink (delta_lake, clickhouse_async, greptime, lancedb). It
// has no Benthos and no sink imports.
//
// Format and Each give `payload_format` one meaning everywhere: `json` is one
// row per message, `ndjson` one row per non-blank line, `json_array` one row
// per element of a top-level array. A row that fails fails its whole message
// with a *RowError naming the 1-based row number (and the line, for ndjson),
// so a sink can mark exactly that message failed and commit the others.
package jsonrows
