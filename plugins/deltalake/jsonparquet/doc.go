// Package jsonparquet turns JSON rows into Arrow record batches and streams
// them into Parquet data files with Delta Lake per-file statistics. It has no
// Benthos imports: the delta_lake output drives it.
//
// The pipeline is
//
//	Decoder.Decode(row)            parse + validate one JSON row (fastjson, pooled)
//	  -> Row.PartitionValues()     Delta-serialised partition values for routing
//	  -> Buffer.Append(row)        append to Arrow builders (cannot fail half-way)
//	  -> FileWriter.Write(record)  one Parquet row group, stats accumulated
//	  -> FileWriter.Close()        DataFile{Size, NumRecords, Stats}
//
// Statistics (DataFile.Stats) follow the Delta protocol: numRecords, then
// minValues/maxValues/nullCount for the first 32 primitive leaves reached
// through structs (list and map contents get none), nested by struct path.
// Strings keep a 32-character prefix as min and, when longer, a prefix with
// its last character incremented as max (omitted where that is unsafe);
// timestamps are truncated down to milliseconds; NaN is skipped; booleans
// and binary get null counts only; all-null columns get no min/max.
//
// PartitionWriter ties a Buffer to a chain of FileWriters: it writes a row
// group whenever the buffered Arrow data passes WriterOptions.RowGroupBytes
// and rolls to a new file once the current one passes TargetFileSize, so a
// large file never needs to be held in memory.
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
package jsonparquet
