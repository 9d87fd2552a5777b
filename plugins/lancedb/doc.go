// Package lancedb registers the `lancedb` output: JSON rows with embedding
// vectors into LanceDB tables (local disk or S3) through lancedb-go. The
// Arrow record building lives in lancerows and the table handling in
// lancestore; this package holds the Benthos glue only.
//
// The native library is linked only with the `lancedb` build tag (see
// lancestore); without it the output is still listed, with the same spec,
// and fails at start saying how to build with LanceDB support.
package lancedb
