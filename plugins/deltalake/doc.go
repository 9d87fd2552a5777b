// Package deltalake registers the Benthos `delta_lake` output: JSON
// messages appended to Delta Lake tables on local disk, S3, Azure Blob
// Storage or GCS, with acknowledgements only after the commit is durable and
// exactly-once delivery from the danube input.
//
// Layout:
//   - output_delta_lake.go: the component: spec, field names, config
//     parsing, registration and the BatchOutput (per-message table path,
//     Danube metadata, partition mapping, error mapping). Everything else is
//     in Benthos-free packages.
//   - storage.go, commands.go: the object-store options and the
//     `danube-connect delta` subcommands.
//
// Subpackages: tablewriter (buffering, flushes, schema evolution,
// exactly-once offsets, commit retry, scheduled maintenance), delta (the
// transaction log), parquetfile (Arrow to Parquet data files with Delta
// statistics and partition values), objstore (object stores with
// put-if-absent) and exactlyonce (offset bookkeeping). JSON decoding is the
// sink-neutral plugins/jsonrows. None of them imports Benthos.
package deltalake
