// Package lancerows turns JSON message payloads into Arrow records for
// LanceDB tables: a declared schema (an id, a fixed-size vector, text and
// metadata columns), bound to the schema of the actual table, and a builder
// that validates every row (dimension, numbers, NaN, required fields) and
// takes or rejects each message whole. It uses arrow/go/v17, the Arrow
// version lancedb-go links, and has no Benthos and no cgo imports.
package lancerows
