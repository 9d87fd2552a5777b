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
//   - Log cleanup: Table.CleanupLog deletes expired log files.
//
// This is the log core: it imports no data-file writer. Checkpoints are
// Parquet files, encoded and decoded with arrow-go's parquet packages in the
// checkpoint codec files only. Operations that read or write data files
// (OPTIMIZE, VACUUM) live in package deltaops, on top of Table's public API.
//
// Files: actions.go (action types, JSON codec), protocol.go (feature gate,
// table properties), schema.go (Delta schema, Arrow mapping), snapshot.go
// (log replay, loading), table.go (the Table handle, Update), table_create.go
// (Create, OpenOrCreate), transaction.go (Transaction), commit.go
// (Table.Commit, rendering the commit), conflicts.go (checks against winning
// commits), checkpoint.go (WriteCheckpoint, publishing _last_checkpoint),
// checkpoint_read.go / checkpoint_decode.go (reading checkpoint Parquet into
// actions), checkpoint_encode.go (actions into checkpoint Parquet),
// checkpoint_rebuild.go (a checkpoint from the previous one plus the tail),
// checkpoint_schedule.go (cadence, background checkpoints and log cleanup),
// logcleanup.go (expired log files), retention.go (retention properties,
// interval syntax), errors.go.
//
// Not implemented (tables needing them are refused or left alone): column
// mapping, deletion vectors, row tracking, V2/UUID and multi-part
// checkpoints, In-Commit Timestamps, CDF files, struct stats in checkpoints,
// txn expiry (delta.setTransactionRetentionDuration).
package delta
