// Package delta reads and writes the Delta Lake transaction log on an
// objstore.Store. It has no Benthos imports.
//
// What it covers:
//
//   - Actions (protocol, metaData, add, remove, txn, commitInfo,
//     domainMetadata) with the exact PROTOCOL.md field names, encoded as
//     newline-delimited JSON; unknown actions and fields are tolerated.
//   - Delta schema JSON (struct/array/map, decimal(p,s), timestamp,
//     timestamp_ntz, date, binary) and its Arrow mapping (ToArrow/FromArrow;
//     timestamp is Timestamp(µs, "UTC")), plus MergeSchema for evolution.
//   - Snapshots: Load/LoadVersion use _last_checkpoint (falling back to
//     listing when it is missing, stale or corrupt), stream a classic V1
//     checkpoint (ours, Spark's or delta-rs's) in record batches, then replay
//     the JSON commits after it. Snapshot.Update and Table.Update read only
//     new commits. LoadMetadata and TableOptions.WithoutFiles keep only
//     version, protocol, metadata and txns, so an appender's memory does not
//     grow with the number of files (maintenance then loads files on demand).
//   - A protocol gate (CheckWriteSupport): new tables are reader 1 / writer 2
//     without features (3/7 with timestampNtz only for timestamp_ntz columns);
//     tables needing features we do not implement are refused with an
//     *UnsupportedFeatureError naming the feature; delta.appendOnly is honoured.
//   - Commits (Table.Commit): put-if-absent of _delta_log/NNN.json with
//     optimistic concurrency. On a lost race the winners are read and checked
//     (protocol re-gated, metadata rebased or *MetadataChangedError, txn appId
//     overlap → *TransactionConflictError wrapping ErrDuplicateTransaction or
//     ErrConcurrentTransaction, files removed twice → ErrConcurrentDeleteDelete),
//     then the commit is retried with jittered backoff. Transaction.OnConflict
//     lets the caller inspect other writers' commits; CommitResult.Winners
//     lists them. An ambiguous storage error is retried and recognised by
//     commitInfo.txnId, so a transaction is never committed twice.
//   - Checkpoints every delta.checkpointInterval (default 10, Spark's rule
//     v != 0 && v % N == 0) written in the background, or on demand with
//     Table.Checkpoint; skipped (ErrCheckpointSkipped) when a table asks for
//     struct stats.
//   - Maintenance: Optimize (bin-packing small files per partition in one
//     OPTIMIZE commit that never loses a concurrent append), Vacuum (retention,
//     tombstones, dry run) and Table.CleanupLog (expired log files).
//
// Not implemented (tables needing them are refused or left alone): column
// mapping, deletion vectors, row tracking, V2/UUID and multi-part
// checkpoints, In-Commit Timestamps, CDF files, struct stats in checkpoints,
// txn expiry (delta.setTransactionRetentionDuration).
package delta
