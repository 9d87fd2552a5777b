// Package deltalake registers the Benthos `delta_lake` output: JSON
// messages appended to Delta Lake tables on local disk, S3, Azure Blob
// Storage or GCS, with acknowledgements only after the commit is durable and
// exactly-once delivery from the danube input.
//
// Layout:
//   - output_delta_lake.go: spec, field names, config parsing, registration.
//   - output.go: the BatchOutput (routing to tables, bounded table cache,
//     memory bound, Danube metadata, the kill -9 test hook).
//   - table.go, table_open.go: one writer per table (schema generations,
//     shared flushes, offset reservations, table creation, start-up offset
//     history).
//   - flush.go: data files and commits with offset-aware conflict handling.
//   - maintenance.go, commands.go: scheduled and command-line optimize and
//     vacuum (Commands() is wired into the danube-connect CLI).
//
// The Delta log, the JSON-to-Parquet path and the object stores live in the
// subpackages delta, parquetfile and objstore (the JSON decoding is the sink-neutral plugins/jsonrows); exactlyonce holds the offset
// bookkeeping. None of them imports Benthos.
package deltalake
