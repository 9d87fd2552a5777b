// Package deltaops holds the Delta table operations that read or write data
// files: OPTIMIZE (bin-packing small Parquet files per partition into one
// commit that never loses a concurrent append) and VACUUM (deleting data
// files no version within the retention references). OptimizeStore and
// VacuumStore run them with a table handle of their own; the output's
// background maintenance and `danube-connect delta optimize|vacuum` both
// call them.
//
// It sits beside the log core (package delta), which it drives through the
// public Table API (FullSnapshot, NewTransactionAt, Commit): the log core
// knows actions, snapshots, commits and checkpoints and imports no data-file
// writer, while this package merges data files with the Parquet data-file
// writer. It has no Benthos imports.
package deltaops
