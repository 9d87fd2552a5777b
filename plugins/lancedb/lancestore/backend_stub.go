//go:build !lancedb

package lancestore

import (
	"context"
	"errors"
)

// Built reports whether this binary links the LanceDB native library.
const Built = false

// ErrNotBuilt is the error of every lancedb output in a binary built without
// the lancedb tag.
var ErrNotBuilt = errors.New("this danube-connect binary was built without LanceDB support: the lancedb output needs " +
	"lancedb-go's native library; build with `make build-lancedb` (compiles the library from source with cargo once, " +
	"20-30 min, cached under ~/.cache/danube-connect/lancedb, then builds the binary with `-tags lancedb`)")

func openBackend(context.Context, string) (Backend, error) { return nil, ErrNotBuilt }
