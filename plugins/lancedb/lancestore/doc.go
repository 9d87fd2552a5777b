// Package lancestore writes Arrow records to LanceDB tables through
// lancedb-go: one connection per output, a bounded cache of open tables
// (created from the declared schema when missing), a bound on concurrent
// native calls, and an optional vector index built once a table is big
// enough. It has no Benthos imports.
//
// lancedb-go links a Rust static library (cgo). The native backend is
// compiled only with the `lancedb` build tag; without it, Open fails with
// ErrNotBuilt, which says how to build with LanceDB support, so that every
// other package builds and tests with a plain `go build ./...`.
//
// Every native call holds its OS thread blocked (Rust's block_on) for its
// whole duration; Options.MaxNativeCalls bounds how many run at once.
package lancestore
