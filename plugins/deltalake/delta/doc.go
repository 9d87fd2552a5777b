// Package delta reads and writes the Delta Lake transaction log on an
// objstore.Store: actions, Delta schema JSON and its Arrow mapping, snapshot
// loading from classic checkpoints plus JSON commits, optimistic-concurrency
// commits with put-if-absent, V1 checkpoints, OPTIMIZE and VACUUM.
//
// It has no Benthos imports. New tables are created at protocol reader 1 /
// writer 2 without table features; tables needing features this package does
// not implement are refused with an *UnsupportedFeatureError naming the feature.
package delta
