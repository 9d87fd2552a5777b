// Package jsonrows is the sink-neutral JSON row layer shared by every
// danube-connect sink (delta_lake, clickhouse_async, greptime, lancedb). It
// has no Benthos and no sink imports.
//
// Format and Each give `payload_format` one meaning everywhere: `json` is one
// row per message, `ndjson` one row per non-blank line, `json_array` one row
// per element of a top-level array. A row that fails fails its whole message
// with a *RowError naming the 1-based row number (and the line, for ndjson),
// so a sink can mark exactly that message failed and commit the others.
//
// Decoder turns one JSON object row into Arrow values against a table
// schema; Buffer collects decoded rows in Arrow builders and hands out
// record batches; Inferrer, InferSchema and EvolveSchema derive and widen
// schemas from rows; RecyclingAllocator keeps freed Arrow buffers for
// reuse. The Parse* functions are the exact scalar parsers the decoder
// uses (integers without a float detour, decimals, dates, RFC 3339
// timestamps, epoch numbers, base64), exported for sinks that build their
// own column values.
//
// Decoding is two-pass per row: the first pass walks the parsed JSON in
// schema order, converts every value and checks every rule (types, nulls,
// ranges, unknown fields), recording the converted values on a reusable
// tape; only a row that passed is replayed into the builders. A rejected row
// therefore never leaves partial values behind.
//
// JSON to Arrow conversions:
//   - Int8/16/32/64: JSON integers (an integral number written as 1.0 or
//     1e3 is accepted); out-of-range values are rejected, never wrapped.
//   - Float32/Float64: any JSON number.
//   - Boolean: true/false. String: JSON strings (valid UTF-8 only).
//   - Binary: base64 strings (standard alphabet, padded or not).
//   - Timestamp: RFC 3339 strings with any offset (stored as UTC; columns
//     without a time zone, i.e. timestamp_ntz, also take strings without a
//     zone designator), digits finer than the column unit truncated towards
//     negative infinity; or JSON numbers counted in DecoderOptions.EpochUnit
//     since the Unix epoch (default: the column's own unit, i.e.
//     microseconds for Delta timestamps). A number in a coarser unit may
//     carry a fraction down to the column unit (1.5 s); anything finer is
//     rejected, while a number in a finer unit (ns) is truncated down.
//   - Date32: "YYYY-MM-DD" strings, or integers counting days since 1970-01-01.
//   - Decimal128(p,s): JSON numbers or strings, parsed exactly; a value with
//     more than s significant fraction digits or more than p digits is rejected.
//   - Struct: objects; List: arrays; Map: objects, whose keys are read as
//     the key type (string, integer, boolean, date or timestamp).
package jsonrows
