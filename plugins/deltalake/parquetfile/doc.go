// Package parquetfile streams Arrow record batches (built by the
// sink-neutral jsonrows decoder) into Parquet data files with Delta Lake
// per-file statistics, and spells partition values the way the Delta log
// stores them. It has no Benthos imports: the delta_lake table writer and
// OPTIMIZE drive it.
//
// The pipeline is
//
//	jsonrows.Decoder.Decode(row)   parse + validate one JSON row
//	  -> PartitionValue(v)         Delta-serialised partition values
//	  -> jsonrows.Buffer.Append    append to Arrow builders
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
// PartitionWriter ties a jsonrows.Buffer to a chain of FileWriters: it
// writes a row group whenever the buffered Arrow data passes
// WriterOptions.RowGroupBytes and rolls to a new file once the current one
// passes TargetFileSize, so a large file never needs to be held in memory.
package parquetfile
